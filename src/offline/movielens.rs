//! Reads MovieLens `ratings.csv` and `movies.csv` (the ml-latest-small layout) into a `Log`.

use std::collections::HashMap;
use std::path::Path;

use super::log::{Log, Rating};

pub fn load(dir: &Path) -> Result<Log, String> {
    let mut ratings = Vec::new();
    let path = dir.join("ratings.csv");
    let mut reader = csv::Reader::from_path(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    for (line, record) in reader.records().enumerate() {
        let record = record.map_err(|e| format!("{}: {e}", path.display()))?;
        let field = |i: usize| record.get(i).unwrap_or("").trim();
        let bad = |what: &str| format!("{} row {}: bad {what}", path.display(), line + 2);
        ratings.push(Rating {
            user: field(0).parse().map_err(|_| bad("userId"))?,
            item: field(1).parse().map_err(|_| bad("movieId"))?,
            rating: field(2).parse().map_err(|_| bad("rating"))?,
            at: field(3).parse::<f64>().map_err(|_| bad("timestamp"))? * 1000.0,
        });
    }
    let mut topics = HashMap::new();
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
        topics.insert(id, genres);
    }
    Ok(Log::new(ratings, topics))
}
