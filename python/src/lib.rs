//! `import localrank`: the core's offline pipeline on Arrow tables, for Python jobs (the Ray
//! job `models/ray_replay.py`, notebooks, a trainer). Every function is a thin call of the
//! same `localrank::offline` functions the CLI runs: events and requests are decoded by
//! `event_log`, replayed by `replay` through the device's `SignalStore` and `FeatureBuilder`,
//! returned as the training table of `training_table`; models run through the core's tract
//! runner. Tables cross the boundary whole, through the Arrow C data interface (no copy, no
//! per-row Python), and the replay runs without the GIL, so several Python threads replay at
//! once. Every failure is a `localrank.LocalrankError` (a `ValueError`) with the core's message.

use std::fmt::Display;
use std::sync::Arc;

use arrow_array::{ArrayRef, Float32Array, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray};
use arrow_pyarrow::{PyArrowType, Table};
use arrow_schema::{DataType, Field, Schema};
use localrank::features::Contract;
use localrank::model::ModelRunner;
use localrank::offline::evaluate::{self, Scoring};
use localrank::offline::event_log::{self, RequestLog, DESCRIPTION_KEY};
use localrank::offline::log::Log;
use localrank::offline::protocol::Protocol;
use localrank::offline::replay::{self as core_replay, Dataset, ReplayOptions};
use localrank::offline::training_table;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

pyo3::create_exception!(
    localrank,
    LocalrankError,
    PyValueError,
    "Bad input to localrank (a table of the wrong schema, a bad value, an unreadable model)."
);

fn error(message: impl Display) -> PyErr {
    LocalrankError::new_err(message.to_string())
}

fn table_of(batches: Vec<RecordBatch>, schema: Arc<Schema>) -> PyResult<PyArrowType<Table>> {
    Ok(PyArrowType(Table::try_new(batches, schema).map_err(error)?))
}

fn read_training_table(table: Table, place: &str) -> Result<Dataset, String> {
    let metadata = table.schema().metadata().clone();
    training_table::from_batches(table.record_batches(), &metadata, place)
}

/// Replays an event log through the device's signal store and feature builder.
///
/// `events` and `requests` are tables of the event-log format (README, "Event-log format"),
/// e.g. `pyarrow.parquet.read_table("events.parquet")`; without `requests` the simulated
/// server makes the requests, and then `events` must be the whole log (the server learns
/// from every user's events). `contract` is a contract's JSON (`{"version": 2, "features":
/// [...]}`); `users` limits the rows to these users (the others' events still reach the
/// simulated server); `protocol` is the protocol as JSON (the training table's
/// `localrank.source` metadata shows it; default: the CLI's defaults).
///
/// Returns the training table: one row per candidate (`request_id`, `user`, `at`, `split`,
/// `row`, `history_length`, `label`, `prior`, `topic_affinity`, `co_like`, `popularity`,
/// `item_hash`, `engaged_at`, one float32 column per feature in contract order), requests in
/// time order.
///
/// ```python
/// import localrank, pyarrow.parquet as pq
/// rows = localrank.replay(pq.read_table("events.parquet"), pq.read_table("requests.parquet"),
///                         open("models/kuairand/features.json").read())
/// ```
#[pyfunction]
#[pyo3(signature = (events, requests, contract, *, users = None, dataset = String::new(), protocol = None))]
fn replay(
    py: Python<'_>,
    events: PyArrowType<Table>,
    requests: Option<PyArrowType<Table>>,
    contract: &str,
    users: Option<Vec<u32>>,
    dataset: String,
    protocol: Option<&str>,
) -> PyResult<PyArrowType<Table>> {
    let contract = Contract::from_json(contract).map_err(error)?;
    let protocol = match protocol {
        Some(json) => serde_json::from_str::<Protocol>(json).map_err(|e| error(format!("protocol: {e}")))?,
        None => Protocol::default(),
    };
    let (events, requests) = (events.0, requests.map(|r| r.0));
    let batch = py
        .detach(move || -> Result<RecordBatch, String> {
            let metadata = events.schema().metadata().clone();
            let description = event_log::description_of(metadata.get(DESCRIPTION_KEY).map(String::as_str))?;
            let logged = event_log::decode_events(events.record_batches(), "events")?;
            let requests = requests
                .map(|table| -> Result<RequestLog, String> {
                    let metadata = table.schema().metadata().clone();
                    Ok(RequestLog {
                        requests: event_log::decode_requests(table.record_batches(), "requests")?,
                        description: event_log::description_of(
                            metadata.get(DESCRIPTION_KEY).map(String::as_str),
                        )?,
                    })
                })
                .transpose()?;
            let log = Log::new(logged, description, requests);
            let users = users.map(|u| u.into_iter().collect());
            let data = core_replay::replay(&log, &contract, ReplayOptions { users, dataset, protocol })?;
            training_table::to_batch(&data)
        })
        .map_err(error)?;
    let schema = batch.schema();
    table_of(vec![batch], schema)
}

/// The contract (JSON) a model (ONNX, NNEF or a verified bundle's bytes) was trained for.
///
/// ```python
/// contract = localrank.contract_of(open("models/ranker.onnx", "rb").read())
/// ```
#[pyfunction]
fn contract_of(model: &[u8]) -> PyResult<String> {
    Ok(ModelRunner::load(model, &[]).map_err(error)?.contract().to_json())
}

/// One contract with the features of all of `contracts` (JSON each), in first-seen order.
#[pyfunction]
fn union_contracts(contracts: Vec<String>) -> PyResult<String> {
    let parsed = contracts.iter().map(|json| Contract::from_json(json)).collect::<Result<Vec<_>, _>>();
    Ok(Contract::union(parsed.map_err(error)?).to_json())
}

/// The scores per request of one model (`None`: the server's order, scores `-row`).
fn scores_of(data: &Dataset, model: Option<&[u8]>, ungated: bool) -> Result<Vec<Vec<f32>>, String> {
    let Some(model) = model else {
        return Ok((0..data.requests())
            .map(|r| (0..data.rows_of(r).len()).map(|k| -(k as f32)).collect())
            .collect());
    };
    let mut runner = ModelRunner::load(model, &[]).map_err(|e| e.to_string())?;
    let scoring = if ungated { Scoring::Ungated } else { Scoring::Device };
    let all: Vec<usize> = (0..data.requests()).collect();
    evaluate::model_scores(data, &mut runner, &all, scoring)
}

/// Scores a training table with a model through tract, as the device does (`ungated`: the
/// evaluation controls' form, the server prior plus the raw output). Returns `request_id`,
/// `row` and `score` per candidate, requests in time order.
#[pyfunction]
#[pyo3(signature = (model, table, *, ungated = false))]
fn score(
    py: Python<'_>,
    model: &[u8],
    table: PyArrowType<Table>,
    ungated: bool,
) -> PyResult<PyArrowType<Table>> {
    let table = table.0;
    let model = model.to_vec();
    let (data, scores) = py
        .detach(move || -> Result<_, String> {
            let data = read_training_table(table, "table")?;
            let scores = scores_of(&data, Some(&model), ungated)?;
            Ok((data, scores))
        })
        .map_err(error)?;
    let per_row = |values: &[i64]| -> Vec<i64> {
        (0..data.requests()).flat_map(|r| std::iter::repeat_n(values[r], data.rows_of(r).len())).collect()
    };
    let schema = Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Int64, false),
        Field::new("row", DataType::Int32, false),
        Field::new("score", DataType::Float32, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(per_row(&data.request_ids))),
        Arc::new(Int32Array::from_iter_values(
            (0..data.requests()).flat_map(|r| 0..data.rows_of(r).len() as i32),
        )),
        Arc::new(Float32Array::from_iter_values(scores.into_iter().flatten())),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(error)?;
    table_of(vec![batch], schema)
}

/// The evaluator's per-request metrics (NDCG@10, NDCG@5, recall@10, MRR) of a model's
/// ranking (`None`: the server's order), for every request of a training table: columns
/// `request_id`, `user`, `at`, `split`, `ndcg`, `ndcg5`, `recall`, `mrr`.
#[pyfunction]
#[pyo3(signature = (table, model = None, *, ungated = false))]
fn metrics(
    py: Python<'_>,
    table: PyArrowType<Table>,
    model: Option<&[u8]>,
    ungated: bool,
) -> PyResult<PyArrowType<Table>> {
    let table = table.0;
    let model = model.map(<[u8]>::to_vec);
    let (data, metrics) = py
        .detach(move || -> Result<_, String> {
            let data = read_training_table(table, "table")?;
            let scores = scores_of(&data, model.as_deref(), ungated)?;
            let metrics: Vec<_> = (0..data.requests())
                .map(|r| evaluate::request_metrics(&scores[r], &data.labels[data.rows_of(r)]))
                .collect();
            Ok((data, metrics))
        })
        .map_err(error)?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("request_id", DataType::Int64, false),
        Field::new("user", DataType::Int64, false),
        Field::new("at", DataType::Float64, false),
        Field::new("split", DataType::Utf8, false),
        Field::new("ndcg", DataType::Float64, false),
        Field::new("ndcg5", DataType::Float64, false),
        Field::new("recall", DataType::Float64, false),
        Field::new("mrr", DataType::Float64, false),
    ]));
    let metric = |pick: fn(&evaluate::RequestMetrics) -> f64| -> ArrayRef {
        Arc::new(Float64Array::from_iter_values(metrics.iter().map(pick)))
    };
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(data.request_ids.clone())),
        Arc::new(Int64Array::from(data.user_ids.clone())),
        Arc::new(Float64Array::from(data.timestamps.clone())),
        Arc::new(StringArray::from_iter_values(data.split.iter().map(|&s| training_table::split_name(s)))),
        metric(|m| m.ndcg),
        metric(|m| m.ndcg5),
        metric(|m| m.recall),
        metric(|m| m.mrr),
    ];
    let batch = RecordBatch::try_new(schema.clone(), columns).map_err(error)?;
    table_of(vec![batch], schema)
}

#[pymodule]
#[pyo3(name = "localrank")]
fn localrank_python(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("LocalrankError", m.py().get_type::<LocalrankError>())?;
    m.add_function(wrap_pyfunction!(replay, m)?)?;
    m.add_function(wrap_pyfunction!(contract_of, m)?)?;
    m.add_function(wrap_pyfunction!(union_contracts, m)?)?;
    m.add_function(wrap_pyfunction!(score, m)?)?;
    m.add_function(wrap_pyfunction!(metrics, m)?)?;
    Ok(())
}
