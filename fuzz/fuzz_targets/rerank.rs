//! A host's session as JSON: a batch of events, then a request, through the shipped model.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use localrank::ranker::Ranker;
use localrank_fuzz::{rerank_and_check, shipped_ranker, Session};

thread_local! {
    // Loading the model takes milliseconds: one ranker serves every input, its store cleared.
    static RANKER: RefCell<Ranker> = RefCell::new(shipped_ranker());
}

fuzz_target!(|data: &[u8]| {
    let Ok(session) = serde_json::from_slice::<Session>(data) else { return };
    RANKER.with_borrow_mut(|ranker| {
        ranker.store_mut().clear();
        // A refused batch is fine here (the record target checks batches); the rerank runs
        // on whatever was stored.
        let _ = ranker.record(&session.events, session.now);
        rerank_and_check(ranker, &session.request());
    });
});
