//! Tier 2: the bindings inside a real wasm engine, against the shipped model. Run in Node by
//! `cargo test --target wasm32-unknown-unknown --test wasm`, and in headless Chromium with
//! `WASM_BINDGEN_USE_BROWSER=1` (build.sh runs both). With `--no-default-features` (the slim,
//! NNEF-only build) the same tests run against the NNEF conversion of the model.
#![cfg(target_arch = "wasm32")]

use std::collections::HashMap;

use js_sys::{Float32Array, Float64Array, Object, Reflect, Uint32Array, Uint8Array, JSON};
use localrank::bindings::{Ranker, RerankSettingsArg};
use serde::Deserialize;
use serde_json::Value;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

#[cfg(feature = "onnx")]
const MODEL: &[u8] = include_bytes!("../models/ranker.onnx");
#[cfg(not(feature = "onnx"))]
const MODEL: &[u8] = include_bytes!("../models/ranker.nnef.tar");
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

/// The fixture's candidates packed as the JS client packs them (keys interned).
fn columns(candidates: &[Value]) -> JsValue {
    let mut strings: Vec<String> = Vec::new();
    let mut interned: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: &str, strings: &mut Vec<String>| {
        *interned.entry(s.to_owned()).or_insert_with(|| {
            strings.push(s.to_owned());
            strings.len() as u32 - 1
        })
    };
    let (mut ids, mut authors, mut embeddings) = (vec![], vec![], vec![]);
    let (mut container_offsets, mut container_keys) = (vec![0u32], vec![]);
    let (mut topic_offsets, mut topic_keys) = (vec![0u32], vec![]);
    let mut embedding_offsets = vec![0u32];
    let (mut scores, mut popularity, mut created, mut durations, mut pinned) =
        (vec![], vec![], vec![], vec![], vec![]);
    let number = |c: &Value, key: &str| c.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN);
    for c in candidates {
        strings.push(c["id"].as_str().unwrap().to_owned());
        ids.push(strings.len() as u32 - 1);
        authors.push(c.get("author").and_then(Value::as_str).map_or(u32::MAX, |a| intern(a, &mut strings)));
        for (key, offsets, keys) in [
            ("containers", &mut container_offsets, &mut container_keys),
            ("topics", &mut topic_offsets, &mut topic_keys),
        ] {
            for k in c.get(key).and_then(Value::as_array).into_iter().flatten() {
                keys.push(intern(k.as_str().unwrap(), &mut strings));
            }
            offsets.push(keys.len() as u32);
        }
        let embedding = c.get("embedding").and_then(Value::as_array).into_iter().flatten();
        embeddings.extend(embedding.map(|v| v.as_f64().unwrap() as f32));
        embedding_offsets.push(embeddings.len() as u32);
        scores.push(number(c, "serverScore") as f32);
        popularity.push(number(c, "popularity") as f32);
        created.push(number(c, "createdAt"));
        durations.push(number(c, "durationMs"));
        pinned.push(u8::from(c.get("pinned").and_then(Value::as_bool).unwrap_or(false)));
    }
    let lengths: Vec<u32> = strings.iter().map(|s| s.encode_utf16().count() as u32).collect();
    let object = Object::new();
    let set = |key: &str, value: JsValue| Reflect::set(&object, &key.into(), &value).unwrap();
    set("text", strings.concat().into());
    for (key, values) in [
        ("lengths", lengths),
        ("ids", ids),
        ("authors", authors),
        ("containerOffsets", container_offsets),
        ("containerKeys", container_keys),
        ("topicOffsets", topic_offsets),
        ("topicKeys", topic_keys),
        ("embeddingOffsets", embedding_offsets),
    ] {
        set(key, Uint32Array::from(values.as_slice()).into());
    }
    set("embeddings", Float32Array::from(embeddings.as_slice()).into());
    set("serverScores", Float32Array::from(scores.as_slice()).into());
    set("popularity", Float32Array::from(popularity.as_slice()).into());
    set("createdAt", Float64Array::from(created.as_slice()).into());
    set("durationMs", Float64Array::from(durations.as_slice()).into());
    set("pinned", Uint8Array::from(pinned.as_slice()).into());
    object.into()
}

fn settings(fixture: &ParityFixture, extra: &str) -> Option<RerankSettingsArg> {
    let json =
        format!(r#"{{"now":{},"utcOffsetMinutes":{}{extra}}}"#, fixture.now, fixture.utc_offset_minutes);
    Some(js(&json).unchecked_into())
}

#[wasm_bindgen_test]
fn columns_rank_exactly_like_objects() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    for extra in [
        "",
        r#","explain":true"#,
        r#","constraints":{"maxDisplacement":3,"diversity":{"by":"author","maxRun":1}}"#,
    ] {
        let objects = ranker.rerank(fixture_request(&fixture, extra)).unwrap();
        let packed = ranker.rerank_columns(columns(&fixture.candidates), settings(&fixture, extra)).unwrap();
        assert!(get(&packed, "fallback").is_null(), "{extra}");
        for key in ["order", "scores", "explanations"] {
            assert_eq!(
                JSON::stringify(&get(&packed, key)).unwrap(),
                JSON::stringify(&get(&objects, key)).unwrap(),
                "{key} with {extra:?}"
            );
        }
        assert!(get(&packed, "ids").is_undefined(), "the caller maps order to its ids");
    }
    let order =
        get(&ranker.rerank_columns(columns(&fixture.candidates), settings(&fixture, "")).unwrap(), "order");
    assert_eq!(order.dyn_into::<Uint32Array>().unwrap().to_vec(), fixture.expected_order);

    // Columns from a client that packs no `durationMs` rank like candidates without one.
    let without: Vec<Value> = fixture
        .candidates
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.as_object_mut().unwrap().remove("durationMs");
            c
        })
        .collect();
    let packed = columns(&without);
    Reflect::delete_property(packed.unchecked_ref::<Object>(), &"durationMs".into()).unwrap();
    let packed = ranker.rerank_columns(packed, settings(&fixture, "")).unwrap();
    let request = serde_json::json!({ "candidates": without, "now": fixture.now, "utcOffsetMinutes": fixture.utc_offset_minutes });
    let objects = ranker.rerank(js(&request.to_string())).unwrap();
    assert!(get(&packed, "fallback").is_null());
    assert_eq!(
        JSON::stringify(&get(&packed, "scores")).unwrap(),
        JSON::stringify(&get(&objects, "scores")).unwrap()
    );
}

#[wasm_bindgen_test]
fn bad_columns_give_a_coded_error_never_a_panic() {
    let fixture = fixture();
    let mut ranker = ranker();
    let count = fixture.candidates.len() as u32;
    type Spoil<'a> = Box<dyn Fn(&JsValue) + 'a>;
    let spoilers: Vec<(&str, Spoil)> = vec![
        (
            "missing column",
            Box::new(|c| {
                let _ = Reflect::delete_property(c.unchecked_ref::<Object>(), &"pinned".into());
            }),
        ),
        (
            "wrong array type",
            Box::new(|c| {
                let _ = Reflect::set(c, &"serverScores".into(), &Float64Array::new_with_length(count).into());
            }),
        ),
        (
            "plain array",
            Box::new(|c| {
                let _ = Reflect::set(c, &"authors".into(), &js("[0]"));
            }),
        ),
        (
            "short column",
            Box::new(|c| {
                let _ = Reflect::set(c, &"createdAt".into(), &Float64Array::new_with_length(2).into());
            }),
        ),
        (
            "index past the table",
            Box::new(|c| get(c, "topicKeys").unchecked_into::<Uint32Array>().set_index(0, 1 << 30)),
        ),
        (
            "falling offsets",
            Box::new(|c| get(c, "containerOffsets").unchecked_into::<Uint32Array>().set_index(1, 1 << 30)),
        ),
        (
            "lengths off the text",
            Box::new(|c| get(c, "lengths").unchecked_into::<Uint32Array>().set_index(0, 999)),
        ),
        (
            "text not a string",
            Box::new(|c| {
                let _ = Reflect::set(c, &"text".into(), &JsValue::from(7));
            }),
        ),
        ("duplicate id", Box::new(|c| get(c, "ids").unchecked_into::<Uint32Array>().set_index(1, 0))),
        (
            "infinite score",
            Box::new(|c| get(c, "serverScores").unchecked_into::<Float32Array>().set_index(3, f32::INFINITY)),
        ),
        (
            "NaN in an embedding",
            Box::new(|c| get(c, "embeddings").unchecked_into::<Float32Array>().set_index(0, f32::NAN)),
        ),
    ];
    for (name, spoil) in &spoilers {
        let packed = columns(&fixture.candidates);
        spoil(&packed);
        let result = ranker
            .rerank_columns(packed.clone(), settings(&fixture, ""))
            .expect("fallback mode never throws");
        let reason = get(&get(&result, "fallback"), "reason").as_string();
        assert_eq!(reason.as_deref(), Some("INVALID_REQUEST"), "{name}");
        let order = get(&result, "order").dyn_into::<Uint32Array>().unwrap().to_vec();
        assert!(order.iter().enumerate().all(|(i, &o)| i as u32 == o), "{name}: server order");
        let thrown = ranker.rerank_columns(packed, settings(&fixture, r#","onError":"throw""#)).unwrap_err();
        assert_eq!(code(thrown), "INVALID_REQUEST", "{name}");
    }
    let not_an_object = ranker.rerank_columns(JsValue::NULL, None).unwrap();
    assert_eq!(
        get(&get(&not_an_object, "fallback"), "reason").as_string().as_deref(),
        Some("INVALID_REQUEST")
    );
    let unknown_field = ranker
        .rerank_columns(columns(&fixture.candidates), Some(js(r#"{"explian":true}"#).unchecked_into()))
        .unwrap();
    assert_eq!(
        get(&get(&unknown_field, "fallback"), "reason").as_string().as_deref(),
        Some("INVALID_REQUEST")
    );
}
