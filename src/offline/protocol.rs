//! The evaluation protocol: how a log becomes requests, candidates and labels. Every constant
//! is a field with the default the shipped model was made with, so an ML engineer can vary
//! one (`localrank-pipeline replay --help`) and the card states the values a run used.

use serde::{Deserialize, Serialize};

use crate::item::EventKind;
use crate::signals::decay::DAY_MS;

pub const SPLIT_TRAIN: u8 = 0;
pub const SPLIT_VALIDATION: u8 = 1;
pub const SPLIT_TEST: u8 = 2;

const MINUTE_MS: f64 = 60_000.0;
const HOUR_MS: f64 = 60.0 * MINUTE_MS;

/// The replay's protocol without a request log: sessions and request points in each user's
/// events, the simulated server, and the split by global time (which a request log without
/// its own split also uses).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Protocol {
    /// A gap longer than this starts a new session.
    pub session_gap_ms: f64,
    /// A request at each session start and after every this many ratings within a session.
    pub request_every: usize,
    /// The same spacing in the training period only, where denser (overlapping) lists give
    /// more to learn from; validation and test keep `request_every`.
    pub train_every: usize,
    /// Labels: positives among the user's next this many ratings in the session.
    pub label_window: usize,
    /// Candidates the server sends per request.
    pub candidates: usize,
    /// The server sees other users' data only this long after it happened.
    pub server_lag_ms: f64,
    /// Half-life of the server's popularity score.
    pub popularity_half_life_ms: f64,
    /// Dimension of the server's co-occurrence item embedding.
    pub embedding_dim: usize,
    /// Requests at or after this quantile of the ratings' times are validation ...
    pub validation_from: f64,
    /// ... and at or after this one test; earlier ones train.
    pub test_from: f64,
}

impl Default for Protocol {
    fn default() -> Self {
        Protocol {
            session_gap_ms: 60.0 * MINUTE_MS,
            request_every: 10,
            train_every: 10,
            label_window: 10,
            candidates: 100,
            server_lag_ms: DAY_MS,
            popularity_half_life_ms: 365.0 * DAY_MS,
            embedding_dim: 256,
            validation_from: 0.7,
            test_from: 0.8,
        }
    }
}

impl Protocol {
    /// Refuses values the replay cannot run with, naming the option.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("session-gap-min", self.session_gap_ms),
            ("server-lag-hours", self.server_lag_ms),
            ("popularity-half-life-days", self.popularity_half_life_ms),
        ];
        if let Some((name, _)) = positive.iter().find(|(_, v)| !(v.is_finite() && *v > 0.0)) {
            return Err(format!("--{name} must be a positive number"));
        }
        let counts = [
            ("request-every", self.request_every),
            ("train-every", self.train_every),
            ("label-window", self.label_window),
            ("candidates", self.candidates),
            ("embedding-dim", self.embedding_dim),
        ];
        if let Some((name, _)) = counts.iter().find(|(_, v)| *v == 0) {
            return Err(format!("--{name} must be at least 1"));
        }
        if self.embedding_dim > crate::item::MAX_EMBEDDING_LEN {
            return Err(format!("--embedding-dim must be at most {}", crate::item::MAX_EMBEDDING_LEN));
        }
        if !(0.0 < self.validation_from && self.validation_from <= self.test_from && self.test_from < 1.0) {
            return Err("the split needs 0 < --validation-from <= --test-from < 1".into());
        }
        Ok(())
    }

    /// The protocol in words, for the model card.
    pub fn describe(&self) -> Vec<String> {
        vec![
            format!(
                "No request log: a simulated server makes the requests. Sessions break at gaps over {} min; a request at each session start and every {} events within a session (every {} in the training period). Labels: the items the user likes among the next {} events of the session.",
                self.session_gap_ms / MINUTE_MS, self.request_every, self.train_every, self.label_window
            ),
            format!(
                "The simulated server sends the top {} items by popularity (events of any kind) decayed with a {}-day half-life, computed from all users' events strictly before request time − {} h, excluding items the user already had an event on. Each candidate carries its server score, rank, event count, first-seen time and a {}-dimensional co-occurrence embedding (random indexing over users' likes, same lag), which also replaces the events' own embeddings. The server never sees the user's local signals.",
                self.candidates, self.popularity_half_life_ms / DAY_MS, self.server_lag_ms / HOUR_MS, self.embedding_dim
            ),
            format!(
                "Split by global time: requests at or after the {} quantile of the events' times are test; [{}, {}) validation; earlier ones train. Only requests with both a positive and a negative candidate are kept.",
                self.test_from, self.validation_from, self.test_from
            ),
        ]
    }
}

/// What the simulated server and its labels count as a positive: a like (MovieLens: a rating
/// of 4 or more).
pub fn is_positive(kind: EventKind) -> bool {
    kind == EventKind::Like
}
