//! What the fuzz targets share: the shipped model, a fixed clock, the JSON shape of a fuzzed
//! session, and the invariants every rerank must keep.

use localrank::features::{FeatureBuilder, RequestContext};
use localrank::item::{Candidate, Event};
use localrank::ranker::{Clock, Ranker, RankerOptions, RequestContextInput, RerankRequest};
use localrank::rerank::Constraints;
use serde::Deserialize;

/// The model the package ships, so the fuzzers exercise the real feature contract.
pub const SHIPPED_MODEL: &[u8] = include_bytes!("../../models/ranker.onnx");

pub struct FixedClock;

impl Clock for FixedClock {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

pub fn shipped_ranker() -> Ranker {
    Ranker::new(SHIPPED_MODEL, RankerOptions::default()).expect("the shipped model loads")
}

/// Events recorded, then one request reranked, as a host would send them (JSON).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    #[serde(default)]
    pub events: Vec<Event>,
    #[serde(default)]
    pub candidates: Vec<Candidate>,
    #[serde(default)]
    pub now: f64,
    /// The clock the events were recorded under, if not the request's (a clock that jumps or
    /// steps back between the two).
    #[serde(default)]
    pub recorded_at: Option<f64>,
    #[serde(default)]
    pub utc_offset_minutes: f64,
    #[serde(default)]
    pub constraints: Constraints,
    #[serde(default)]
    pub explain: bool,
}

impl Session {
    pub fn request(self) -> RerankRequest {
        RerankRequest {
            candidates: self.candidates,
            context: RequestContextInput { now: self.now, utc_offset_minutes: self.utc_offset_minutes },
            constraints: self.constraints,
            explain: self.explain,
            on_error: None,
        }
    }
}

/// Reranks and checks what every answer must be: a permutation of the candidates, with
/// finite scores for all of them unless it is the server order with a reason.
pub fn rerank_and_check(ranker: &mut Ranker, request: &RerankRequest) {
    let n = request.candidates.len();
    let ranking = ranker.rerank(request, &FixedClock).expect("fallback mode never fails");
    let mut seen = vec![false; n];
    assert_eq!(ranking.order.len(), n);
    for &i in &ranking.order {
        assert!(!std::mem::replace(&mut seen[i as usize], true), "index {i} twice");
    }
    match &ranking.fallback {
        Some(fallback) => {
            assert!(ranking.order.iter().enumerate().all(|(p, &i)| p == i as usize));
            assert!(!fallback.reason.is_empty());
            // A panic is a bug even though the ranker survives it.
            assert_ne!(fallback.reason, "PANIC", "{}", fallback.message);
        }
        None => {
            assert_eq!(ranking.scores.len(), n);
            assert!(ranking.scores.iter().all(|s| s.is_finite()));
            // What validation admits has features within their ranges (so finite): a NaN,
            // infinite or out-of-range one would rank on garbage even when the model's output
            // stays finite.
            let builder = FeatureBuilder::new(&ranker.model_info().contract).expect("the contract compiles");
            let context = RequestContext {
                now: request.context.now,
                utc_offset_minutes: request.context.utc_offset_minutes,
            };
            let mut features = Vec::new();
            builder.build_into(&request.candidates, ranker.store(), &context, &mut features);
            let width = builder.width();
            if let Some(at) = features.iter().enumerate().position(|(at, &v)| !builder.features()[at % width].admits(v)) {
                let name = &builder.features()[at % width];
                panic!("feature {name:?} of candidate {} is {}, outside its range", at / width, features[at]);
            }
        }
    }
}
