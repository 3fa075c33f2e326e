//! The offline pipeline from the outside (native only): every shipped model keeps the server's
//! order without local signals and ranks the same whatever the server's score scale, the
//! committed parity fixture still matches the committed model, the committed NNEF model is
//! its conversion and ranks identically, and the trainer's export loads in tract.
#![cfg(all(not(target_arch = "wasm32"), feature = "onnx"))]

use std::process::Command;

use localrank::item::{Candidate, Event, EventKind, Item};
use localrank::model::ModelRunner;
use localrank::offline::parity;
use localrank::ranker::{server_prior, Clock, Ranker, RankerOptions, RequestContextInput, RerankRequest};
use proptest::prelude::*;

/// Every model the package ships, in both formats.
const SHIPPED_MODELS: [&str; 2] = ["models/ranker.onnx", "models/ranker.nnef.tar"];

fn shipped_rankers() -> Vec<(&'static str, Ranker)> {
    SHIPPED_MODELS
        .iter()
        .map(|&path| {
            let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{path}: {e}"));
            (path, Ranker::new(&bytes, RankerOptions::default()).unwrap_or_else(|e| panic!("{path}: {e}")))
        })
        .collect()
}

struct Frozen;

impl Clock for Frozen {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

const NOW: f64 = 1.7e12;
const DAY_MS: f64 = 86_400_000.0;

/// An item of a chat community like the demo's: an author, a guild and channel, a topic or
/// two, an 8-number embedding; `key` picks them, so items share keys.
fn item(id: String, key: u32, embedding: [f32; 8]) -> Item {
    Item {
        id,
        author: Some(format!("author-{}", key % 15)),
        containers: vec![format!("guild-{}", key % 8), format!("guild-{}/channel-{}", key % 8, key % 3)],
        topics: (0..1 + key % 2).map(|t| format!("topic-{}", (key + 5 * t) % 12)).collect(),
        embedding: Some(embedding.to_vec()),
    }
}

fn embedding() -> impl Strategy<Value = [f32; 8]> {
    proptest::array::uniform8(-1.0f32..1.0)
}

/// Candidates in the server's order, each with a server score, popularity and age. Scores
/// are multiples of 1/8 and popularity whole, so that the warped copies below keep distinct
/// values distinct in f32 (a map that merged two would change the order honestly).
fn candidates() -> impl Strategy<Value = Vec<Candidate>> {
    let fields = (0u32..200, embedding(), -8000i32..8000, 0u32..100_000, 0.0..90.0 * DAY_MS);
    proptest::collection::vec(fields, 1..120).prop_map(|rows| {
        rows.into_iter()
            .enumerate()
            .map(|(i, (key, embedding, score, popularity, age))| Candidate {
                item: item(format!("c{i}"), key, embedding),
                server_score: Some(score as f32 / 8.0),
                popularity: Some(popularity as f32),
                created_at: Some(NOW - age),
                pinned: false,
            })
            .collect()
    })
}

/// Engagement on items that share keys with the candidates.
fn events() -> impl Strategy<Value = Vec<Event>> {
    let kinds = proptest::sample::select(EventKind::ALL.to_vec());
    proptest::collection::vec((kinds, 0u32..200, embedding(), 0.0..30.0 * DAY_MS, 0.0..600_000.0), 1..80)
        .prop_map(|rows| {
            rows.into_iter()
                .enumerate()
                .map(|(i, (kind, key, embedding, ago, dwell))| Event {
                    kind,
                    item: item(format!("seen-{i}"), key, embedding),
                    at: NOW - ago,
                    dwell_ms: (kind == EventKind::Dwell).then_some(dwell),
                })
                .collect()
        })
}

fn request(candidates: Vec<Candidate>) -> RerankRequest {
    RerankRequest {
        candidates,
        context: RequestContextInput { now: NOW, utc_offset_minutes: 120.0 },
        ..RerankRequest::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// With no local signals, every shipped model's order is the server's, and each
    /// candidate's score is exactly its server prior: on a new store, and on one cleared
    /// after it held signals.
    #[test]
    fn every_shipped_model_keeps_the_server_order_without_local_signals(
        candidates in candidates(),
        forgotten in events(),
    ) {
        for (path, mut ranker) in shipped_rankers() {
            for cleared in [false, true] {
                if cleared {
                    ranker.record(&forgotten, NOW).unwrap();
                    ranker.store_mut().clear();
                }
                let ranking = ranker.rerank(&request(candidates.clone()), &Frozen).unwrap();
                prop_assert!(ranking.fallback.is_none(), "{}: {:?}", path, ranking.fallback);
                prop_assert_eq!(&ranking.order, &(0..candidates.len() as u32).collect::<Vec<_>>(), "{}", path);
                let priors: Vec<f32> = (0..candidates.len()).map(server_prior).collect();
                prop_assert_eq!(&ranking.scores, &priors, "{}", path);
            }
        }
    }

    /// Whatever the server's score scale (x 0.01, 1, 100) or any increasing map of its scores
    /// and popularity, every shipped model gives the same order and scores, with signals.
    #[test]
    fn every_shipped_model_ranks_the_same_whatever_the_server_scale(
        candidates in candidates(),
        events in events(),
    ) {
        let mapped = |score: &dyn Fn(f32) -> f32, popularity: &dyn Fn(f32) -> f32| {
            let mut list = candidates.clone();
            for c in &mut list {
                c.server_score = c.server_score.map(score);
                c.popularity = c.popularity.map(popularity);
            }
            request(list)
        };
        for (path, mut ranker) in shipped_rankers() {
            ranker.record(&events, NOW).unwrap();
            let plain = ranker.rerank(&request(candidates.clone()), &Frozen).unwrap();
            prop_assert!(plain.fallback.is_none(), "{}: {:?}", path, plain.fallback);
            for factor in [0.01f32, 1.0, 100.0] {
                let scaled = ranker.rerank(&mapped(&|s| s * factor, &|p| p * factor), &Frozen).unwrap();
                prop_assert_eq!(&scaled, &plain, "{} at x{}", path, factor);
            }
            // Increasing, and far from linear: cubes plus a square root.
            let warped = mapped(&|s| s * s * s + s.signum() * s.abs().sqrt(), &|p| p * p + p.sqrt());
            prop_assert_eq!(&ranker.rerank(&warped, &Frozen).unwrap(), &plain, "{} warped", path);
        }
    }
}

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
