//! `localrank-pipeline`: the offline pipeline's command line.
//!
//! `localrank-pipeline --help` lists the commands, `localrank-pipeline COMMAND --help` a
//! command's options with their defaults. `./build.sh model DATA_DIR` (`models/make_model.sh`)
//! runs them in order: adapt → replay (or the Ray job, `models/ray_replay.py`) → train
//! (`models/train.py`) → evaluate → to-nnef → parity-fixture.

// The pipeline is native only. Cargo still builds every bin for `cargo test --target wasm32…`,
// so on wasm32 this is an empty program.
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}
