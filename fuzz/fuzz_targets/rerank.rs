//! A host's session as JSON: a batch of events, then a request, through the shipped model.
#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use localrank::ranker::Ranker;
use localrank_fuzz::{rerank_and_check, shipped_ranker, Session};

thread_local! {
    // Loading the model takes milliseconds: one ranker serves every input, its store cleared.
    // Leaked: dropped at exit, it would reach tract's own thread-locals after their destruction.
    static RANKER: &'static RefCell<Ranker> = Box::leak(Box::new(RefCell::new(shipped_ranker())));
}

fuzz_target!(|data: &[u8]| {
    let Ok(session) = serde_json::from_slice::<Session>(data) else { return };
    RANKER.with(|ranker| {
        let ranker = &mut *ranker.borrow_mut();
        ranker.store_mut().clear();
        // A refused batch is fine here (the record target checks batches); the rerank runs
        // on whatever was stored.
        let _ = ranker.record(&session.events, session.recorded_at.unwrap_or(session.now));
        rerank_and_check(ranker, &session.request());
    });
});
