//! Tier 2: the bindings inside a real wasm engine, against the shipped model. Run in Node by
//! `cargo test --target wasm32-unknown-unknown --test wasm`, and in headless Chromium with
//! `WASM_BINDGEN_USE_BROWSER=1` (build.sh runs both).
#![cfg(target_arch = "wasm32")]

use js_sys::{Float32Array, Reflect, Uint32Array, JSON};
use localrank::bindings::Ranker;
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

const MODEL: &[u8] = include_bytes!("../models/ranker.onnx");
const PARITY: &str = include_str!("fixtures/parity.json");

/// `tests/fixtures/parity.json`, written by `localrank-pipeline parity-fixture` from the native code.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct ParityFixture {
    now: f64,
    utc_offset_minutes: f64,
    events: Vec<Value>,
    candidates: Vec<Value>,
    expected_scores: Vec<f32>,
    expected_order: Vec<u32>,
}

fn fixture() -> ParityFixture {
    serde_json::from_str(PARITY).expect("the parity fixture parses")
}

fn js(json: &str) -> JsValue {
    JSON::parse(json).expect("test JSON parses")
}

fn get(value: &JsValue, key: &str) -> JsValue {
    Reflect::get(value, &key.into()).expect("an object")
}

fn code(error: JsValue) -> String {
    assert!(error.is_instance_of::<js_sys::Error>(), "a real JS Error");
    get(&error, "code").as_string().expect("a string code")
}

fn ranker() -> Ranker {
    Ranker::new(MODEL, None).expect("the default model loads")
}

/// The fixture's request as JS, with `extra` fields merged in.
fn fixture_request(fixture: &ParityFixture, extra: &str) -> JsValue {
    let candidates = serde_json::to_string(&fixture.candidates).unwrap();
    js(&format!(
        r#"{{"candidates":{candidates},"now":{},"utcOffsetMinutes":{}{extra}}}"#,
        fixture.now, fixture.utc_offset_minutes
    ))
}

fn record_fixture_events(ranker: &mut Ranker, fixture: &ParityFixture) {
    let events = js(&serde_json::to_string(&fixture.events).unwrap());
    let summary = ranker.record(events, Some(fixture.now)).expect("valid events");
    assert_eq!(get(&summary, "recorded").as_f64(), Some(fixture.events.len() as f64));
}

#[wasm_bindgen_test]
fn scores_equal_the_native_ones() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let result = ranker.rerank(fixture_request(&fixture, "")).unwrap();
    assert!(get(&result, "fallback").is_null());
    let scores = get(&result, "scores").dyn_into::<Float32Array>().unwrap().to_vec();
    assert_eq!(scores.len(), fixture.expected_scores.len());
    // Features are computed by the same code; the model's matrix kernels differ between x86
    // and wasm SIMD (summation order), so scores agree to float rounding: 1e-6 relative.
    for (i, (wasm, native)) in scores.iter().zip(&fixture.expected_scores).enumerate() {
        assert!(
            (wasm - native).abs() <= 1e-6 * native.abs().max(1.0),
            "candidate {i}: wasm {wasm} vs native {native}"
        );
    }
    let order = get(&result, "order").dyn_into::<Uint32Array>().unwrap().to_vec();
    assert_eq!(order, fixture.expected_order);
}

#[wasm_bindgen_test]
fn model_info_names_the_contract() {
    let info = ranker().model_info();
    let features = js_sys::Array::from(&get(&info, "features"));
    assert!(features.length() > 0);
    assert_eq!(get(&info, "byteSize").as_f64(), Some(MODEL.len() as f64));
}

#[wasm_bindgen_test]
fn signals_change_the_order_and_survive_snapshot_and_restore() {
    let fixture = fixture();
    let mut fresh = ranker();
    let before = get(&fresh.rerank(fixture_request(&fixture, "")).unwrap(), "ids");
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let after = get(&ranker.rerank(fixture_request(&fixture, "")).unwrap(), "ids");
    assert_ne!(
        JSON::stringify(&before).unwrap(),
        JSON::stringify(&after).unwrap(),
        "signals move candidates"
    );

    let bytes = ranker.snapshot().to_vec();
    fresh.restore(&bytes, Some(fixture.now)).unwrap();
    assert_eq!(fresh.key_count(), ranker.key_count());
    let restored = get(&fresh.rerank(fixture_request(&fixture, "")).unwrap(), "ids");
    assert_eq!(JSON::stringify(&restored).unwrap(), JSON::stringify(&after).unwrap());

    fresh.clear();
    assert_eq!(fresh.key_count(), 0);
    let cleared = get(&fresh.rerank(fixture_request(&fixture, "")).unwrap(), "ids");
    assert_eq!(JSON::stringify(&cleared).unwrap(), JSON::stringify(&before).unwrap());
}

#[wasm_bindgen_test]
fn bad_models_throw_typed_errors() {
    assert_eq!(code(Ranker::new(b"not a model", None).err().unwrap()), "INVALID_MODEL");
    assert_eq!(code(Ranker::new(&MODEL[..MODEL.len() / 3], None).err().unwrap()), "INVALID_MODEL");
    // Renaming the metadata key (same length, so the protobuf stays valid) hides the contract.
    let mut renamed = MODEL.to_vec();
    let key = b"localrank.contract";
    let at = renamed.windows(key.len()).position(|w| w == key).expect("the model has a contract");
    renamed[at + key.len() - 1] = b'X';
    assert_eq!(code(Ranker::new(&renamed, None).err().unwrap()), "CONTRACT_MISMATCH");
    let options = js(r#"{"keyCapp": 10}"#).unchecked_into();
    assert_eq!(code(Ranker::new(MODEL, Some(options)).err().unwrap()), "INVALID_OPTIONS");
}

#[wasm_bindgen_test]
fn bad_snapshots_and_events_throw_and_keep_the_signals() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let keys = ranker.key_count();
    let mut bytes = ranker.snapshot().to_vec();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    assert_eq!(code(ranker.restore(&bytes, None).unwrap_err()), "CORRUPT_SNAPSHOT");
    let mut newer = ranker.snapshot().to_vec();
    newer[6] = 99;
    assert_eq!(code(ranker.restore(&newer, None).unwrap_err()), "SNAPSHOT_VERSION");
    let bad_batch =
        js(r#"[{"kind":"like","item":{"id":"ok"},"at":1},{"kind":"like","item":{"id":""},"at":1}]"#);
    assert_eq!(code(ranker.record(bad_batch, None).unwrap_err()), "INVALID_EVENT");
    assert_eq!(code(ranker.record(js(r#"[{"kind":"stare"}]"#), None).unwrap_err()), "INVALID_EVENT");
    assert_eq!(ranker.key_count(), keys, "nothing stored, nothing lost");
}

fn fallback_reason(ranker: &mut Ranker, request: JsValue) -> String {
    let result = ranker.rerank(request).expect("fallback mode never throws");
    get(&get(&result, "fallback"), "reason").as_string().expect("a fallback reason")
}

#[wasm_bindgen_test]
fn bad_requests_fall_back_to_the_server_order() {
    let mut ranker = ranker();
    let cases = [
        r#"{"candidates":[{"id":"a"},{"id":"a"}]}"#,
        r#"{"candidates":[{"id":"a"},{"title":"no id"}]}"#,
        r#"{"candidates":[{"id":"a","embedding":[1,2]},{"id":"b","embedding":[1]}]}"#,
        r#"{"candidates":[{"id":"a","serverScore":"high"}]}"#,
        r#"{"candidates":[{"id":"a"}],"explian":true}"#,
        r#"{"candidates":"nope"}"#,
    ];
    for case in cases {
        assert_eq!(fallback_reason(&mut ranker, js(case)), "INVALID_REQUEST", "{case}");
    }
    let result = ranker.rerank(js(r#"{"candidates":[{"id":"x"},{"id":"x"}]}"#)).unwrap();
    let ids: Vec<String> =
        js_sys::Array::from(&get(&result, "ids")).iter().filter_map(|v| v.as_string()).collect();
    assert_eq!(ids, ["x", "x"], "the server order, as sent");

    // NaN cannot be written in JSON: build it as a JS object.
    let nan = js(r#"{"candidates":[{"id":"a"},{"id":"b"}]}"#);
    let first = js_sys::Array::from(&get(&nan, "candidates")).get(0);
    Reflect::set(&first, &"serverScore".into(), &f64::NAN.into()).unwrap();
    assert_eq!(fallback_reason(&mut ranker, nan), "INVALID_REQUEST");

    let many: Vec<String> = (0..100_000).map(|i| format!(r#"{{"id":"c{i}"}}"#)).collect();
    let huge = js(&format!(r#"{{"candidates":[{}]}}"#, many.join(",")));
    assert_eq!(fallback_reason(&mut ranker, huge), "TOO_MANY_CANDIDATES");

    let empty = ranker.rerank(js(r#"{"candidates":[]}"#)).unwrap();
    assert!(get(&empty, "fallback").is_null());
    assert_eq!(get(&empty, "order").dyn_into::<Uint32Array>().unwrap().length(), 0);
}

#[wasm_bindgen_test]
fn throw_mode_throws_the_typed_error() {
    let mut ranker = ranker();
    let request = js(r#"{"candidates":[{"id":"a"},{"id":"a"}],"onError":"throw"}"#);
    assert_eq!(code(ranker.rerank(request).unwrap_err()), "INVALID_REQUEST");
    let malformed = js(r#"{"candidates":[{"nope":1}],"onError":"throw"}"#);
    assert_eq!(code(ranker.rerank(malformed).unwrap_err()), "INVALID_REQUEST");
}

#[wasm_bindgen_test]
fn explanations_cover_every_candidate() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let result = ranker.rerank(fixture_request(&fixture, r#","explain":true"#)).unwrap();
    let explanations = js_sys::Array::from(&get(&result, "explanations"));
    assert_eq!(explanations.length() as usize, fixture.candidates.len());
    let contributions = get(&explanations.get(0), "contributions");
    assert!(get(&contributions, "server").as_f64().is_some_and(f64::is_finite));
}
