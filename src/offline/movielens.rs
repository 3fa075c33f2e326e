//! The MovieLens adapter: `ratings.csv` and `movies.csv` (the ml-latest-small layout) as
//! device events of the event-log format. A rating of 4 or more is a like, 2 or less a
//! dismiss, anything between a click; the movie's genres are its item's topics. MovieLens has
//! no server log: the replay's simulated server makes the requests.

use std::collections::HashMap;
use std::path::Path;

use super::event_log::LoggedEvent;
use crate::item::{Event, EventKind, Item};

/// How the adapter made the events, for the model card.
pub const DESCRIPTION: &str = "Events: every MovieLens rating is an event at its timestamp: ≥ 4 stars a like, ≤ 2 a dismiss, else a click; a movie's genres are its item's topics. MovieLens has no impressions, dwell, authors or containers.";

/// What a rating says about the user's taste.
pub fn event_kind(rating: f32) -> EventKind {
    if rating >= 4.0 {
        EventKind::Like
    } else if rating <= 2.0 {
        EventKind::Dismiss
    } else {
        EventKind::Click
    }
}

/// The ratings as events, in the file's order.
pub fn load(dir: &Path) -> Result<Vec<LoggedEvent>, String> {
    let mut topics: HashMap<String, Vec<String>> = HashMap::new();
    let path = dir.join("movies.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for record in reader.records() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let Ok(id) = record.get(0).unwrap_or("").parse::<u32>() else { continue };
        let genres: Vec<String> = record
            .get(2)
            .unwrap_or("")
            .split('|')
            .filter(|g| !g.is_empty() && *g != "(no genres listed)")
            .map(str::to_owned)
            .collect();
        topics.insert(id.to_string(), genres);
    }
    let mut events = Vec::new();
    let path = dir.join("ratings.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let bad = |what: &str| format!("{} row {}: bad {what}", path.display(), line + 2);
        let user = field(0).parse().map_err(|_| bad("userId"))?;
        // Re-printed, so ids are canonical decimal numbers whatever the file's padding.
        let movie = field(1).parse::<u32>().map_err(|_| bad("movieId"))?.to_string();
        let rating: f32 = field(2).parse().map_err(|_| bad("rating"))?;
        let at = field(3).parse::<f64>().map_err(|_| bad("timestamp"))? * 1000.0;
        let item =
            Item { topics: topics.get(&movie).cloned().unwrap_or_default(), id: movie, ..Item::default() };
        events
            .push(LoggedEvent { user, event: Event { kind: event_kind(rating), item, at, dwell_ms: None } });
    }
    Ok(events)
}
