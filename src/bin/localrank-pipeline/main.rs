//! `localrank-pipeline`: the offline pipeline's command line.
//!
//! ```text
//! localrank-pipeline features                                   print the contract naming every known feature
//! localrank-pipeline replay --data DIR --features CONTRACT.json --out OUT.npz [--shard i/n] [--train-every K]
//! localrank-pipeline merge --out OUT.npz PART.npz...
//! localrank-pipeline evaluate --replay R.npz --model M.onnx --card CARD.md --chart CHART.svg
//!                    [--train-report R.json] [--command TEXT] [--dataset TEXT]
//! localrank-pipeline parity-fixture --model M.onnx --out FIXTURE.json
//! localrank-pipeline to-nnef --model M.onnx --out M.nnef.tar         the model for the slim (NNEF-only) build
//! localrank-pipeline keygen --secret-key K.key --public-key K.pub     Ed25519 key pair, hex (secret: mode 600)
//! localrank-pipeline bundle --model M.onnx --out M.lrmodel [--sign-key K.key]
//!                                                               SHA-256 (+ signature) bundle for `trustedKeys`
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
