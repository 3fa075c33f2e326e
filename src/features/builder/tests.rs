use super::*;
use crate::item::{Event, EventKind, Item};
use crate::signals::StoreConfig;

fn contract(features: &[&str]) -> Contract {
    Contract {
        version: 1,
        name: "test".into(),
        features: features.iter().map(|f| f.to_string()).collect(),
        server_blend: 0.0,
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
    let candidates = [candidate("a", &[], 0.25), candidate("b", &[], 0.5)];
    let now = 10.0 * HOUR_MS;
    let m =
        build(&["server.score", "server.rank", "server.popularity", "server.age"], &candidates, &store, now);
    let expected = [0.25, 0.0, 100f64.ln(), 11f64.ln(), 0.5, 2f64.ln(), 100f64.ln(), 11f64.ln()];
    for (got, want) in m.iter().zip(expected) {
        assert!((f64::from(*got) - want).abs() < 1e-6, "{m:?}");
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
    assert!((a[2] - 0.5).abs() < 1e-6, "half of the user's positive mass is on one of two topics");
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
    let error = FeatureBuilder::new(&contract(&["server.score", "server.horoscope"])).unwrap_err();
    assert_eq!(error.code(), "UNKNOWN_FEATURE");
    assert!(error.to_string().contains("server.horoscope"));
}
