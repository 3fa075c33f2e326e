//! Datasets as NPZ (a zip of .npy arrays), which Python reads with `numpy.load`; the feature
//! names go in a JSON contract file beside it.

use std::io;
use std::path::Path;

use npyz::npz::{NpzArchive, NpzWriter};
use npyz::WriterBuilder;
use zip::write::FileOptions;
use zip::CompressionMethod;

use super::replay::Dataset;
use crate::features::{Contract, CONTRACT_VERSION};

fn write_array<T: npyz::AutoSerialize + Copy>(
    npz: &mut NpzWriter<io::BufWriter<std::fs::File>>,
    name: &str,
    shape: &[u64],
    data: &[T],
) -> io::Result<()> {
    // Stored, not deflated: the arrays are written once and read once, and speed matters more.
    let options = FileOptions::default().compression_method(CompressionMethod::Stored);
    let mut writer = npz.array::<T>(name, options)?.default_dtype().shape(shape).begin_nd()?;
    writer.extend(data.iter().copied())?;
    writer.finish()
}

/// The contract file written beside `path` (`x.npz` → `x.contract.json`).
pub fn contract_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("contract.json")
}

pub fn write(path: &Path, data: &Dataset) -> io::Result<()> {
    let rows = data.labels.len() as u64;
    let width = data.feature_names.len() as u64;
    let requests = data.requests() as u64;
    let mut npz = NpzWriter::create(path)?;
    write_array(&mut npz, "features", &[rows, width], &data.features)?;
    write_array(&mut npz, "labels", &[rows], &data.labels)?;
    write_array(&mut npz, "topic_affinity", &[rows], &data.topic_affinity)?;
    write_array(&mut npz, "co_like", &[rows], &data.co_like)?;
    write_array(&mut npz, "offsets", &[requests + 1], &data.offsets)?;
    write_array(&mut npz, "request_ids", &[requests], &data.request_ids)?;
    write_array(&mut npz, "user_ids", &[requests], &data.user_ids)?;
    write_array(&mut npz, "timestamps", &[requests], &data.timestamps)?;
    write_array(&mut npz, "split", &[requests], &data.split)?;
    write_array(&mut npz, "history_lengths", &[requests], &data.history_lengths)?;
    drop(npz);
    let contract = Contract {
        version: CONTRACT_VERSION,
        name: "localrank-replay".into(),
        features: data.feature_names.clone(),
        server_blend: 0.0,
    };
    std::fs::write(contract_path(path), contract.to_json() + "\n")
}

fn read_array<T: npyz::Deserialize>(
    npz: &mut NpzArchive<io::BufReader<std::fs::File>>,
    name: &str,
) -> io::Result<Vec<T>> {
    npz.by_name(name)?
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, format!("missing array `{name}`")))?
        .into_vec()
}

pub fn read(path: &Path) -> io::Result<Dataset> {
    let contract_json = std::fs::read_to_string(contract_path(path))?;
    let contract = Contract::from_json(&contract_json)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let mut npz = NpzArchive::open(path)?;
    let data = Dataset {
        feature_names: contract.features,
        features: read_array(&mut npz, "features")?,
        labels: read_array(&mut npz, "labels")?,
        topic_affinity: read_array(&mut npz, "topic_affinity")?,
        co_like: read_array(&mut npz, "co_like")?,
        offsets: read_array(&mut npz, "offsets")?,
        request_ids: read_array(&mut npz, "request_ids")?,
        user_ids: read_array(&mut npz, "user_ids")?,
        timestamps: read_array(&mut npz, "timestamps")?,
        split: read_array(&mut npz, "split")?,
        history_lengths: read_array(&mut npz, "history_lengths")?,
    };
    let rows = data.labels.len();
    let consistent = data.features.len() == rows * data.feature_names.len()
        && data.offsets.len() == data.request_ids.len() + 1
        && data.offsets.last().is_some_and(|&end| end as usize == rows)
        && data.offsets.windows(2).all(|w| w[0] <= w[1]);
    if !consistent {
        return Err(io::Error::new(io::ErrorKind::InvalidData, "array shapes do not agree"));
    }
    Ok(data)
}

/// Concatenates shard outputs in a canonical order (time, then request id), so the merged
/// file does not depend on how the users were sharded.
pub fn merge(parts: Vec<Dataset>) -> Result<Dataset, String> {
    let names = parts.first().map(|p| p.feature_names.clone()).unwrap_or_default();
    if parts.iter().any(|p| p.feature_names != names) {
        return Err("shards were built with different features".into());
    }
    let mut order: Vec<(usize, usize)> =
        parts.iter().enumerate().flat_map(|(p, d)| (0..d.requests()).map(move |r| (p, r))).collect();
    order.sort_by(|&(pa, ra), &(pb, rb)| {
        parts[pa].timestamps[ra]
            .total_cmp(&parts[pb].timestamps[rb])
            .then(parts[pa].request_ids[ra].cmp(&parts[pb].request_ids[rb]))
    });
    let width = names.len();
    let mut merged = Dataset { feature_names: names, offsets: vec![0], ..Dataset::default() };
    for (p, r) in order {
        let part = &parts[p];
        let rows = part.rows_of(r);
        merged.features.extend_from_slice(&part.features[rows.start * width..rows.end * width]);
        merged.labels.extend_from_slice(&part.labels[rows.clone()]);
        merged.topic_affinity.extend_from_slice(&part.topic_affinity[rows.clone()]);
        merged.co_like.extend_from_slice(&part.co_like[rows]);
        merged.offsets.push(merged.labels.len() as i64);
        merged.request_ids.push(part.request_ids[r]);
        merged.user_ids.push(part.user_ids[r]);
        merged.timestamps.push(part.timestamps[r]);
        merged.split.push(part.split[r]);
        merged.history_lengths.push(part.history_lengths[r]);
    }
    Ok(merged)
}
