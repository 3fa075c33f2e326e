//! The replay: walks a log in time order, feeding each user's ratings into that user's own
//! `SignalStore` (exactly as the device would record them) and, at each request point, asking
//! the simulated server for candidates and the `FeatureBuilder` for the feature matrix. Users
//! are independent, so a shard of users can be replayed on its own and the shards merged.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::log::Log;
use super::protocol::*;
use super::server::{Server, REFERENCE_HISTORY};
use crate::features::{Contract, FeatureBuilder, RequestContext};
use crate::item::{Candidate, Event, Item};
use crate::signals::{SignalStore, StoreConfig};

/// Which users this replay handles: those with `user % count == index`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    pub const ALL: Shard = Shard { index: 0, count: 1 };

    pub fn parse(text: &str) -> Result<Shard, String> {
        let (index, count) = text.split_once('/').ok_or("a shard is written i/n")?;
        let shard = Shard {
            index: index.parse().map_err(|_| "bad shard index")?,
            count: count.parse().map_err(|_| "bad shard count")?,
        };
        if shard.count == 0 || shard.index >= shard.count {
            return Err(format!("shard {text} does not exist"));
        }
        Ok(shard)
    }

    fn contains(&self, user: u32) -> bool {
        user % self.count == self.index
    }
}

/// Where a replay's rows came from: the data set and the protocol, as the model card states them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaySource {
    /// The data set's name (by default its folder's).
    pub dataset: String,
    pub protocol: Protocol,
}

/// The replay's output: every emitted request's candidates as rows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Dataset {
    pub source: ReplaySource,
    pub feature_names: Vec<String>,
    /// Row-major `[rows, feature_names.len()]`.
    pub features: Vec<f32>,
    pub labels: Vec<f32>,
    /// Request `r` owns rows `offsets[r]..offsets[r + 1]`.
    pub offsets: Vec<i64>,
    pub request_ids: Vec<i64>,
    pub user_ids: Vec<i64>,
    pub timestamps: Vec<f64>,
    pub split: Vec<u8>,
    /// Events in the user's store at request time.
    pub history_lengths: Vec<i64>,
    /// Per row: the heuristic's topic affinity (`share.topic.30d`) and the full-history
    /// reference's co-like score, for the evaluator's baselines.
    pub topic_affinity: Vec<f32>,
    pub co_like: Vec<f32>,
}

impl Dataset {
    pub fn requests(&self) -> usize {
        self.request_ids.len()
    }

    pub fn rows_of(&self, request: usize) -> std::ops::Range<usize> {
        self.offsets[request] as usize..self.offsets[request + 1] as usize
    }
}

/// A point in one user's history where the client asks for a ranking.
#[derive(Debug, Clone, Copy)]
struct RequestPoint {
    /// Index into the user's ratings of the first rating after the request.
    position: usize,
    /// Index one past the end of the request's session.
    session_end: usize,
}

/// Request points of one user's time-sorted ratings: each session start (after a gap over
/// `session_gap_ms`), then every `every` ratings within the session.
fn request_points(times: &[f64], session_gap_ms: f64, every: usize) -> Vec<RequestPoint> {
    let mut points = Vec::new();
    let mut start = 0;
    while start < times.len() {
        let mut end = start + 1;
        while end < times.len() && times[end] - times[end - 1] <= session_gap_ms {
            end += 1;
        }
        points
            .extend((start..end).step_by(every).map(|position| RequestPoint { position, session_end: end }));
        start = end;
    }
    points
}

/// What happens next on the shared timeline, in order: (time, user, sequence). A request at
/// position `p` sorts before the user's rating `p` and after rating `p - 1`.
#[derive(Debug, Clone, Copy)]
enum Step {
    Rating { user: u32, position: usize },
    Request { user: u32, point: RequestPoint },
}

struct UserState {
    /// This user's ratings in time order (indices into the log).
    ratings: Vec<usize>,
    store: SignalStore,
    rated: HashSet<u32>,
    liked: Vec<u32>,
    events: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ReplayOptions {
    pub shard: Shard,
    pub dataset: String,
    pub protocol: Protocol,
}

impl Default for ReplayOptions {
    fn default() -> Self {
        ReplayOptions { shard: Shard::ALL, dataset: String::new(), protocol: Protocol::default() }
    }
}

/// Replays `log` for the users of `options.shard`, building `contract.features` at each request.
pub fn replay(log: &Log, contract: &Contract, options: ReplayOptions) -> Result<Dataset, String> {
    let ReplayOptions { shard, dataset, protocol } = options;
    protocol.validate()?;
    let builder = FeatureBuilder::new(contract).map_err(|e| e.to_string())?;
    let affinity_builder =
        FeatureBuilder::new(&Contract { features: vec!["share.topic.30d".into()], ..contract.clone() })
            .map_err(|e| e.to_string())?;
    let test_from = log.time_quantile(protocol.test_from);
    let validation_from = log.time_quantile(protocol.validation_from);

    let mut users: HashMap<u32, UserState> = HashMap::new();
    for (index, rating) in log.ratings.iter().enumerate() {
        if shard.contains(rating.user) {
            users
                .entry(rating.user)
                .or_insert_with(|| UserState {
                    ratings: Vec::new(),
                    // No key cap or retention pressure in the replay beyond the device defaults.
                    store: SignalStore::new(StoreConfig::default()).expect("default config"),
                    rated: HashSet::new(),
                    liked: Vec::new(),
                    events: 0,
                })
                .ratings
                .push(index);
        }
    }
    let mut timeline: Vec<(f64, u32, usize, Step)> = Vec::new();
    for (&user, state) in &users {
        let times: Vec<f64> = state.ratings.iter().map(|&i| log.ratings[i].at).collect();
        for (position, &at) in times.iter().enumerate() {
            timeline.push((at, user, 2 * position + 1, Step::Rating { user, position }));
        }
        // Training requests may be denser than the protocol's: more (overlapping) lists to
        // learn from, while validation and test keep the fixed protocol.
        let gap = protocol.session_gap_ms;
        let dense = request_points(&times, gap, protocol.train_every)
            .into_iter()
            .filter(|p| times[p.position] < validation_from);
        let evaluated = request_points(&times, gap, protocol.request_every)
            .into_iter()
            .filter(|p| times[p.position] >= validation_from);
        for point in dense.chain(evaluated) {
            timeline.push((times[point.position], user, 2 * point.position, Step::Request { user, point }));
        }
    }
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));

    let mut server = Server::new(log, &protocol);
    let mut data = Dataset {
        source: ReplaySource { dataset, protocol },
        feature_names: contract.features.clone(),
        offsets: vec![0],
        ..Dataset::default()
    };
    let mut candidates: Vec<Candidate> = Vec::with_capacity(protocol.candidates);
    let mut matrix = Vec::new();
    let mut affinity = Vec::new();
    for (at, _, _, step) in timeline {
        server.advance_to(at - protocol.server_lag_ms);
        match step {
            Step::Rating { user, position } => {
                let state = users.get_mut(&user).expect("user of the shard");
                let rating = log.ratings[state.ratings[position]];
                let item = Item {
                    id: rating.item.to_string(),
                    topics: log.topics.get(&rating.item).cloned().unwrap_or_default(),
                    embedding: Some(server.embedding(rating.item)),
                    ..Item::default()
                };
                let event = Event { kind: event_kind(rating.rating), item, at, dwell_ms: None };
                state.store.record(std::slice::from_ref(&event), at).map_err(|e| e.to_string())?;
                state.events += 1;
                state.rated.insert(rating.item);
                if is_positive(rating.rating) {
                    state.liked.push(rating.item);
                }
            }
            Step::Request { user, point } => {
                let state = &users[&user];
                let window_end = (point.position + protocol.label_window).min(point.session_end);
                let positives: HashSet<u32> = state.ratings[point.position..window_end]
                    .iter()
                    .map(|&i| log.ratings[i])
                    .filter(|r| is_positive(r.rating))
                    .map(|r| r.item)
                    .collect();
                let served = server.top(protocol.candidates, at - protocol.server_lag_ms, &state.rated);
                if !served.iter().any(|s| positives.contains(&s.item)) {
                    continue;
                }
                candidates.clear();
                candidates.extend(served.iter().map(|s| Candidate {
                    item: Item {
                        id: s.item.to_string(),
                        topics: log.topics.get(&s.item).cloned().unwrap_or_default(),
                        embedding: Some(server.embedding(s.item)),
                        ..Item::default()
                    },
                    server_score: Some(s.score),
                    popularity: Some(s.popularity),
                    created_at: Some(s.first_seen),
                    pinned: false,
                }));
                let context = RequestContext { now: at, utc_offset_minutes: 0.0 };
                builder.build_into(&candidates, &state.store, &context, &mut matrix);
                affinity_builder.build_into(&candidates, &state.store, &context, &mut affinity);
                let history = &state.liked[state.liked.len().saturating_sub(REFERENCE_HISTORY)..];
                data.features.extend_from_slice(&matrix);
                data.topic_affinity.extend_from_slice(&affinity);
                for s in &served {
                    data.labels.push(f32::from(u8::from(positives.contains(&s.item))));
                    data.co_like.push(server.co_like_score(s.item, history));
                }
                data.offsets.push(data.labels.len() as i64);
                data.request_ids.push(request_id(user, point.position));
                data.user_ids.push(i64::from(user));
                data.timestamps.push(at);
                data.split.push(if at >= test_from {
                    SPLIT_TEST
                } else if at >= validation_from {
                    SPLIT_VALIDATION
                } else {
                    SPLIT_TRAIN
                });
                data.history_lengths.push(state.events as i64);
            }
        }
    }
    Ok(data)
}

/// Stable across shardings: user and position in the user's history.
fn request_id(user: u32, position: usize) -> i64 {
    (i64::from(user) << 24) | position as i64
}

#[cfg(test)]
mod tests;
