//! The replay: walks a log in time order, feeding each user's events into that user's own
//! `SignalStore` (exactly as the device would record them) and, at each request (a logged one,
//! or one the simulated server answers), asking the `FeatureBuilder` for the feature matrix.
//! Users are independent (given the simulated server, which sees the whole log): a subset of
//! users can be replayed on its own, and the parts concatenated (`concat`) are the whole.

use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

use super::event_log::{LoggedRequest, Split};
use super::log::Log;
use super::protocol::*;
use super::server::{Server, REFERENCE_HISTORY};
use crate::features::{Contract, Feature, FeatureBuilder, RequestContext};
use crate::item::{Candidate, Event};
use crate::learning::item_hash;
use crate::ranker::server_prior;
use crate::signals::{SignalStore, StoreConfig};

/// Where a replay's rows came from: the data set and the protocol, as the model card states them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplaySource {
    /// The data set's name (by default its folder's).
    pub dataset: String,
    /// How its adapter made the events (the events table's description).
    #[serde(default)]
    pub events: Vec<String>,
    /// How the requests were made, when they come from a request log (its description); `None`:
    /// the simulated server made them, by `protocol`.
    #[serde(default)]
    pub logged_requests: Option<Vec<String>>,
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
    /// Per row, for the evaluator's baselines: the heuristic's topic affinity
    /// (`share.topic.30d`), the full-history reference's co-like score (0 with a request log:
    /// the simulated server computes it) and the candidate's server popularity (0 without).
    pub topic_affinity: Vec<f32>,
    pub co_like: Vec<f32>,
    pub popularity: Vec<f32>,
    /// Per row, for the prequential replay of on-device learning, which must learn from an
    /// outcome only once it has happened: the candidate's id as the device's shown memory
    /// keeps it (`learning::item_hash`), and when the user engaged with it (the first event
    /// on its item at or after the request, for a positive label; +∞ for the others).
    pub item_hashes: Vec<u64>,
    pub engaged_at: Vec<f64>,
}

impl Dataset {
    pub fn requests(&self) -> usize {
        self.request_ids.len()
    }

    pub fn rows_of(&self, request: usize) -> std::ops::Range<usize> {
        self.offsets[request] as usize..self.offsets[request + 1] as usize
    }

    /// For the trainer, which learns the local term of the ranker's do-no-harm form: each
    /// row's server prior.
    pub fn priors(&self) -> Vec<f32> {
        (0..self.requests()).flat_map(|r| (0..self.rows_of(r).len()).map(server_prior)).collect()
    }

    /// Which columns are candidate signals (1; a row with none gets no local term).
    pub fn signal_mask(&self) -> crate::Result<Vec<u8>> {
        self.feature_names
            .iter()
            .map(|name| Feature::parse(name).map(|f| u8::from(f.is_candidate_signal())))
            .collect()
    }
}

/// A point in one user's history where the client asks for a ranking.
#[derive(Debug, Clone, Copy)]
struct RequestPoint {
    /// Index into the user's events of the first event after the request.
    position: usize,
    /// Index one past the end of the request's session.
    session_end: usize,
}

/// Request points of one user's time-sorted events: each session start (after a gap over
/// `session_gap_ms`), then every `every` events within the session.
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
/// position `p` sorts before the user's event `p` and after event `p - 1`.
#[derive(Debug, Clone, Copy)]
enum Step {
    Event { user: u32, position: usize },
    Request { user: u32, point: RequestPoint },
}

struct UserState {
    /// This user's events in time order (indices into the log).
    events: Vec<usize>,
    store: SignalStore,
    /// Items (server indices) the user had an event on, and liked.
    seen: HashSet<usize>,
    liked: Vec<usize>,
    recorded: usize,
}

impl UserState {
    fn new() -> Self {
        UserState {
            events: Vec::new(),
            // No key cap or retention pressure in the replay beyond the device defaults.
            store: SignalStore::new(StoreConfig::default()).expect("default config"),
            seen: HashSet::new(),
            liked: Vec::new(),
            recorded: 0,
        }
    }

    fn record(&mut self, event: &Event) -> Result<(), String> {
        self.store.record(std::slice::from_ref(event), event.at).map_err(|e| e.to_string())?;
        self.recorded += 1;
        Ok(())
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplayOptions {
    /// The users to emit requests for (`None`: every user). The others' events still reach the
    /// simulated server, so a part of the users replayed against the whole log gives exactly
    /// their rows of the whole replay.
    pub users: Option<HashSet<u32>>,
    pub dataset: String,
    pub protocol: Protocol,
}

impl ReplayOptions {
    fn contains(&self, user: u32) -> bool {
        self.users.as_ref().is_none_or(|users| users.contains(&user))
    }
}

/// Builds each emitted request's rows into the dataset: the same for simulated and logged
/// requests.
struct Emitter {
    builder: FeatureBuilder,
    affinity_builder: FeatureBuilder,
    validation_from: f64,
    test_from: f64,
    data: Dataset,
    matrix: Vec<f32>,
    affinity: Vec<f32>,
}

/// One request to emit.
struct Emitted<'a> {
    user: u32,
    request_id: i64,
    at: f64,
    split: Option<Split>,
    candidates: &'a [Candidate],
    labels: &'a [f32],
    /// Per candidate: when its positive label's event happened (+∞ for the others).
    engaged_at: &'a [f64],
    co_like: &'a [f32],
}

impl Emitter {
    fn new(log: &Log, contract: &Contract, source: ReplaySource) -> Result<Emitter, String> {
        let affinity_contract = Contract { features: vec!["share.topic.30d".into()], ..contract.clone() };
        Ok(Emitter {
            builder: FeatureBuilder::new(contract).map_err(|e| e.to_string())?,
            affinity_builder: FeatureBuilder::new(&affinity_contract).map_err(|e| e.to_string())?,
            validation_from: log.time_quantile(source.protocol.validation_from),
            test_from: log.time_quantile(source.protocol.test_from),
            data: Dataset {
                source,
                feature_names: contract.features.clone(),
                offsets: vec![0],
                ..Dataset::default()
            },
            matrix: Vec::new(),
            affinity: Vec::new(),
        })
    }

    /// Emits a request with both a positive and a negative candidate (any order ranks a list
    /// of one label the same); others are skipped.
    fn emit(&mut self, state: &UserState, request: Emitted) {
        let positives = request.labels.iter().filter(|&&l| l > 0.0).count();
        if positives == 0 || positives == request.labels.len() {
            return;
        }
        let context = RequestContext { now: request.at, utc_offset_minutes: 0.0 };
        self.builder.build_into(request.candidates, &state.store, &context, &mut self.matrix);
        self.affinity_builder.build_into(request.candidates, &state.store, &context, &mut self.affinity);
        let data = &mut self.data;
        data.features.extend_from_slice(&self.matrix);
        data.topic_affinity.extend_from_slice(&self.affinity);
        data.labels.extend_from_slice(request.labels);
        data.co_like.extend_from_slice(request.co_like);
        data.popularity.extend(request.candidates.iter().map(|c| c.popularity.unwrap_or(0.0)));
        data.item_hashes.extend(request.candidates.iter().map(|c| item_hash(&c.item.id)));
        data.engaged_at.extend_from_slice(request.engaged_at);
        data.offsets.push(data.labels.len() as i64);
        data.request_ids.push(request.request_id);
        data.user_ids.push(i64::from(request.user));
        data.timestamps.push(request.at);
        let split = request.split.unwrap_or(if request.at >= self.test_from {
            Split::Test
        } else if request.at >= self.validation_from {
            Split::Validation
        } else {
            Split::Train
        });
        data.split.push(match split {
            Split::Train => SPLIT_TRAIN,
            Split::Validation => SPLIT_VALIDATION,
            Split::Test => SPLIT_TEST,
        });
        data.history_lengths.push(state.recorded as i64);
    }
}

/// Replays `log` for `options.users`, building `contract.features` at each request: the logged
/// requests if the log has them, else the simulated server's. Requests come in the canonical
/// order (`concat`'s).
pub fn replay(log: &Log, contract: &Contract, options: ReplayOptions) -> Result<Dataset, String> {
    options.protocol.validate()?;
    let source = ReplaySource {
        dataset: options.dataset.clone(),
        events: log.description.clone(),
        logged_requests: log.requests.as_ref().map(|r| r.description.clone()),
        protocol: options.protocol,
    };
    let emitter = Emitter::new(log, contract, source)?;
    let data = match &log.requests {
        Some(requests) => replay_logged(log, &requests.requests, &options, emitter),
        None => replay_simulated(log, &options, emitter),
    }?;
    concat(vec![data])
}

/// Concatenates replays of parts of the users in a canonical order (time, then request id),
/// so the whole does not depend on how the users were split.
pub fn concat(parts: Vec<Dataset>) -> Result<Dataset, String> {
    let names = parts.first().map(|p| p.feature_names.clone()).unwrap_or_default();
    if parts.iter().any(|p| p.feature_names != names) {
        return Err("the parts were built with different features".into());
    }
    let source = parts.first().map(|p| p.source.clone()).unwrap_or_default();
    if parts.iter().any(|p| p.source != source) {
        return Err("the parts were replayed from different data sets or protocols".into());
    }
    let mut order: Vec<(usize, usize)> =
        parts.iter().enumerate().flat_map(|(p, d)| (0..d.requests()).map(move |r| (p, r))).collect();
    order.sort_by(|&(pa, ra), &(pb, rb)| {
        parts[pa].timestamps[ra]
            .total_cmp(&parts[pb].timestamps[rb])
            .then(parts[pa].request_ids[ra].cmp(&parts[pb].request_ids[rb]))
    });
    let width = names.len();
    let mut merged = Dataset { source, feature_names: names, offsets: vec![0], ..Dataset::default() };
    for (p, r) in order {
        let part = &parts[p];
        let rows = part.rows_of(r);
        merged.features.extend_from_slice(&part.features[rows.start * width..rows.end * width]);
        merged.labels.extend_from_slice(&part.labels[rows.clone()]);
        merged.topic_affinity.extend_from_slice(&part.topic_affinity[rows.clone()]);
        merged.co_like.extend_from_slice(&part.co_like[rows.clone()]);
        merged.popularity.extend_from_slice(&part.popularity[rows.clone()]);
        merged.item_hashes.extend_from_slice(&part.item_hashes[rows.clone()]);
        merged.engaged_at.extend_from_slice(&part.engaged_at[rows]);
        merged.offsets.push(merged.labels.len() as i64);
        merged.request_ids.push(part.request_ids[r]);
        merged.user_ids.push(part.user_ids[r]);
        merged.timestamps.push(part.timestamps[r]);
        merged.split.push(part.split[r]);
        merged.history_lengths.push(part.history_lengths[r]);
    }
    Ok(merged)
}

/// Each user's events go into the user's store; at each logged request, the events strictly
/// before it are in the store (those at its time are its candidates' own outcomes).
fn replay_logged(
    log: &Log,
    requests: &[LoggedRequest],
    options: &ReplayOptions,
    mut emitter: Emitter,
) -> Result<Dataset, String> {
    // (time, user, requests before events at the same time, index).
    let mut timeline: Vec<(f64, u32, u8, usize)> = Vec::new();
    for (index, logged) in log.events.iter().enumerate().filter(|(_, e)| options.contains(e.user)) {
        timeline.push((logged.event.at, logged.user, 1, index));
    }
    for (index, request) in requests.iter().enumerate().filter(|(_, r)| options.contains(r.user)) {
        if request.labels.len() != request.candidates.len() {
            return Err(format!(
                "logged request {index}: {} labels for {} candidates",
                request.labels.len(),
                request.candidates.len()
            ));
        }
        timeline.push((request.at, request.user, 0, index));
    }
    timeline.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)).then(a.3.cmp(&b.3)));
    // Each user's event times per item, in order: when a logged label's outcome happened.
    let mut event_times: HashMap<(u32, &str), Vec<f64>> = HashMap::new();
    for &(at, user, step, index) in &timeline {
        if step == 1 {
            event_times.entry((user, &log.events[index].event.item.id)).or_default().push(at);
        }
    }
    let mut engaged_at = Vec::new();
    let mut users: HashMap<u32, UserState> = HashMap::new();
    let mut served: HashMap<u32, usize> = HashMap::new();
    for (at, user, step, index) in timeline {
        let state = users.entry(user).or_insert_with(UserState::new);
        if step == 1 {
            state.record(&log.events[index].event)?;
            continue;
        }
        let request = &requests[index];
        let ordinal = served.entry(user).or_insert(0);
        *ordinal += 1;
        engaged_at.clear();
        engaged_at.extend(request.candidates.iter().zip(&request.labels).map(|(candidate, &label)| {
            if label <= 0.0 {
                return f64::INFINITY;
            }
            let times = event_times.get(&(user, candidate.item.id.as_str())).map_or(&[][..], Vec::as_slice);
            times.get(times.partition_point(|&t| t < at)).copied().unwrap_or(f64::INFINITY)
        }));
        emitter.emit(
            state,
            Emitted {
                user,
                request_id: request_id(user, *ordinal - 1),
                at,
                split: request.split,
                candidates: &request.candidates,
                labels: &request.labels,
                engaged_at: &engaged_at,
                co_like: &vec![0.0; request.candidates.len()],
            },
        );
    }
    Ok(emitter.data)
}

/// Without a request log: the simulated server answers requests at session starts and every
/// few events (see `Protocol`); labels are the items the user likes next in the session.
fn replay_simulated(log: &Log, options: &ReplayOptions, mut emitter: Emitter) -> Result<Dataset, String> {
    let protocol = &options.protocol;
    let validation_from = emitter.validation_from;
    let mut users: HashMap<u32, UserState> = HashMap::new();
    for (index, logged) in log.events.iter().enumerate() {
        if options.contains(logged.user) {
            users.entry(logged.user).or_insert_with(UserState::new).events.push(index);
        }
    }
    let mut timeline: Vec<(f64, u32, usize, Step)> = Vec::new();
    for (&user, state) in &users {
        let times: Vec<f64> = state.events.iter().map(|&i| log.events[i].event.at).collect();
        for (position, &at) in times.iter().enumerate() {
            timeline.push((at, user, 2 * position + 1, Step::Event { user, position }));
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

    let mut server = Server::new(log, protocol);
    let mut candidates: Vec<Candidate> = Vec::with_capacity(protocol.candidates);
    let (mut labels, mut engaged_at, mut co_like) = (Vec::new(), Vec::new(), Vec::new());
    for (at, _, _, step) in timeline {
        server.advance_to(at - protocol.server_lag_ms);
        match step {
            Step::Event { user, position } => {
                let state = users.get_mut(&user).expect("a replayed user");
                let logged = &log.events[state.events[position]].event;
                let item = server.index(&logged.item.id).expect("the server indexes every logged item");
                let event = Event { item: server.item(item), ..logged.clone() };
                state.record(&event)?;
                state.seen.insert(item);
                if is_positive(event.kind) {
                    state.liked.push(item);
                }
            }
            Step::Request { user, point } => {
                let state = &users[&user];
                let window_end = (point.position + protocol.label_window).min(point.session_end);
                // Each liked item of the window, with when it was first liked in it.
                let mut positives: HashMap<usize, f64> = HashMap::new();
                for event in state.events[point.position..window_end].iter().map(|&i| &log.events[i].event) {
                    if let Some(item) = server.index(&event.item.id).filter(|_| is_positive(event.kind)) {
                        positives.entry(item).or_insert(event.at);
                    }
                }
                let served = server.top(protocol.candidates, at - protocol.server_lag_ms, &state.seen);
                let history = &state.liked[state.liked.len().saturating_sub(REFERENCE_HISTORY)..];
                candidates.clear();
                candidates.extend(served.iter().map(|s| Candidate {
                    item: server.item(s.item),
                    server_score: Some(s.score),
                    popularity: Some(s.popularity),
                    created_at: Some(s.first_seen),
                    ..Candidate::default()
                }));
                labels.clear();
                labels.extend(served.iter().map(|s| f32::from(u8::from(positives.contains_key(&s.item)))));
                engaged_at.clear();
                engaged_at
                    .extend(served.iter().map(|s| positives.get(&s.item).copied().unwrap_or(f64::INFINITY)));
                co_like.clear();
                co_like.extend(served.iter().map(|s| server.co_like_score(s.item, history)));
                emitter.emit(
                    state,
                    Emitted {
                        user,
                        request_id: request_id(user, point.position),
                        at,
                        split: None,
                        candidates: &candidates,
                        labels: &labels,
                        engaged_at: &engaged_at,
                        co_like: &co_like,
                    },
                );
            }
        }
    }
    Ok(emitter.data)
}

/// The same whichever users are replayed together: user and position in the user's history.
fn request_id(user: u32, position: usize) -> i64 {
    (i64::from(user) << 24) | position as i64
}

#[cfg(test)]
mod tests;
