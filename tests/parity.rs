//! The committed parity fixture must be what the committed model gives natively today; the
//! wasm tests then check the module in Node and Chromium against the same numbers.

use localrank::offline::parity;

#[test]
fn parity_fixture_matches_the_shipped_model() {
    let model = std::fs::read("models/ranker.onnx").expect("the shipped model");
    let committed = std::fs::read_to_string("tests/fixtures/parity.json").expect("the committed fixture");
    let fresh = parity::fixture(&model).expect("the parity request ranks");
    assert!(
        committed == fresh,
        "tests/fixtures/parity.json is stale: regenerate it with \
         `localrank parity-fixture --model models/ranker.onnx --out tests/fixtures/parity.json`"
    );
}
