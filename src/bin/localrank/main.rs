//! `localrank`: the offline pipeline's command line.
//!
//! ```text
//! localrank features                                   print the contract naming every known feature
//! localrank replay --data DIR --features CONTRACT.json --out OUT.npz [--shard i/n] [--train-every K] [--train-every K]
//! localrank merge --out OUT.npz PART.npz...
//! localrank evaluate --replay R.npz --model M.onnx --card CARD.md --chart CHART.svg
//!                    [--train-report R.json] [--command TEXT] [--dataset TEXT]
//! localrank parity-fixture --model M.onnx --out FIXTURE.json
//! ```

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
