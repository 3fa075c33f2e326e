use std::cell::Cell;

use super::*;
use crate::item::{EventKind, Item};
use crate::signals::decay::DAY_MS;
use crate::test_models::{contract, linear, linear_with};

/// A clock that advances by `step` ms every time it is read.
struct SteppingClock {
    now: Cell<f64>,
    step: f64,
}

impl Clock for SteppingClock {
    fn now_ms(&self) -> f64 {
        let now = self.now.get();
        self.now.set(now + self.step);
        now
    }
}

fn frozen() -> SteppingClock {
    SteppingClock { now: Cell::new(0.0), step: 0.0 }
}
const NOW: f64 = 1.7e12;
const FEATURES: [&str; 3] = ["server.rank", "affinity.topic.pos.7d", "user.similarity"];

fn ranker() -> Ranker {
    Ranker::new(&linear(&FEATURES, &[-1.0, 2.0, 0.5]), RankerOptions::default()).unwrap()
}

fn candidate(id: &str, topic: &str) -> Candidate {
    Candidate {
        item: Item {
            id: id.into(),
            topics: vec![topic.into()],
            embedding: Some(vec![1.0, 0.0]),
            ..Item::default()
        },
        server_score: Some(1.0),
        ..Candidate::default()
    }
}

fn request(candidates: Vec<Candidate>) -> RerankRequest {
    RerankRequest {
        candidates,
        context: RequestContextInput { now: NOW, utc_offset_minutes: 0.0 },
        ..RerankRequest::default()
    }
}

fn five() -> Vec<Candidate> {
    ["a", "b", "c", "d", "e"]
        .iter()
        .zip(["x", "y", "z", "rust", "w"])
        .map(|(id, t)| candidate(id, t))
        .collect()
}

fn like(topic: &str) -> Event {
    let item = Item { id: format!("liked-{topic}"), topics: vec![topic.into()], ..Item::default() };
    Event { kind: EventKind::Like, item, at: NOW - 1000.0, dwell_ms: None }
}

#[test]
fn without_signals_the_server_order_stands() {
    let ranking = ranker().rerank(&request(five()), &frozen()).unwrap();
    assert_eq!(ranking.order, vec![0, 1, 2, 3, 4]);
    assert!(ranking.fallback.is_none());
    let priors: Vec<f32> = (0..5).map(server_prior).collect();
    assert_eq!(ranking.scores, priors, "the local term is exactly 0");
}

#[cfg(not(target_arch = "wasm32"))]
proptest::proptest! {
    /// The do-no-harm form for any model: with no local signals (an empty store) every
    /// candidate scores exactly its server prior, so the order is the server's; and with
    /// signals that bear on no candidate (another topic, no embeddings) the same holds.
    #[test]
    fn no_local_signal_means_the_server_order_for_any_model(
        weights in proptest::collection::vec(-1.0e3f32..1.0e3, 3),
        bias in -1.0e3f32..1.0e3,
        scores in proptest::collection::vec(proptest::option::of(-1.0e6f32..1.0e6), 1..60),
        unrelated_likes in 0usize..3,
    ) {
        let model = linear_with(&weights, 1, bias, Some(&contract(&FEATURES)));
        let mut ranker = Ranker::new(&model, RankerOptions::default()).unwrap();
        let likes: Vec<Event> = (0..unrelated_likes).map(|_| like("elsewhere")).collect();
        ranker.record(&likes, NOW).unwrap();
        let candidates = scores
            .iter()
            .enumerate()
            .map(|(i, &score)| Candidate {
                item: Item { id: format!("c{i}"), topics: vec![format!("t{}", i % 4)], ..Item::default() },
                server_score: score,
                ..Candidate::default()
            })
            .collect();
        let ranking = ranker.rerank(&request(candidates), &frozen()).unwrap();
        proptest::prop_assert!(ranking.fallback.is_none());
        proptest::prop_assert_eq!(ranking.order, (0..scores.len() as u32).collect::<Vec<_>>());
        let priors: Vec<f32> = (0..scores.len()).map(server_prior).collect();
        proptest::prop_assert_eq!(ranking.scores, priors);
    }
}

#[test]
fn a_signal_moves_only_the_candidates_it_bears_on() {
    // A model that would reverse the server's order wherever it may (-10 × rank).
    let mut ranker = Ranker::new(&linear(&FEATURES, &[-10.0, 1.0, 0.0]), RankerOptions::default()).unwrap();
    ranker.record(&[like("rust")], NOW).unwrap();
    let ranking = ranker.rerank(&request(five()), &frozen()).unwrap();
    // Only "d" (topic rust, index 3) has a signal; the rest keep their order and their prior.
    for i in [0, 1, 2, 4] {
        assert_eq!(ranking.scores[i], server_prior(i));
    }
    assert_ne!(ranking.scores[3], server_prior(3));
    let others: Vec<u32> = ranking.order.iter().copied().filter(|&i| i != 3).collect();
    assert_eq!(others, vec![0, 1, 2, 4]);
}

#[test]
fn version_1_contracts_are_refused() {
    let mut old = contract(&FEATURES);
    old.version = 1;
    let error = Ranker::new(&linear_with(&[1.0; 3], 1, 0.0, Some(&old)), RankerOptions::default())
        .map(|_| ())
        .unwrap_err();
    assert_eq!(error.code(), "CONTRACT_MISMATCH");
    assert!(error.to_string().contains("do-no-harm"), "{error}");
}

#[test]
fn a_liked_topic_moves_its_candidate_up() {
    let mut ranker = ranker();
    ranker.record(&[like("rust"), like("rust")], NOW).unwrap();
    let ranking = ranker.rerank(&request(five()), &frozen()).unwrap();
    assert_eq!(ranking.order[0], 3, "{ranking:?}");
}

#[test]
fn same_input_gives_identical_order_and_scores() {
    let mut first = ranker();
    let mut second = ranker();
    for r in [&mut first, &mut second] {
        r.record(&[like("z"), like("rust")], NOW).unwrap();
    }
    let a = first.rerank(&request(five()), &frozen()).unwrap();
    let b = first.rerank(&request(five()), &frozen()).unwrap();
    let c = second.rerank(&request(five()), &frozen()).unwrap();
    assert_eq!(a, b);
    assert_eq!(a, c);
    assert_eq!(
        a.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>(),
        c.scores.iter().map(|s| s.to_bits()).collect::<Vec<_>>()
    );
}

#[test]
fn explanations_attribute_a_linear_score_exactly() {
    let mut ranker = ranker();
    ranker.record(&[like("rust")], NOW).unwrap();
    let mut req = request(five());
    req.explain = true;
    let ranking = ranker.rerank(&req, &frozen()).unwrap();
    let rust = &ranking.explanations[3];
    let contribution = |group| rust.contributions.iter().find(|(g, _)| *g == group).unwrap().1;
    // Without its affinity the candidate has no signal, so no local term at all: the affinity
    // moved it by the whole term, -ln 4 (its rank, weight -1) + 2 × ln(1 + like weight 2
    // decayed by one second at a 7-day half-life).
    let affinity = 2.0 * (2.0f32 * (-1000.0 / (7.0 * 86_400_000.0f32)).exp2()).ln_1p();
    let local = -(4f32.ln()) + affinity;
    assert!((contribution(FeatureGroup::Affinity) - local).abs() < 1e-5, "{rust:?} vs {local}");
    assert!((ranking.scores[3] - (server_prior(3) + local)).abs() < 1e-5);
    let mean_rank_feature = (1..=5).map(|r| (r as f32).ln()).sum::<f32>() / 5.0;
    assert!((contribution(FeatureGroup::Server) - (-(4f32.ln()) + mean_rank_feature)).abs() < 1e-5);
    // A candidate without signals has no local term, so nothing to attribute.
    assert!(ranking.explanations[0].contributions.iter().all(|&(_, c)| c == 0.0));
}

fn fallback_reason(ranker: &mut Ranker, request: &RerankRequest) -> &'static str {
    let ranking = ranker.rerank(request, &frozen()).unwrap();
    assert_eq!(ranking.order, (0..request.candidates.len() as u32).collect::<Vec<_>>(), "server order");
    ranking.fallback.expect("a fallback").reason
}

#[test]
fn bad_requests_fall_back_to_the_server_order_with_a_reason() {
    let mut ranker = ranker();
    let mut duplicate = five();
    duplicate[4].item.id = "a".into();
    let mut missing_id = five();
    missing_id[2].item.id.clear();
    let mut nan_score = five();
    nan_score[1].server_score = Some(f32::NAN);
    let mut inf_popularity = five();
    inf_popularity[1].popularity = Some(f32::INFINITY);
    let mut short_embedding = five();
    short_embedding[3].item.embedding = Some(vec![1.0]);
    let mut huge_embedding = five();
    huge_embedding[0].item.embedding = Some(vec![0.0; 10_000]);
    // Squared and summed in f32, a value this large would make the cosines infinite.
    let mut huge_embedding_value = five();
    huge_embedding_value[2].item.embedding = Some(vec![1.0e20, 0.0]);
    let mut long_id = five();
    long_id[0].item.id = "x".repeat(100_000);
    for (case, candidates) in [
        ("duplicate", duplicate),
        ("missing id", missing_id),
        ("NaN score", nan_score),
        ("infinite popularity", inf_popularity),
        ("embedding length", short_embedding),
        ("huge embedding", huge_embedding),
        ("huge embedding value", huge_embedding_value),
        ("long id", long_id),
    ] {
        assert_eq!(fallback_reason(&mut ranker, &request(candidates)), "INVALID_REQUEST", "{case}");
    }
    let mut bad_time = request(five());
    bad_time.context.now = f64::NAN;
    assert_eq!(fallback_reason(&mut ranker, &bad_time), "INVALID_REQUEST");
}

#[test]
fn empty_list_is_an_empty_ranking() {
    let ranking = ranker().rerank(&request(Vec::new()), &frozen()).unwrap();
    assert!(ranking.order.is_empty() && ranking.fallback.is_none());
}

#[test]
fn a_hundred_thousand_candidates_are_refused_in_server_order() {
    let many: Vec<Candidate> = (0..100_000).map(|i| candidate(&format!("c{i}"), "t")).collect();
    assert_eq!(fallback_reason(&mut ranker(), &request(many)), "TOO_MANY_CANDIDATES");
}

#[test]
fn time_budget_exceeded_falls_back() {
    let options = RankerOptions { time_budget_ms: Some(5.0), ..RankerOptions::default() };
    let mut ranker = Ranker::new(&linear(&FEATURES, &[-1.0, 2.0, 0.5]), options).unwrap();
    let slow = SteppingClock { now: Cell::new(0.0), step: 10.0 };
    let ranking = ranker.rerank(&request(five()), &slow).unwrap();
    assert_eq!(ranking.fallback.unwrap().reason, "TIME_BUDGET_EXCEEDED");
    assert_eq!(ranking.order, vec![0, 1, 2, 3, 4]);
}

#[test]
fn nan_and_wrong_shape_model_outputs_fall_back() {
    let names = contract(&FEATURES);
    let nan = linear_with(&[f32::NAN, 0.0, 0.0], 1, 0.0, Some(&names));
    let infinite = linear_with(&[0.0, 0.0, 0.0], 1, f32::INFINITY, Some(&names));
    let two_columns = linear_with(&[0.0; 6], 2, 0.0, Some(&names));
    for bytes in [nan, infinite, two_columns] {
        let mut ranker = Ranker::new(&bytes, RankerOptions::default()).unwrap();
        assert_eq!(fallback_reason(&mut ranker, &request(five())), "INVALID_MODEL_OUTPUT");
    }
}

#[test]
fn a_request_over_the_memory_budget_falls_back() {
    let mut list = five();
    list.extend((5..1000).map(|i| candidate(&format!("c{i}"), "t")));
    let mut big = request(list);
    assert!(ranker().rerank(&big, &frozen()).unwrap().fallback.is_none(), "fits the default budget");
    // 1000 rows × 3 features × 4 bytes plus the model's intermediates: over 16 KB.
    let options = RankerOptions { memory_budget_bytes: Some(16 << 10), ..RankerOptions::default() };
    let mut small = Ranker::new(&linear(&FEATURES, &[-1.0, 2.0, 0.5]), options).unwrap();
    assert_eq!(fallback_reason(&mut small, &big), "MEMORY_BUDGET_EXCEEDED");
    let fits = |ranker: &mut Ranker, request: &RerankRequest| {
        ranker.rerank(request, &frozen()).unwrap().fallback.is_none()
    };
    assert!(fits(&mut small, &request(five())), "a short list still fits");
    // Explanations score the matrix once more per feature group.
    big.candidates.truncate(500);
    assert!(fits(&mut small, &big));
    big.explain = true;
    assert_eq!(fallback_reason(&mut small, &big), "MEMORY_BUDGET_EXCEEDED");
}

/// A clock that panics, standing in for a bug anywhere inside a rerank.
struct PanickingClock;

impl Clock for PanickingClock {
    fn now_ms(&self) -> f64 {
        panic!("injected fault")
    }
}

#[test]
fn a_panic_inside_a_rerank_falls_back_and_the_ranker_keeps_working() {
    let mut ranker = ranker();
    ranker.record(&[like("rust")], NOW).unwrap();
    let ranking = ranker.rerank(&request(five()), &PanickingClock).unwrap();
    let fallback = ranking.fallback.unwrap();
    assert_eq!(
        (fallback.reason, fallback.message.as_str()),
        ("PANIC", "internal error (a panic was caught): injected fault")
    );
    assert_eq!(ranking.order, vec![0, 1, 2, 3, 4]);
    let after = ranker.rerank(&request(five()), &frozen()).unwrap();
    assert!(after.fallback.is_none());
    assert_eq!(after, ranker.rerank(&request(five()), &frozen()).unwrap(), "same as a healthy ranker");
}

#[test]
fn throw_mode_returns_the_error() {
    let mut ranker = ranker();
    let mut req = request(five());
    req.candidates[0].server_score = Some(f32::NAN);
    req.on_error = Some(OnError::Throw);
    let error = ranker.rerank(&req, &frozen()).unwrap_err();
    assert_eq!(error.code(), "INVALID_REQUEST");
    assert!(error.to_string().contains("serverScore"));
}

#[test]
fn bad_models_are_refused_at_load_with_a_code() {
    let load = |bytes: &[u8]| Ranker::new(bytes, RankerOptions::default()).map(|_| ()).unwrap_err().code();
    let good = linear(&FEATURES, &[1.0, 1.0, 1.0]);
    assert_eq!(load(b""), "INVALID_MODEL");
    assert_eq!(load(b"definitely not onnx"), "INVALID_MODEL");
    assert_eq!(load(&good[..good.len() / 2]), "INVALID_MODEL");
    assert_eq!(load(&linear_with(&[1.0; 3], 1, 0.0, None)), "CONTRACT_MISMATCH");
    let four_names =
        contract(&["server.rank", "server.score.quantile", "user.similarity", "server.age.quantile"]);
    assert_eq!(load(&linear_with(&[1.0; 3], 1, 0.0, Some(&four_names))), "CONTRACT_MISMATCH");
    let unknown = contract(&["server.rank", "server.vibes", "user.similarity"]);
    assert_eq!(load(&linear_with(&[1.0; 3], 1, 0.0, Some(&unknown))), "UNKNOWN_FEATURE");
    // A raw server score is not a feature: it is not scale-free.
    let raw = contract(&["server.rank", "server.score", "user.similarity"]);
    assert_eq!(load(&linear_with(&[1.0; 3], 1, 0.0, Some(&raw))), "UNKNOWN_FEATURE");
}

#[test]
fn bad_options_are_refused() {
    let bytes = linear(&FEATURES, &[1.0, 1.0, 1.0]);
    for options in [
        RankerOptions { max_candidates: 0, ..RankerOptions::default() },
        RankerOptions { time_budget_ms: Some(f64::NAN), ..RankerOptions::default() },
        RankerOptions { memory_budget_bytes: Some(0), ..RankerOptions::default() },
        RankerOptions {
            store: StoreConfig { key_cap: 0, ..StoreConfig::default() },
            ..RankerOptions::default()
        },
    ] {
        assert_eq!(Ranker::new(&bytes, options).map(|_| ()).unwrap_err().code(), "INVALID_OPTIONS");
    }
}

#[test]
fn with_trusted_keys_only_models_signed_by_them_load() {
    use crate::model::bundle::{encode_hex, seal, SigningKey};
    let onnx = linear(&FEATURES, &[1.0, 1.0, 1.0]);
    let signer = SigningKey::from_bytes(&[7; 32]);
    let signer_hex = encode_hex(signer.verifying_key().as_bytes());
    let options = |keys: &[&str]| RankerOptions {
        trusted_keys: keys.iter().map(|k| TrustedKey::from_hex(k).unwrap()).collect(),
        ..RankerOptions::default()
    };
    let signed = seal(&onnx, Some(&signer)).unwrap();
    let loaded = Ranker::new(&signed, options(&[&signer_hex])).unwrap();
    let provenance = &loaded.model_info().provenance;
    assert_eq!(provenance.signed_by.as_deref(), Some(signer_hex.as_str()));
    assert_eq!(provenance.sha256, Ranker::new(&onnx, options(&[])).unwrap().model_info().provenance.sha256);

    let load =
        |bytes: &[u8], keys: &[&str]| Ranker::new(bytes, options(keys)).map(|_| ()).unwrap_err().code();
    assert_eq!(load(&onnx, &[&signer_hex]), "MODEL_UNSIGNED");
    let other = encode_hex(SigningKey::from_bytes(&[8; 32]).verifying_key().as_bytes());
    assert_eq!(load(&signed, &[&other]), "MODEL_UNTRUSTED_KEY");
    let mut tampered = signed.clone();
    *tampered.last_mut().unwrap() ^= 1;
    assert_eq!(load(&tampered, &[&signer_hex]), "MODEL_TAMPERED");
    assert_eq!(load(&tampered, &[]), "MODEL_TAMPERED", "a bundle's digest is checked without keys too");
}

/// Found by `cargo fuzz run model`: tract-hir 0.23.9 panics on the first graph's Squeeze (an
/// axis out of range) while loading it, and tract-core on the second's Gather (a constant
/// index out of range) only when it runs, which the load's one run catches.
#[test]
fn a_model_that_panics_tract_at_load_or_at_its_first_run_is_refused_natively() {
    for bytes in [
        include_bytes!("../../tests/fixtures/fuzz/model-squeeze-axis-panic.onnx").as_slice(),
        include_bytes!("../../tests/fixtures/fuzz/model-gather-index-panic.onnx"),
    ] {
        let error = Ranker::new(bytes, RankerOptions::default()).map(|_| ()).unwrap_err();
        assert_eq!(error.code(), "INVALID_MODEL");
        assert!(error.to_string().contains("tract panicked while loading it"), "{error}");
    }
}

/// Found by the JS-boundary fuzzer (twice): the store must be what its snapshot and the
/// batches recorded since rebuild — a restart, or a module replaced after a trap — whatever the
/// clocks of the calls in between. Reads (reranks, exports) once applied retention, which no
/// journal holds, so a client whose clock went back held less than its restart.
#[test]
fn the_store_is_what_its_snapshot_and_batches_rebuild_whatever_the_reads_said() {
    let mut live = ranker();
    let behind = NOW - 100.0 * DAY_MS;
    let checkpoint = live.store().snapshot();
    let batches = [(like("now"), NOW), (like("later"), NOW + 100.0 * DAY_MS), (like("behind"), behind)];
    for (i, (event, now)) in batches.iter().enumerate() {
        live.record(std::slice::from_ref(event), *now).unwrap();
        live.rerank(&request(five()), &frozen()).unwrap();
        live.export_signals(NOW + (i as f64 + 1.0) * 300.0 * DAY_MS).unwrap();
    }
    let mut rebuilt = ranker();
    rebuilt.store_mut().restore(&checkpoint, behind).unwrap();
    for (event, now) in &batches {
        rebuilt.record(std::slice::from_ref(event), *now).unwrap();
    }
    // (The head's shown lists come from the reranks, which the rebuild did not run: the client
    // keeps them with its checkpoints, README "On-device learning".)
    let held = live.export_signals(NOW).unwrap();
    assert_eq!(
        held,
        SignalExport { learning: held.learning.clone(), ..rebuilt.export_signals(NOW).unwrap() }
    );
    let mut restarted = ranker();
    restarted.store_mut().restore(&live.store().snapshot(), behind).unwrap();
    assert_eq!(live.export_signals(NOW).unwrap(), restarted.export_signals(NOW).unwrap());
    // "behind" is 100 days older than the store's timeline; no batch since agreed it is that
    // late, so it is kept — as it would be on a device whose clock went back.
    assert!(live.export_signals(NOW).unwrap().keys.iter().any(|k| k.key.contains("behind")));
}
