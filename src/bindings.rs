//! The JavaScript binding: the only module that knows about wasm-bindgen. It converts between
//! JS values and the core types, turns core errors into JS `Error`s with a stable `code`, and
//! hands the core its clock. Numbers that scale with the list cross as typed arrays.

use js_sys::{Array, Float32Array, Float64Array, Object, Reflect, Uint32Array, Uint8Array};
use serde::{Deserialize, Serialize};
use wasm_bindgen::prelude::*;

use crate::columns::{CandidateColumns, ColumnsWire, EventColumns, EventColumnsWire, ItemsWire};
use crate::error::Error;
use crate::item::{Candidate, Event};
use crate::model::TrustedKey;
use crate::ranker::{self, Clock, OnError, RankerOptions, RequestContextInput, RerankSettings};
use crate::rerank::Constraints;
use crate::signals::decay::DAY_MS;
use crate::signals::{RecordSummary, StoreConfig};
use crate::vocabulary::{CONSTRAINT_KEYS, DIVERSITY_KEYS, OPTION_KEYS, REQUEST_KEYS};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("bindings.d.ts");

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, present in browsers, workers and Node. Bound directly rather than
    /// through web-sys, whose `Performance` object comes from a global accessor (`window`,
    /// `globalThis`): the .wasm imports no handle on the page's globals
    /// (tests/js/wasm-imports.test.mjs).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;

    /// The options bag, typed in the .d.ts as `RankerOptions`.
    #[wasm_bindgen(typescript_type = "RankerOptions")]
    pub type RankerOptionsArg;

    /// The second argument of `rerankColumns`, typed in the .d.ts as `RerankSettings`.
    #[wasm_bindgen(typescript_type = "RerankSettings")]
    pub type RerankSettingsArg;
}

/// serde-wasm-bindgen reads only the fields a struct names, so `deny_unknown_fields` cannot
/// catch a misspelt option: the keys are checked here instead.
fn reject_unknown_keys(
    value: &JsValue,
    allowed: &[&str],
    what: &str,
    error: fn(String) -> Error,
) -> Result<(), Error> {
    if !value.is_object() {
        return Ok(());
    }
    let keys = Object::keys(value.unchecked_ref::<Object>());
    match keys.iter().filter_map(|k| k.as_string()).find(|k| !allowed.contains(&k.as_str())) {
        Some(key) => {
            Err(error(format!("{what}: unknown field `{key}`, expected one of {}", allowed.join(", "))))
        }
        None => Ok(()),
    }
}

/// Checks the request's own keys and its constraints' (candidates may carry anything).
fn check_request_keys(request: &JsValue) -> Result<(), Error> {
    reject_unknown_keys(request, REQUEST_KEYS, "request", Error::InvalidRequest)?;
    let constraints = Reflect::get(request, &"constraints".into()).unwrap_or(JsValue::UNDEFINED);
    reject_unknown_keys(&constraints, CONSTRAINT_KEYS, "constraints", Error::InvalidRequest)?;
    let diversity = if constraints.is_object() {
        Reflect::get(&constraints, &"diversity".into()).unwrap_or(JsValue::UNDEFINED)
    } else {
        JsValue::UNDEFINED
    };
    reject_unknown_keys(&diversity, DIVERSITY_KEYS, "constraints.diversity", Error::InvalidRequest)
}

extern "C" {
    /// wasm-ld's runner of static constructors (tract registers its ops through them).
    fn __wasm_call_ctors();
}

/// Runs the static constructors exactly once, before tract is first used.
///
/// NOTE: while nothing references `__wasm_call_ctors`, wasm-ld wraps *every* export in a call to
/// it, re-running all of tract's constructors on each JS→wasm call (measured: 0.5 µs per call,
/// ~95 % of a rerank). Referencing it here makes the linker drop those wrappers, so the
/// constructors must be run by hand — once: running them twice would register tract's ops twice.
/// Not in `start`, which a wasm-bindgen-test harness does not call.
fn run_static_constructors() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    // SAFETY: runs once, before any code that reads what the constructors register.
    ONCE.call_once(|| unsafe { __wasm_call_ctors() });
}

/// Installs the panic hook, so a bug shows its Rust message in the console instead of a bare
/// `unreachable` trap. It costs a few KB of formatting code in the .wasm.
#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
}

struct PerformanceClock;

impl Clock for PerformanceClock {
    fn now_ms(&self) -> f64 {
        performance_now()
    }
}

/// A JS `Error` whose `code` is the core error's stable code.
fn to_js_error(error: &Error) -> JsValue {
    let js_error = js_sys::Error::new(&error.to_string());
    js_error.set_name("LocalrankError");
    // Setting a property on a fresh Error object cannot fail.
    let _ = Reflect::set(&js_error, &"code".into(), &error.code().into());
    js_error.into()
}

fn from_js<T: for<'de> Deserialize<'de>>(
    value: JsValue,
    what: &str,
    error: fn(String) -> Error,
) -> Result<T, Error> {
    serde_wasm_bindgen::from_value(value).map_err(|e| error(format!("{what}: {e}")))
}

fn to_js<T: Serialize>(value: &T) -> JsValue {
    // Plain objects (not Maps) for `Option`/struct fields, as the .d.ts promises.
    let serializer = serde_wasm_bindgen::Serializer::json_compatible();
    value.serialize(&serializer).expect("plain data always serialises")
}

fn set(target: &Object, key: &str, value: &JsValue) {
    let _ = Reflect::set(target, &key.into(), value);
}

/// Current wall-clock time, for calls where the caller passes none.
fn wall_clock(now: Option<f64>) -> f64 {
    now.unwrap_or_else(js_sys::Date::now)
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsOptions {
    key_cap: Option<usize>,
    retention_days: Option<f64>,
    max_candidates: Option<usize>,
    time_budget_ms: Option<f64>,
    memory_budget_bytes: Option<usize>,
    on_error: Option<OnError>,
    #[serde(default)]
    trusted_keys: Vec<String>,
}

impl JsOptions {
    fn into_core(self) -> Result<RankerOptions, Error> {
        let defaults = RankerOptions::default();
        let trusted_keys =
            self.trusted_keys.iter().map(|hex| TrustedKey::from_hex(hex)).collect::<Result<_, _>>()?;
        Ok(RankerOptions {
            store: StoreConfig {
                key_cap: self.key_cap.unwrap_or(defaults.store.key_cap),
                retention_ms: self.retention_days.map_or(defaults.store.retention_ms, |d| d * DAY_MS),
            },
            max_candidates: self.max_candidates.unwrap_or(defaults.max_candidates),
            time_budget_ms: self.time_budget_ms.or(defaults.time_budget_ms),
            memory_budget_bytes: self.memory_budget_bytes.or(defaults.memory_budget_bytes),
            on_error: self.on_error.unwrap_or(defaults.on_error),
            trusted_keys,
        })
    }
}

/// A request's fields besides `candidates` (serde-wasm-bindgen reads only the fields named
/// here, so the candidate list is not walked when this is parsed).
#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct JsRerankSettings {
    now: Option<f64>,
    utc_offset_minutes: Option<f64>,
    #[serde(default)]
    constraints: Constraints,
    #[serde(default)]
    explain: bool,
    on_error: Option<OnError>,
}

impl JsRerankSettings {
    fn into_core(self, on_error: OnError) -> RerankSettings {
        RerankSettings {
            context: RequestContextInput {
                now: wall_clock(self.now),
                utc_offset_minutes: self
                    .utc_offset_minutes
                    .unwrap_or_else(|| -js_sys::Date::new_0().get_timezone_offset()),
            },
            constraints: self.constraints,
            explain: self.explain,
            on_error: Some(on_error),
        }
    }
}

/// Parses a request's settings, and the mode its errors are handled in: its own `onError`,
/// read even when the rest does not parse, else the ranker's.
fn parse_settings(request: &JsValue, default: OnError) -> (Result<JsRerankSettings, Error>, OnError) {
    let parsed = if request.is_undefined() {
        Ok(JsRerankSettings::default())
    } else {
        check_request_keys(request).and_then(|()| from_js(request.clone(), "request", Error::InvalidRequest))
    };
    let mode = match &parsed {
        Ok(settings) => settings.on_error.unwrap_or(default),
        Err(_) => read_on_error(request).unwrap_or(default),
    };
    (parsed, mode)
}

/// Which column set is being read, for its error messages and code.
#[derive(Clone, Copy)]
struct ColumnSet {
    name: &'static str,
    error: fn(String) -> Error,
}

const CANDIDATE_COLUMNS: ColumnSet = ColumnSet { name: "candidate columns", error: Error::InvalidRequest };
const EVENT_COLUMNS: ColumnSet = ColumnSet { name: "event columns", error: Error::InvalidEvent };

/// Reads a typed-array field of a columns object into wasm memory (one copy).
fn typed<T: JsCast>(columns: &JsValue, name: &str, set: ColumnSet) -> Result<T, Error> {
    Reflect::get(columns, &name.into())
        .ok()
        .and_then(|value| value.dyn_into::<T>().ok())
        .ok_or_else(|| (set.error)(format!("{}: `{name}` is missing or not the right typed array", set.name)))
}

/// Reads the item columns candidate and event columns share.
fn read_items(columns: &JsValue, set: ColumnSet) -> Result<ItemsWire, Error> {
    if !columns.is_object() {
        return Err((set.error)(format!("{}: not an object", set.name)));
    }
    let text = Reflect::get(columns, &"text".into())
        .ok()
        .and_then(|t| t.as_string())
        .ok_or_else(|| (set.error)(format!("{}: `text` is missing or not a string", set.name)))?;
    let u32s = |name| typed::<Uint32Array>(columns, name, set).map(|a| a.to_vec());
    Ok(ItemsWire {
        text,
        lengths: u32s("lengths")?,
        ids: u32s("ids")?,
        authors: u32s("authors")?,
        container_offsets: u32s("containerOffsets")?,
        container_keys: u32s("containerKeys")?,
        topic_offsets: u32s("topicOffsets")?,
        topic_keys: u32s("topicKeys")?,
        embedding_offsets: u32s("embeddingOffsets")?,
        embeddings: typed::<Float32Array>(columns, "embeddings", set)?.to_vec(),
    })
}

fn read_columns(columns: &JsValue) -> Result<ColumnsWire, Error> {
    let set = CANDIDATE_COLUMNS;
    let server_scores = typed::<Float32Array>(columns, "serverScores", set)?.to_vec();
    // NOTE: `durationMs` may be absent (all NaN): columns packed by a client from before the
    // feed features still rerank, their candidates simply without a duration.
    let duration_ms = match Reflect::get(columns, &"durationMs".into()) {
        Ok(value) if value.is_undefined() => vec![f64::NAN; server_scores.len()],
        _ => typed::<Float64Array>(columns, "durationMs", set)?.to_vec(),
    };
    Ok(ColumnsWire {
        items: read_items(columns, set)?,
        server_scores,
        popularity: typed::<Float32Array>(columns, "popularity", set)?.to_vec(),
        created_at: typed::<Float64Array>(columns, "createdAt", set)?.to_vec(),
        duration_ms,
        pinned: typed::<Uint8Array>(columns, "pinned", set)?.to_vec(),
    })
}

fn read_event_columns(columns: &JsValue) -> Result<EventColumnsWire, Error> {
    let set = EVENT_COLUMNS;
    Ok(EventColumnsWire {
        items: read_items(columns, set)?,
        kinds: typed::<Uint8Array>(columns, "kinds", set)?.to_vec(),
        at: typed::<Float64Array>(columns, "at", set)?.to_vec(),
        dwell_ms: typed::<Float64Array>(columns, "dwellMs", set)?.to_vec(),
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsModelInfo<'a> {
    name: &'a str,
    contract_version: u32,
    features: &'a [String],
    producer: &'a str,
    opset: i64,
    byte_size: usize,
    sha256: &'a str,
    signed_by: Option<&'a str>,
}

/// A loaded model with its signal store. Build it once from the model's bytes, then call
/// `rerank` for every list and `record` for every batch of UI events.
///
/// ```js
/// const ranker = new Ranker(new Uint8Array(await (await fetch("ranker.onnx")).arrayBuffer()));
/// ranker.record([{ kind: "like", item: { id: "p1", topics: ["rust"] }, at: Date.now() }]);
/// const { ids, fallback } = ranker.rerank({ candidates: serverResponse.items });
/// ```
#[wasm_bindgen]
pub struct Ranker {
    inner: ranker::Ranker,
}

#[wasm_bindgen]
impl Ranker {
    /// Loads and optimises a model: a bare ONNX file or a localrank bundle (SHA-256, optionally
    /// Ed25519-signed). Throws `INVALID_MODEL`, `CONTRACT_MISMATCH`, `UNKNOWN_FEATURE`,
    /// `INVALID_OPTIONS`, or with `trustedKeys`: `MODEL_UNSIGNED`, `MODEL_UNTRUSTED_KEY`,
    /// `MODEL_TAMPERED` (a tampered bundle is refused even without trusted keys).
    #[wasm_bindgen(constructor)]
    pub fn new(model: &[u8], options: Option<RankerOptionsArg>) -> Result<Ranker, JsValue> {
        run_static_constructors();
        let options: JsOptions = match options.map(JsValue::from) {
            None => JsOptions::default(),
            Some(options) if options.is_null() || options.is_undefined() => JsOptions::default(),
            Some(options) => reject_unknown_keys(&options, OPTION_KEYS, "options", Error::InvalidOptions)
                .and_then(|()| from_js(options, "options", Error::InvalidOptions))
                .map_err(|e| to_js_error(&e))?,
        };
        options
            .into_core()
            .and_then(|options| ranker::Ranker::new(model, options))
            .map(|inner| Ranker { inner })
            .map_err(|e| to_js_error(&e))
    }

    /// Reorders a server response. On any problem it returns the server order with a
    /// `fallback` reason, unless `onError: "throw"` was asked for.
    ///
    /// ```js
    /// const result = ranker.rerank({ candidates, constraints: { maxDisplacement: 5 } });
    /// render(result.ids); if (result.fallback) log(result.fallback.reason);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "RerankResult")]
    pub fn rerank(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "RerankRequest")] request: JsValue,
    ) -> Result<JsValue, JsValue> {
        let started = performance_now();
        let (settings, mode) = parse_settings(&request, self.inner.options().on_error);
        let parsed = settings.and_then(|settings| {
            let candidates = Reflect::get(&request, &"candidates".into()).unwrap_or(JsValue::UNDEFINED);
            if candidates.is_undefined() {
                return Err(Error::InvalidRequest("request: missing field `candidates`".into()));
            }
            let candidates: Vec<Candidate> =
                from_js(candidates, "request.candidates", Error::InvalidRequest)?;
            Ok((candidates, settings))
        });
        let (candidates, settings) = match parsed {
            Ok(parsed) => parsed,
            Err(error) if mode == OnError::Throw => return Err(to_js_error(&error)),
            Err(error) => return Ok(unparsed_fallback(&request, &error, performance_now() - started)),
        };
        let settings = settings.into_core(mode);
        let candidates = CandidateColumns::from_candidates(&candidates);
        let ranking = self
            .inner
            .rerank_columns(&candidates, &settings, &PerformanceClock)
            .map_err(|e| to_js_error(&e))?;
        let ids: Array =
            ranking.order.iter().map(|&i| JsValue::from_str(candidates.id(i as usize))).collect();
        let result = ranking_object(&ranking, settings.explain);
        set(&result, "ids", &ids);
        set(&result, "elapsedMs", &(performance_now() - started).into());
        Ok(result.into())
    }

    /// `rerank` for candidates packed column-wise (`CandidateColumns`): the fast path the
    /// client (the `localrank` package) takes, where a list crosses into wasm as a few
    /// typed-array copies. `request` holds the other fields of a `RerankRequest` (a
    /// `candidates` field is ignored). The result has no `ids`: the caller has the candidates.
    /// Columns of the wrong type or shape are `INVALID_REQUEST` (server order, or thrown).
    ///
    /// ```js
    /// const columns = packCandidates(candidates); // from "localrank"
    /// const { order, fallback } = ranker.rerankColumns(columns, { now: Date.now() });
    /// const ids = Array.from(order, (i) => candidates[i].id);
    /// ```
    #[wasm_bindgen(js_name = rerankColumns, unchecked_return_type = "ColumnsRerankResult")]
    pub fn rerank_columns(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "CandidateColumns")] columns: JsValue,
        request: Option<RerankSettingsArg>,
    ) -> Result<JsValue, JsValue> {
        let started = performance_now();
        let request = request.map_or(JsValue::UNDEFINED, JsValue::from);
        let (settings, mode) = parse_settings(&request, self.inner.options().on_error);
        let settings = settings.map(|s| s.into_core(mode));
        let explain = settings.as_ref().is_ok_and(|s| s.explain);
        let candidates = read_columns(&columns).and_then(CandidateColumns::from_wire);
        let ranking = match (candidates, settings) {
            (Ok(candidates), Ok(settings)) => {
                self.inner.rerank_columns(&candidates, &settings, &PerformanceClock)
            }
            (Err(error), _) | (_, Err(error)) => {
                // Unreadable columns: the server order of as many ids as were sent.
                let count = typed::<Uint32Array>(&columns, "ids", CANDIDATE_COLUMNS)
                    .map_or(0, |ids| ids.length() as usize);
                self.inner.fallback_or(Err(error), count, Some(mode))
            }
        };
        let ranking = ranking.map_err(|e| to_js_error(&e))?;
        let result = ranking_object(&ranking, explain);
        set(&result, "elapsedMs", &(performance_now() - started).into());
        Ok(result.into())
    }

    /// Runs the model alone on a row-major `[rows, F]` matrix whose columns are
    /// `modelInfo().features`, and returns its raw scores (no signals, no server blend, no
    /// reordering). For benchmarks and parity checks against another runtime. Throws
    /// `INVALID_REQUEST` if `features.length !== rows * F`, `INFERENCE_FAILED` or
    /// `INVALID_MODEL_OUTPUT`.
    ///
    /// ```js
    /// const width = ranker.modelInfo().features.length;
    /// const matrix = new Float32Array(rows * width); // fill row by row
    /// const scores = ranker.scoreFeatures(matrix, rows); // Float32Array of length rows
    /// ```
    #[wasm_bindgen(js_name = scoreFeatures)]
    pub fn score_features(&mut self, features: &[f32], rows: usize) -> Result<Float32Array, JsValue> {
        let scores = self.inner.score_features(features, rows).map_err(|e| to_js_error(&e))?;
        Ok(Float32Array::from(scores.as_slice()))
    }

    /// Records UI events. The batch is validated whole: on `INVALID_EVENT` nothing is stored.
    /// Returns how many were stored and how many were already past retention.
    #[wasm_bindgen(unchecked_return_type = "RecordSummary")]
    pub fn record(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "SignalEvent[]")] events: JsValue,
        now: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let events: Vec<Event> =
            from_js(events, "events", Error::InvalidEvent).map_err(|e| to_js_error(&e))?;
        let summary = self.inner.record(&events, wall_clock(now));
        summary.map(summary_object).map_err(|e| to_js_error(&e))
    }

    /// `record` for events packed column-wise (`EventColumns`): the fast path the client
    /// (the `localrank` package) takes, where a batch crosses into wasm as a few typed-array
    /// copies. The same checks, errors and effects as `record`; columns of the wrong type or
    /// shape are `INVALID_EVENT` too.
    ///
    /// ```js
    /// const columns = packEvents(events); // from "localrank"; null: use record(events)
    /// const { recorded, expired } = ranker.recordColumns(columns, Date.now());
    /// ```
    #[wasm_bindgen(js_name = recordColumns, unchecked_return_type = "RecordSummary")]
    pub fn record_columns(
        &mut self,
        #[wasm_bindgen(unchecked_param_type = "EventColumns")] columns: JsValue,
        now: Option<f64>,
    ) -> Result<JsValue, JsValue> {
        let summary = read_event_columns(&columns)
            .and_then(EventColumns::from_wire)
            .and_then(|events| self.inner.record_columns(&events, wall_clock(now)));
        summary.map(summary_object).map_err(|e| to_js_error(&e))
    }

    /// The signal store as versioned, checksummed bytes, for the shim to persist.
    pub fn snapshot(&self) -> Uint8Array {
        Uint8Array::from(self.inner.store().snapshot().as_slice())
    }

    /// Replaces the signals with a snapshot's. Throws `CORRUPT_SNAPSHOT` or
    /// `SNAPSHOT_VERSION` and keeps the current signals if the bytes cannot be used.
    pub fn restore(&mut self, bytes: &[u8], now: Option<f64>) -> Result<(), JsValue> {
        self.inner.store_mut().restore(bytes, wall_clock(now)).map_err(|e| to_js_error(&e))
    }

    /// Forgets every signal (the shim also deletes its persisted copy).
    pub fn clear(&mut self) {
        self.inner.store_mut().clear();
    }

    /// Everything the store knows, decayed to `now`, as plain JSON-compatible data.
    #[wasm_bindgen(js_name = exportSignals, unchecked_return_type = "SignalExport")]
    pub fn export_signals(&self, now: Option<f64>) -> JsValue {
        to_js(&self.inner.store().export(wall_clock(now)))
    }

    /// The loaded model's name, feature contract and provenance.
    #[wasm_bindgen(js_name = modelInfo, unchecked_return_type = "ModelInfo")]
    pub fn model_info(&self) -> JsValue {
        let info = self.inner.model_info();
        to_js(&JsModelInfo {
            name: &info.contract.name,
            contract_version: info.contract.version,
            features: &info.contract.features,
            producer: &info.producer,
            opset: info.opset,
            byte_size: info.byte_size,
            sha256: &info.provenance.sha256,
            signed_by: info.provenance.signed_by.as_deref(),
        })
    }

    /// Number of keys in the signal store.
    #[wasm_bindgen(getter, js_name = keyCount)]
    pub fn key_count(&self) -> u32 {
        self.inner.store().key_count() as u32
    }
}

/// What `record` and `recordColumns` return: a `RecordSummary` object.
fn summary_object(summary: RecordSummary) -> JsValue {
    let result = Object::new();
    set(&result, "recorded", &(summary.recorded as u32).into());
    set(&result, "expired", &(summary.expired as u32).into());
    result.into()
}

/// A ranking as the JS result object, without `ids` and `elapsedMs`.
fn ranking_object(ranking: &ranker::Ranking, explain: bool) -> Object {
    let result = Object::new();
    set(&result, "order", &Uint32Array::from(ranking.order.as_slice()));
    set(&result, "scores", &Float32Array::from(ranking.scores.as_slice()));
    let fallback = ranking.fallback.as_ref().map_or(JsValue::NULL, |f| fallback_object(f.reason, &f.message));
    set(&result, "fallback", &fallback);
    if explain && ranking.fallback.is_none() {
        set(&result, "explanations", &explanations(ranking));
    }
    result
}

fn fallback_object(reason: &str, message: &str) -> JsValue {
    let fallback = Object::new();
    set(&fallback, "reason", &reason.into());
    set(&fallback, "message", &message.into());
    fallback.into()
}

fn explanations(ranking: &ranker::Ranking) -> JsValue {
    let mut new_rank = vec![0u32; ranking.order.len()];
    for (rank, &i) in ranking.order.iter().enumerate() {
        new_rank[i as usize] = rank as u32;
    }
    ranking
        .explanations
        .iter()
        .enumerate()
        .map(|(i, explanation)| {
            let item = Object::new();
            set(&item, "serverRank", &(i as u32).into());
            set(&item, "rank", &new_rank[i].into());
            let contributions = Object::new();
            for (group, delta) in &explanation.contributions {
                set(&contributions, group.name(), &(*delta).into());
            }
            set(&item, "contributions", &contributions);
            JsValue::from(item)
        })
        .collect::<Array>()
        .into()
}

/// `onError` read straight off a request that did not parse, so `"throw"` is honoured even
/// for a malformed request.
fn read_on_error(request: &JsValue) -> Option<OnError> {
    let value = Reflect::get(request, &"onError".into()).ok()?;
    serde_wasm_bindgen::from_value(value).ok()
}

/// The server order of a request that did not parse: as many ids as can be read, in order.
fn unparsed_fallback(request: &JsValue, error: &Error, elapsed_ms: f64) -> JsValue {
    let candidates = Reflect::get(request, &"candidates".into()).ok().filter(Array::is_array);
    let candidates: Array = candidates.map(|c| Array::from(&c)).unwrap_or_default();
    let ids: Array = candidates
        .iter()
        .map(|c| Reflect::get(&c, &"id".into()).ok().and_then(|id| id.as_string()).unwrap_or_default())
        .map(JsValue::from)
        .collect();
    let result = Object::new();
    let order: Vec<u32> = (0..ids.length()).collect();
    set(&result, "ids", &ids);
    set(&result, "order", &Uint32Array::from(order.as_slice()));
    set(&result, "scores", &Float32Array::new_with_length(0));
    set(&result, "fallback", &fallback_object(error.code(), &error.to_string()));
    set(&result, "elapsedMs", &elapsed_ms.into());
    result.into()
}
