//! localrank: reranks a server's recommendation candidates on the user's device, with a small
//! ONNX model reading engagement signals that never leave the device.
//!
//! The core (`signals`, `features`, `model`, `rerank`, `learning`, `ranker`) has no WebAssembly
//! dependency and is shared by the wasm module and the native offline pipeline, so training
//! features and serving features come from the same code. Only `bindings` talks to JS.

pub mod columns;
pub mod error;
pub mod features;
pub mod item;
pub mod learning;
pub mod model;
#[cfg(all(feature = "offline", not(target_arch = "wasm32")))]
pub mod offline;
pub mod ranker;
pub mod rerank;
pub mod signals;
pub mod vocabulary;

#[cfg(target_arch = "wasm32")]
pub mod bindings;
#[cfg(all(test, feature = "onnx"))]
mod test_models;

pub use error::{Error, Result};
