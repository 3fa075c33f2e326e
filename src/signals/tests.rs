use super::decay::{DAY_MS, HALF_LIVES};
use super::*;
use crate::columns::EventColumns;
use crate::item::{EventKind, Item, DWELL_UNIT_MS, MAX_DWELL_MS, MAX_EMBEDDING_VALUE};
use crate::learning::{item_hash, Learner, LearningConfig, PersonalModel, ShownList};

fn item(id: &str, topics: &[&str]) -> Item {
    Item {
        id: id.into(),
        author: Some(format!("author-{id}")),
        containers: vec!["guild-1".into()],
        topics: topics.iter().map(|t| t.to_string()).collect(),
        embedding: None,
    }
}

fn event(kind: EventKind, item: Item, at: f64) -> Event {
    let dwell_ms = (kind == EventKind::Dwell).then_some(60_000.0);
    Event { kind, item, at, dwell_ms }
}

fn store() -> SignalStore {
    SignalStore::new(StoreConfig::default()).unwrap()
}

#[test]
fn records_every_key_family_and_the_totals() {
    let mut store = store();
    let at = 1.0e12;
    let summary = store.record(&[event(EventKind::Like, item("a", &["rust", "wasm"]), at)], at).unwrap();
    assert_eq!(summary, RecordSummary { recorded: 1, expired: 0, clamped: 0 });
    assert_eq!(store.key_count(), 5); // item, author, container, two topics
    let rust = store.key(Family::Topic, "rust").unwrap();
    assert_eq!(rust.count_at(EventKind::Like, 0, at), 1.0);
    assert!((rust.count_at(EventKind::Like, 1, at + DAY_MS) - 0.5).abs() < 1e-6);
    assert_eq!(store.totals().unwrap().count_at(EventKind::Like, 3, at), 1.0);
}

#[test]
fn dwell_counts_in_units_of_thirty_seconds() {
    let mut store = store();
    store.record(&[event(EventKind::Dwell, item("a", &[]), 0.0)], 0.0).unwrap();
    let stats = store.key(Family::Item, "a").unwrap();
    assert_eq!(stats.count_at(EventKind::Dwell, 0, 0.0), 2.0);
}

#[test]
fn dwell_past_half_an_hour_counts_as_half_an_hour() {
    let mut store = store();
    for dwell_ms in [MAX_DWELL_MS, 1.0e300] {
        let dwell = Event { dwell_ms: Some(dwell_ms), ..event(EventKind::Dwell, item("a", &[]), 0.0) };
        store.record(&[dwell], 0.0).unwrap();
    }
    let stats = store.key(Family::Item, "a").unwrap();
    assert_eq!(stats.count_at(EventKind::Dwell, 0, 0.0), 2.0 * MAX_DWELL_MS / DWELL_UNIT_MS);
}

/// Whatever valid events it records, the store holds only finite values, so its snapshot
/// restores: a snapshot the store cannot read back would lose every signal. (Found by the
/// `record` fuzzer: a dwell of 1e97 ms overflowed the f32 counters to infinity.)
#[test]
fn the_largest_valid_values_leave_a_store_that_restores() {
    let mut store = store();
    let mut extreme = item("a", &["rust"]);
    extreme.embedding = Some(vec![MAX_EMBEDDING_VALUE, -MAX_EMBEDDING_VALUE]);
    let at = 1.0e12;
    let batch: Vec<Event> = (0..1000)
        .map(|i| Event {
            dwell_ms: Some(f64::MAX),
            ..event(EventKind::Dwell, extreme.clone(), at + f64::from(i))
        })
        .chain([
            event(EventKind::Share, extreme.clone(), at),
            event(EventKind::Like, extreme.clone(), 1.0e15),
        ])
        .collect();
    store.record(&batch, at).unwrap();
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&store.snapshot(), at).unwrap();
    assert_eq!(restored, store);
}

#[test]
fn a_bad_event_rejects_the_whole_batch() {
    let mut store = store();
    let good = event(EventKind::Click, item("a", &[]), 10.0);
    let bad = event(EventKind::Click, item("", &[]), 10.0);
    let nan_time = event(EventKind::Click, item("b", &[]), f64::NAN);
    for batch in [vec![good.clone(), bad], vec![good.clone(), nan_time]] {
        let error = store.record(&batch, 10.0).unwrap_err();
        assert_eq!(error.code(), "INVALID_EVENT");
        assert_eq!(store.key_count(), 0);
    }
    let mut dwell_without_duration = event(EventKind::Dwell, item("a", &[]), 1.0);
    dwell_without_duration.dwell_ms = None;
    assert_eq!(store.record(&[dwell_without_duration], 1.0).unwrap_err().code(), "INVALID_EVENT");
}

#[test]
fn embeddings_of_different_lengths_are_rejected() {
    let mut store = store();
    let mut first = item("a", &[]);
    first.embedding = Some(vec![1.0, 0.0]);
    store.record(&[event(EventKind::Like, first, 0.0)], 0.0).unwrap();
    let mut second = item("b", &[]);
    second.embedding = Some(vec![1.0, 0.0, 0.0]);
    let error = store.record(&[event(EventKind::Like, second, 0.0)], 0.0).unwrap_err();
    assert!(error.to_string().contains("embedding length 3 differs from 2"), "{error}");
}

#[test]
fn embedding_values_past_the_bound_are_rejected() {
    let mut store = store();
    let mut huge = item("a", &[]);
    huge.embedding = Some(vec![1.0, -2.0 * MAX_EMBEDDING_VALUE]);
    let error = store.record(&[event(EventKind::Like, huge, 0.0)], 0.0).unwrap_err();
    assert_eq!(error.code(), "INVALID_EVENT");
    assert!(error.to_string().contains("beyond ±1e6"), "{error}");
}

#[test]
fn user_vector_is_a_decayed_weighted_mean() {
    let mut store = store();
    let mut a = item("a", &[]);
    a.embedding = Some(vec![1.0, 0.0]);
    let mut b = item("b", &[]);
    b.embedding = Some(vec![0.0, 1.0]);
    let month = 30.0 * DAY_MS;
    store.record(&[event(EventKind::Click, a, 0.0), event(EventKind::Click, b, month)], month).unwrap();
    let vector = store.user_vector().unwrap();
    // The first click has decayed by one half-life by the time of the second.
    assert!((vector.sum[0] - 0.5).abs() < 1e-6 && (vector.sum[1] - 1.0).abs() < 1e-6);
    assert!((vector.weight - 1.5).abs() < 1e-6);
    assert!(vector.cosine(&[0.0, 1.0]) > vector.cosine(&[1.0, 0.0]));
}

#[test]
fn session_vector_decays_in_an_hour_and_survives_a_snapshot() {
    let mut store = store();
    let mut a = item("a", &[]);
    a.embedding = Some(vec![1.0, 0.0]);
    let mut b = item("b", &[]);
    b.embedding = Some(vec![0.0, 1.0]);
    let hour = DAY_MS / 24.0;
    store.record(&[event(EventKind::Click, a, 0.0), event(EventKind::Click, b, hour)], hour).unwrap();
    let session = store.session_vector().unwrap();
    // The first click has decayed by one (one-hour) half-life by the time of the second.
    assert!((session.sum[0] - 0.5).abs() < 1e-6 && (session.sum[1] - 1.0).abs() < 1e-6);
    assert!((session.weight - 1.5).abs() < 1e-6);
    // The 30-day user vector has barely decayed the first click.
    assert!(store.user_vector().unwrap().sum[0] > 0.99);
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&store.snapshot(), hour).unwrap();
    assert_eq!(restored.session_vector(), store.session_vector());
}

#[test]
fn key_cap_evicts_the_weakest_keys() {
    let mut store = SignalStore::new(StoreConfig { key_cap: 100, ..StoreConfig::default() }).unwrap();
    let strong = Item { id: "strong".into(), ..Item::default() };
    let likes: Vec<Event> = (0..5).map(|_| event(EventKind::Like, strong.clone(), 0.0)).collect();
    store.record(&likes, 0.0).unwrap();
    for i in 0..1000 {
        let weak = Item { id: format!("weak-{i}"), ..Item::default() };
        store.record(&[event(EventKind::Impression, weak, 1.0)], 1.0).unwrap();
        assert!(store.key_count() <= 100);
    }
    assert!(store.key(Family::Item, "strong").is_some(), "the strongest key survives the flood");
    assert!(store.key_count() >= 90);
}

/// One impression per id, all at the same time: keys of equal strength.
fn impressions_at_one_time(ids: impl Iterator<Item = String>) -> Vec<Event> {
    ids.map(|id| event(EventKind::Impression, Item { id, ..Item::default() }, 1.0)).collect()
}

#[test]
fn ties_at_the_key_cap_are_evicted_in_key_order() {
    let mut store = SignalStore::new(StoreConfig { key_cap: 10, ..StoreConfig::default() }).unwrap();
    // Equally strong keys: which go depends on their names only, never on hash order.
    let flood = impressions_at_one_time((0..20).map(|i| format!("k{i:02}")));
    store.record(&flood, 1.0).unwrap();
    let mut kept: Vec<&str> = store.keys[Family::Item.index()].keys().map(String::as_str).collect();
    kept.sort_unstable();
    let newest: Vec<String> = (20 - kept.len()..20).map(|i| format!("k{i:02}")).collect();
    assert_eq!(kept, newest, "the first names go first");
}

/// Found by `cargo fuzz run record`: an event with an empty container was stored, and its
/// snapshot then failed to restore.
#[test]
fn empty_keys_are_refused_and_old_snapshots_holding_one_still_restore() {
    let mut store = store();
    let mut with_empty = item("a", &["rust"]);
    with_empty.containers.push(String::new());
    let error = store.record(&[event(EventKind::Click, with_empty, 1.0)], 1.0).unwrap_err();
    assert_eq!(error.code(), "INVALID_EVENT");
    assert!(error.to_string().contains("an empty container key"), "{error}");
    assert_eq!(store.key_count(), 0);
    // What an earlier version could persist: the empty key is dropped, the rest restores.
    let mut old = populated_store();
    old.keys[Family::Container.index()].insert(String::new(), KeyStats::new(1.0));
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&old.snapshot(), 10_000.0).unwrap();
    assert_eq!(restored.key_count(), old.key_count() - 1);
    assert!(restored.key(Family::Container, "").is_none());
}

#[test]
fn one_huge_batch_never_holds_more_keys_than_the_cap() {
    let mut store = SignalStore::new(StoreConfig { key_cap: 100, ..StoreConfig::default() }).unwrap();
    let flood = impressions_at_one_time((0..10_000).map(|i| format!("k{i}")));
    store.record(&flood, 1.0).unwrap();
    assert!(store.key_count() <= 100);
    // The map's capacity shows its peak size during the batch.
    let capacity = store.keys[Family::Item.index()].capacity();
    assert!(capacity < 1_000, "the batch grew the map to {capacity} slots");
}

#[test]
fn retention_drops_old_events_and_keys() {
    let config = StoreConfig { retention_ms: 10.0 * DAY_MS, ..StoreConfig::default() };
    let mut store = SignalStore::new(config).unwrap();
    let now = 100.0 * DAY_MS;
    let old = event(EventKind::Click, item("old", &[]), now - 11.0 * DAY_MS);
    let recent = event(EventKind::Click, item("recent", &[]), now - 9.0 * DAY_MS);
    let summary = store.record(&[old, recent], now).unwrap();
    assert_eq!(summary, RecordSummary { recorded: 1, expired: 1, clamped: 0 });
    assert!(store.key(Family::Item, "old").is_none());
    // Two days later a new event; once a later batch agrees it is that late, "recent" (now 11
    // days old) goes.
    let later = now + 2.0 * DAY_MS;
    let fresh = Item { author: None, containers: vec![], ..item("fresh", &[]) };
    store.record(&[event(EventKind::Click, fresh.clone(), later)], later).unwrap();
    assert!(store.key(Family::Item, "recent").is_some(), "one batch alone deletes nothing");
    store.record(&[event(EventKind::Impression, fresh, later)], later).unwrap();
    assert!(store.key(Family::Item, "recent").is_none());
    assert_eq!(store.key_count(), 1);
    assert_eq!(store.totals().unwrap().last_seen_at, later);
    assert_eq!(store.retained_at(), later);
}

#[test]
fn a_batch_that_stores_nothing_changes_nothing() {
    let mut store = populated_store();
    let later = 10_000.0 + 200.0 * DAY_MS;
    store.record(&[event(EventKind::Click, item("later", &[]), later)], later).unwrap();
    let before = store.clone();
    // It would apply retention at `later` if it stored an event; it stores none (the client
    // journals only batches that store something, and a restart replays only those).
    let summary = store.record(&[event(EventKind::Click, item("old", &[]), 1_000.0)], later).unwrap();
    assert_eq!(summary, RecordSummary { recorded: 0, expired: 1, clamped: 0 });
    assert_eq!(store.record(&[], later).unwrap(), RecordSummary::default());
    assert_eq!(store, before);
}

#[test]
fn retention_is_applied_at_most_hourly_and_never_moves_back() {
    let config = StoreConfig { retention_ms: DAY_MS, ..StoreConfig::default() };
    let mut store = SignalStore::new(config).unwrap();
    let hour = HALF_LIVES[0].ms;
    let click = |id: &str, at: f64| {
        event(EventKind::Click, Item { author: None, containers: vec![], ..item(id, &[]) }, at)
    };
    let record = |store: &mut SignalStore, at: f64| store.record(&[click("z", at)], at).unwrap();
    let start = 10.0 * DAY_MS;
    store.record(&[click("a", start)], start).unwrap();
    // Each time twice: a batch moves retention up to the newest event held before it.
    for at in [start + DAY_MS - 0.5 * hour, start + DAY_MS - 0.5 * hour] {
        record(&mut store, at);
    }
    assert_eq!(store.retained_at(), start + DAY_MS - 0.5 * hour);
    for at in [start + DAY_MS + 0.25 * hour, start + DAY_MS + 0.25 * hour] {
        record(&mut store, at);
    }
    assert!(
        store.key(Family::Item, "a").is_some(),
        "past the limit, but the timeline moved on by less than an hour"
    );
    for at in [start + DAY_MS + 0.75 * hour, start + DAY_MS + 0.75 * hour] {
        record(&mut store, at);
    }
    assert!(store.key(Family::Item, "a").is_none(), "an hour on");
    // A batch under a clock far behind does not move it back, and keeps nothing older.
    let retained_at = store.retained_at();
    let behind = start - 5.0 * DAY_MS;
    let summary = store.record(&[click("behind", behind)], behind).unwrap();
    assert_eq!(summary.expired, 1, "older than the limit before the time retention was applied at");
    assert_eq!(store.retained_at(), retained_at);
}

#[test]
fn a_clock_far_ahead_deletes_nothing() {
    let mut store = populated_store();
    let before = store.clone();
    let far = 10_000.0 + 100.0 * DAY_MS;
    assert_eq!(
        store.export(far).unwrap().keys.len(),
        before.key_count(),
        "a read 100 days ahead hides nothing"
    );
    store.restore(&before.snapshot(), far).unwrap();
    assert_eq!(store, before, "nor does a restore that says so delete anything");
    // A batch dated 100 days ahead is not deleted data: recording it deletes nothing either,
    // and a later batch that agrees applies retention.
    let ahead = event(EventKind::Click, item("ahead", &[]), far);
    store.record(std::slice::from_ref(&ahead), far).unwrap();
    assert_eq!(store.key_count(), before.key_count() + 2, "the new item and author");
    store.record(&[ahead], far).unwrap();
    assert_eq!(store.key_count(), 3, "only its item, author and container (shared, touched again) are newer");
}

#[test]
fn events_dated_far_after_now_are_recorded_at_now() {
    let mut store = store();
    let now = 1.0e12;
    let five_years = 5.0 * 365.0 * DAY_MS;
    let skewed = event(EventKind::Like, item("skew", &[]), now + 0.5 * FUTURE_SLACK_MS);
    let ahead = event(EventKind::Like, item("a", &[]), now + five_years);
    let summary = store.record(&[skewed, ahead], now).unwrap();
    assert_eq!(summary, RecordSummary { recorded: 2, expired: 0, clamped: 1 });
    assert_eq!(store.key(Family::Item, "skew").unwrap().last_seen_at, now + 0.5 * FUTURE_SLACK_MS);
    let stats = store.key(Family::Item, "a").unwrap();
    assert_eq!(stats.last_seen_at, now, "clamped to now");
    // The key keeps counting and decaying: a like a day later adds to it …
    store.record(&[event(EventKind::Like, item("a", &[]), now + DAY_MS)], now + DAY_MS).unwrap();
    let stats = store.key(Family::Item, "a").unwrap();
    assert!((stats.count_at(EventKind::Like, 1, now + DAY_MS) - 1.5).abs() < 1e-6);
    // … and it expires with the rest once retention has passed.
    let later = now + 100.0 * DAY_MS;
    for _ in 0..2 {
        store.record(&[event(EventKind::Click, item("b", &[]), later)], later).unwrap();
    }
    assert!(store.key(Family::Item, "a").is_none());
}

#[test]
fn times_that_are_not_times_are_coded_errors_and_change_nothing() {
    let mut store = populated_store();
    let before = store.clone();
    let fresh = event(EventKind::Click, item("x", &[]), 10_000.0);
    for now in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -1.0, LATEST_TIME_MS * 1.001, f64::MAX] {
        let error = store.record(std::slice::from_ref(&fresh), now).unwrap_err();
        assert_eq!(error.code(), "INVALID_EVENT", "{now}: {error}");
        assert_eq!(store.restore(&before.snapshot(), now).unwrap_err().code(), "INVALID_REQUEST");
        assert_eq!(store.export(now).unwrap_err().code(), "INVALID_REQUEST");
        assert_eq!(store, before);
    }
}

#[test]
fn the_key_cap_holds_at_any_clock() {
    let mut store = SignalStore::new(StoreConfig { key_cap: 100, ..StoreConfig::default() }).unwrap();
    for (batch, now) in [1.0, 1.0e15, 5.0, LATEST_TIME_MS].into_iter().enumerate() {
        let flood: Vec<Event> = impressions_at_one_time((0..500).map(|i| format!("k{batch}-{i}")))
            .into_iter()
            .map(|e| Event { at: now.min(1.0e15), ..e })
            .collect();
        store.record(&flood, now).unwrap();
        assert!(store.key_count() <= 100, "{now}: {}", store.key_count());
    }
}

#[test]
fn batches_past_the_limit_are_refused_whole() {
    let mut store = store();
    let flood = impressions_at_one_time((0..MAX_EVENTS_PER_BATCH + 1).map(|i| format!("k{}", i % 10)));
    let error = store.record(&flood, 1.0).unwrap_err();
    assert_eq!(error.code(), "INVALID_EVENT");
    assert!(error.to_string().contains("limit 100000"), "{error}");
    assert_eq!(store.key_count(), 0);
}

fn populated_store() -> SignalStore {
    let mut store = store();
    let mut events = Vec::new();
    for (i, kind) in EventKind::ALL.iter().enumerate() {
        let mut it = item(&format!("item-{i}"), &["topic-a", "topic-b"]);
        it.embedding = Some(vec![i as f32, 1.0, -0.5]);
        events.push(event(*kind, it, 1_000.0 * i as f64));
    }
    store.record(&events, 10_000.0).unwrap();
    store
}

#[test]
fn snapshot_round_trips_exactly() {
    let store = populated_store();
    let bytes = store.snapshot();
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&bytes, 10_000.0).unwrap();
    assert_eq!(restored, store);
    assert_eq!(restored.snapshot(), bytes, "encoding is deterministic");
}

#[test]
fn a_snapshot_begun_is_the_store_as_it_was_then() {
    let mut store = populated_store();
    let whole = store.snapshot();
    let begun = store.begin_snapshot();
    store.record(&[event(EventKind::Like, item("later", &["rust"]), 20_000.0)], 20_000.0).unwrap();
    assert_ne!(store.snapshot(), whole);
    assert_eq!(begun.seal(), whole, "sealed later, it is exactly the snapshot of its moment");
}

#[test]
fn corrupt_snapshots_are_rejected_and_the_store_kept() {
    let store = populated_store();
    let bytes = store.snapshot();
    let mut target = populated_store();
    let mut check = |bytes: &[u8], code: &str| {
        let error = target.restore(bytes, 10_000.0).unwrap_err();
        assert_eq!(error.code(), code, "{error}");
        assert_eq!(target, store, "a failed restore keeps the current content");
    };
    check(&[], "CORRUPT_SNAPSHOT");
    check(b"not a snapshot at all", "CORRUPT_SNAPSHOT");
    check(&bytes[..bytes.len() - 1], "CORRUPT_SNAPSHOT");
    for position in [12, bytes.len() / 2, bytes.len() - 1] {
        let mut flipped = bytes.clone();
        flipped[position] ^= 0x40;
        check(&flipped, "CORRUPT_SNAPSHOT");
    }
    let mut newer = bytes.clone();
    newer[6] = (SNAPSHOT_VERSION + 1) as u8;
    check(&newer, "SNAPSHOT_VERSION");
}

#[test]
fn restore_applies_retention_and_key_cap() {
    let store = populated_store();
    let bytes = store.snapshot();
    let tight = StoreConfig { key_cap: 5, retention_ms: DAY_MS };
    let mut restored = SignalStore::new(tight).unwrap();
    restored.restore(&bytes, 10_000.0).unwrap();
    assert!(restored.key_count() <= 5);
    // Retention on restore is applied, with this store's limit, at the time the snapshot's
    // store last applied it: here two clicks two days after the others, the second at a time
    // that agrees with the first, make them all older than a day.
    let mut later = store.clone();
    let click = Item { author: None, containers: vec![], ..item("later", &[]) };
    for _ in 0..2 {
        later.record(&[event(EventKind::Click, click.clone(), 2.0 * DAY_MS)], 2.0 * DAY_MS).unwrap();
    }
    assert_eq!(later.key_count(), store.key_count() + 1, "within 90 days: all kept");
    let mut restored = SignalStore::new(StoreConfig { key_cap: 100, retention_ms: DAY_MS }).unwrap();
    restored.restore(&later.snapshot(), 10.0 * DAY_MS).unwrap();
    assert_eq!(restored.key_count(), 1, "only the clicks' item is within a day of it");
    // Not at the restore's `now`: a restart deletes nothing the store held.
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&later.snapshot(), 1_000.0 * DAY_MS).unwrap();
    assert_eq!(restored, later);
}

#[test]
fn export_names_every_key_with_decayed_values() {
    let store = populated_store();
    let export = store.export(10_000.0 + HALF_LIVES[0].ms).unwrap();
    assert_eq!(export.keys.len(), store.key_count());
    let like = export.keys.iter().find(|k| k.key == "item-3").unwrap();
    let hourly = like.counts.iter().find(|c| c.half_life == "1h" && c.kind == "like").unwrap();
    let expected = (-(10_000.0 + HALF_LIVES[0].ms - 3_000.0) / HALF_LIVES[0].ms).exp2();
    assert!((hourly.value - expected).abs() < 1e-6);
    assert_eq!(export.user_vector.as_ref().unwrap().dimension, 3);
    let json = serde_json::to_string(&export).unwrap();
    assert!(json.contains("\"lastSeenAt\""));
}

#[test]
fn clear_forgets_everything() {
    let mut store = populated_store();
    store.clear();
    assert_eq!(store, SignalStore::new(StoreConfig::default()).unwrap());
}

#[test]
fn positive_events_feed_the_recent_ring() {
    let store = populated_store();
    // click, dwell, like and share are positive; impressions, dismiss and hide feed nothing.
    let times: Vec<f64> = store.recent().iter().map(|e| e.at).collect();
    assert_eq!(times, [1_000.0, 2_000.0, 3_000.0, 4_000.0]);
    let export = store.export(10_000.0).unwrap();
    assert_eq!(export.recent.len(), 4);
}

#[test]
fn version_1_snapshots_restore_without_the_newer_signals() {
    let store = populated_store();
    let old = snapshot::encode_version_1(&store);
    assert_eq!(u16::from_le_bytes([old[6], old[7]]), 1);
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&old, 10_000.0).unwrap();
    assert_eq!(restored.key_count(), store.key_count());
    assert_eq!(restored.user_vector(), store.user_vector());
    assert_eq!(restored.session_vector(), store.session_vector());
    assert!(restored.recent().is_empty());
}

#[test]
fn retention_drops_old_recent_embeddings() {
    let mut store = populated_store();
    let retention = StoreConfig::default().retention_ms;
    // An impression (no embedding) dated so that the events at 1 000 and 2 000 ms are past
    // retention, those at 3 000 and later not.
    let now = retention + 2_500.0;
    for _ in 0..2 {
        store.record(&[event(EventKind::Impression, item("late", &[]), now)], now).unwrap();
    }
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&store.snapshot(), now).unwrap();
    let times: Vec<f64> = restored.recent().iter().map(|e| e.at).collect();
    assert_eq!(times, [3_000.0, 4_000.0]);
    let now = retention + 7_000.0 + HALF_LIVES[0].ms;
    for _ in 0..2 {
        restored.record(&[event(EventKind::Impression, item("later", &[]), now)], now).unwrap();
    }
    assert!(restored.recent().is_empty() && restored.user_vector().is_none());
}

/// Records `batch` as objects into one store and as columns (interned, as the JS client packs
/// them) into another, and checks both did exactly the same; returns the outcome.
fn record_both_ways(
    objects: &mut SignalStore,
    columns: &mut SignalStore,
    batch: &[Event],
    now: f64,
) -> Result<RecordSummary> {
    let wire = crate::columns::interned_wire(batch);
    let packed = EventColumns::from_wire(wire).unwrap();
    let outcome = objects.record(batch, now);
    assert_eq!(columns.record_columns(&packed, now), outcome, "the same summary or the same error");
    assert_eq!(columns.snapshot(), objects.snapshot(), "the same store, byte for byte");
    assert_eq!(columns, objects);
    outcome
}

#[test]
fn columns_are_recorded_exactly_like_objects() {
    let config = StoreConfig { key_cap: 12, retention_ms: 10.0 * DAY_MS };
    let (mut objects, mut columns) = (SignalStore::new(config).unwrap(), SignalStore::new(config).unwrap());
    let now = 100.0 * DAY_MS;
    let mut batch: Vec<Event> = EventKind::ALL
        .iter()
        .enumerate()
        .map(|(i, &kind)| {
            let mut it = item(&format!("item-{}", i % 3), &["rust", "wasm"]);
            it.embedding = Some(vec![i as f32, 1.0]);
            // Out of order, one past retention: late events and expiry behave alike.
            event(kind, it, now - [5.0, 1.0, 3.0, 11.0, 2.0, 4.0, 0.5][i] * DAY_MS)
        })
        .collect();
    // More new keys than the cap holds, within the batch.
    batch.extend((0..20).map(|i| event(EventKind::Impression, item(&format!("new-{i}"), &[]), now)));
    let summary = record_both_ways(&mut objects, &mut columns, &batch, now).unwrap();
    assert_eq!(summary, RecordSummary { recorded: 26, expired: 1, clamped: 0 });
    assert!(objects.key_count() <= 12 && objects.user_vector().is_some() && !objects.recent().is_empty());

    let mut bad_batches = vec![];
    let mut empty_topic = item("x", &["ok", ""]);
    empty_topic.embedding = Some(vec![1.0, 2.0]);
    bad_batches.push((vec![event(EventKind::Click, empty_topic, now)], "event 0: an empty topic key"));
    let mut longer = item("y", &[]);
    longer.embedding = Some(vec![1.0, 2.0, 3.0]);
    bad_batches
        .push((vec![batch[0].clone(), event(EventKind::Like, longer, now)], "event 1: embedding length 3"));
    let mut no_dwell = event(EventKind::Dwell, item("z", &[]), now);
    no_dwell.dwell_ms = None;
    bad_batches.push((vec![no_dwell], "event 0: dwell needs a finite, non-negative dwellMs"));
    let mut stray_dwell = event(EventKind::Click, item("z", &[]), now);
    stray_dwell.dwell_ms = Some(5.0);
    bad_batches.push((vec![batch[1].clone(), stray_dwell], "event 1: dwellMs is only for dwell events"));
    bad_batches
        .push((vec![event(EventKind::Click, item("z", &[]), -1.0)], "event 0: timestamp -1 is not a time"));
    let before = objects.snapshot();
    for (bad, message) in bad_batches {
        let error = record_both_ways(&mut objects, &mut columns, &bad, now).unwrap_err();
        assert_eq!(error.code(), "INVALID_EVENT");
        assert!(error.to_string().contains(message), "{error}");
        assert_eq!(objects.snapshot(), before, "a bad batch stores nothing");
    }
}

// proptest is a native-only dev-dependency (its RNG has no wasm32 entropy source).
#[cfg(not(target_arch = "wasm32"))]
mod properties {
    use proptest::prelude::*;

    use super::*;

    const START: f64 = 1.7e12;

    fn any_event() -> impl Strategy<Value = Event> {
        let kind = proptest::sample::select(EventKind::ALL.to_vec());
        let topics = proptest::collection::vec(proptest::sample::select(vec!["rust", "wasm", "go"]), 0..3);
        let embedding = proptest::option::of(proptest::collection::vec(-1.0f32..1.0, 3));
        (kind, 0..20u32, topics, embedding, 0.0..30.0 * DAY_MS).prop_map(
            |(kind, id, topics, embedding, at)| {
                let mut it = item(&format!("item-{id}"), &topics);
                it.embedding = embedding;
                event(kind, it, START + at)
            },
        )
    }

    /// Events, now and then with a mistake (~1 in 30): an empty id or topic, a time before the
    /// epoch, dwell without a duration or with one on another kind; and now and then past
    /// retention, or with an embedding of another length.
    fn any_event_or_mistake() -> impl Strategy<Value = Event> {
        let kind = proptest::sample::select(EventKind::ALL.to_vec());
        let id = proptest::sample::select(vec!["a", "b", "c", "😀", "d"]);
        let topics = proptest::collection::vec(proptest::sample::select(vec!["rust", "wasm", "go"]), 0..3);
        let embedding = proptest::option::of(prop_oneof![
            9 => proptest::collection::vec(-1.0f32..1.0, 3),
            1 => proptest::collection::vec(-1.0f32..1.0, 2),
        ]);
        let at = prop_oneof![9 => 0.0..30.0 * DAY_MS, 1 => Just(-100.0 * DAY_MS)];
        let dwell_ms = 0.0..1e5f64;
        (kind, id, topics, embedding, at, dwell_ms, 0..150u8).prop_map(
            |(kind, id, topics, embedding, at, dwell_ms, mistake)| {
                let mut it = item(id, &topics);
                it.embedding = embedding;
                let mut event = Event { kind, item: it, at: START + at, dwell_ms: None };
                event.dwell_ms = (kind == EventKind::Dwell).then_some(dwell_ms);
                match mistake {
                    0 => event.item.id.clear(),
                    1 => event.item.topics.push(String::new()),
                    2 => event.at = -1.0,
                    3 => event.dwell_ms = if event.dwell_ms.is_some() { None } else { Some(dwell_ms) },
                    4 => event.dwell_ms = event.dwell_ms.map(|_| -dwell_ms - 1.0),
                    _ => {}
                }
                event
            },
        )
    }

    proptest! {
        /// Any batches, recorded as objects and as columns: the same summaries or the same
        /// errors, and stores equal to the byte (key cap, retention, late events, vectors).
        #[test]
        fn columns_and_objects_record_the_same(
            batches in proptest::collection::vec(proptest::collection::vec(any_event_or_mistake(), 0..12), 1..6),
        ) {
            let config = StoreConfig { key_cap: 8, retention_ms: 30.0 * DAY_MS };
            let mut objects = SignalStore::new(config).unwrap();
            let mut columns = SignalStore::new(config).unwrap();
            for batch in &batches {
                let _outcome = record_both_ways(&mut objects, &mut columns, batch, START + 30.0 * DAY_MS);
            }
        }

        /// snapshot → restore gives back the same store, and the same bytes.
        #[test]
        fn snapshot_then_restore_is_the_identity(
            batches in proptest::collection::vec(proptest::collection::vec(any_event(), 0..20), 0..5),
        ) {
            let mut store = store();
            let now = START + 30.0 * DAY_MS;
            for batch in &batches {
                store.record(batch, now).unwrap();
            }
            let bytes = store.snapshot();
            let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
            restored.restore(&bytes, now).unwrap();
            prop_assert_eq!(&restored, &store);
            prop_assert_eq!(restored.snapshot(), bytes);
        }
    }
}

/// `populated_store` with a personal head that learnt from one list and waits on another.
fn learning_store() -> SignalStore {
    let mut store = populated_store();
    let config = LearningConfig::default();
    let learner = store.learner_mut();
    learner.adopt(&["count.topic.click.7d".into(), "recency.topic".into()]);
    let list = |at: f64| {
        let items = ["item-1", "item-2", "item-3"].map(item_hash).to_vec();
        ShownList::new(
            at,
            at + config.label_window_ms,
            items,
            vec![0.0, -0.7, -1.1],
            vec![0.5, 1.0, 0.0, 0.2, 2.0, 0.0],
        )
    };
    learner.remember(list(10_000.0), &config);
    store.record(&[event(EventKind::Click, item("item-3", &[]), 11_000.0)], 11_000.0).unwrap();
    store.record(&[event(EventKind::Hide, item("item-1", &[]), 11_500.0)], 11_500.0).unwrap();
    store.learner_mut().settle(10_000.0 + config.label_window_ms, &config);
    store.learner_mut().remember(list(12_000.0), &config);
    store.record(&[event(EventKind::Like, item("item-2", &[]), 12_500.0)], 12_500.0).unwrap();
    assert_eq!((store.learner().model().updates(), store.learner().shown().len()), (1, 1));
    store
}

#[test]
fn snapshot_round_trips_the_personal_head_exactly() {
    let store = learning_store();
    let bytes = store.snapshot();
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&bytes, 13_000.0).unwrap();
    assert_eq!(restored.learner(), store.learner());
    assert_eq!(restored, store);
    assert_eq!(restored.snapshot(), bytes);
}

#[test]
fn version_2_snapshots_restore_without_a_head() {
    let store = learning_store();
    let old = snapshot::encode_version_2(&store);
    assert_eq!(u16::from_le_bytes([old[6], old[7]]), 2);
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&old, 13_000.0).unwrap();
    assert_eq!(restored.key_count(), store.key_count());
    assert_eq!(restored.recent(), store.recent());
    assert_eq!(restored.learner(), &Learner::default());
}

#[test]
fn version_3_snapshots_restore_as_never_retained() {
    let mut store = learning_store();
    let later = 20_000.0 + HALF_LIVES[0].ms;
    for _ in 0..2 {
        store.record(&[event(EventKind::Impression, item("late", &[]), later)], later).unwrap();
    }
    assert_eq!(store.retained_at(), later);
    let old = snapshot::encode_version_3(&store);
    assert_eq!(u16::from_le_bytes([old[6], old[7]]), 3);
    let mut restored = SignalStore::new(StoreConfig::default()).unwrap();
    restored.restore(&old, later).unwrap();
    assert_eq!(restored.retained_at(), f64::NEG_INFINITY);
    assert_eq!(SignalStore { retained_at: later, ..restored.clone() }, store, "all else as it was");
    let mut current = SignalStore::new(StoreConfig::default()).unwrap();
    current.restore(&store.snapshot(), later).unwrap();
    assert_eq!(current, store, "version 4 keeps the time");
}

/// `bytes` with its payload replaced, header and checksum made to match: what a bug (not a
/// torn write) would produce, which decoding must refuse without panicking.
fn resealed(bytes: &[u8], payload: &[u8]) -> Vec<u8> {
    let mut out = bytes[..8].to_vec();
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(payload);
    let checksum = crc32fast::hash(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

#[test]
fn a_corrupt_head_is_refused_and_the_store_kept() {
    let store = learning_store();
    let bytes = store.snapshot();
    let payload = &bytes[12..bytes.len() - 4];
    // The learner, then the time retention was applied at.
    let learner_end = payload.len() - 8;
    let learner_start = learner_end - snapshot::encode_learner_len(store.learner());
    let mut target = learning_store();
    for cut in learner_start..payload.len() {
        let error = target.restore(&resealed(&bytes, &payload[..cut]), 13_000.0).unwrap_err();
        assert_eq!(error.code(), "CORRUPT_SNAPSHOT", "cut at {cut}: {error}");
    }
    // The waiting list's last label (just before its last candidate's two signals) as 0.5.
    let mut bad_label = payload.to_vec();
    let label_at = learner_end - 2 * 4 - 4;
    bad_label[label_at..label_at + 4].copy_from_slice(&0.5f32.to_le_bytes());
    let error = target.restore(&resealed(&bytes, &bad_label), 13_000.0).unwrap_err();
    assert!(error.to_string().contains("bad shown label"), "{error}");
    assert_eq!(target, store);
}

#[test]
fn clear_and_retention_forget_the_head() {
    let mut store = learning_store();
    store.clear();
    assert_eq!(store.learner().model(), &PersonalModel::new(2));
    assert!(store.learner().shown().is_empty());
    let mut store = learning_store();
    let retention = StoreConfig::default().retention_ms;
    let now = retention + 20_000.0;
    for _ in 0..2 {
        store.record(&[event(EventKind::Impression, item("late", &[]), now)], now).unwrap();
    }
    assert!(store.learner().shown().is_empty(), "lists shown before retention are gone");
    assert_eq!(store.learner().model(), &PersonalModel::new(2), "and the head they taught");
}

#[test]
fn export_shows_the_head_by_feature() {
    let export = learning_store().export(13_000.0).unwrap().learning;
    assert_eq!(export.updates, 1);
    assert_eq!(export.pending_lists, 1);
    assert_eq!(export.updated_at, Some(10_000.0));
    let features: Vec<&str> = export.weights.iter().map(|w| w.feature.as_str()).collect();
    assert_eq!(features, ["count.topic.click.7d", "recency.topic"]);
    assert!(export.weights.iter().any(|w| w.weight != 0.0));
    assert!(export.memory_bytes > 0);
}
