//! The offline pipeline from the outside (native only): every shipped model keeps the server's
//! order without local signals and ranks the same whatever the server's score scale, the
//! committed parity fixture still matches the committed model, the committed NNEF model is
//! its conversion and ranks identically, and the trainer's export loads in tract.
#![cfg(all(not(target_arch = "wasm32"), feature = "onnx", feature = "offline"))]

use std::process::Command;

use localrank::item::{Candidate, Event, EventKind, Family, Item};
use localrank::model::ModelRunner;
use localrank::offline::parity;
use localrank::ranker::{server_prior, Clock, Ranker, RankerOptions, RequestContextInput, RerankRequest};
use proptest::prelude::*;

/// Every model the package ships, in both formats: the default (KuaiRand) and the second
/// (MovieLens) model.
const SHIPPED_MODELS: [&str; 4] = [
    "models/ranker.onnx",
    "models/ranker.nnef.tar",
    "models/movielens/ranker.onnx",
    "models/movielens/ranker.nnef.tar",
];
/// Each shipped model's ONNX file and its NNEF conversion.
const MODEL_PAIRS: [(&str, &str); 2] = [
    ("models/ranker.onnx", "models/ranker.nnef.tar"),
    ("models/movielens/ranker.onnx", "models/movielens/ranker.nnef.tar"),
];

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
                duration_ms: Some(1000.0 + (popularity % 600) as f64 * 1000.0),
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

/// Each shipped model's NNEF file (the slim build's) is today's conversion of its ONNX one,
/// and gives the same scores and order as the ONNX one on the parity request.
#[test]
fn nnef_models_are_the_converted_onnx_models_and_rank_identically() {
    for (onnx_path, nnef_path) in MODEL_PAIRS {
        let onnx = std::fs::read(onnx_path).expect("the shipped model");
        let nnef = std::fs::read(nnef_path).expect("the shipped NNEF model");
        let fresh = localrank::model::onnx_to_nnef(&onnx).expect("the model converts");
        assert!(
            fresh == nnef,
            "{nnef_path} is stale: regenerate it with \
             `localrank-pipeline to-nnef --model {onnx_path} --out {nnef_path}`"
        );
        assert_eq!(parity::fixture(&nnef).unwrap(), parity::fixture(&onnx).unwrap(), "{onnx_path}");
    }
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

/// The demo's catalogue (`www/data/server-response.json`, a chat community) through the
/// default model, as the demo's browser test drives it: hiding one of an author's posts drops
/// each of that author's other posts and moves nothing else but by the places they free, and
/// one like moves only the posts sharing a key with it, each by a bounded amount (its local
/// term is within ±1 of its server prior).
#[test]
fn the_default_model_reacts_to_the_demo_visibly_and_proportionately() {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Response {
        generated_at: f64,
        items: Vec<Candidate>,
    }
    let json = std::fs::read_to_string("www/data/server-response.json").expect("the demo's catalogue");
    let Response { generated_at: now, items } = serde_json::from_str(&json).unwrap();
    let bytes = std::fs::read("models/ranker.onnx").unwrap();
    // Each post's position after one event on `post` a minute ago, and its final score.
    let after = |kind: EventKind, post: usize| {
        let mut ranker = Ranker::new(&bytes, RankerOptions::default()).unwrap();
        let event = Event { kind, item: items[post].item.clone(), at: now - 60_000.0, dwell_ms: None };
        ranker.record(&[event], now).unwrap();
        let request = RerankRequest {
            candidates: items.clone(),
            context: RequestContextInput { now, utc_offset_minutes: 0.0 },
            ..RerankRequest::default()
        };
        let ranking = ranker.rerank(&request, &Frozen).unwrap();
        assert!(ranking.fallback.is_none(), "{:?}", ranking.fallback);
        let mut rank = vec![0usize; items.len()];
        for (position, &i) in ranking.order.iter().enumerate() {
            rank[i as usize] = position;
        }
        (rank, ranking.scores)
    };
    let shares_a_key = |a: usize, b: usize| {
        Family::ALL
            .into_iter()
            .skip(1)
            .any(|f| items[a].item.keys(f).iter().any(|k| items[b].item.keys(f).contains(k)))
    };
    // Posts that keep their relative order: `rank` of each, in server order, must rise.
    let in_order = |rank: &[usize], posts: &[usize]| posts.windows(2).all(|w| rank[w[0]] < rank[w[1]]);
    let (mut most_moved, mut farthest) = (0, 0);
    let (mut touched, mut displacements, mut likes) = (0, Vec::new(), 0);
    for post in (0..items.len()).filter(|&i| !items[i].pinned) {
        let author = &items[post].item.author;
        let (rank, _) = after(EventKind::Hide, post);
        // (Pinned posts keep their own positions, which the others may move past.)
        let others: Vec<usize> = (0..items.len())
            .filter(|&o| o != post && !items[o].pinned && &items[o].item.author != author)
            .collect();
        assert!(in_order(&rank, &others), "hiding {} reordered other authors' posts", items[post].item.id);
        for same in
            (0..items.len()).filter(|&o| o != post && !items[o].pinned && &items[o].item.author == author)
        {
            assert!(
                rank[same] > same || same == items.len() - 1,
                "hiding {} left {} at {} (server {same})",
                items[post].item.id,
                items[same].item.id,
                rank[same]
            );
        }
        let (rank, scores) = after(EventKind::Like, post);
        let unrelated: Vec<usize> =
            (0..items.len()).filter(|&o| o != post && !items[o].pinned && !shares_a_key(o, post)).collect();
        assert!(
            in_order(&rank, &unrelated),
            "liking {} reordered posts it says nothing about",
            items[post].item.id
        );
        for (k, &score) in scores.iter().enumerate() {
            assert!(
                (score - server_prior(k)).abs() <= 1.0 + 1e-5,
                "liking {}: {} moved by {}",
                items[post].item.id,
                items[k].item.id,
                score - server_prior(k)
            );
        }
        most_moved = most_moved.max((0..items.len()).filter(|&i| rank[i] != i).count());
        farthest = farthest.max((0..items.len()).map(|i| rank[i].abs_diff(i)).max().unwrap_or(0));
        touched += (0..items.len()).filter(|&k| scores[k] != server_prior(k)).count();
        displacements.push((0..items.len()).map(|i| rank[i].abs_diff(i)).max().unwrap_or(0));
        likes += 1;
    }
    println!(
        "one like: at most {most_moved} of {} posts change position, none by more than {farthest} places; \
         on average {:.1} posts' scores move (the posts sharing a key with it); the median like's farthest move {} places",
        items.len(),
        touched as f64 / likes as f64,
        {
            displacements.sort_unstable();
            displacements[displacements.len() / 2]
        }
    );
}

/// A KuaiRand-shaped folder (events.csv.gz, items.csv) of `users` users with random feeds:
/// videos by few authors, a few tags each, plays, likes, follows, forwards and hides.
fn synthetic_kuairand(users: u32) -> std::path::PathBuf {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("localrank-pipeline-kuairand-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = localrank::offline::random::SplitMix64::new(12);
    let mut items = String::from("video_id,author_id,music_id,video_type,upload_dt,video_duration,tags\n");
    for v in 0..40 {
        let tags = (0..1 + rng.below(2)).map(|_| rng.below(8).to_string()).collect::<Vec<_>>().join(";");
        items.push_str(&format!(
            "{v},{},0,NORMAL,2022-04-{:02},{}.0,{tags}\n",
            rng.below(6),
            1 + rng.below(20),
            3_000 + rng.below(120_000)
        ));
    }
    std::fs::write(dir.join("items.csv"), items).unwrap();
    let mut rows = String::from("user_id,video_id,date,hourmin,time_ms,is_click,is_like,is_follow,is_comment,is_forward,is_hate,long_view,play_time_ms,duration_ms,profile_stay_time,comment_stay_time,is_profile_enter,is_rand,tab\n");
    for user in 0..users {
        let mut at = 1_650_800_000_000.0 + rng.next_f64() * 3.0 * DAY_MS;
        for _ in 0..10 + rng.below(30) {
            at += if rng.below(6) == 0 { 10.0 * 3_600_000.0 } else { (5_000 + rng.below(120_000)) as f64 };
            let flag = |rng: &mut localrank::offline::random::SplitMix64, one_in: usize| {
                u8::from(rng.below(one_in) == 0)
            };
            let (click, like, follow, forward, hate, long) = (
                flag(&mut rng, 3),
                flag(&mut rng, 8),
                flag(&mut rng, 20),
                flag(&mut rng, 20),
                flag(&mut rng, 15),
                flag(&mut rng, 3),
            );
            let play = if rng.below(10) == 0 { 0 } else { rng.below(60_000) };
            rows.push_str(&format!(
                "{user},{},20220425,1800,{at},{click},{like},{follow},0,{forward},{hate},{long},{play},10000,0,0,0,0,1\n",
                rng.below(40)
            ));
        }
    }
    let gz = std::fs::File::create(dir.join("events.csv.gz")).unwrap();
    let mut encoder = flate2::write::GzEncoder::new(gz, flate2::Compression::fast());
    encoder.write_all(rows.as_bytes()).unwrap();
    encoder.finish().unwrap();
    dir
}

/// Parity of the offline replay with the device on the KuaiRand adapter's log: for every
/// request the replay emits, the shipped models' scores from the replay's rows are the scores
/// a `Ranker` gives after recording that user's earlier events as the client does (one batch
/// of columns) and reranking the same candidates.
#[test]
fn the_kuairand_replay_scores_exactly_as_the_device_does() {
    use localrank::columns::EventColumns;
    use localrank::features::Contract;
    use localrank::offline::evaluate::{model_scores, Scoring};
    use localrank::offline::kuairand::{self, KuaiRandProtocol};
    use localrank::offline::log::Log;
    use localrank::offline::replay::{replay, ReplayOptions};

    let protocol = KuaiRandProtocol { validation_from: 0.4, test_from: 0.7, ..KuaiRandProtocol::default() };
    let (events, requests) = kuairand::load(&synthetic_kuairand(40), &protocol).unwrap();
    let log = Log::new(events.clone(), Vec::new(), Some(requests.clone()));
    let mut compared = 0;
    for (onnx, _) in MODEL_PAIRS {
        let bytes = std::fs::read(onnx).unwrap();
        let mut model = ModelRunner::load(&bytes, &[]).unwrap();
        let contract = Contract { name: "replay".into(), ..model.contract().clone() };
        let data = replay(&log, &contract, ReplayOptions::default()).unwrap();
        assert!(data.requests() >= 20, "{onnx}: only {} requests", data.requests());
        let all: Vec<usize> = (0..data.requests()).collect();
        let offline = model_scores(&data, &mut model, &all, Scoring::Device).unwrap();
        for r in all {
            let user = data.user_ids[r] as u32;
            let ordinal = (data.request_ids[r] & 0xFF_FFFF) as usize;
            let request = requests.requests.iter().filter(|q| q.user == user).nth(ordinal).unwrap();
            assert_eq!(request.at, data.timestamps[r]);
            let before: Vec<Event> = events
                .iter()
                .filter(|e| e.user == user && e.event.at < request.at)
                .map(|e| e.event.clone())
                .collect();
            let mut ranker = Ranker::new(&bytes, RankerOptions::default()).unwrap();
            ranker.record_columns(&EventColumns::from_events(&before), request.at).unwrap();
            let rerank = RerankRequest {
                candidates: request.candidates.clone(),
                context: RequestContextInput { now: request.at, utc_offset_minutes: 0.0 },
                ..RerankRequest::default()
            };
            let device = ranker.rerank(&rerank, &Frozen).unwrap();
            assert_eq!(device.scores, offline[r], "{onnx}: request {r}");
            compared += usize::from(device.scores.iter().zip(0..).any(|(&s, k)| s != server_prior(k)));
        }
    }
    assert!(compared >= 10, "only {compared} requests had a local term: the test would not see a difference");
}
