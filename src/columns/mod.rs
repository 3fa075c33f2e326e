//! Candidates and events column by column. A JS caller sends them this way (typed arrays and
//! one string table) so a list crosses into wasm as a handful of copies instead of one
//! conversion per field and per embedding number. Both carry the same item attributes, kept in
//! one `ItemColumns` shape (`items.rs`); `candidates.rs` adds the server's fields and is what
//! the ranker works on, `events.rs` adds what the signal store records.

mod candidates;
mod events;
mod items;

pub use candidates::{CandidateColumns, ColumnsWire};
pub use events::{EventColumns, EventColumnsWire};
pub use items::{ItemsWire, NO_KEY};

/// A numeric wire column with NaN for "absent" (JS typed arrays have no null), as options.
/// `v == v` is false exactly for NaN, for `f32` and `f64` alike.
#[allow(clippy::eq_op)]
fn present<T: Copy + PartialEq>(values: Vec<T>) -> Vec<Option<T>> {
    values.into_iter().map(|v| (v == v).then_some(v)).collect()
}

/// For the signal store's tests: the wire the JS client sends for a batch of events.
#[cfg(test)]
pub(crate) use events::tests::interned_wire;
