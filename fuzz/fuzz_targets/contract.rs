//! Contract JSON (the metadata a model carries): refused with a code, or a feature builder
//! whose matrix has the promised shape and only finite values.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrank::features::{Contract, FeatureBuilder, RequestContext};
use localrank::item::{Candidate, Event, EventKind, Item};
use localrank::signals::{SignalStore, StoreConfig};

const NOW: f64 = 1.7e12;

fuzz_target!(|data: &[u8]| {
    let Ok(json) = std::str::from_utf8(data) else { return };
    let Ok(contract) = Contract::from_json(json) else { return };
    let Ok(builder) = FeatureBuilder::new(&contract) else { return };
    let item = |id: &str| Item {
        id: id.into(),
        author: Some("a".into()),
        containers: vec!["g".into()],
        topics: vec!["t".into()],
        embedding: Some(vec![0.6, 0.8]),
    };
    let mut store = SignalStore::new(StoreConfig::default()).unwrap();
    store
        .record(&[Event { kind: EventKind::Like, item: item("liked"), at: NOW - 1e6, dwell_ms: None }], NOW)
        .unwrap();
    let candidates: Vec<Candidate> = ["a", "b", "liked"]
        .iter()
        .map(|id| Candidate { item: item(id), server_score: Some(0.5), ..Candidate::default() })
        .collect();
    let mut matrix = Vec::new();
    builder.build_into(
        &candidates,
        &store,
        &RequestContext { now: NOW, utc_offset_minutes: 60.0 },
        &mut matrix,
    );
    assert_eq!(matrix.len(), candidates.len() * builder.width());
    assert!(matrix.iter().all(|v| v.is_finite()), "{matrix:?}");
});
