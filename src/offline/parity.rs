//! The parity fixture: one deterministic request (events + candidates) with the scores the
//! native code gives for it. The wasm tests replay it in Node and Chromium and must get the
//! same scores; a native test checks the committed fixture still matches the committed model.

use serde::{Deserialize, Serialize};

use super::random::SplitMix64;
use crate::item::{Candidate, Event, EventKind, Item};
use crate::ranker::{Clock, Ranker, RankerOptions, RequestContextInput, RerankRequest};
use crate::Result;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ParityFixture {
    pub now: f64,
    pub utc_offset_minutes: f64,
    pub events: Vec<Event>,
    pub candidates: Vec<Candidate>,
    pub expected_scores: Vec<f32>,
    pub expected_order: Vec<u32>,
}

const TOPICS: [&str; 8] =
    ["Action", "Comedy", "Drama", "Romance", "Sci-Fi", "Thriller", "Animation", "Horror"];
const NOW: f64 = 1_700_000_000_000.0;
const EMBEDDING_DIM: usize = 16;

/// An item with every attribute a feature can read: an author of a small pool (so the
/// author features see repeats), a container, topics and an embedding.
fn item(rng: &mut SplitMix64, id: String) -> Item {
    let topics = (0..1 + rng.below(3)).map(|_| TOPICS[rng.below(TOPICS.len())].to_owned()).collect();
    let embedding = (0..EMBEDDING_DIM).map(|_| rng.normal() as f32 * 0.25).collect();
    let author = Some(format!("author-{}", rng.below(12)));
    let containers = vec![format!("guild-{}", rng.below(4))];
    Item { id, author, containers, topics, embedding: Some(embedding) }
}

struct Frozen;

impl Clock for Frozen {
    fn now_ms(&self) -> f64 {
        0.0
    }
}

/// The request the fixture holds, before scoring.
fn request() -> (Vec<Event>, RerankRequest) {
    let mut rng = SplitMix64::new(7);
    // Every event kind, dwell with its length, over 40 days: each feature of every shipped
    // contract is non-zero for some candidate.
    let events = (0..120)
        .map(|i| {
            let kind = EventKind::ALL[rng.below(EventKind::COUNT)];
            let at = NOW - rng.next_f64() * 40.0 * 86_400_000.0;
            let dwell_ms = (kind == EventKind::Dwell).then(|| (rng.next_f64() * 120_000.0).round());
            Event { kind, item: item(&mut rng, format!("seen-{}", i % 70)), at: at.round(), dwell_ms }
        })
        .collect();
    let candidates = (0..100)
        .map(|i| Candidate {
            // Some candidates are items the user already saw.
            item: item(&mut rng, if i % 10 == 0 { format!("seen-{i}") } else { format!("post-{i}") }),
            server_score: Some((100 - i) as f32 * 0.37),
            popularity: Some((rng.below(300) + 1) as f32),
            created_at: Some((NOW - rng.next_f64() * 3.0e11).round()),
            duration_ms: Some((5_000.0 + rng.next_f64() * 300_000.0).round()),
            pinned: false,
        })
        .collect();
    let request = RerankRequest {
        candidates,
        context: RequestContextInput { now: NOW, utc_offset_minutes: 60.0 },
        ..RerankRequest::default()
    };
    (events, request)
}

/// The fixture for a model, as JSON (one line: it is data, not for reading).
pub fn fixture(model: &[u8]) -> Result<String> {
    let (events, request) = request();
    let mut ranker = Ranker::new(model, RankerOptions::default())?;
    ranker.record(&events, NOW)?;
    let ranking = ranker.rerank(&request, &Frozen)?;
    if let Some(fallback) = ranking.fallback {
        return Err(crate::Error::InvalidModel(format!("parity request fell back: {}", fallback.message)));
    }
    let fixture = ParityFixture {
        now: NOW,
        utc_offset_minutes: request.context.utc_offset_minutes,
        events,
        candidates: request.candidates,
        expected_scores: ranking.scores,
        expected_order: ranking.order,
    };
    Ok(serde_json::to_string(&fixture).expect("plain data serialises") + "\n")
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;
    use crate::features::{Contract, FeatureBuilder, RequestContext};
    use crate::signals::{SignalStore, StoreConfig};

    /// The fixture's request exercises every feature of every shipped contract: each is
    /// non-zero for some candidate, so a feature computed differently in wasm would show.
    #[test]
    fn the_parity_request_exercises_every_shipped_feature() {
        let (events, request) = request();
        let mut store = SignalStore::new(StoreConfig::default()).unwrap();
        store.record(&events, NOW).unwrap();
        let context = RequestContext { now: NOW, utc_offset_minutes: request.context.utc_offset_minutes };
        for path in ["models/kuairand/features.json", "models/movielens/features.json"] {
            let json = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join(path)).unwrap();
            let builder = FeatureBuilder::new(&Contract::from_json(&json).unwrap()).unwrap();
            let mut matrix = Vec::new();
            builder.build_into(&request.candidates, &store, &context, &mut matrix);
            let width = builder.width();
            for (c, feature) in builder.features().iter().enumerate() {
                let rows = matrix.chunks(width).filter(|row| row[c] != 0.0).count();
                assert!(rows > 0, "{path}: {feature:?} is 0 for every candidate");
            }
        }
    }
}
