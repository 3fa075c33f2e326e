//! Tier 2: the module's side of the binding (`WasmRanker`) inside a real wasm engine, against
//! the shipped model. Run in Node by `cargo test --target wasm32-unknown-unknown --test wasm`,
//! and in headless Chromium with `WASM_BINDGEN_USE_BROWSER=1` (build.sh runs both). With
//! `--no-default-features` (the slim, NNEF-only build) the same tests run against the NNEF
//! conversion of the model. What JS callers see (objects in, results and `LocalrankError`s
//! out) is the TypeScript side's, tested from JS in tests/js/.
#![cfg(target_arch = "wasm32")]

use std::collections::HashMap;

use localrank::bindings::WasmRanker;
use localrank::columns::{ItemsWire, NO_KEY};
use localrank::item::{Candidate, Event, EventKind, Item};
use serde::Deserialize;
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
    events: Vec<Event>,
    candidates: Vec<Candidate>,
    expected_scores: Vec<f32>,
    expected_order: Vec<u32>,
}

fn fixture() -> ParityFixture {
    serde_json::from_str(PARITY).expect("the parity fixture parses")
}

/// The code of an error text the module threw (`CODE\nmessage`).
fn code(error: &str) -> &str {
    error.split_once('\n').expect("a coded error text").0
}

fn ranker() -> WasmRanker {
    WasmRanker::new(MODEL, None, None, None, None, None, None, None).expect("the default model loads")
}

/// Items as the JS side packs them: one string table, keys interned.
fn items_wire<'a>(items: impl Iterator<Item = &'a Item>) -> ItemsWire {
    let mut wire = ItemsWire {
        container_offsets: vec![0],
        topic_offsets: vec![0],
        embedding_offsets: vec![0],
        ..ItemsWire::default()
    };
    let mut interned: HashMap<String, u32> = HashMap::new();
    let mut intern = |s: &str, wire: &mut ItemsWire| {
        *interned.entry(s.to_owned()).or_insert_with(|| {
            wire.text.push_str(s);
            wire.lengths.push(s.encode_utf16().count() as u32);
            wire.lengths.len() as u32 - 1
        })
    };
    for item in items {
        let id = intern(&item.id, &mut wire);
        wire.ids.push(id);
        let author = item.author.as_deref().map_or(NO_KEY, |a| intern(a, &mut wire));
        wire.authors.push(author);
        for key in &item.containers {
            let k = intern(key, &mut wire);
            wire.container_keys.push(k);
        }
        wire.container_offsets.push(wire.container_keys.len() as u32);
        for key in &item.topics {
            let k = intern(key, &mut wire);
            wire.topic_keys.push(k);
        }
        wire.topic_offsets.push(wire.topic_keys.len() as u32);
        wire.embeddings.extend(item.embedding.iter().flatten());
        wire.embedding_offsets.push(wire.embeddings.len() as u32);
    }
    wire
}

/// A request's columns and settings, as the JS side passes them.
#[derive(Clone)]
struct Request {
    items: ItemsWire,
    server_scores: Vec<f32>,
    popularity: Vec<f32>,
    created_at: Vec<f64>,
    duration_ms: Vec<f64>,
    pinned: Vec<u8>,
    now: f64,
    utc_offset_minutes: f64,
    max_displacement: Option<f64>,
    diversity: Option<(&'static str, f64)>,
    explain: bool,
}

impl Request {
    fn of(fixture: &ParityFixture) -> Request {
        let candidates = &fixture.candidates;
        Request {
            items: items_wire(candidates.iter().map(|c| &c.item)),
            server_scores: candidates.iter().map(|c| c.server_score.unwrap_or(f32::NAN)).collect(),
            popularity: candidates.iter().map(|c| c.popularity.unwrap_or(f32::NAN)).collect(),
            created_at: candidates.iter().map(|c| c.created_at.unwrap_or(f64::NAN)).collect(),
            duration_ms: candidates.iter().map(|c| c.duration_ms.unwrap_or(f64::NAN)).collect(),
            pinned: candidates.iter().map(|c| u8::from(c.pinned)).collect(),
            now: fixture.now,
            utc_offset_minutes: fixture.utc_offset_minutes,
            max_displacement: None,
            diversity: None,
            explain: false,
        }
    }

    /// Reranks; the ranking, or the error text.
    fn run(self, ranker: &mut WasmRanker) -> Result<Ranked, String> {
        let Request { items, .. } = self.clone();
        let error = ranker.rerank_columns(
            items.text,
            items.lengths,
            items.ids,
            items.authors,
            items.container_offsets,
            items.container_keys,
            items.topic_offsets,
            items.topic_keys,
            items.embedding_offsets,
            items.embeddings,
            self.server_scores,
            self.popularity,
            self.created_at,
            self.duration_ms,
            self.pinned,
            self.now,
            self.utc_offset_minutes,
            self.max_displacement,
            self.diversity.map(|(by, _)| by.to_owned()),
            self.diversity.map(|(_, max_run)| max_run),
            self.explain,
        );
        match error {
            Some(error) => Err(error),
            None => Ok(Ranked {
                order: ranker.take_order(),
                scores: ranker.take_scores(),
                contributions: ranker.take_contributions(),
            }),
        }
    }
}

/// What a successful rerank leaves for the `take…` methods.
#[derive(Debug)]
struct Ranked {
    order: Vec<u32>,
    scores: Vec<f32>,
    contributions: Vec<f32>,
}

fn record(ranker: &mut WasmRanker, events: &[Event], now: f64) -> Result<Vec<u32>, String> {
    let items = items_wire(events.iter().map(|e| &e.item));
    ranker.record_columns(
        items.text,
        items.lengths,
        items.ids,
        items.authors,
        items.container_offsets,
        items.container_keys,
        items.topic_offsets,
        items.topic_keys,
        items.embedding_offsets,
        items.embeddings,
        events.iter().map(|e| EventKind::ALL.iter().position(|&k| k == e.kind).unwrap() as u8).collect(),
        events.iter().map(|e| e.at).collect(),
        events.iter().map(|e| e.dwell_ms.unwrap_or(f64::NAN)).collect(),
        now,
    )
}

fn record_fixture_events(ranker: &mut WasmRanker, fixture: &ParityFixture) {
    let summary = record(ranker, &fixture.events, fixture.now).expect("valid events");
    assert_eq!(summary, [fixture.events.len() as u32, 0, 0]);
}

#[wasm_bindgen_test]
fn scores_equal_the_native_ones() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let Ranked { order, scores, contributions } = Request::of(&fixture).run(&mut ranker).unwrap();
    assert_eq!(scores.len(), fixture.expected_scores.len());
    // Features are computed by the same code; the model's matrix kernels differ between x86
    // and wasm SIMD (summation order), so scores agree to float rounding: 4e-6 relative, ~32
    // f32 steps (the KuaiRand model's tanh bound gave 1.1e-6 at most).
    for (i, (wasm, native)) in scores.iter().zip(&fixture.expected_scores).enumerate() {
        assert!(
            (wasm - native).abs() <= 4e-6 * native.abs().max(1.0),
            "candidate {i}: wasm {wasm} vs native {native}"
        );
    }
    assert_eq!(order, fixture.expected_order);
    assert!(contributions.is_empty(), "no explanation asked for");
}

#[wasm_bindgen_test]
fn model_info_names_the_contract() {
    let info: serde_json::Value = serde_json::from_str(&ranker().model_info()).unwrap();
    assert!(!info["features"].as_array().unwrap().is_empty());
    assert_eq!(info["byteSize"].as_u64(), Some(MODEL.len() as u64));
}

#[wasm_bindgen_test]
fn signals_change_the_order_and_survive_snapshot_and_restore() {
    let fixture = fixture();
    let mut fresh = ranker();
    let before = Request::of(&fixture).run(&mut fresh).unwrap().order;
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let after = Request::of(&fixture).run(&mut ranker).unwrap().order;
    assert_ne!(before, after, "signals move candidates");

    fresh.restore(&ranker.snapshot(), fixture.now).unwrap();
    assert_eq!(fresh.key_count(), ranker.key_count());
    // Before the next rerank, which remembers its list (the personal head's memory).
    assert_eq!(fresh.export_signals(fixture.now), ranker.export_signals(fixture.now));
    assert_eq!(Request::of(&fixture).run(&mut fresh).unwrap().order, after);

    fresh.clear();
    assert_eq!(fresh.key_count(), 0);
    assert_eq!(Request::of(&fixture).run(&mut fresh).unwrap().order, before);
}

#[wasm_bindgen_test]
fn a_snapshot_in_two_steps_is_the_store_as_it_was_begun() {
    let fixture = fixture();
    let mut ranker = ranker();
    assert_eq!(ranker.finish_snapshot(), None, "nothing begun");
    record_fixture_events(&mut ranker, &fixture);
    let whole = ranker.snapshot();
    ranker.begin_snapshot();
    // What happens between the steps is not in it: a rerank (which remembers its list) and
    // another event.
    Request::of(&fixture).run(&mut ranker).unwrap();
    let later = Event { at: fixture.now + 1.0, ..fixture.events[0].clone() };
    record(&mut ranker, &[later], fixture.now + 1.0).unwrap();
    assert_eq!(ranker.finish_snapshot().as_deref(), Some(&whole[..]));
    assert_eq!(ranker.finish_snapshot(), None, "finished once");

    // A snapshot begun before a clear or a restore would bring back signals the store no
    // longer has: both drop it.
    ranker.begin_snapshot();
    ranker.clear();
    assert_eq!(ranker.finish_snapshot(), None);
    ranker.begin_snapshot();
    ranker.restore(&whole, fixture.now).unwrap();
    assert_eq!(ranker.finish_snapshot(), None);
}

/// Rounds an hour apart of the fixture's list: each round the user clicks the candidate placed
/// 10th (the top 50 count as shown), so every list has an engaged and an ignored candidate.
fn learn_rounds(ranker: &mut WasmRanker, rounds: usize) -> Vec<u32> {
    let fixture = fixture();
    let mut order = Vec::new();
    for round in 0..rounds {
        let now = fixture.now + round as f64 * 3_600_000.0;
        order = Request { now, ..Request::of(&fixture) }.run(ranker).unwrap().order;
        let clicked = fixture.candidates[order[9] as usize].item.clone();
        let click = Event { kind: EventKind::Click, item: clicked, at: now + 1_000.0, dwell_ms: None };
        record(ranker, &[click], now + 1_000.0).unwrap();
    }
    order
}

fn learning_export(ranker: &mut WasmRanker, now: f64) -> serde_json::Value {
    let export: serde_json::Value = serde_json::from_str(&ranker.export_signals(now).unwrap()).unwrap();
    export["learning"].clone()
}

#[wasm_bindgen_test]
fn the_personal_head_learns_deterministically_survives_a_snapshot_and_clears() {
    let fixture = fixture();
    let later = fixture.now + 30.0 * 3_600_000.0;
    let (mut one, mut two) = (ranker(), ranker());
    learn_rounds(&mut one, 20);
    learn_rounds(&mut two, 20);
    let head = learning_export(&mut one, later);
    assert!(head["updates"].as_u64().unwrap() >= 10, "{head}");
    assert!(head["validatedLists"].as_u64().unwrap() >= 10, "{head}");
    assert_eq!(
        head["weights"].as_array().unwrap().len(),
        18,
        "one per candidate signal feature of the model"
    );
    assert_eq!(one.snapshot(), two.snapshot(), "the same events and lists, the same head, byte for byte");

    let mut restored = ranker();
    restored.restore(&one.snapshot(), later).unwrap();
    assert_eq!(learning_export(&mut restored, later), head);

    restored.clear();
    let cleared = learning_export(&mut restored, later);
    assert_eq!((cleared["updates"].as_u64(), cleared["active"].as_bool()), (Some(0), Some(false)));
    let base = Request::of(&fixture).run(&mut ranker()).unwrap();
    assert_eq!(Request::of(&fixture).run(&mut restored).unwrap().order, base.order);
}

#[wasm_bindgen_test]
fn learning_off_learns_nothing() {
    let fixture = fixture();
    let mut off = WasmRanker::new(MODEL, None, None, None, None, None, None, Some(false)).unwrap();
    learn_rounds(&mut off, 20);
    let head = learning_export(&mut off, fixture.now + 30.0 * 3_600_000.0);
    assert_eq!((head["updates"].as_u64(), head["pendingLists"].as_u64()), (Some(0), Some(0)));
}

#[wasm_bindgen_test]
fn bad_models_and_options_are_coded_errors() {
    let load = |model: &[u8]| WasmRanker::new(model, None, None, None, None, None, None, None).err().unwrap();
    assert_eq!(code(&load(b"not a model")), "INVALID_MODEL");
    assert_eq!(code(&load(&MODEL[..MODEL.len() / 3])), "INVALID_MODEL");
    // Renaming the metadata key (same length, so the file stays valid) hides the contract.
    let mut renamed = MODEL.to_vec();
    let key = b"localrank.contract";
    let at = renamed.windows(key.len()).position(|w| w == key).expect("the model has a contract");
    renamed[at + key.len() - 1] = b'X';
    assert_eq!(code(&load(&renamed)), "CONTRACT_MISMATCH");
    let options = |key_cap: f64, trusted: Option<&str>| {
        WasmRanker::new(MODEL, Some(key_cap), None, None, None, None, trusted.map(str::to_owned), None)
            .err()
            .unwrap()
    };
    assert_eq!(code(&options(0.5, None)), "INVALID_OPTIONS");
    assert_eq!(code(&options(0.0, None)), "INVALID_OPTIONS");
    assert_eq!(code(&options(f64::NAN, None)), "INVALID_OPTIONS");
    assert_eq!(code(&options(10.0, Some(""))), "INVALID_OPTIONS", "an empty trusted key");
    let ranker = WasmRanker::new(MODEL, None, None, Some(7.0), None, Some(1e6), None, None).unwrap();
    assert_eq!((ranker.max_candidates(), ranker.memory_budget_bytes()), (7, 1e6));
}

#[wasm_bindgen_test]
fn bad_snapshots_events_and_times_are_coded_errors_and_keep_the_signals() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let keys = ranker.key_count();
    let mut bytes = ranker.snapshot();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 1;
    assert_eq!(code(&ranker.restore(&bytes, fixture.now).unwrap_err()), "CORRUPT_SNAPSHOT");
    let mut newer = ranker.snapshot();
    newer[6] = 99;
    assert_eq!(code(&ranker.restore(&newer, fixture.now).unwrap_err()), "SNAPSHOT_VERSION");
    assert_eq!(code(&ranker.restore(&ranker.snapshot(), f64::NAN).unwrap_err()), "INVALID_REQUEST");
    let ok = Event {
        kind: EventKind::Like,
        item: Item { id: "ok".into(), ..Item::default() },
        at: 1.0,
        dwell_ms: None,
    };
    let empty_id = Event { item: Item::default(), ..ok.clone() };
    let error = record(&mut ranker, &[ok.clone(), empty_id], fixture.now).unwrap_err();
    assert_eq!(code(&error), "INVALID_EVENT");
    assert!(error.ends_with("event 1: empty id"), "{error}");
    assert_eq!(code(&record(&mut ranker, &[ok], f64::NAN).unwrap_err()), "INVALID_EVENT");
    assert_eq!(code(&ranker.export_signals(f64::INFINITY).unwrap_err()), "INVALID_REQUEST");
    assert_eq!(ranker.key_count(), keys, "nothing stored, nothing lost");
}

#[wasm_bindgen_test]
fn explanations_cover_every_candidate() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let groups = ranker.explained_groups();
    let groups: Vec<&str> = groups.split(',').collect();
    assert!(groups.contains(&"server"), "{groups:?}");
    let Ranked { order, contributions, .. } =
        Request { explain: true, ..Request::of(&fixture) }.run(&mut ranker).unwrap();
    assert_eq!(order, fixture.expected_order);
    assert_eq!(contributions.len(), groups.len() * fixture.candidates.len());
    assert!(contributions.iter().all(|c| c.is_finite()));
}

#[wasm_bindgen_test]
fn constraints_apply_and_bad_ones_are_coded_errors() {
    let fixture = fixture();
    let mut ranker = ranker();
    record_fixture_events(&mut ranker, &fixture);
    let constrained =
        Request { max_displacement: Some(3.0), diversity: Some(("author", 1.0)), ..Request::of(&fixture) };
    let order = constrained.run(&mut ranker).unwrap().order;
    assert!(order.iter().enumerate().all(|(p, &i)| (i as usize).abs_diff(p) <= 3));
    for (name, bad) in [
        ("fractional displacement", Request { max_displacement: Some(1.5), ..Request::of(&fixture) }),
        ("unknown diversity key", Request { diversity: Some(("colour", 2.0)), ..Request::of(&fixture) }),
        ("a run of zero", Request { diversity: Some(("author", 0.0)), ..Request::of(&fixture) }),
        ("NaN now", Request { now: f64::NAN, ..Request::of(&fixture) }),
        ("offset past a day", Request { utc_offset_minutes: 1441.0, ..Request::of(&fixture) }),
    ] {
        assert_eq!(code(&bad.run(&mut ranker).unwrap_err()), "INVALID_REQUEST", "{name}");
    }
}

#[wasm_bindgen_test]
fn bad_columns_give_a_coded_error_never_a_panic() {
    let fixture = fixture();
    let mut ranker = ranker();
    type Spoil = fn(&mut Request);
    let spoilers: [(&str, Spoil); 10] = [
        ("short column", |r| r.created_at.truncate(2)),
        ("index past the table", |r| r.items.topic_keys[0] = 1 << 30),
        ("falling offsets", |r| r.items.container_offsets[1] = 1 << 30),
        ("lengths off the text", |r| r.items.lengths[0] = 999),
        ("lengths missing", |r| r.items.lengths.clear()),
        ("duplicate id", |r| r.items.ids[1] = r.items.ids[0]),
        ("infinite score", |r| r.server_scores[3] = f32::INFINITY),
        ("NaN in an embedding", |r| r.items.embeddings[0] = f32::NAN),
        ("an empty id", |r| {
            r.items.text.drain(..r.items.lengths[0] as usize);
            r.items.lengths[0] = 0;
        }),
        ("ids without their columns", |r| r.items.ids = vec![0; 6000]),
    ];
    for (name, spoil) in spoilers {
        let mut request = Request::of(&fixture);
        spoil(&mut request);
        let error = request.run(&mut ranker).unwrap_err();
        assert!(matches!(code(&error), "INVALID_REQUEST" | "TOO_MANY_CANDIDATES"), "{name}: {error}");
    }
    // …and the ranker works as before.
    assert_eq!(Request::of(&fixture).run(&mut ranker).unwrap().order.len(), fixture.candidates.len());
}

/// The largest graph the model screen lets through (src/model/screen.rs: 1 000 nodes) loads
/// in wasm in bounded time and without overflowing the module's stack: a chain of `Relu`s up
/// to the limit (tests/largest_graph.rs writes the fixture and checks it is current).
#[cfg(feature = "onnx")]
#[wasm_bindgen_test]
fn the_largest_graph_the_screen_allows_loads() {
    let started = now_ms();
    let largest = include_bytes!("fixtures/largest-graph.onnx");
    let ranker = WasmRanker::new(largest, None, None, None, None, None, None, None);
    let ms = now_ms() - started;
    assert!(ranker.is_ok(), "{:?}", ranker.err());
    assert!(ms < 10_000.0, "a graph of 1 000 nodes took {ms} ms to load");
}

#[cfg(feature = "onnx")]
#[wasm_bindgen::prelude::wasm_bindgen]
extern "C" {
    #[wasm_bindgen(js_namespace = Date, js_name = now)]
    fn now_ms() -> f64;
}
