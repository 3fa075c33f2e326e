//! The JavaScript binding: the only module that knows about wasm-bindgen. It hands the core
//! what the package's TypeScript side (client/src/core/) read from the caller, turns core
//! errors into coded error texts, and gives the core its clock for the time budget.
//!
//! NOTE: every argument and result is a number, a string or a typed array; no JS object
//! crosses, and the TypeScript side reads, checks and copies the caller's values before the
//! call. So none of the caller's code (a getter, a Proxy trap, a `toJSON`) can run while wasm
//! code is on the stack — an exception unwinding through wasm frames would leave a borrow flag
//! set and the allocator mid-operation, and break the instance — and the module imports no
//! way to touch any JS object besides the ones it creates (tests/js/wasm-imports.test.mjs).

use serde::Serialize;
use wasm_bindgen::prelude::*;

use crate::columns::{CandidateColumns, ColumnsWire, EventColumns, EventColumnsWire, ItemsWire};
use crate::error::Error;
use crate::model::TrustedKey;
use crate::ranker::{self, Clock, OnError, RankerOptions, RequestContextInput, RerankSettings};
use crate::rerank::{Constraints, Diversity, DiversityKey};
use crate::signals::decay::DAY_MS;
use crate::signals::{StoreConfig, UnsealedSnapshot};

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = include_str!("bindings.d.ts");

#[wasm_bindgen]
extern "C" {
    /// `performance.now()`, present in browsers, workers and Node: the time budget's clock.
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
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

/// A core error as it crosses to JS: its stable code, a newline, its message. The TypeScript
/// side makes the `LocalrankError` from it (client/src/core/errors.ts).
fn wire(error: &Error) -> String {
    format!("{}\n{error}", error.code())
}

/// A number the caller gave for a count or a size, as one: a whole number (the range is the
/// core's to check).
fn whole(name: &str, value: f64, error: fn(String) -> Error) -> Result<usize, Error> {
    if value.fract() == 0.0 && value >= 0.0 && value <= usize::MAX as f64 {
        Ok(value as usize)
    } else {
        Err(error(format!("{name} = {value} is not a whole number")))
    }
}

fn whole_option(name: &str, value: Option<f64>) -> Result<Option<usize>, Error> {
    value.map(|v| whole(name, v, Error::InvalidOptions)).transpose()
}

/// The core's options from the caller's (absent: the default).
fn ranker_options(
    key_cap: Option<f64>,
    retention_days: Option<f64>,
    max_candidates: Option<f64>,
    time_budget_ms: Option<f64>,
    memory_budget_bytes: Option<f64>,
    trusted_keys: Option<String>,
    learning: Option<bool>,
) -> Result<RankerOptions, Error> {
    let defaults = RankerOptions::default();
    Ok(RankerOptions {
        store: StoreConfig {
            key_cap: whole_option("keyCap", key_cap)?.unwrap_or(defaults.store.key_cap),
            retention_ms: retention_days.map_or(defaults.store.retention_ms, |days| days * DAY_MS),
        },
        max_candidates: whole_option("maxCandidates", max_candidates)?.unwrap_or(defaults.max_candidates),
        time_budget_ms: time_budget_ms.or(defaults.time_budget_ms),
        memory_budget_bytes: whole_option("memoryBudgetBytes", memory_budget_bytes)?
            .or(defaults.memory_budget_bytes),
        // The TypeScript side applies `onError` to every error, its own and the core's.
        on_error: OnError::Throw,
        trusted_keys: (trusted_keys.iter().flat_map(|keys| keys.split('\n')))
            .map(TrustedKey::from_hex)
            .collect::<Result<_, _>>()?,
        learning: learning.unwrap_or(defaults.learning),
    })
}

/// A request's settings from the caller's values.
fn rerank_settings(
    now: f64,
    utc_offset_minutes: f64,
    max_displacement: Option<f64>,
    diversity_by: Option<String>,
    max_run: Option<f64>,
    explain: bool,
) -> Result<RerankSettings, Error> {
    let max_displacement = max_displacement
        .map(|d| whole("constraints.maxDisplacement", d, Error::InvalidRequest))
        .transpose()?;
    let diversity = match (diversity_by.as_deref(), max_run) {
        (None, None) => None,
        (by, max_run) => {
            let by = match by {
                Some("author") => DiversityKey::Author,
                Some("container") => DiversityKey::Container,
                other => {
                    return Err(Error::InvalidRequest(format!(
                        "constraints.diversity.by must be \"author\" or \"container\", not {other:?}"
                    )))
                }
            };
            let max_run =
                whole("constraints.diversity.maxRun", max_run.unwrap_or(f64::NAN), Error::InvalidRequest)?;
            Some(Diversity { by, max_run })
        }
    };
    Ok(RerankSettings {
        context: RequestContextInput { now, utc_offset_minutes },
        constraints: Constraints { max_displacement, diversity },
        explain,
        on_error: Some(OnError::Throw),
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

/// The module's side of a `Ranker` (the package's `Ranker` class wraps it): a loaded model
/// with its signal store. Errors are thrown as coded texts (`wire`); a ranking is left here
/// for the `take…` methods to hand out.
#[wasm_bindgen]
pub struct WasmRanker {
    inner: ranker::Ranker,
    ranking: Option<ranker::Ranking>,
    /// A snapshot begun and not yet finished (`beginSnapshot`).
    snapshot: Option<UnsealedSnapshot>,
}

#[wasm_bindgen]
impl WasmRanker {
    /// Loads and optimises a model: a bare ONNX file, an NNEF archive or a localrank bundle.
    /// `trusted_keys` holds hex public keys, one per line (none: absent); `learning` turns the
    /// personal head on or off (absent: on).
    // NOTE: one argument per option, numbers and strings only: no object crosses.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(constructor)]
    pub fn new(
        model: &[u8],
        key_cap: Option<f64>,
        retention_days: Option<f64>,
        max_candidates: Option<f64>,
        time_budget_ms: Option<f64>,
        memory_budget_bytes: Option<f64>,
        trusted_keys: Option<String>,
        learning: Option<bool>,
    ) -> Result<WasmRanker, String> {
        run_static_constructors();
        ranker_options(
            key_cap,
            retention_days,
            max_candidates,
            time_budget_ms,
            memory_budget_bytes,
            trusted_keys,
            learning,
        )
        .and_then(|options| ranker::Ranker::new(model, options))
        .map(|inner| WasmRanker { inner, ranking: None, snapshot: None })
        .map_err(|e| wire(&e))
    }

    /// Reranks candidates given as columns. Returns nothing on success (the ranking is then
    /// taken with `takeOrder`, `takeScores`, `takeContributions`), or the error.
    // NOTE: one argument per column: typed arrays cross as single copies, and no object does.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = rerankColumns)]
    pub fn rerank_columns(
        &mut self,
        text: String,
        lengths: Vec<u32>,
        ids: Vec<u32>,
        authors: Vec<u32>,
        container_offsets: Vec<u32>,
        container_keys: Vec<u32>,
        topic_offsets: Vec<u32>,
        topic_keys: Vec<u32>,
        embedding_offsets: Vec<u32>,
        embeddings: Vec<f32>,
        server_scores: Vec<f32>,
        popularity: Vec<f32>,
        created_at: Vec<f64>,
        duration_ms: Vec<f64>,
        pinned: Vec<u8>,
        now: f64,
        utc_offset_minutes: f64,
        max_displacement: Option<f64>,
        diversity_by: Option<String>,
        max_run: Option<f64>,
        explain: bool,
    ) -> Option<String> {
        let items = ItemsWire {
            text,
            lengths,
            ids,
            authors,
            container_offsets,
            container_keys,
            topic_offsets,
            topic_keys,
            embedding_offsets,
            embeddings,
        };
        let wire_columns = ColumnsWire { items, server_scores, popularity, created_at, duration_ms, pinned };
        let ranking =
            rerank_settings(now, utc_offset_minutes, max_displacement, diversity_by, max_run, explain)
                .and_then(|settings| {
                    let candidates = CandidateColumns::from_wire(wire_columns)?;
                    self.inner.rerank_columns(&candidates, &settings, &PerformanceClock)
                });
        match ranking {
            Ok(ranking) => {
                self.ranking = Some(ranking);
                None
            }
            Err(error) => {
                self.ranking = None;
                Some(wire(&error))
            }
        }
    }

    /// The last ranking's order: candidate indices, best first.
    #[wasm_bindgen(js_name = takeOrder)]
    pub fn take_order(&mut self) -> Vec<u32> {
        self.ranking.as_mut().map(|r| std::mem::take(&mut r.order)).unwrap_or_default()
    }

    /// The last ranking's final score per candidate, in request order.
    #[wasm_bindgen(js_name = takeScores)]
    pub fn take_scores(&mut self) -> Vec<f32> {
        self.ranking.as_mut().map(|r| std::mem::take(&mut r.scores)).unwrap_or_default()
    }

    /// The last ranking's contributions, per candidate in request order one per explained
    /// group (`explainedGroups`); empty without `explain`.
    #[wasm_bindgen(js_name = takeContributions)]
    pub fn take_contributions(&mut self) -> Vec<f32> {
        let Some(ranking) = self.ranking.take() else { return Vec::new() };
        ranking.explanations.iter().flat_map(|e| e.contributions.iter().map(|&(_, delta)| delta)).collect()
    }

    /// The feature groups an explanation reports, in order, comma-separated.
    #[wasm_bindgen(js_name = explainedGroups)]
    pub fn explained_groups(&self) -> String {
        self.inner.explained_groups().iter().map(|g| g.name()).collect::<Vec<_>>().join(",")
    }

    /// Runs the model alone on a row-major `[rows, F]` matrix (see the package's `Ranker`).
    #[wasm_bindgen(js_name = scoreFeatures)]
    pub fn score_features(&mut self, features: &[f32], rows: u32) -> Result<Vec<f32>, String> {
        self.inner.score_features(features, rows as usize).map_err(|e| wire(&e))
    }

    /// Records events given as columns; returns `[recorded, expired, clamped]`.
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = recordColumns)]
    pub fn record_columns(
        &mut self,
        text: String,
        lengths: Vec<u32>,
        ids: Vec<u32>,
        authors: Vec<u32>,
        container_offsets: Vec<u32>,
        container_keys: Vec<u32>,
        topic_offsets: Vec<u32>,
        topic_keys: Vec<u32>,
        embedding_offsets: Vec<u32>,
        embeddings: Vec<f32>,
        kinds: Vec<u8>,
        at: Vec<f64>,
        dwell_ms: Vec<f64>,
        now: f64,
    ) -> Result<Vec<u32>, String> {
        let items = ItemsWire {
            text,
            lengths,
            ids,
            authors,
            container_offsets,
            container_keys,
            topic_offsets,
            topic_keys,
            embedding_offsets,
            embeddings,
        };
        EventColumns::from_wire(EventColumnsWire { items, kinds, at, dwell_ms })
            .and_then(|events| self.inner.record_columns(&events, now))
            .map(|s| vec![s.recorded as u32, s.expired as u32, s.clamped as u32])
            .map_err(|e| wire(&e))
    }

    /// The signal store as versioned, checksummed bytes.
    pub fn snapshot(&self) -> Vec<u8> {
        self.inner.store().snapshot()
    }

    /// `snapshot` in two calls, so that other calls can run between them: this one encodes the
    /// store as it is now, `finishSnapshot` checksums and returns those bytes.
    #[wasm_bindgen(js_name = beginSnapshot)]
    pub fn begin_snapshot(&mut self) {
        self.snapshot = Some(self.inner.store().begin_snapshot());
    }

    /// The snapshot `beginSnapshot` began (exactly what `snapshot` gave at that moment), or
    /// undefined if none was begun since the last one finished.
    #[wasm_bindgen(js_name = finishSnapshot)]
    pub fn finish_snapshot(&mut self) -> Option<Vec<u8>> {
        self.snapshot.take().map(UnsealedSnapshot::seal)
    }

    /// Replaces the signals with a snapshot's; on an error keeps the current ones. A snapshot
    /// begun before is dropped: it holds signals that are no longer the store's.
    pub fn restore(&mut self, bytes: &[u8], now: f64) -> Result<(), String> {
        self.inner.store_mut().restore(bytes, now).map_err(|e| wire(&e))?;
        self.snapshot = None;
        Ok(())
    }

    /// Forgets every signal, a snapshot begun before included.
    pub fn clear(&mut self) {
        self.inner.store_mut().clear();
        self.snapshot = None;
    }

    /// Everything the store knows, decayed to `now`, as JSON (a `SignalExport`).
    #[wasm_bindgen(js_name = exportSignals)]
    pub fn export_signals(&self, now: f64) -> Result<String, String> {
        let export = self.inner.export_signals(now).map_err(|e| wire(&e))?;
        Ok(serde_json::to_string(&export).expect("plain data always serialises"))
    }

    /// The loaded model's name, contract and provenance, as JSON (a `ModelInfo`).
    #[wasm_bindgen(js_name = modelInfo)]
    pub fn model_info(&self) -> String {
        let info = self.inner.model_info();
        serde_json::to_string(&JsModelInfo {
            name: &info.contract.name,
            contract_version: info.contract.version,
            features: &info.contract.features,
            producer: &info.producer,
            opset: info.opset,
            byte_size: info.byte_size,
            sha256: &info.provenance.sha256,
            signed_by: info.provenance.signed_by.as_deref(),
        })
        .expect("plain data always serialises")
    }

    /// Number of keys in the signal store.
    #[wasm_bindgen(getter, js_name = keyCount)]
    pub fn key_count(&self) -> u32 {
        self.inner.store().key_count() as u32
    }

    /// The longest candidate list a request may carry (the `maxCandidates` option).
    #[wasm_bindgen(getter, js_name = maxCandidates)]
    pub fn max_candidates(&self) -> u32 {
        self.inner.options().max_candidates as u32
    }

    /// The memory budget in bytes (the `memoryBudgetBytes` option).
    #[wasm_bindgen(getter, js_name = memoryBudgetBytes)]
    pub fn memory_budget_bytes(&self) -> f64 {
        self.inner.options().memory_budget_bytes.map_or(f64::INFINITY, |b| b as f64)
    }
}
