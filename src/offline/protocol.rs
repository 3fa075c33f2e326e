//! The evaluation protocol, fixed so results stay comparable across models and runs.

use crate::item::EventKind;
use crate::signals::decay::DAY_MS;

/// A gap longer than this starts a new session.
pub const SESSION_GAP_MS: f64 = 3_600_000.0;
/// A request at each session start and after every this many ratings within a session.
pub const REQUEST_EVERY: usize = 10;
/// Labels: positives among the user's next this many ratings in the session.
pub const LABEL_WINDOW: usize = 10;
/// Candidates the server sends per request.
pub const CANDIDATES: usize = 100;
/// The server sees other users' data only this long after it happened.
pub const SERVER_LAG_MS: f64 = DAY_MS;
/// Half-life of the server's popularity score.
pub const POPULARITY_HALF_LIFE_MS: f64 = 365.0 * DAY_MS;
/// Dimension of the server's co-occurrence item embedding.
pub const EMBEDDING_DIM: usize = 256;
/// Requests at or after the 0.8 time quantile are test; [0.7, 0.8) is validation.
pub const TEST_QUANTILE: f64 = 0.8;
pub const VALIDATION_QUANTILE: f64 = 0.7;

pub const SPLIT_TRAIN: u8 = 0;
pub const SPLIT_VALIDATION: u8 = 1;
pub const SPLIT_TEST: u8 = 2;

/// A rating of 4 or more is positive (like), 2 or less negative (dismiss), anything between a
/// plain engagement (click).
pub fn event_kind(rating: f32) -> EventKind {
    if rating >= 4.0 {
        EventKind::Like
    } else if rating <= 2.0 {
        EventKind::Dismiss
    } else {
        EventKind::Click
    }
}

pub fn is_positive(rating: f32) -> bool {
    rating >= 4.0
}
