//! The offline pipeline (native only): replays interaction logs through the same signal store
//! and feature builder the device runs, writes training data for `models/train.py`, and
//! evaluates models through the same model runner.

pub mod evaluate;
pub mod event_log;
pub mod kuairand;
pub mod log;
pub mod movielens;
pub mod npz;
pub mod parity;
pub mod prequential;
pub mod protocol;
pub mod random;
pub mod replay;
pub mod report;
pub mod server;
pub mod training_table;
