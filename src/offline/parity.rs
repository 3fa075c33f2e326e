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

fn item(rng: &mut SplitMix64, id: String) -> Item {
    let topics = (0..1 + rng.below(3)).map(|_| TOPICS[rng.below(TOPICS.len())].to_owned()).collect();
    let embedding = (0..EMBEDDING_DIM).map(|_| rng.normal() as f32 * 0.25).collect();
    Item { id, topics, embedding: Some(embedding), ..Item::default() }
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
    let events = (0..60)
        .map(|i| {
            let kind = [EventKind::Like, EventKind::Click, EventKind::Dismiss, EventKind::Like][rng.below(4)];
            let at = NOW - rng.next_f64() * 40.0 * 86_400_000.0;
            Event { kind, item: item(&mut rng, format!("seen-{i}")), at: at.round(), dwell_ms: None }
        })
        .collect();
    let candidates = (0..100)
        .map(|i| Candidate {
            item: item(&mut rng, format!("movie-{i}")),
            server_score: Some((100 - i) as f32 * 0.37),
            popularity: Some((rng.below(300) + 1) as f32),
            created_at: Some((NOW - rng.next_f64() * 3.0e11).round()),
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
