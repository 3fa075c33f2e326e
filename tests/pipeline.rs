//! The offline pipeline from the outside (native only): the committed parity fixture still
//! matches the committed model, the committed NNEF model is its conversion and ranks
//! identically, and the trainer's export loads in tract.
#![cfg(all(not(target_arch = "wasm32"), feature = "onnx"))]

use std::process::Command;

use localrank::model::ModelRunner;
use localrank::offline::parity;

/// The committed parity fixture must be what the committed model gives natively today; the
/// wasm tests then check the module in Node and Chromium against the same numbers.
#[test]
fn parity_fixture_matches_the_shipped_model() {
    let model = std::fs::read("models/ranker.onnx").expect("the shipped model");
    let committed = std::fs::read_to_string("tests/fixtures/parity.json").expect("the committed fixture");
    let fresh = parity::fixture(&model).expect("the parity request ranks");
    assert!(
        committed == fresh,
        "tests/fixtures/parity.json is stale: regenerate it with \
         `localrank-pipeline parity-fixture --model models/ranker.onnx --out tests/fixtures/parity.json`"
    );
}

/// The slim build's model (`models/ranker.nnef.tar`) is today's conversion of the ONNX one,
/// and gives the same scores and order as the ONNX one on the parity request.
#[test]
fn nnef_model_is_the_converted_onnx_model_and_ranks_identically() {
    let onnx = std::fs::read("models/ranker.onnx").expect("the shipped model");
    let nnef = std::fs::read("models/ranker.nnef.tar").expect("the shipped NNEF model");
    let fresh = localrank::model::onnx_to_nnef(&onnx).expect("the model converts");
    assert!(
        fresh == nnef,
        "models/ranker.nnef.tar is stale: regenerate it with \
         `localrank-pipeline to-nnef --model models/ranker.onnx --out models/ranker.nnef.tar`"
    );
    assert_eq!(parity::fixture(&nnef).unwrap(), parity::fixture(&onnx).unwrap());
}

/// NNEF has no ONNX metadata: the contract travels as a graph property, and is read from it.
#[test]
fn nnef_contract_is_read_from_the_graph_properties() {
    let onnx = ModelRunner::load(&std::fs::read("models/ranker.onnx").unwrap(), &[]).unwrap();
    let bytes = std::fs::read("models/ranker.nnef.tar").unwrap();
    let nnef = ModelRunner::load(&bytes, &[]).unwrap();
    assert_eq!(nnef.info().contract, onnx.info().contract);
    assert_eq!(
        (nnef.info().producer.as_str(), nnef.info().opset),
        (onnx.info().producer.as_str(), onnx.info().opset)
    );
    // Renaming the property (same length, so the archive stays valid) hides the contract.
    let key = localrank::model::CONTRACT_PROPERTY.as_bytes();
    let mut renamed = bytes.clone();
    let at = renamed.windows(key.len()).position(|w| w == key).expect("the archive names the property");
    renamed[at + key.len() - 1] = b'X';
    let error = ModelRunner::load(&renamed, &[]).unwrap_err();
    assert_eq!(error.code(), "CONTRACT_MISMATCH", "{error}");
}

/// `models/test_train_smoke.py` trains on a tiny generated dataset and exports an ONNX; tract
/// (through the same `ModelRunner` as the device) must load it, read its contract and score.
#[test]
#[ignore = "needs the trainer's Python environment: ./build.sh test sets LOCALRANK_PYTHON and runs it"]
fn trainer_exports_a_model_tract_loads_and_scores_with() {
    let python = std::env::var("LOCALRANK_PYTHON").expect("LOCALRANK_PYTHON names the venv's python");
    let out_dir = std::env::temp_dir().join(format!("localrank-train-smoke-{}", std::process::id()));
    let output = Command::new(python)
        .args(["models/test_train_smoke.py", out_dir.to_str().unwrap()])
        .output()
        .expect("python runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "smoke test failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let onnx = stdout.lines().find_map(|l| l.strip_prefix("ONNX=")).expect("the smoke test names its model");
    let bytes = std::fs::read(onnx).unwrap();
    let mut model = ModelRunner::load(&bytes, &[]).expect("tract loads what torch exported");
    let width = model.contract().features.len();
    assert_eq!(width, 6);
    // Column 0 (mean 200, std 50 in the generated data) raises the chance of a positive: two
    // otherwise typical rows, one low and one high on it, must score in that order.
    let rows = [120.0f32, 0.0, 0.5, 0.0, 1.0, 1.0, 280.0, 0.0, 0.5, 0.0, 1.0, 1.0];
    let scores = model.score(&rows, 2).unwrap();
    assert!(scores.iter().all(|s| s.is_finite()));
    assert!(scores[1] > scores[0], "{scores:?}");
    std::fs::remove_dir_all(out_dir).ok();
}
