//! The personal head's hyper-parameters: part of the model's feature contract (its optional
//! `learning` object), so a model ships with the learning it was evaluated with. A contract
//! without it, or without some of its fields, gets the defaults below.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Most shown lists a device remembers (`shownRequests`): the head's memory is bounded by
/// this times `MAX_SHOWN_PER_REQUEST` rows.
pub const MAX_SHOWN_REQUESTS: usize = 64;
/// Most candidates of one list it remembers (`shownPerRequest`).
pub const MAX_SHOWN_PER_REQUEST: usize = 100;
/// Most features a head may have: more than this build knows (`Feature::all_names`), so a
/// snapshot claiming more is corrupt.
pub const MAX_HEAD_FEATURES: usize = 256;
/// Longest gate window (`gateWindow`), in validated lists.
pub const MAX_GATE_WINDOW: usize = 1_000;

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct LearningConfig {
    /// AdaGrad's step size: the first step moves each weight by at most this.
    pub learning_rate: f32,
    /// L2 pull of every weight towards 0 (towards the base model) at each step.
    pub l2: f32,
    /// The head's term is clamped to ±`bound` (in units of the server prior, −ln(1 + rank)).
    pub bound: f32,
    /// How many shown lists wait for their outcomes.
    pub shown_requests: usize,
    /// How many of a list's top candidates count as shown.
    pub shown_per_request: usize,
    /// How long after a list was shown its engagement counts; past it, a shown candidate
    /// without engagement is a negative and the list is learnt from.
    pub label_window_ms: f64,
    /// The gate compares base and base + head over this many latest validated lists.
    pub gate_window: usize,
    /// The head is never switched on before this many lists were validated.
    pub gate_min_requests: usize,
    /// The head is switched on while its mean NDCG@10 gain over the window exceeds this.
    pub gate_margin: f64,
}

/// Chosen on the validation periods of both shipped models' replays (learning rate, L2, bound,
/// how many shown candidates, the gate's minimum; the model cards' "On-device learning"
/// section), never on their test periods.
impl Default for LearningConfig {
    fn default() -> Self {
        LearningConfig {
            learning_rate: 0.1,
            l2: 0.01,
            bound: 1.0,
            shown_requests: 8,
            shown_per_request: 50,
            label_window_ms: 30.0 * 60_000.0,
            gate_window: 50,
            gate_min_requests: 5,
            gate_margin: 0.005,
        }
    }
}

impl LearningConfig {
    pub fn is_default(&self) -> bool {
        *self == LearningConfig::default()
    }

    pub fn validate(&self) -> Result<()> {
        let bad = |what: &str| Err(Error::ContractMismatch(format!("learning.{what}")));
        let positive = |v: f64| v.is_finite() && v > 0.0;
        if !positive(f64::from(self.learning_rate)) {
            return bad("learningRate must be a positive number");
        }
        if !(self.l2.is_finite() && self.l2 >= 0.0) {
            return bad("l2 must be a number ≥ 0");
        }
        if !positive(f64::from(self.bound)) {
            return bad("bound must be a positive number");
        }
        if !(1..=MAX_SHOWN_REQUESTS).contains(&self.shown_requests) {
            return bad(&format!("shownRequests must be in 1..={MAX_SHOWN_REQUESTS}"));
        }
        if !(1..=MAX_SHOWN_PER_REQUEST).contains(&self.shown_per_request) {
            return bad(&format!("shownPerRequest must be in 1..={MAX_SHOWN_PER_REQUEST}"));
        }
        if !positive(self.label_window_ms) {
            return bad("labelWindowMs must be a positive duration");
        }
        if !(1..=MAX_GATE_WINDOW).contains(&self.gate_window) {
            return bad(&format!("gateWindow must be in 1..={MAX_GATE_WINDOW}"));
        }
        if !self.gate_margin.is_finite() {
            return bad("gateMargin must be a number");
        }
        Ok(())
    }
}
