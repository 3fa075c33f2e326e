//! Snapshot bytes from storage: refused with the store kept, or restored into a store whose
//! own snapshot restores to the same store.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrank::item::{Event, EventKind, Item};
use localrank::signals::{SignalStore, StoreConfig};

const NOW: f64 = 1.7e12;

fn populated() -> SignalStore {
    let mut store = SignalStore::new(StoreConfig { key_cap: 100, ..StoreConfig::default() }).unwrap();
    let item = Item { id: "kept".into(), topics: vec!["t".into()], ..Item::default() };
    store.record(&[Event { kind: EventKind::Like, item, at: NOW, dwell_ms: None }], NOW).unwrap();
    store
}

fuzz_target!(|data: &[u8]| {
    let mut store = populated();
    match store.restore(data, NOW) {
        Err(_) => assert_eq!(store, populated(), "a refused snapshot keeps the store"),
        Ok(()) => {
            assert!(store.key_count() <= 100, "restore applies the key cap");
            let mut again = populated();
            again.restore(&store.snapshot(), NOW).expect("our own snapshot restores");
            assert_eq!(again, store);
        }
    }
});
