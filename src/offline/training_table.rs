//! The training table: a replay as Arrow, one row per candidate, which the CLI writes as
//! Parquet, the Python package returns as a `pyarrow.Table`, the Ray job writes in parts and
//! `models/train.py` and the evaluator read. Columns: `request_id`, `user`, `at`, `split`
//! (`train`, `validation`, `test`), `row` (the candidate's place in the server's list),
//! `history_length`, `label`, `prior`, `topic_affinity`, `co_like`, `popularity`,
//! `item_hash` (the candidate's id hashed as the device's shown memory keeps it), `engaged_at`
//! (when its positive label's event happened, +∞ for other labels: what the prequential replay
//! of on-device learning may know when), then one float32 column per feature in contract
//! order. The schema's metadata carries where the rows came from (`localrank.source`) and
//! which features are candidate signals (`localrank.signal_mask`). Rows may come in any order
//! (a Ray job writes its parts as they finish): readers put them in the canonical order
//! (`replay::concat`'s), so every engine's table reads as the same replay.

use std::collections::HashMap;
use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, Int32Type, Int64Type, UInt64Type};
use arrow_array::{
    ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray, UInt64Array,
};
use arrow_schema::{DataType, Field, Metadata, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::properties::WriterProperties;

use super::event_log::Split;
use super::protocol::{SPLIT_TEST, SPLIT_TRAIN, SPLIT_VALIDATION};
use super::replay::{concat, Dataset, ReplaySource};

/// Schema metadata: the replay's `ReplaySource` as JSON.
pub const SOURCE_KEY: &str = "localrank.source";
/// Schema metadata: per feature column, 1 if it is a candidate signal (a JSON list).
pub const SIGNAL_MASK_KEY: &str = "localrank.signal_mask";

/// The columns before the features, with their types.
const FIXED: [(&str, DataType); 13] = [
    ("request_id", DataType::Int64),
    ("user", DataType::Int64),
    ("at", DataType::Float64),
    ("split", DataType::Utf8),
    ("row", DataType::Int32),
    ("history_length", DataType::Int64),
    ("label", DataType::Float32),
    ("prior", DataType::Float32),
    ("topic_affinity", DataType::Float32),
    ("co_like", DataType::Float32),
    ("popularity", DataType::Float32),
    ("item_hash", DataType::UInt64),
    ("engaged_at", DataType::Float64),
];
/// Where the float32 columns among `FIXED` end (`label` … `popularity`).
const FIXED_FLOATS: std::ops::Range<usize> = 6..11;

/// A split's name from its code in a `Dataset`.
pub fn split_name(split: u8) -> &'static str {
    match split {
        SPLIT_TRAIN => Split::Train.name(),
        SPLIT_VALIDATION => Split::Validation.name(),
        _ => Split::Test.name(),
    }
}

fn split_code(name: &str) -> Option<u8> {
    Some(match Split::ALL.into_iter().find(|s| s.name() == name)? {
        Split::Train => SPLIT_TRAIN,
        Split::Validation => SPLIT_VALIDATION,
        Split::Test => SPLIT_TEST,
    })
}

fn schema_of(data: &Dataset) -> Result<SchemaRef, String> {
    let mut fields: Vec<Field> = FIXED.iter().map(|(name, t)| Field::new(*name, t.clone(), false)).collect();
    for name in &data.feature_names {
        if FIXED.iter().any(|(fixed, _)| fixed == name) {
            return Err(format!("a feature is named `{name}`, like a column of the training table"));
        }
        fields.push(Field::new(name, DataType::Float32, false));
    }
    let source = serde_json::to_string(&data.source).expect("plain data serialises");
    let mask =
        serde_json::to_string(&data.signal_mask().map_err(|e| e.to_string())?).expect("numbers serialise");
    let metadata = HashMap::from([(SOURCE_KEY.to_owned(), source), (SIGNAL_MASK_KEY.to_owned(), mask)]);
    Ok(Arc::new(Schema::new_with_metadata(fields, metadata)))
}

/// The replay as one record batch, rows in the dataset's order.
pub fn to_batch(data: &Dataset) -> Result<RecordBatch, String> {
    let schema = schema_of(data)?;
    let per_row = |values: &[i64]| -> Vec<i64> {
        (0..data.requests()).flat_map(|r| std::iter::repeat_n(values[r], data.rows_of(r).len())).collect()
    };
    let rows = data.labels.len();
    let request_of: Vec<usize> =
        (0..data.requests()).flat_map(|r| std::iter::repeat_n(r, data.rows_of(r).len())).collect();
    let width = data.feature_names.len();
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(per_row(&data.request_ids))),
        Arc::new(Int64Array::from(per_row(&data.user_ids))),
        Arc::new(Float64Array::from_iter_values(request_of.iter().map(|&r| data.timestamps[r]))),
        Arc::new(StringArray::from_iter_values(request_of.iter().map(|&r| split_name(data.split[r])))),
        Arc::new(Int32Array::from_iter_values(
            (0..data.requests()).flat_map(|r| 0..data.rows_of(r).len() as i32),
        )),
        Arc::new(Int64Array::from(per_row(&data.history_lengths))),
        Arc::new(Float32Array::from(data.labels.clone())),
        Arc::new(Float32Array::from(data.priors())),
        Arc::new(Float32Array::from(data.topic_affinity.clone())),
        Arc::new(Float32Array::from(data.co_like.clone())),
        Arc::new(Float32Array::from(data.popularity.clone())),
        Arc::new(UInt64Array::from(data.item_hashes.clone())),
        Arc::new(Float64Array::from(data.engaged_at.clone())),
    ];
    for c in 0..width {
        columns.push(Arc::new(Float32Array::from_iter_values(
            (0..rows).map(|row| data.features[row * width + c]),
        )));
    }
    RecordBatch::try_new(schema, columns).map_err(|e| e.to_string())
}

/// One row's place: (batch, row in it).
type RowRef = (usize, usize);

/// Reads training-table batches (in any row order) back into a replay in the canonical order.
/// `metadata` is the table's schema metadata (a Parquet file's, or a `pyarrow.Table`'s).
pub fn from_batches(batches: &[RecordBatch], metadata: &Metadata, place: &str) -> Result<Dataset, String> {
    let meta = |key: &str| {
        metadata
            .get(key)
            .ok_or_else(|| format!("{place}: no `{key}` in the schema metadata (not a training table)"))
    };
    let source: ReplaySource =
        serde_json::from_str(meta(SOURCE_KEY)?).map_err(|e| format!("{place}: {SOURCE_KEY}: {e}"))?;
    let Some(first) = batches.first() else {
        return Ok(Dataset { source, offsets: vec![0], ..Dataset::default() });
    };
    let feature_names: Vec<String> =
        first.schema().fields().iter().skip(FIXED.len()).map(|f| f.name().clone()).collect();
    let data = Dataset { source, feature_names, offsets: vec![0], ..Dataset::default() };
    let mask: Vec<u8> = serde_json::from_str(meta(SIGNAL_MASK_KEY)?)
        .map_err(|e| format!("{place}: {SIGNAL_MASK_KEY}: {e}"))?;
    if mask != data.signal_mask().map_err(|e| format!("{place}: {e}"))? {
        return Err(format!("{place}: {SIGNAL_MASK_KEY} does not match the feature columns"));
    }

    // Typed views of every batch's columns, checked once.
    struct View<'a> {
        ints: [&'a Int64Array; 3],
        at: &'a Float64Array,
        engaged_at: &'a Float64Array,
        item_hash: &'a UInt64Array,
        split: &'a StringArray,
        row: &'a Int32Array,
        floats: Vec<&'a Float32Array>,
    }
    let mut views = Vec::with_capacity(batches.len());
    for batch in batches {
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let expected: Vec<&str> =
            FIXED.iter().map(|(n, _)| *n).chain(data.feature_names.iter().map(String::as_str)).collect();
        if names != expected {
            return Err(format!("{place}: columns {names:?}, expected {expected:?}"));
        }
        let column = |i: usize| batch.column(i);
        let wrong = |i: usize| {
            let t = if i < FIXED.len() { FIXED[i].1.clone() } else { DataType::Float32 };
            format!("{place}: column `{}` is {}, expected {t}", names[i], column(i).data_type())
        };
        if batch.columns().iter().any(|c| c.null_count() > 0) {
            return Err(format!("{place}: a training table has no nulls"));
        }
        let int64 = |i: usize| column(i).as_primitive_opt::<Int64Type>().ok_or_else(|| wrong(i));
        let float32 = |i: usize| column(i).as_primitive_opt::<Float32Type>().ok_or_else(|| wrong(i));
        let float64 = |i: usize| column(i).as_primitive_opt::<Float64Type>().ok_or_else(|| wrong(i));
        views.push(View {
            ints: [int64(0)?, int64(1)?, int64(5)?],
            at: float64(2)?,
            item_hash: column(11).as_primitive_opt::<UInt64Type>().ok_or_else(|| wrong(11))?,
            engaged_at: float64(12)?,
            split: column(3).as_string_opt::<i32>().ok_or_else(|| wrong(3))?,
            row: column(4).as_primitive_opt::<Int32Type>().ok_or_else(|| wrong(4))?,
            floats: FIXED_FLOATS.chain(FIXED.len()..names.len()).map(float32).collect::<Result<_, _>>()?,
        });
    }
    let mut order: Vec<RowRef> =
        views.iter().enumerate().flat_map(|(b, v)| (0..v.at.len()).map(move |i| (b, i))).collect();
    let key = |&(b, i): &RowRef| (views[b].at.value(i), views[b].ints[0].value(i), views[b].row.value(i));
    order.sort_by(|x, y| {
        let (kx, ky) = (key(x), key(y));
        kx.0.total_cmp(&ky.0).then(kx.1.cmp(&ky.1)).then(kx.2.cmp(&ky.2))
    });

    // Requests in time order, each a run of rows numbered 0, 1, …
    let mut part = data;
    let width = part.feature_names.len();
    part.features.reserve(order.len() * width);
    for (k, &(b, i)) in order.iter().enumerate() {
        let v = &views[b];
        let request_id = v.ints[0].value(i);
        let starts = k == 0 || {
            let (pb, pi) = order[k - 1];
            views[pb].ints[0].value(pi) != request_id
        };
        let row = v.row.value(i);
        let expected_row =
            if starts { 0 } else { (k - *part.offsets.last().expect("offsets start at 0") as usize) as i32 };
        if row != expected_row {
            return Err(format!(
                "{place}: request {request_id} has no row {expected_row} (or two of row {row})"
            ));
        }
        if starts {
            if k > 0 {
                part.offsets.push(k as i64);
            }
            let split = v.split.value(i);
            part.request_ids.push(request_id);
            part.user_ids.push(v.ints[1].value(i));
            part.timestamps.push(v.at.value(i));
            part.split.push(split_code(split).ok_or_else(|| format!("{place}: unknown split `{split}`"))?);
            part.history_lengths.push(v.ints[2].value(i));
        } else if part.user_ids.last() != Some(&v.ints[1].value(i)) {
            return Err(format!("{place}: request {request_id}'s rows name different users"));
        }
        part.labels.push(v.floats[0].value(i));
        // floats[1] is the prior, which the dataset recomputes from the rows.
        part.topic_affinity.push(v.floats[2].value(i));
        part.co_like.push(v.floats[3].value(i));
        part.popularity.push(v.floats[4].value(i));
        part.item_hashes.push(v.item_hash.value(i));
        part.engaged_at.push(v.engaged_at.value(i));
        part.features.extend(v.floats[5..].iter().map(|c| c.value(i)));
    }
    if !order.is_empty() {
        part.offsets.push(order.len() as i64);
    }
    // The canonical order, and requests the same run of rows.
    concat(vec![part])
}

/// Writes the replay as one Parquet file.
pub fn write(path: &Path, data: &Dataset) -> Result<(), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let batch = to_batch(data)?;
    let file = File::create(path).map_err(|e| at(&e))?;
    let properties = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
    let mut writer = ArrowWriter::try_new(file, batch.schema(), Some(properties)).map_err(|e| at(&e))?;
    writer.write(&batch).map_err(|e| at(&e))?;
    writer.close().map_err(|e| at(&e))?;
    Ok(())
}

/// Reads a training table: one Parquet file, or a folder of them (a Ray job's parts), which
/// must all come from one replay.
pub fn read(path: &Path) -> Result<Dataset, String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let files = if path.is_dir() {
        let mut files: Vec<_> = std::fs::read_dir(path)
            .map_err(|e| at(&e))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()
            .map_err(|e| at(&e))?;
        files.retain(|f| f.extension().is_some_and(|e| e == "parquet"));
        files.sort();
        if files.is_empty() {
            return Err(at(&"no .parquet file in the folder"));
        }
        files
    } else {
        vec![path.to_owned()]
    };
    let mut parts = Vec::new();
    for file in files {
        let at = |e: &dyn std::fmt::Display| format!("{}: {e}", file.display());
        let builder = ParquetRecordBatchReaderBuilder::try_new(File::open(&file).map_err(|e| at(&e))?)
            .map_err(|e| at(&e))?;
        let metadata = builder.schema().metadata().clone();
        let batches =
            builder.build().map_err(|e| at(&e))?.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
        parts.push(from_batches(&batches, &metadata, &file.display().to_string())?);
    }
    concat(parts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::offline::protocol::Protocol;

    fn dataset() -> Dataset {
        Dataset {
            source: ReplaySource {
                dataset: "t".into(),
                protocol: Protocol::default(),
                ..ReplaySource::default()
            },
            feature_names: vec!["server.rank".into(), "share.topic.30d".into()],
            features: (0..10).map(|v| v as f32 * 0.5).collect(),
            labels: vec![1.0, 0.0, 0.0, 1.0, 0.0],
            offsets: vec![0, 2, 5],
            request_ids: vec![7 << 24, (3 << 24) | 4],
            user_ids: vec![7, 3],
            timestamps: vec![10.0, 20.0],
            split: vec![SPLIT_TRAIN, SPLIT_TEST],
            history_lengths: vec![0, 12],
            topic_affinity: vec![0.1, 0.2, 0.3, 0.4, 0.5],
            co_like: vec![0.0; 5],
            popularity: vec![3.0, 2.0, 1.0, 0.5, 0.25],
            item_hashes: vec![11, 12, 13, 14, u64::MAX],
            engaged_at: vec![15.0, f64::INFINITY, f64::INFINITY, 21.5, f64::INFINITY],
        }
    }

    #[test]
    fn a_table_in_any_row_order_reads_back_as_the_replay() {
        let data = dataset();
        let batch = to_batch(&data).unwrap();
        let metadata = batch.schema().metadata().clone();
        // Rows reversed, in two batches.
        let reversed: Vec<u64> = (0..batch.num_rows() as u64).rev().collect();
        let indices = arrow_array::UInt64Array::from(reversed);
        let shuffled: Vec<ArrayRef> =
            batch.columns().iter().map(|c| arrow_select_take(c, &indices)).collect();
        let shuffled = RecordBatch::try_new(batch.schema(), shuffled).unwrap();
        let parts = [shuffled.slice(0, 3), shuffled.slice(3, 2)];
        assert_eq!(from_batches(&parts, &metadata, "t").unwrap(), data);
    }

    /// `take` without the arrow-select crate: rebuild the array from the picked values.
    fn arrow_select_take(array: &ArrayRef, indices: &arrow_array::UInt64Array) -> ArrayRef {
        let pick = || indices.values().iter().map(|&i| i as usize);
        match array.data_type() {
            DataType::Int64 => Arc::new(Int64Array::from_iter_values(
                pick().map(|i| array.as_primitive::<Int64Type>().value(i)),
            )),
            DataType::Int32 => Arc::new(Int32Array::from_iter_values(
                pick().map(|i| array.as_primitive::<Int32Type>().value(i)),
            )),
            DataType::UInt64 => Arc::new(UInt64Array::from_iter_values(
                pick().map(|i| array.as_primitive::<UInt64Type>().value(i)),
            )),
            DataType::Float64 => Arc::new(Float64Array::from_iter_values(
                pick().map(|i| array.as_primitive::<Float64Type>().value(i)),
            )),
            DataType::Float32 => Arc::new(Float32Array::from_iter_values(
                pick().map(|i| array.as_primitive::<Float32Type>().value(i)),
            )),
            _ => Arc::new(StringArray::from_iter_values(
                pick().map(|i| array.as_string::<i32>().value(i).to_owned()),
            )),
        }
    }

    #[test]
    fn tables_that_are_not_training_tables_are_refused() {
        let data = dataset();
        let batch = to_batch(&data).unwrap();
        let error = from_batches(std::slice::from_ref(&batch), &Metadata::default(), "t").unwrap_err();
        assert!(error.contains("no `localrank.source`"), "{error}");
        let metadata = batch.schema().metadata().clone();
        let dropped = batch.project(&(0..batch.num_columns() - 1).collect::<Vec<_>>()).unwrap();
        let error = from_batches(&[dropped], &metadata, "t").unwrap_err();
        assert!(error.contains("does not match"), "{error}");
        // A request without its first row.
        let error = from_batches(&[batch.slice(1, 4)], &metadata, "t").unwrap_err();
        assert!(error.contains("has no row"), "{error}");
    }
}
