//! The ranker: one loaded model, its feature builder and the signal store, and the fallback
//! contract — whatever goes wrong, the caller gets the server's order and a reason, unless
//! it asked for errors instead.

use serde::{Deserialize, Serialize};

use crate::columns::{CandidateColumns, EventColumns};
use crate::error::{catch_panic, Error, Result};
use crate::features::{FeatureBuilder, FeatureGroup, FeatureScratch, RequestContext};
use crate::item::{Candidate, Event};
use crate::learning::{item_hash, ShownList};
use crate::model::{ModelInfo, ModelRunner, TrustedKey};
use crate::rerank::{self, Constraints};
use crate::signals::{check_now, RecordSummary, SignalExport, SignalStore, StoreConfig};

/// Where the time comes from: the core never reads a clock itself, so the same code runs in
/// a browser, in Node and natively.
pub trait Clock {
    /// A monotonic time in milliseconds, for the time budget.
    fn now_ms(&self) -> f64;
}

/// Whether a failed rerank returns the server's order (the default) or the error.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnError {
    #[default]
    Fallback,
    Throw,
}

impl OnError {
    /// The modes by their JS names, as serde spells them (tests/vocabulary.rs checks).
    pub const NAMES: [&'static str; 2] = ["fallback", "throw"];
}

#[derive(Debug, Clone, PartialEq)]
pub struct RankerOptions {
    pub store: StoreConfig,
    /// Most candidates one request may carry; longer lists are refused (server order).
    pub max_candidates: usize,
    /// A rerank that takes longer returns the server order instead.
    pub time_budget_ms: Option<f64>,
    /// A request whose estimated working memory (feature matrices and the model's
    /// intermediate values) is larger returns the server order instead of growing memory.
    pub memory_budget_bytes: Option<usize>,
    pub on_error: OnError,
    /// When not empty, only model bundles signed by one of these keys load.
    pub trusted_keys: Vec<TrustedKey>,
    /// Whether the personal head learns from the lists this ranker shows and, once its gate
    /// opens, counts in its reranks (`learning`). Off, the head is kept as it is, unused.
    pub learning: bool,
}

/// Default `memory_budget_bytes`: the shipped model needs ~1.3 KB per candidate (its 30
/// features and the intermediate values of its six averaged MLPs), six times that with
/// explanations, so 5 000 candidates with explanations fit (~38 MB), while a runaway list
/// stops before it grows the module's memory for good.
pub const DEFAULT_MEMORY_BUDGET_BYTES: usize = 64 << 20;

/// Hard ceiling on `max_candidates`: the list, its feature matrix and its placement must fit a
/// frame's time and the module's memory.
pub const MAX_CANDIDATES_LIMIT: usize = 100_000;

/// Hard ceiling on `memory_budget_bytes`: a wasm32 module has at most 4 GiB of memory, and a
/// browser tab often less.
pub const MAX_MEMORY_BUDGET_BYTES: usize = 1 << 30;

impl Default for RankerOptions {
    fn default() -> Self {
        RankerOptions {
            store: StoreConfig::default(),
            max_candidates: 5_000,
            time_budget_ms: None,
            memory_budget_bytes: Some(DEFAULT_MEMORY_BUDGET_BYTES),
            on_error: OnError::Fallback,
            trusted_keys: Vec::new(),
            learning: true,
        }
    }
}

impl RankerOptions {
    fn validate(&self) -> Result<()> {
        self.store.validate()?;
        if self.max_candidates == 0 || self.max_candidates > MAX_CANDIDATES_LIMIT {
            return Err(Error::InvalidOptions(format!(
                "maxCandidates {} not in 1..={MAX_CANDIDATES_LIMIT}",
                self.max_candidates
            )));
        }
        if self.time_budget_ms.is_some_and(|b| !(b.is_finite() && b > 0.0)) {
            return Err(Error::InvalidOptions("timeBudgetMs must be a positive number".into()));
        }
        if self.memory_budget_bytes.is_some_and(|b| b == 0 || b > MAX_MEMORY_BUDGET_BYTES) {
            return Err(Error::InvalidOptions(format!(
                "memoryBudgetBytes must be in 1..={MAX_MEMORY_BUDGET_BYTES}"
            )));
        }
        Ok(())
    }
}

/// One rerank call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RerankRequest {
    /// In the server's order.
    pub candidates: Vec<Candidate>,
    pub context: RequestContextInput,
    pub constraints: Constraints,
    /// Also return per-group score contributions.
    pub explain: bool,
    /// Overrides the ranker's `on_error` for this call.
    pub on_error: Option<OnError>,
}

/// A rerank call's settings besides its candidates (for `Ranker::rerank_columns`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RerankSettings {
    pub context: RequestContextInput,
    pub constraints: Constraints,
    pub explain: bool,
    pub on_error: Option<OnError>,
}

impl RerankRequest {
    /// The request as the ranker works on it: candidates as columns, and the rest.
    pub fn to_columns(&self) -> (CandidateColumns, RerankSettings) {
        let settings = RerankSettings {
            context: self.context,
            constraints: self.constraints.clone(),
            explain: self.explain,
            on_error: self.on_error,
        };
        (CandidateColumns::from_candidates(&self.candidates), settings)
    }
}

/// The request's time and place, as given by the caller.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct RequestContextInput {
    /// ms since the Unix epoch.
    pub now: f64,
    pub utc_offset_minutes: f64,
}

/// Why the server order was returned.
#[derive(Debug, Clone, PartialEq)]
pub struct Fallback {
    /// The error code (`Error::code`).
    pub reason: &'static str,
    pub message: String,
}

/// How much each feature group moved one candidate's local term (see `residual_scores`): the
/// term minus the term with that group's features set to their neutral value (no local
/// signal; the list's mean for server features).
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    pub contributions: Vec<(FeatureGroup, f32)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Ranking {
    /// Indices into the request's candidates, best first.
    pub order: Vec<u32>,
    /// Final score of each candidate, in request order; empty on fallback.
    pub scores: Vec<f32>,
    pub fallback: Option<Fallback>,
    /// One per candidate in request order, when asked for and not on fallback.
    pub explanations: Vec<Explanation>,
}

impl Ranking {
    fn server_order(count: usize, error: &Error) -> Ranking {
        Ranking {
            order: (0..count as u32).collect(),
            scores: Vec::new(),
            fallback: Some(Fallback { reason: error.code(), message: error.to_string() }),
            explanations: Vec::new(),
        }
    }
}

pub struct Ranker {
    model: ModelRunner,
    builder: FeatureBuilder,
    store: SignalStore,
    options: RankerOptions,
    /// Reused feature matrix and per-key buffers, so a rerank does not allocate them anew.
    matrix: Vec<f32>,
    scratch: FeatureScratch,
    /// The contract's candidate signal features by name: what the personal head is over.
    head_features: Vec<String>,
}

impl Ranker {
    pub fn new(model_bytes: &[u8], options: RankerOptions) -> Result<Ranker> {
        options.validate()?;
        let model = ModelRunner::load(model_bytes, &options.trusted_keys)?;
        let builder = FeatureBuilder::new(model.contract())?;
        let features = &model.contract().features;
        let head_features = builder.signal_columns().iter().map(|&c| features[c].clone()).collect();
        Ok(Ranker {
            model,
            builder,
            store: SignalStore::new(options.store)?,
            options,
            matrix: Vec::new(),
            scratch: FeatureScratch::default(),
            head_features,
        })
    }

    pub fn model_info(&self) -> &ModelInfo {
        self.model.info()
    }

    pub fn options(&self) -> &RankerOptions {
        &self.options
    }

    pub fn store(&self) -> &SignalStore {
        &self.store
    }

    pub fn store_mut(&mut self) -> &mut SignalStore {
        &mut self.store
    }

    /// What the store holds, decayed to `now` (see `SignalStore::export`): exactly what a
    /// restart would restore.
    pub fn export_signals(&self, now: f64) -> Result<SignalExport> {
        self.store.export(now)
    }

    /// Runs the model alone on a row-major `[rows, F]` feature matrix in contract order: no
    /// signals, no server prior, no reordering. For benchmarks and parity checks.
    pub fn score_features(&mut self, features: &[f32], rows: usize) -> Result<Vec<f32>> {
        self.check_memory(rows, false)?;
        self.model.score(features, rows)
    }

    pub fn record(&mut self, events: &[Event], now: f64) -> Result<RecordSummary> {
        self.store.record(events, now)
    }

    pub fn record_columns(&mut self, events: &EventColumns, now: f64) -> Result<RecordSummary> {
        self.store.record_columns(events, now)
    }

    /// Reranks a request. With `OnError::Fallback` this never fails: any error becomes the
    /// server order with the error's code as the reason — natively even a panic (`PANIC`).
    pub fn rerank(&mut self, request: &RerankRequest, clock: &dyn Clock) -> Result<Ranking> {
        let (candidates, settings) = request.to_columns();
        self.rerank_columns(&candidates, &settings, clock)
    }

    /// `rerank` for candidates already in columns (what the JS client sends).
    pub fn rerank_columns(
        &mut self,
        candidates: &CandidateColumns,
        settings: &RerankSettings,
        clock: &dyn Clock,
    ) -> Result<Ranking> {
        let result = catch_panic(|| self.try_rerank(candidates, settings, clock)).unwrap_or_else(|message| {
            // A rerank reads the signals and writes only the personal head's learning state
            // (shown lists, a step), whose values stay bounded whatever point a panic stopped
            // it at; the model may have stopped mid-run.
            self.model.reset();
            Err(Error::Panic(message))
        });
        self.fallback_or(result, candidates.len(), settings.on_error)
    }

    /// The fallback contract for a request that failed before its candidates could be read
    /// (e.g. columns of the wrong shape): `count` candidates in server order, or the error.
    pub fn fallback_or(
        &self,
        result: Result<Ranking>,
        count: usize,
        on_error: Option<OnError>,
    ) -> Result<Ranking> {
        match result {
            Ok(ranking) => Ok(ranking),
            Err(error) => match on_error.unwrap_or(self.options.on_error) {
                OnError::Fallback => Ok(Ranking::server_order(count, &error)),
                OnError::Throw => Err(error),
            },
        }
    }

    fn try_rerank(
        &mut self,
        candidates: &CandidateColumns,
        settings: &RerankSettings,
        clock: &dyn Clock,
    ) -> Result<Ranking> {
        let started = clock.now_ms();
        validate_request(candidates, settings, self.options.max_candidates)?;
        let now = settings.context.now;
        self.check_memory(candidates.len(), settings.explain)?;
        let context = RequestContext { now, utc_offset_minutes: settings.context.utc_offset_minutes };
        self.builder.build_columns_into(
            candidates,
            &self.store,
            &context,
            &mut self.scratch,
            &mut self.matrix,
        );
        self.check_budget(started, clock)?;
        let rows = candidates.len();
        let mut scores = self.model.score(&self.matrix, rows)?;
        let mut explanations = if settings.explain { self.explain(&scores, rows)? } else { Vec::new() };
        residual_scores(&mut scores, &self.matrix, &self.builder);
        let base = self.options.learning.then(|| self.add_head_terms(&mut scores, now));
        if base.is_some() {
            self.explain_head(&mut explanations);
        }
        self.check_budget(started, clock)?;
        let order = rerank::order(&scores, candidates, &settings.constraints, &mut || {
            self.check_budget(started, clock)
        })?;
        if let Some(base) = base {
            self.remember_shown(candidates, &order, &base, now);
        }
        Ok(Ranking { order, scores, fallback: None, explanations })
    }

    /// The personal head's part of a rerank: learns from the shown lists whose label window has
    /// closed by `now`, then adds the head's term to the final scores where the model's local
    /// term counts (none while the gate is closed). Returns the base scores, for the memory.
    fn add_head_terms(&mut self, scores: &mut [f32], now: f64) -> Vec<f32> {
        let config = self.model.contract().learning;
        let learner = self.store.learner_mut();
        learner.adopt(&self.head_features);
        learner.settle(now, &config);
        let base = scores.to_vec();
        let (width, signals, matrix) = (self.builder.width(), self.builder.signal_columns(), &self.matrix);
        learner.model().add_served_terms(|i, k| matrix[i * width + signals[k]], &config, scores);
        base
    }

    /// Adds the personal head's part to each explanation, by the model's occlusion: a group
    /// gains what the head's term loses with that group's columns zeroed (nothing while the
    /// gate is closed).
    fn explain_head(&self, explanations: &mut [Explanation]) {
        let config = self.model.contract().learning;
        let head = self.store.learner().model();
        let (width, signals, features) =
            (self.builder.width(), self.builder.signal_columns(), self.builder.features());
        for (explanation, row) in explanations.iter_mut().zip(self.matrix.chunks_exact(width)) {
            let served = head.served_term(|k| row[signals[k]], &config);
            if served == 0.0 {
                continue;
            }
            for (group, contribution) in &mut explanation.contributions {
                let occluded =
                    |k: usize| if features[signals[k]].group() == *group { 0.0 } else { row[signals[k]] };
                *contribution += served - head.served_term(occluded, &config);
            }
        }
    }

    /// Remembers the top of the served order (what the user is shown) with its signal
    /// features and base scores, for the outcomes that will label it.
    fn remember_shown(&mut self, candidates: &CandidateColumns, order: &[u32], base: &[f32], now: f64) {
        let config = self.model.contract().learning;
        let (width, signals) = (self.builder.width(), self.builder.signal_columns());
        let shown = &order[..order.len().min(config.shown_per_request)];
        let rows = (shown.iter())
            .flat_map(|&i| signals.iter().map(move |&c| (i as usize) * width + c))
            .map(|at| self.matrix[at])
            .collect();
        let list = ShownList::new(
            now,
            now + config.label_window_ms,
            shown.iter().map(|&i| item_hash(candidates.id(i as usize))).collect(),
            shown.iter().map(|&i| base[i as usize]).collect(),
            rows,
        );
        self.store.learner_mut().remember(list, &config);
    }

    fn check_budget(&self, started: f64, clock: &dyn Clock) -> Result<()> {
        match self.options.time_budget_ms {
            Some(budget_ms) => {
                let elapsed_ms = clock.now_ms() - started;
                if elapsed_ms > budget_ms {
                    Err(Error::TimeBudgetExceeded { budget_ms, elapsed_ms })
                } else {
                    Ok(())
                }
            }
            None => Ok(()),
        }
    }

    fn check_memory(&self, rows: usize, explain: bool) -> Result<()> {
        let Some(budget_bytes) = self.options.memory_budget_bytes else { return Ok(()) };
        // Explanations score one more copy of the matrix per feature group.
        let model_rows = if explain { rows * (1 + self.explained_groups().len()) } else { rows };
        let row_bytes = self.builder.width() * std::mem::size_of::<f32>() + self.model.bytes_per_row();
        let needed_bytes = model_rows.saturating_mul(row_bytes);
        if needed_bytes > budget_bytes {
            return Err(Error::MemoryBudgetExceeded { needed_bytes, budget_bytes });
        }
        Ok(())
    }

    /// The feature groups an explanation reports: those the model's contract uses.
    pub fn explained_groups(&self) -> Vec<FeatureGroup> {
        let features = self.builder.features();
        FeatureGroup::ALL.into_iter().filter(|g| features.iter().any(|f| f.group() == *g)).collect()
    }

    /// Occlusion: one extra model run over `groups × rows` rows, each block with one group's
    /// columns replaced by their neutral value. Contributions are to the local term (what the
    /// candidate's score adds to the server prior), so a candidate without signals has none.
    fn explain(&mut self, model_scores: &[f32], rows: usize) -> Result<Vec<Explanation>> {
        let groups = self.explained_groups();
        let features = self.builder.features();
        let width = features.len();
        let mut occluded = Vec::with_capacity(groups.len() * self.matrix.len());
        for &group in &groups {
            let start = occluded.len();
            occluded.extend_from_slice(&self.matrix);
            for (column, feature) in features.iter().enumerate() {
                if feature.group() != group {
                    continue;
                }
                let neutral = if group == FeatureGroup::Server {
                    (0..rows).map(|r| self.matrix[r * width + column]).sum::<f32>() / rows as f32
                } else {
                    0.0
                };
                for r in 0..rows {
                    occluded[start + r * width + column] = neutral;
                }
            }
        }
        let occluded_scores = self.model.score(&occluded, groups.len() * rows)?;
        let signals = self.builder.signal_columns();
        let local = |scores: &[f32], matrix: &[f32], r: usize| {
            local_term(scores[r], &matrix[r * width..(r + 1) * width], signals)
        };
        Ok((0..rows)
            .map(|r| {
                let own = local(model_scores, &self.matrix, r);
                let contributions = (0..groups.len())
                    .map(|g| {
                        let block = g * rows * width..(g + 1) * rows * width;
                        let scores = &occluded_scores[g * rows..(g + 1) * rows];
                        (groups[g], own - local(scores, &occluded[block], r))
                    })
                    .collect();
                Explanation { contributions }
            })
            .collect())
    }
}

/// The server's order as a score: strictly decreasing with the server rank, so that alone it
/// keeps the server's order.
pub fn server_prior(rank: usize) -> f32 {
    -(rank as f64).ln_1p() as f32
}

/// The do-no-harm form of contract version 2: turns the model's outputs (`scores`, the local
/// term of each candidate) into final scores, `server_prior(rank) + local term`, where the
/// local term is exactly 0 for a candidate whose candidate signal features (`matrix`, built
/// by `builder`; see `Feature::is_candidate_signal`) are all 0. So without local signals the
/// order is the server's for any model, and a signal moves only the candidates it bears on.
pub fn residual_scores(scores: &mut [f32], matrix: &[f32], builder: &FeatureBuilder) {
    for (rank, (score, row)) in scores.iter_mut().zip(matrix.chunks_exact(builder.width())).enumerate() {
        *score = server_prior(rank) + local_term(*score, row, builder.signal_columns());
    }
}

/// What the model's output for one candidate (feature row `row`) counts for: itself if one of
/// its candidate signal features is non-zero, exactly 0 if none is.
fn local_term(output: f32, row: &[f32], signal_columns: &[usize]) -> f32 {
    if signal_columns.iter().any(|&c| row[c] != 0.0) {
        output
    } else {
        0.0
    }
}

fn validate_request(
    candidates: &CandidateColumns,
    settings: &RerankSettings,
    max_candidates: usize,
) -> Result<()> {
    let (context, constraints) = (&settings.context, &settings.constraints);
    if candidates.len() > max_candidates {
        return Err(Error::TooManyCandidates { count: candidates.len(), limit: max_candidates });
    }
    check_now(context.now, Error::InvalidRequest)?;
    if !(context.utc_offset_minutes.is_finite() && context.utc_offset_minutes.abs() <= 24.0 * 60.0) {
        return Err(Error::InvalidRequest("utcOffsetMinutes must be within ±1440".into()));
    }
    candidates.validate()?;
    constraints.validate()
}

#[cfg(all(test, feature = "onnx"))]
mod learning_tests;
#[cfg(all(test, feature = "onnx"))]
mod tests;
