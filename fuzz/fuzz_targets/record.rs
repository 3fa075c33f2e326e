//! Event batches as JSON: recorded whole or refused whole, within the key cap, and what was
//! recorded survives snapshot → restore exactly. The same batch packed as columns (what
//! `Ranker.recordColumns` takes) must have exactly the same outcome and leave the same store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrank::columns::EventColumns;
use localrank::item::Event;
use localrank::signals::{SignalStore, StoreConfig};

#[derive(serde::Deserialize)]
struct Batch {
    events: Vec<Event>,
    now: f64,
}

fuzz_target!(|data: &[u8]| {
    let Ok(batch) = serde_json::from_slice::<Batch>(data) else { return };
    let config = StoreConfig { key_cap: 50, ..StoreConfig::default() };
    let mut store = SignalStore::new(config).unwrap();
    let outcome = store.record(&batch.events, batch.now);
    let mut from_columns = SignalStore::new(config).unwrap();
    let columns = EventColumns::from_events(&batch.events);
    assert_eq!(from_columns.record_columns(&columns, batch.now), outcome, "columns record like objects");
    assert_eq!(from_columns.snapshot(), store.snapshot(), "the same store, byte for byte");
    match outcome {
        Err(_) => assert_eq!(store.key_count(), 0, "a refused batch leaves nothing behind"),
        Ok(summary) => {
            assert_eq!(summary.recorded + summary.expired, batch.events.len());
            assert!(store.key_count() <= config.key_cap);
            if batch.now.is_finite() {
                let mut restored = SignalStore::new(config).unwrap();
                restored.restore(&store.snapshot(), batch.now).expect("a snapshot restores");
                assert_eq!(restored, store);
            }
        }
    }
});
