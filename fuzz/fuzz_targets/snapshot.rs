//! Snapshot bytes from storage: refused with the store kept, or restored into a store whose
//! own snapshot restores to the same store. The first byte picks how the rest is used: as the
//! whole snapshot, or as a payload framed with a valid header and CRC-32 — random bytes almost
//! never pass the checksum, so that mode is what reaches the decoder behind it.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrank::item::{Event, EventKind, Item};
use localrank::signals::{SignalStore, StoreConfig, SNAPSHOT_VERSION};

const NOW: f64 = 1.7e12;

fn populated() -> SignalStore {
    let mut store = SignalStore::new(StoreConfig { key_cap: 100, ..StoreConfig::default() }).unwrap();
    let item = Item { id: "kept".into(), topics: vec!["t".into()], ..Item::default() };
    store.record(&[Event { kind: EventKind::Like, item, at: NOW, dwell_ms: None }], NOW).unwrap();
    store
}

/// `"LRSIG1" | version u16 | payload length u32 | payload | CRC-32` (src/signals/snapshot.rs).
fn framed(payload: &[u8]) -> Vec<u8> {
    let mut bytes = b"LRSIG1".to_vec();
    bytes.extend_from_slice(&SNAPSHOT_VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    bytes.extend_from_slice(payload);
    let checksum = crc32fast::hash(&bytes);
    bytes.extend_from_slice(&checksum.to_le_bytes());
    bytes
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else { return };
    let snapshot = if mode & 1 == 1 { framed(rest) } else { rest.to_vec() };
    let mut store = populated();
    match store.restore(&snapshot, NOW) {
        Err(_) => assert_eq!(store, populated(), "a refused snapshot keeps the store"),
        Ok(()) => {
            assert!(store.key_count() <= 100, "restore applies the key cap");
            let mut again = populated();
            again.restore(&store.snapshot(), NOW).expect("our own snapshot restores");
            assert_eq!(again, store);
        }
    }
});
