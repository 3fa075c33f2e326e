use super::*;
use crate::item::{Event, EventKind, Item};
use crate::signals::StoreConfig;

fn contract(features: &[&str]) -> Contract {
    Contract {
        version: 2,
        name: "test".into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        learning: Default::default(),
    }
}

fn candidate(id: &str, topics: &[&str], score: f32) -> Candidate {
    Candidate {
        item: Item {
            id: id.into(),
            author: Some("ann".into()),
            topics: topics.iter().map(|t| t.to_string()).collect(),
            embedding: Some(vec![1.0, 0.0]),
            ..Item::default()
        },
        server_score: Some(score),
        popularity: Some(99.0),
        created_at: Some(0.0),
        duration_ms: None,
        pinned: false,
    }
}

fn build(features: &[&str], candidates: &[Candidate], store: &SignalStore, now: f64) -> Vec<f32> {
    let builder = FeatureBuilder::new(&contract(features)).unwrap();
    let mut out = vec![123.0]; // stale content must be cleared
    builder.build_into(candidates, store, &RequestContext { now, utc_offset_minutes: 0.0 }, &mut out);
    assert_eq!(out.len(), candidates.len() * features.len());
    out
}

#[test]
fn server_features_follow_their_formulas() {
    let store = SignalStore::new(StoreConfig::default()).unwrap();
    let now = 10.0 * HOUR_MS;
    let mut candidates: Vec<Candidate> =
        [0.25, 0.5, 0.5, 0.1].iter().map(|&score| candidate("x", &[], score)).collect();
    for (i, c) in candidates.iter_mut().enumerate() {
        c.item.id = format!("c{i}");
        c.popularity = [Some(5.0), None, Some(1.0), Some(9.0)][i];
        c.created_at = Some([3.0, 1.0, 2.0, 0.0][i] * HOUR_MS);
    }
    let features =
        ["server.rank", "server.score.quantile", "server.popularity.quantile", "server.age.quantile"];
    let m = build(&features, &candidates, &store, now);
    // Mid-rank quantiles: (values below + half the equal ones + 1/2) / how many have one.
    let expected = [
        [0.0, 3.0 / 8.0, 3.0 / 6.0, 1.0 / 8.0],
        [2f64.ln(), 6.0 / 8.0, 0.0, 5.0 / 8.0],
        [3f64.ln(), 6.0 / 8.0, 1.0 / 6.0, 3.0 / 8.0],
        [4f64.ln(), 1.0 / 8.0, 5.0 / 6.0, 7.0 / 8.0],
    ];
    for (got, want) in m.iter().zip(expected.iter().flatten()) {
        assert!((f64::from(*got) - want).abs() < 1e-6, "{m:?}");
    }
}

#[cfg(not(target_arch = "wasm32"))]
proptest::proptest! {
    /// Only the order of the server's numbers reaches the model: scaling them, or any
    /// increasing map of them, gives the same features bit for bit.
    #[test]
    fn server_features_are_scale_free(
        scores in proptest::collection::vec(proptest::option::of(-1.0e3f32..1.0e3), 1..40),
        factor in proptest::sample::select(vec![0.01f32, 1.0, 100.0]),
    ) {
        let store = SignalStore::new(StoreConfig::default()).unwrap();
        let list = |map: &dyn Fn(f32) -> f32| -> Vec<Candidate> {
            scores
                .iter()
                .enumerate()
                .map(|(i, s)| Candidate {
                    item: Item { id: format!("c{i}"), ..Item::default() },
                    server_score: s.map(map),
                    popularity: s.map(|s| map(s.abs())),
                    ..Candidate::default()
                })
                .collect()
        };
        let features = ["server.rank", "server.score.quantile", "server.popularity.quantile"];
        let plain = build(&features, &list(&|s| s), &store, 0.0);
        proptest::prop_assert_eq!(&build(&features, &list(&|s| s * factor), &store, 0.0), &plain);
        proptest::prop_assert_eq!(&build(&features, &list(&|s| s.signum() * s.abs().sqrt() + s * s * s), &store, 0.0), &plain);
    }
}

#[test]
fn local_signals_become_affinity_share_recency_fatigue_and_similarity() {
    let mut store = SignalStore::new(StoreConfig::default()).unwrap();
    let liked = Item {
        id: "x".into(),
        topics: vec!["rust".into()],
        embedding: Some(vec![1.0, 0.0]),
        ..Item::default()
    };
    let seen = Item { id: "y".into(), topics: vec!["go".into()], ..Item::default() };
    let events = [
        Event { kind: EventKind::Like, item: liked, at: 0.0, dwell_ms: None },
        Event { kind: EventKind::Impression, item: seen.clone(), at: 0.0, dwell_ms: None },
        Event { kind: EventKind::Dismiss, item: seen, at: 0.0, dwell_ms: None },
    ];
    store.record(&events, 0.0).unwrap();
    let features = [
        "affinity.topic.pos.1d",
        "affinity.topic.neg.1d",
        "share.topic.1d",
        "recency.topic",
        "fatigue.topic",
        "user.similarity",
        "user.activity.1d",
    ];
    let now = DAY_MS;
    let candidates = [candidate("a", &["rust", "web"], 0.0), candidate("b", &["go"], 0.0)];
    let m = build(&features, &candidates, &store, now);
    let (a, b) = m.split_at(features.len());
    // One like (weight 2) a day ago on one of two topics: mean 0.5 × 2 × ½.
    assert!((a[0] - (0.5f32).ln_1p()).abs() < 1e-6, "{a:?}");
    assert_eq!(a[1], 0.0);
    assert!((a[2] - 0.25).abs() < 1e-6, "a mean of 1 and 0 over the user's total 1, plus one");
    assert!((a[3] - 0.5).abs() < 1e-6, "one day ago");
    assert_eq!(a[4], 0.0);
    assert!((a[5] - 1.0).abs() < 1e-6, "same direction as the user vector");
    assert!((a[6] - 1f32.ln_1p()).abs() < 1e-6);
    assert_eq!(b[0], 0.0);
    assert!((b[1] - 0.5f32.ln_1p()).abs() < 1e-6);
    assert_eq!(b[3], 0.0, "never engaged positively");
    assert!((b[4] - 0.5f32.ln_1p()).abs() < 1e-6, "one impression, decayed a day");
}

#[test]
fn time_of_day_uses_the_utc_offset() {
    let store = SignalStore::new(StoreConfig::default()).unwrap();
    let builder = FeatureBuilder::new(&contract(&["context.hour_sin", "context.hour_cos"])).unwrap();
    let mut out = Vec::new();
    // 00:00 UTC is 06:00 at +360 minutes: a quarter turn.
    let context = RequestContext { now: 0.0, utc_offset_minutes: 360.0 };
    builder.build_into(&[candidate("a", &[], 0.0)], &store, &context, &mut out);
    assert!((out[0] - 1.0).abs() < 1e-6 && out[1].abs() < 1e-6, "{out:?}");
}

#[test]
fn unknown_feature_fails_at_compile_with_its_name() {
    let error = FeatureBuilder::new(&contract(&["server.rank", "server.horoscope"])).unwrap_err();
    assert_eq!(error.code(), "UNKNOWN_FEATURE");
    assert!(error.to_string().contains("server.horoscope"));
}

fn embedded(id: &str, embedding: [f32; 2]) -> Item {
    Item { id: id.into(), embedding: Some(embedding.to_vec()), ..Item::default() }
}

fn with_embedding(id: &str, embedding: [f32; 2]) -> Candidate {
    let mut c = candidate(id, &[], 0.0);
    c.item.embedding = Some(embedding.to_vec());
    c
}

#[test]
fn recent_similarities_follow_their_definitions() {
    let mut store = SignalStore::new(StoreConfig::default()).unwrap();
    let like = |item, at| Event { kind: EventKind::Like, item, at, dwell_ms: None };
    let events = [
        like(embedded("x", [1.0, 0.0]), 0.0),
        like(embedded("y", [0.0, 2.0]), 1000.0),
        Event { kind: EventKind::Dismiss, item: embedded("z", [-1.0, 0.0]), at: 500.0, dwell_ms: None },
        // Neither a dismissal nor an impression joins the recent positives.
        Event { kind: EventKind::Impression, item: embedded("w", [1.0, 1.0]), at: 2000.0, dwell_ms: None },
    ];
    store.record(&events, 2000.0).unwrap();
    let features = ["recent.similarity.max.4", "recent.similarity.last", "recent.similarity.mean.4"];
    let candidates =
        [with_embedding("a", [1.0, 0.0]), with_embedding("b", [1.0, 1.0]), candidate("c", &[], 0.0)];
    let mut no_embedding = candidate("d", &[], 0.0);
    no_embedding.item.embedding = None;
    let m = build(&features, &[candidates[0].clone(), candidates[1].clone(), no_embedding], &store, 3000.0);
    let close = |got: f32, want: f32| (got - want).abs() < 1e-6;
    // a = x exactly; the newest like is y, orthogonal to a.
    let (a, rest) = m.split_at(features.len());
    let (b, d) = rest.split_at(features.len());
    assert!(close(a[0], 1.0) && close(a[1], 0.0) && close(a[2], 0.5), "mean of 1 and 0: {a:?}");
    let half = 0.5f32.sqrt();
    assert!(close(b[0], half) && close(b[1], half) && close(b[2], half), "{b:?}");
    assert_eq!(d, &[0.0; 3], "no embedding, no similarity");

    // An empty store gives no similarity at all.
    let empty = SignalStore::new(StoreConfig::default()).unwrap();
    assert!(build(&features, &candidates, &empty, 3000.0).iter().all(|&v| v == 0.0));
}

#[test]
fn recent_similarity_reads_only_the_newest_positives() {
    let mut store = SignalStore::new(StoreConfig::default()).unwrap();
    // One like along x, then RECENT_CAPACITY likes along y: x falls out of the ring, though it
    // still weighs in the 30-day user vector.
    let mut events =
        vec![Event { kind: EventKind::Like, item: embedded("x", [1.0, 0.0]), at: 0.0, dwell_ms: None }];
    for k in 0..crate::signals::RECENT_CAPACITY {
        let at = 1000.0 * (k as f64 + 1.0);
        events.push(Event {
            kind: EventKind::Click,
            item: embedded(&format!("y{k}"), [0.0, 1.0]),
            at,
            dwell_ms: None,
        });
    }
    store.record(&events, 1.0e6).unwrap();
    let features = ["recent.similarity.max.32", "recent.similarity.max.4", "user.similarity"];
    let m = build(&features, &[with_embedding("a", [1.0, 0.0])], &store, 1.0e6);
    assert!(m[0].abs() < 1e-6 && m[1].abs() < 1e-6, "{m:?}");
    assert!(m[2] > 0.0, "{m:?}");

    // With one more like along x, only it is among the newest four, and the best match.
    let x = Event { kind: EventKind::Like, item: embedded("x2", [1.0, 0.0]), at: 2.0e6, dwell_ms: None };
    store.record(&[x], 2.0e6).unwrap();
    let m = build(&features, &[with_embedding("a", [1.0, 0.0])], &store, 2.0e6);
    assert!((m[0] - 1.0).abs() < 1e-6 && (m[1] - 1.0).abs() < 1e-6, "{m:?}");
}

/// The fuzzed case that drove a model's output to −∞: engagement recorded under one clock, a
/// batch recorded 1.4 years later (the user totals, decayed to it, nearly vanish), then a
/// request at the first clock. The topic's old engagement over the totals was 3·10²⁰.
#[test]
fn a_share_stays_a_share_after_the_clock_steps_back() {
    let mut store = SignalStore::new(StoreConfig::default()).unwrap();
    let now = 1.7e12;
    let liked = Item { id: "x".into(), topics: vec!["t".into()], ..Item::default() };
    let like = |at: f64| Event { kind: EventKind::Like, item: liked.clone(), at, dwell_ms: None };
    store.record(&[like(now - DAY_MS), like(now)], now).unwrap();
    let later = now + 500.0 * DAY_MS;
    let hide = Event {
        kind: EventKind::Hide,
        item: Item { id: "y".into(), ..Item::default() },
        at: later,
        dwell_ms: None,
    };
    store.record(&[hide], later).unwrap();
    let back = build(&["share.topic.7d"], &[candidate("a", &["t"], 0.0)], &store, now);
    assert_eq!(back, [1.0], "all of the user's engagement is on t");
}

/// A plain ratio stayed at 1 while one like decayed to nothing: the shipped model then lifted
/// a post liked 68 days ago more than one liked today.
#[test]
fn a_share_fades_as_its_engagement_decays() {
    let mut store = SignalStore::new(StoreConfig::default()).unwrap();
    let liked = Item { id: "x".into(), topics: vec!["t".into()], ..Item::default() };
    store.record(&[Event { kind: EventKind::Like, item: liked, at: 0.0, dwell_ms: None }], 0.0).unwrap();
    let share =
        |days: f64| build(&["share.topic.7d"], &[candidate("a", &["t"], 0.0)], &store, days * DAY_MS)[0];
    assert!((share(0.0) - 2.0 / 3.0).abs() < 1e-6, "a like (2) over the total (2) plus one");
    let shares: Vec<f32> = [0.0, 1.0, 7.0, 30.0, 68.0].map(share).to_vec();
    assert!(shares.windows(2).all(|w| w[1] < w[0]), "{shares:?}");
    assert!(shares[4] < 0.01, "{shares:?}");
}

#[cfg(not(target_arch = "wasm32"))]
proptest::proptest! {
    /// Whatever is recorded under whatever clocks (jumping ahead years, stepping back, events
    /// dated anywhere), every feature of the vocabulary stays within its range.
    #[test]
    fn every_feature_stays_in_its_range_under_any_clock(
        batches in proptest::collection::vec(
            (
                proptest::collection::vec(
                    (0usize..7, 0usize..4, 0usize..3, -3.0e10f64..3.0e10, proptest::option::of(0.0f64..4.0e6)),
                    1..12,
                ),
                -3.0e10f64..3.0e10,
            ),
            1..8,
        ),
        request_offset in -3.0e10f64..3.0e10,
    ) {
        let base = 1.7e12;
        let mut store = SignalStore::new(StoreConfig::default()).unwrap();
        let item = |i: usize, topic: usize| Item {
            id: format!("i{i}"),
            author: Some(format!("a{}", i % 2)),
            containers: vec![format!("c{topic}")],
            topics: vec![format!("t{topic}")],
            embedding: Some(vec![(i as f32 + 1.0) * 0.3, topic as f32 - 1.0]),
        };
        for (events, now) in &batches {
            let events: Vec<Event> = events
                .iter()
                .map(|&(kind, i, topic, at, dwell)| Event {
                    kind: EventKind::ALL[kind],
                    item: item(i, topic),
                    at: base + at,
                    dwell_ms: (EventKind::ALL[kind] == EventKind::Dwell).then(|| dwell.unwrap_or(1.0)),
                })
                .collect();
            let _ = store.record(&events, base + now);
        }
        let names = Feature::all_names();
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        let candidates: Vec<Candidate> = (0..5)
            .map(|i| Candidate { item: item(i, i % 3), duration_ms: Some(i as f64 * 7_000.0), ..Candidate::default() })
            .collect();
        let matrix = build(&names, &candidates, &store, base + request_offset);
        for (at, &value) in matrix.iter().enumerate() {
            let name = names[at % names.len()];
            proptest::prop_assert!(Feature::parse(name).unwrap().admits(value), "{name} = {value}");
        }
    }
}
