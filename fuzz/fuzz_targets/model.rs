//! Model bytes (bare ONNX or a bundle), with and without a trusted key: refused with a code,
//! or loaded and able to rerank.
//!
//! tract panics on some malformed graphs while loading them (seeds/model/regression-*). The
//! runner catches those natively and refuses the model (INVALID_MODEL), so this target keeps
//! Rust's default panic hook instead of libfuzzer-sys's aborting one: a caught panic is an
//! outcome, one that escapes (e.g. a failed check below) still aborts, as the unwind cannot
//! leave the fuzzer's `extern "C"` entry point.
#![no_main]

use libfuzzer_sys::fuzz_target;
use localrank::item::{Candidate, Item};
use localrank::model::TrustedKey;
use localrank::ranker::{Ranker, RankerOptions, RequestContextInput, RerankRequest};
use localrank_fuzz::rerank_and_check;

/// The public key of the seed corpus's signed bundle (secret: 32 bytes of 7).
const SEED_SIGNER: &str = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c";

fuzz_target!(init: drop(std::panic::take_hook()), |data: &[u8]| {
    let Some((&trust, model)) = data.split_first() else { return };
    let trusted_keys = if trust & 1 == 1 { vec![TrustedKey::from_hex(SEED_SIGNER).unwrap()] } else { vec![] };
    let Ok(mut ranker) = Ranker::new(model, RankerOptions { trusted_keys, ..RankerOptions::default() }) else {
        return;
    };
    let candidates = (0..8)
        .map(|i| Candidate {
            item: Item { id: format!("c{i}"), topics: vec!["t".into()], ..Item::default() },
            server_score: Some(1.0 / (1.0 + i as f32)),
            ..Candidate::default()
        })
        .collect();
    let context = RequestContextInput { now: 1.7e12, utc_offset_minutes: 0.0 };
    let request = RerankRequest { candidates, context, explain: true, ..RerankRequest::default() };
    rerank_and_check(&mut ranker, &request);
});
