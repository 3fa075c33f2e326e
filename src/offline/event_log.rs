//! The event-log format: what a product logs for the pipeline to retrain on. Two tables, each
//! a Parquet file (`.parquet`) or, for small cases, JSON Lines (`.jsonl`), read and written by
//! the `arrow` / `parquet` crates through one Arrow schema, so both formats are decoded by the
//! same code:
//!
//! - **events**: one row per device event, in exactly the shape `Ranker.record` takes plus the
//!   user: `user` (uint32), `kind`, `item` (`id`, `author`, `containers`, `topics`,
//!   `embedding`), `at` (ms since the Unix epoch, float64), `dwellMs`.
//! - **requests** (optional): one row per server response the product logged: `user`, `at`,
//!   `split` (optional: `train`, `validation` or `test`), and `candidates` in the server's
//!   order, each a rerank candidate (`id`, `author`, `containers`, `topics`, `embedding`,
//!   `serverScore`, `popularity`, `createdAt`, `durationMs`) with its `label` (what the
//!   product counts as success for it: 1 for a long view, a click…, 0 otherwise).
//!
//! Readers check the physical types (strings, lists, uint32, float32/64) and not the names
//! of list elements or nullability, so files written by pyarrow, pandas or Spark read as they
//! are. Every value then goes through the device's own validation when it is replayed.

use std::fs::File;
use std::io::{BufReader, BufWriter};
use std::path::Path;
use std::sync::Arc;

use arrow_array::builder::{Float32Builder, ListBuilder, StringBuilder};
use arrow_array::cast::AsArray;
use arrow_array::types::{Float32Type, Float64Type, UInt32Type};
use arrow_array::{
    Array, ArrayRef, Float32Array, Float64Array, ListArray, RecordBatch, StringArray, StructArray,
    UInt32Array,
};
use arrow_buffer::OffsetBuffer;
use arrow_schema::{DataType, Field, Fields, Metadata, Schema, SchemaRef};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::arrow::ArrowWriter;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;

use crate::item::{Candidate, Event, EventKind, Item};

/// The Parquet key-value metadata key under which an adapter describes how it made the
/// requests (a JSON list of sentences), which the model card quotes.
pub const DESCRIPTION_KEY: &str = "localrank.description";

/// Rows per written batch (and Parquet row group): bounded memory whatever the log's size.
const BATCH_ROWS: usize = 65_536;

/// One device event of one user.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedEvent {
    pub user: u32,
    pub event: Event,
}

/// Which part of the evaluation protocol a logged request belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Split {
    Train,
    Validation,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Validation, Split::Test];

    pub fn name(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Validation => "validation",
            Split::Test => "test",
        }
    }
}

/// One server response the product logged: the candidates in the server's order, each with
/// its observed outcome.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub user: u32,
    /// When the list was served, ms since the Unix epoch.
    pub at: f64,
    /// If the log fixes it; otherwise the replay splits by time.
    pub split: Option<Split>,
    pub candidates: Vec<Candidate>,
    /// One per candidate.
    pub labels: Vec<f32>,
}

/// The requests table and the adapter's description of how they were made.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestLog {
    pub requests: Vec<LoggedRequest>,
    pub description: Vec<String>,
}

fn list_of(item: DataType) -> DataType {
    DataType::List(Arc::new(Field::new_list_field(item, true)))
}

/// The item fields events and candidates share, in `Item`'s order.
fn item_fields() -> Vec<Field> {
    vec![
        Field::new("id", DataType::Utf8, false),
        Field::new("author", DataType::Utf8, true),
        Field::new("containers", list_of(DataType::Utf8), true),
        Field::new("topics", list_of(DataType::Utf8), true),
        Field::new("embedding", list_of(DataType::Float32), true),
    ]
}

pub fn events_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user", DataType::UInt32, false),
        Field::new("kind", DataType::Utf8, false),
        Field::new("item", DataType::Struct(Fields::from(item_fields())), false),
        Field::new("at", DataType::Float64, false),
        Field::new("dwellMs", DataType::Float64, true),
    ]))
}

fn candidate_fields() -> Fields {
    let mut fields = item_fields();
    fields.extend([
        Field::new("serverScore", DataType::Float32, true),
        Field::new("popularity", DataType::Float32, true),
        Field::new("createdAt", DataType::Float64, true),
        Field::new("durationMs", DataType::Float64, true),
        Field::new("label", DataType::Float32, false),
    ]);
    Fields::from(fields)
}

pub fn requests_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("user", DataType::UInt32, false),
        Field::new("at", DataType::Float64, false),
        Field::new("split", DataType::Utf8, true),
        Field::new(
            "candidates",
            DataType::List(Arc::new(Field::new_list_field(DataType::Struct(candidate_fields()), true))),
            false,
        ),
    ]))
}

/// The file's format, from its extension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Parquet,
    JsonLines,
}

fn format_of(path: &Path) -> Result<Format, String> {
    match path.extension().and_then(|e| e.to_str()) {
        Some("parquet") => Ok(Format::Parquet),
        Some("jsonl") => Ok(Format::JsonLines),
        _ => Err(format!("{}: an event log is a .parquet or a .jsonl file", path.display())),
    }
}

// ---- writing ----------------------------------------------------------------------------

fn string_lists<'a>(lists: impl Iterator<Item = &'a [String]>) -> ArrayRef {
    let mut builder = ListBuilder::new(StringBuilder::new());
    for list in lists {
        for value in list {
            builder.values().append_value(value);
        }
        // An empty list is written as none: `record` reads both alike.
        builder.append(!list.is_empty());
    }
    Arc::new(builder.finish())
}

fn embeddings<'a>(values: impl Iterator<Item = Option<&'a [f32]>>) -> ArrayRef {
    let mut builder = ListBuilder::new(Float32Builder::new());
    for embedding in values {
        if let Some(embedding) = embedding {
            builder.values().append_slice(embedding);
        }
        builder.append(embedding.is_some());
    }
    Arc::new(builder.finish())
}

/// The item columns of `items`, in `item_fields()` order.
fn item_arrays(items: &[&Item]) -> Vec<ArrayRef> {
    vec![
        Arc::new(StringArray::from_iter_values(items.iter().map(|i| i.id.as_str()))),
        Arc::new(items.iter().map(|i| i.author.as_deref()).collect::<StringArray>()),
        string_lists(items.iter().map(|i| i.containers.as_slice())),
        string_lists(items.iter().map(|i| i.topics.as_slice())),
        embeddings(items.iter().map(|i| i.embedding.as_deref())),
    ]
}

fn struct_array(fields: Fields, arrays: Vec<ArrayRef>) -> Result<StructArray, String> {
    StructArray::try_new(fields, arrays, None).map_err(|e| e.to_string())
}

fn events_batch(events: &[LoggedEvent]) -> Result<RecordBatch, String> {
    let items: Vec<&Item> = events.iter().map(|e| &e.event.item).collect();
    let item = struct_array(Fields::from(item_fields()), item_arrays(&items))?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(events.iter().map(|e| e.user))),
        Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.event.kind.name()))),
        Arc::new(item),
        Arc::new(Float64Array::from_iter_values(events.iter().map(|e| e.event.at))),
        Arc::new(events.iter().map(|e| e.event.dwell_ms).collect::<Float64Array>()),
    ];
    RecordBatch::try_new(events_schema(), columns).map_err(|e| e.to_string())
}

fn requests_batch(requests: &[LoggedRequest]) -> Result<RecordBatch, String> {
    let candidates: Vec<(&Candidate, f32)> =
        requests.iter().flat_map(|r| r.candidates.iter().zip(r.labels.iter().copied())).collect();
    let items: Vec<&Item> = candidates.iter().map(|(c, _)| &c.item).collect();
    let mut arrays = item_arrays(&items);
    arrays.extend([
        Arc::new(candidates.iter().map(|(c, _)| c.server_score).collect::<Float32Array>()) as ArrayRef,
        Arc::new(candidates.iter().map(|(c, _)| c.popularity).collect::<Float32Array>()),
        Arc::new(candidates.iter().map(|(c, _)| c.created_at).collect::<Float64Array>()),
        Arc::new(candidates.iter().map(|(c, _)| c.duration_ms).collect::<Float64Array>()),
        Arc::new(Float32Array::from_iter_values(candidates.iter().map(|&(_, label)| label))),
    ]);
    let values = struct_array(candidate_fields(), arrays)?;
    let lengths = requests.iter().map(|r| r.candidates.len());
    let list = ListArray::try_new(
        Arc::new(Field::new_list_field(DataType::Struct(candidate_fields()), true)),
        OffsetBuffer::from_lengths(lengths),
        Arc::new(values),
        None,
    )
    .map_err(|e| e.to_string())?;
    let columns: Vec<ArrayRef> = vec![
        Arc::new(UInt32Array::from_iter_values(requests.iter().map(|r| r.user))),
        Arc::new(Float64Array::from_iter_values(requests.iter().map(|r| r.at))),
        Arc::new(requests.iter().map(|r| r.split.map(Split::name)).collect::<StringArray>()),
        Arc::new(list),
    ];
    RecordBatch::try_new(requests_schema(), columns).map_err(|e| e.to_string())
}

/// Writes `rows` in batches to `path`, as its extension says; `description` goes into the
/// Parquet metadata (JSON Lines has no room for it).
fn write_batches<T>(
    path: &Path,
    schema: SchemaRef,
    rows: &[T],
    batch: impl Fn(&[T]) -> Result<RecordBatch, String>,
    description: &[String],
) -> Result<(), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let format = format_of(path)?;
    let file = BufWriter::new(File::create(path).map_err(|e| at(&e))?);
    match format {
        Format::Parquet => {
            let json = (!description.is_empty())
                .then(|| serde_json::to_string(description).expect("strings serialise"));
            // Both in the file's key-value metadata (any Parquet reader) and in the Arrow
            // schema's (pyarrow's `read_table(...).schema.metadata`, which the Python package
            // reads, shows only the latter when the file has an Arrow schema).
            let metadata = json.clone().map(|json| vec![KeyValue::new(DESCRIPTION_KEY.to_owned(), json)]);
            let schema = Arc::new(Schema::new_with_metadata(
                schema.fields().clone(),
                json.map(|json| Metadata::from([(DESCRIPTION_KEY, json)])).unwrap_or_default(),
            ));
            let properties = WriterProperties::builder()
                .set_max_row_group_row_count(Some(BATCH_ROWS))
                .set_key_value_metadata(metadata)
                .build();
            let mut writer =
                ArrowWriter::try_new(file, schema.clone(), Some(properties)).map_err(|e| at(&e))?;
            for chunk in rows.chunks(BATCH_ROWS) {
                let batch = batch(chunk)?.with_schema(schema.clone()).map_err(|e| at(&e))?;
                writer.write(&batch).map_err(|e| at(&e))?;
            }
            writer.close().map_err(|e| at(&e))?;
        }
        Format::JsonLines => {
            let mut writer = arrow_json::LineDelimitedWriter::new(file);
            for chunk in rows.chunks(BATCH_ROWS) {
                writer.write(&batch(chunk)?).map_err(|e| at(&e))?;
            }
            writer.finish().map_err(|e| at(&e))?;
        }
    }
    Ok(())
}

/// Writes an events table; `description` (how an adapter made it) goes into Parquet's metadata.
pub fn write_events(path: &Path, events: &[LoggedEvent], description: &[String]) -> Result<(), String> {
    write_batches(path, events_schema(), events, events_batch, description)
}

pub fn write_requests(path: &Path, log: &RequestLog) -> Result<(), String> {
    if let Some(r) = log.requests.iter().position(|r| r.labels.len() != r.candidates.len()) {
        return Err(format!(
            "request {r}: {} labels for {} candidates",
            log.requests[r].labels.len(),
            log.requests[r].candidates.len()
        ));
    }
    write_batches(path, requests_schema(), &log.requests, requests_batch, &log.description)
}

// ---- reading ----------------------------------------------------------------------------

/// Reads every batch of `path`; JSON Lines are parsed against `schema`, Parquet files carry
/// their own. Also returns the description an adapter stored in the Parquet metadata.
fn read_batches(path: &Path, schema: SchemaRef) -> Result<(Vec<RecordBatch>, Vec<String>), String> {
    let at = |e: &dyn std::fmt::Display| format!("{}: {e}", path.display());
    let file = File::open(path).map_err(|e| at(&e))?;
    match format_of(path)? {
        Format::Parquet => {
            let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| at(&e))?;
            // The Arrow schema's metadata: the file's key-value metadata and the stored Arrow
            // schema's, whichever a writer used.
            let json = builder.schema().metadata().get(DESCRIPTION_KEY).cloned();
            let description = description_of(json.as_deref()).map_err(|e| at(&e))?;
            let reader = builder.with_batch_size(BATCH_ROWS).build().map_err(|e| at(&e))?;
            let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
            Ok((batches, description))
        }
        Format::JsonLines => {
            let reader = arrow_json::ReaderBuilder::new(schema)
                .with_batch_size(BATCH_ROWS)
                .build(BufReader::new(file))
                .map_err(|e| at(&e))?;
            let batches = reader.collect::<Result<Vec<_>, _>>().map_err(|e| at(&e))?;
            Ok((batches, Vec::new()))
        }
    }
}

/// A struct's or batch's columns by name, with errors naming the column and what it should be.
struct Columns<'a> {
    names: Vec<&'a str>,
    arrays: &'a [ArrayRef],
    /// Where these columns are (`events`, `item`, `candidates`), for messages.
    place: &'a str,
}

impl<'a> Columns<'a> {
    fn of_batch(batch: &'a RecordBatch, place: &'a str) -> Self {
        let names = batch.schema_ref().fields().iter().map(|f| f.name().as_str()).collect();
        Columns { names, arrays: batch.columns(), place }
    }

    fn of_struct(array: &'a StructArray, place: &'a str) -> Self {
        Columns { names: array.column_names(), arrays: array.columns(), place }
    }

    fn column(&self, name: &str) -> Result<Option<&'a ArrayRef>, String> {
        Ok(self.names.iter().position(|n| *n == name).map(|i| &self.arrays[i]))
    }

    fn required(&self, name: &str) -> Result<&'a ArrayRef, String> {
        self.column(name)?.ok_or_else(|| format!("{}: no column `{name}`", self.place))
    }

    fn wrong(&self, name: &str, expected: &str, array: &ArrayRef) -> String {
        format!("{}: column `{name}` is {}, expected {expected}", self.place, array.data_type())
    }

    fn strings(&self, name: &str, required: bool) -> Result<Option<&'a StringArray>, String> {
        let column = if required { Some(self.required(name)?) } else { self.column(name)? };
        column
            .map(|array| {
                array.as_string_opt::<i32>().ok_or_else(|| self.wrong(name, "a string column", array))
            })
            .transpose()
    }

    fn floats64(&self, name: &str, required: bool) -> Result<Option<&'a Float64Array>, String> {
        let column = if required { Some(self.required(name)?) } else { self.column(name)? };
        column
            .map(|array| {
                array.as_primitive_opt::<Float64Type>().ok_or_else(|| self.wrong(name, "float64", array))
            })
            .transpose()
    }

    fn floats32(&self, name: &str, required: bool) -> Result<Option<&'a Float32Array>, String> {
        let column = if required { Some(self.required(name)?) } else { self.column(name)? };
        column
            .map(|array| {
                array.as_primitive_opt::<Float32Type>().ok_or_else(|| self.wrong(name, "float32", array))
            })
            .transpose()
    }

    fn users(&self) -> Result<&'a UInt32Array, String> {
        let array = self.required("user")?;
        array.as_primitive_opt::<UInt32Type>().ok_or_else(|| self.wrong("user", "uint32", array))
    }

    fn list(&self, name: &str, required: bool) -> Result<Option<&'a ListArray>, String> {
        let column = if required { Some(self.required(name)?) } else { self.column(name)? };
        column
            .map(|array| array.as_list_opt::<i32>().ok_or_else(|| self.wrong(name, "a list column", array)))
            .transpose()
    }

    fn structs(&self, array: &'a ArrayRef, name: &str) -> Result<&'a StructArray, String> {
        array.as_struct_opt().ok_or_else(|| self.wrong(name, "a struct column", array))
    }
}

/// A value that may be null, as an option.
fn get<T>(array: &impl Array, i: usize, value: impl Fn(usize) -> T) -> Option<T> {
    array.is_valid(i).then(|| value(i))
}

/// The item columns of a struct array (an event's `item`, or the candidates), decoded row by row.
struct ItemDecoder<'a> {
    ids: &'a StringArray,
    authors: Option<&'a StringArray>,
    containers: Option<(&'a ListArray, &'a StringArray)>,
    topics: Option<(&'a ListArray, &'a StringArray)>,
    embeddings: Option<(&'a ListArray, &'a Float32Array)>,
    place: &'a str,
}

impl<'a> ItemDecoder<'a> {
    fn new(columns: &Columns<'a>) -> Result<Self, String> {
        let strings = |name: &str| -> Result<Option<(&'a ListArray, &'a StringArray)>, String> {
            columns
                .list(name, false)?
                .map(|list| {
                    let values = list.values().as_string_opt::<i32>().ok_or_else(|| {
                        format!(
                            "{}: column `{name}` is {}, expected a list of strings",
                            columns.place,
                            list.data_type()
                        )
                    })?;
                    Ok((list, values))
                })
                .transpose()
        };
        let embeddings = columns
            .list("embedding", false)?
            .map(|list| {
                let values = list.values().as_primitive_opt::<Float32Type>().ok_or_else(|| {
                    format!(
                        "{}: column `embedding` is {}, expected a list of float32",
                        columns.place,
                        list.data_type()
                    )
                })?;
                Ok::<_, String>((list, values))
            })
            .transpose()?;
        Ok(ItemDecoder {
            ids: columns.strings("id", true)?.expect("required"),
            authors: columns.strings("author", false)?,
            containers: strings("containers")?,
            topics: strings("topics")?,
            embeddings,
            place: columns.place,
        })
    }

    fn item(&self, i: usize) -> Result<Item, String> {
        if self.ids.is_null(i) {
            return Err(format!("{} row {i}: no id", self.place));
        }
        let strings = |column: Option<(&ListArray, &StringArray)>| -> Vec<String> {
            let Some((list, values)) = column.filter(|(list, _)| list.is_valid(i)) else { return Vec::new() };
            let offsets = list.value_offsets();
            (offsets[i] as usize..offsets[i + 1] as usize)
                .filter(|&k| values.is_valid(k))
                .map(|k| values.value(k).to_owned())
                .collect()
        };
        let embedding = match self.embeddings.filter(|(list, _)| list.is_valid(i)) {
            Some((list, values)) => {
                let offsets = list.value_offsets();
                let range = offsets[i] as usize..offsets[i + 1] as usize;
                if values.null_count() > 0 && range.clone().any(|k| values.is_null(k)) {
                    return Err(format!("{} row {i}: a null embedding number", self.place));
                }
                Some(values.values()[range].to_vec())
            }
            None => None,
        };
        Ok(Item {
            id: self.ids.value(i).to_owned(),
            author: self.authors.and_then(|a| get(a, i, |i| a.value(i).to_owned())),
            containers: strings(self.containers),
            topics: strings(self.topics),
            embedding,
        })
    }
}

/// Reads an events table, with the description its adapter stored (empty if none). Rows keep
/// the file's order.
pub fn read_events(path: &Path) -> Result<(Vec<LoggedEvent>, Vec<String>), String> {
    let (batches, description) = read_batches(path, events_schema())?;
    Ok((decode_events(&batches, &format!("{} (events)", path.display()))?, description))
}

/// An adapter's description as stored in a table's metadata under [`DESCRIPTION_KEY`] (a JSON
/// list of strings; none: empty).
pub fn description_of(json: Option<&str>) -> Result<Vec<String>, String> {
    json.map_or(Ok(Vec::new()), |json| {
        serde_json::from_str(json)
            .map_err(|e| format!("{DESCRIPTION_KEY} metadata is not a list of strings: {e}"))
    })
}

/// Decodes events-table batches (from a file, or handed over through Arrow by the Python
/// package), in row order; `place` names them in error messages.
pub fn decode_events(batches: &[RecordBatch], place: &str) -> Result<Vec<LoggedEvent>, String> {
    let mut events = Vec::new();
    for batch in batches {
        let columns = Columns::of_batch(batch, place);
        let users = columns.users()?;
        let kinds = columns.strings("kind", true)?.expect("required");
        let times = columns.floats64("at", true)?.expect("required");
        let dwells = columns.floats64("dwellMs", false)?;
        let item_place = format!("{place}, item");
        let item_column = columns.required("item")?;
        let item_struct = columns.structs(item_column, "item")?;
        let items = ItemDecoder::new(&Columns::of_struct(item_struct, &item_place))?;
        for i in 0..batch.num_rows() {
            let row = events.len();
            let bad = |what: &str| format!("{place} row {row}: {what}");
            if users.is_null(i) || times.is_null(i) || item_struct.is_null(i) {
                return Err(bad("user, item and at are required"));
            }
            let kind_name = get(kinds, i, |i| kinds.value(i)).ok_or_else(|| bad("no kind"))?;
            let kind = EventKind::ALL
                .into_iter()
                .find(|k| k.name() == kind_name)
                .ok_or_else(|| bad(&format!("unknown kind `{kind_name}`")))?;
            let event = Event {
                kind,
                item: items.item(i).map_err(|e| bad(&e))?,
                at: times.value(i),
                dwell_ms: dwells.and_then(|d| get(d, i, |i| d.value(i))),
            };
            events.push(LoggedEvent { user: users.value(i), event });
        }
    }
    Ok(events)
}

/// Reads a requests table, with the description its adapter stored (empty if none).
pub fn read_requests(path: &Path) -> Result<RequestLog, String> {
    let (batches, description) = read_batches(path, requests_schema())?;
    let requests = decode_requests(&batches, &format!("{} (requests)", path.display()))?;
    Ok(RequestLog { requests, description })
}

/// Decodes requests-table batches, in row order; `place` names them in error messages.
pub fn decode_requests(batches: &[RecordBatch], place: &str) -> Result<Vec<LoggedRequest>, String> {
    let candidate_place = format!("{place}, candidates");
    let mut requests = Vec::new();
    for batch in batches {
        let columns = Columns::of_batch(batch, place);
        let users = columns.users()?;
        let times = columns.floats64("at", true)?.expect("required");
        let splits = columns.strings("split", false)?;
        let lists = columns.list("candidates", true)?.expect("required");
        let values = columns.structs(lists.values(), "candidates")?;
        let candidate_columns = Columns::of_struct(values, &candidate_place);
        let items = ItemDecoder::new(&candidate_columns)?;
        let scores = candidate_columns.floats32("serverScore", false)?;
        let popularity = candidate_columns.floats32("popularity", false)?;
        let created = candidate_columns.floats64("createdAt", false)?;
        let durations = candidate_columns.floats64("durationMs", false)?;
        let labels = candidate_columns.floats32("label", true)?.expect("required");
        let offsets = lists.value_offsets();
        for i in 0..batch.num_rows() {
            let row = requests.len();
            let bad = |what: &str| format!("{place} row {row}: {what}");
            if users.is_null(i) || times.is_null(i) || lists.is_null(i) {
                return Err(bad("user, at and candidates are required"));
            }
            let split = match splits.and_then(|s| get(s, i, |i| s.value(i))) {
                None => None,
                Some(name) => Some(
                    Split::ALL
                        .into_iter()
                        .find(|s| s.name() == name)
                        .ok_or_else(|| bad(&format!("unknown split `{name}` (train, validation or test)")))?,
                ),
            };
            let range = offsets[i] as usize..offsets[i + 1] as usize;
            let mut candidates = Vec::with_capacity(range.len());
            let mut request_labels = Vec::with_capacity(range.len());
            for k in range {
                let label =
                    get(labels, k, |k| labels.value(k)).ok_or_else(|| bad("a candidate without a label"))?;
                let f32_of = |column: Option<&Float32Array>| column.and_then(|c| get(c, k, |k| c.value(k)));
                let f64_of = |column: Option<&Float64Array>| column.and_then(|c| get(c, k, |k| c.value(k)));
                candidates.push(Candidate {
                    item: items.item(k).map_err(|e| bad(&e))?,
                    server_score: f32_of(scores),
                    popularity: f32_of(popularity),
                    created_at: f64_of(created),
                    duration_ms: f64_of(durations),
                    pinned: false,
                });
                request_labels.push(label);
            }
            requests.push(LoggedRequest {
                user: users.value(i),
                at: times.value(i),
                split,
                candidates,
                labels: request_labels,
            });
        }
    }
    Ok(requests)
}

#[cfg(test)]
mod tests;
