//! Screening a model before tract reads it. tract assumes a well-formed graph: on some broken
//! ones it panics (a panic traps the wasm instance), on others it takes minutes (a 10⁶-number
//! literal) or allocates what a header claims. The screen refuses with `INVALID_MODEL`, up
//! front, what is over the size limits below or broken in a way tract does not check for:
//! `onnx.rs` for ONNX graphs, `nnef.rs` for NNEF archives. What it lets through, tract still
//! checks (and on a few graphs still panics: tests/hostile_models.rs lists them).

mod nnef;
#[cfg(feature = "onnx")]
mod onnx;

pub(super) use nnef::archive;
#[cfg(feature = "onnx")]
pub(super) use onnx::onnx;

use crate::error::Error;

/// Most nodes (ONNX) or assignments (NNEF) a graph may have: a reranking model has tens, and
/// tract's load time grows faster than linearly with them (9 000 trivial NNEF assignments took
/// 9.3 s natively, ten times that in wasm).
pub const MAX_NODES: usize = 1_000;
/// Most elements one tensor may have (the model-size limit bounds the data; this bounds what a
/// shape may claim).
pub const MAX_TENSOR_ELEMENTS: usize = 1 << 24;
/// Most numbers an NNEF graph's text may hold (literals, shapes, arguments), counted before
/// it is parsed: tract's parser takes ~8 µs per number natively (1.6 s for 200 000, ten times
/// that in wasm). Weights belong in the archive's tensor files.
pub const MAX_LITERAL_NUMBERS: usize = 8_192;
/// Deepest nesting of brackets in an NNEF graph's text: tract's parser recurses on each.
pub const MAX_NESTING: usize = 64;
/// Largest `graph.nnef` text (the shipped one is 6 KB).
pub const MAX_GRAPH_TEXT_BYTES: usize = 256 << 10;
/// Most entries an NNEF archive may have.
pub const MAX_ARCHIVE_ENTRIES: usize = 4096;

fn refuse(what: impl std::fmt::Display) -> Error {
    Error::InvalidModel(what.to_string())
}
