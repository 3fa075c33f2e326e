//! Datasets as NPZ (a zip of .npy arrays), which Python reads with `numpy.load`; the feature
//! names go in a JSON contract file beside it, and where the rows came from (data set and
//! protocol) in a JSON source file.

use std::io;
use std::path::Path;

use npyz::npz::{NpzArchive, NpzWriter};
use npyz::WriterBuilder;
use zip::write::FileOptions;
use zip::CompressionMethod;

use super::replay::{Dataset, ReplaySource};
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

/// The source file written beside `path` (`x.npz` → `x.source.json`).
fn source_path(path: &Path) -> std::path::PathBuf {
    path.with_extension("source.json")
}

fn invalid_data(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
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
    write_array(&mut npz, "popularity", &[rows], &data.popularity)?;
    write_array(&mut npz, "item_hashes", &[rows], &data.item_hashes)?;
    write_array(&mut npz, "engaged_at", &[rows], &data.engaged_at)?;
    write_array(&mut npz, "offsets", &[requests + 1], &data.offsets)?;
    write_array(&mut npz, "request_ids", &[requests], &data.request_ids)?;
    write_array(&mut npz, "user_ids", &[requests], &data.user_ids)?;
    write_array(&mut npz, "timestamps", &[requests], &data.timestamps)?;
    write_array(&mut npz, "split", &[requests], &data.split)?;
    write_array(&mut npz, "history_lengths", &[requests], &data.history_lengths)?;
    write_array(&mut npz, "prior", &[rows], &data.priors())?;
    let signal_mask = data.signal_mask().map_err(invalid_data)?;
    write_array(&mut npz, "signal_mask", &[width], &signal_mask)?;
    drop(npz);
    let contract = Contract {
        version: CONTRACT_VERSION,
        name: "localrank-replay".into(),
        features: data.feature_names.clone(),
        learning: Default::default(),
    };
    std::fs::write(contract_path(path), contract.to_json() + "\n")?;
    let source = serde_json::to_string_pretty(&data.source).expect("plain data serialises");
    std::fs::write(source_path(path), source + "\n")
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
    let contract = Contract::from_json(&contract_json).map_err(invalid_data)?;
    let source: ReplaySource = serde_json::from_str(&std::fs::read_to_string(source_path(path))?)
        .map_err(|e| invalid_data(format!("{}: {e}", source_path(path).display())))?;
    let mut npz = NpzArchive::open(path)?;
    let data = Dataset {
        source,
        feature_names: contract.features,
        features: read_array(&mut npz, "features")?,
        labels: read_array(&mut npz, "labels")?,
        topic_affinity: read_array(&mut npz, "topic_affinity")?,
        co_like: read_array(&mut npz, "co_like")?,
        popularity: read_array(&mut npz, "popularity")?,
        item_hashes: read_array(&mut npz, "item_hashes")?,
        engaged_at: read_array(&mut npz, "engaged_at")?,
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
        return Err(invalid_data("array shapes do not agree"));
    }
    Ok(data)
}
