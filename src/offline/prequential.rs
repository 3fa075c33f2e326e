//! The offline proof of on-device learning: the replay's lists, in time order, through each
//! user's own `Learner` exactly as the device runs it. At each list: the user's engagement
//! before it labels the remembered lists (as recorded events do on the device), the lists whose
//! label window has closed are learnt from (one validated step each), the list is reranked
//! (base + the head if its gate is open) and scored against its logged labels, and its shown
//! top is remembered (a list pushed out of the memory is learnt from then). The head thus
//! learns an outcome only once it has happened and its list's window has closed or the list
//! has left the memory, and forgets it past retention, as on the device: lists overlap (a
//! feed's next list shows much of the last one), so learning each list's logged labels at once
//! would teach the head outcomes of the lists after it. Engagement is the rows' `engaged_at`:
//! a positive label's event.

use std::collections::{BTreeMap, HashMap};

use super::evaluate::{bucket_of, interval, model_scores, Estimate, Scoring, HISTORY_BUCKETS};
use super::random::SplitMix64;
use super::replay::Dataset;
use crate::features::Feature;
use crate::item::EventKind;
use crate::learning::metrics::request_metrics;
use crate::learning::{Learner, LearningConfig, ShownList};
use crate::model::ModelRunner;
use crate::rerank::preference;
use crate::signals::StoreConfig;

const BOOTSTRAP_SAMPLES: usize = 1000;
/// The goal row: users with at least this many events before the request.
pub const MANY_EVENTS: i64 = 50;

/// NDCG@10 of the base model and of base + head on one group of requests.
#[derive(Debug, Clone, PartialEq)]
pub struct PrequentialRow {
    pub label: String,
    pub requests: usize,
    pub base: Estimate,
    pub with_head: Estimate,
    /// Relative NDCG@10 change of base + head over base, paired over resampled users.
    pub lift: Estimate,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Prequential {
    pub config: LearningConfig,
    /// The retention the replay forgets by (the replay stores' default, as on a device).
    pub retention_ms: f64,
    pub users: usize,
    /// All requests, then each history bucket, then users with `MANY_EVENTS` events or more.
    pub rows: Vec<PrequentialRow>,
    /// Of the reported requests, those served with the head (its gate open).
    pub served_with_head: usize,
    /// Learning steps taken over the whole replay (every split: the device learns from the start).
    pub steps: u64,
}

impl Prequential {
    pub fn overall(&self) -> &PrequentialRow {
        &self.rows[0]
    }

    pub fn buckets(&self) -> &[PrequentialRow] {
        &self.rows[1..=HISTORY_BUCKETS.len()]
    }

    pub fn many_events(&self) -> &PrequentialRow {
        &self.rows[HISTORY_BUCKETS.len() + 1]
    }
}

const GROUPS: usize = HISTORY_BUCKETS.len() + 2;

/// Per user, per group: requests, summed base NDCG@10, summed base + head NDCG@10.
type UserSums = [(f64, f64, f64); GROUPS];

/// Runs every request of `data` through its user's personal model over `model`'s base scores,
/// and reports the requests of `split`.
pub fn prequential(
    data: &Dataset,
    model: &mut ModelRunner,
    split: u8,
    seed: u64,
) -> Result<Prequential, String> {
    let everything: Vec<usize> = (0..data.requests()).collect();
    let scores = model_scores(data, model, &everything, Scoring::Device)?;
    let config = model.contract().learning;
    let mut sums: BTreeMap<i64, UserSums> = BTreeMap::new();
    let mut served_with_head = 0;
    let retention_ms = StoreConfig::default().retention_ms;
    let replay = Replay { features: &model.contract().features, config: &config, retention_ms };
    let steps = replay_learning(data, &scores, &replay, |r, served, counted| {
        if data.split[r] != split {
            return;
        }
        served_with_head += usize::from(counted);
        let labels = &data.labels[data.rows_of(r)];
        let (base_ndcg, head_ndcg) =
            (request_metrics(&scores[r], labels).ndcg, request_metrics(served, labels).ndcg);
        let user_sums = sums.entry(data.user_ids[r]).or_insert([(0.0, 0.0, 0.0); GROUPS]);
        let history = data.history_lengths[r];
        let groups = [Some(0), Some(1 + bucket_of(history)), (history >= MANY_EVENTS).then_some(GROUPS - 1)];
        for g in groups.into_iter().flatten() {
            user_sums[g].0 += 1.0;
            user_sums[g].1 += base_ndcg;
            user_sums[g].2 += head_ndcg;
        }
    })?;
    if sums.is_empty() {
        return Err("the dataset has no requests of the reported split".into());
    }
    let users: Vec<UserSums> = sums.into_values().collect();
    let mut rng = SplitMix64::new(seed);
    let resamples: Vec<Vec<usize>> =
        (0..BOOTSTRAP_SAMPLES).map(|_| (0..users.len()).map(|_| rng.below(users.len())).collect()).collect();
    let everyone: Vec<usize> = (0..users.len()).collect();
    let labels = std::iter::once("all".to_owned())
        .chain(HISTORY_BUCKETS.iter().map(|(_, label)| format!("{label} events")))
        .chain(std::iter::once(format!("≥ {MANY_EVENTS} events")));
    let rows = labels
        .enumerate()
        .map(|(g, label)| {
            let total = |sample: &[usize], pick: fn(&(f64, f64, f64)) -> f64| -> f64 {
                sample.iter().map(|&u| pick(&users[u][g])).sum()
            };
            let estimate = |statistic: &dyn Fn(&[usize]) -> f64| {
                let samples = resamples.iter().map(|s| statistic(s)).filter(|v| v.is_finite()).collect();
                interval(statistic(&everyone), samples)
            };
            PrequentialRow {
                label,
                requests: total(&everyone, |s| s.0) as usize,
                base: estimate(&|s| total(s, |x| x.1) / total(s, |x| x.0)),
                with_head: estimate(&|s| total(s, |x| x.2) / total(s, |x| x.0)),
                lift: estimate(&|s| total(s, |x| x.2) / total(s, |x| x.1) - 1.0),
            }
        })
        .collect();
    Ok(Prequential { config, retention_ms, users: users.len(), rows, served_with_head, steps })
}

/// What the device learns with: its contract's features (the head's are its candidate signal
/// features) and learning, and its store's retention.
struct Replay<'a> {
    features: &'a [String],
    config: &'a LearningConfig,
    retention_ms: f64,
}

/// The device's learning over every request of `data`, in time order, each user's own
/// `Learner` over `base` scores (one list per request): calls `each(request, served scores,
/// whether the head counted)` for every request, and returns the learning steps taken.
fn replay_learning(
    data: &Dataset,
    base: &[Vec<f32>],
    replay: &Replay,
    mut each: impl FnMut(usize, &[f32], bool),
) -> Result<u64, String> {
    let Replay { features, config, retention_ms } = *replay;
    let (names, columns) = signal_columns(data, features)?;
    let (width, data_width) = (columns.len(), data.feature_names.len());
    let mut engagements = engagements_by_user(data);
    let mut learners: HashMap<i64, Learner> = HashMap::new();
    let mut steps = 0u64;
    let (mut signals, mut served) = (Vec::new(), Vec::new());
    for (r, base) in base.iter().enumerate() {
        let (user, at, rows) = (data.user_ids[r], data.timestamps[r], data.rows_of(r));
        signals.clear();
        signals.extend(
            rows.clone().flat_map(|row| columns.iter().map(move |&c| data.features[row * data_width + c])),
        );
        let learner = learners.entry(user).or_default();
        learner.adopt(&names);
        // What the device knows when this list is asked for: nothing past retention (which
        // the device applies with each recorded batch, at most hourly), the engagement before
        // the list, and the lists whose label window has closed learnt from.
        learner.prune(at - retention_ms);
        let updates = learner.model.updates();
        let pending = engagements.get_mut(&user).expect("every user with rows has an entry");
        while let Some(&(engaged, item)) = pending.last().filter(|(engaged, _)| *engaged < at) {
            learner.shown.observe(item, EventKind::Like, engaged);
            pending.pop();
        }
        learner.settle(at, config);
        served.clone_from(base);
        learner.model.add_served_terms(|i, k| signals[i * width + k], config, &mut served);
        each(r, &served, learner.model.gate().is_open());
        // What the device shows and remembers: the top of the served order, labelled by the
        // engagement that comes after it (within its window), learnt from once that closes.
        let mut order: Vec<usize> = preference(&served).into_iter().map(|i| i as usize).collect();
        order.truncate(config.shown_per_request);
        let shown = ShownList::new(
            at,
            at + config.label_window_ms,
            order.iter().map(|&i| data.item_hashes[rows.start + i]).collect(),
            order.iter().map(|&i| base[i]).collect(),
            order.iter().flat_map(|&i| &signals[i * width..(i + 1) * width]).copied().collect(),
        );
        learner.remember(shown, config);
        steps += u64::from(learner.model.updates() - updates);
    }
    Ok(steps)
}

/// The contract's candidate signal features (the head's features, as `Ranker` takes them), and
/// the dataset's column of each, in contract order.
fn signal_columns(data: &Dataset, features: &[String]) -> Result<(Vec<String>, Vec<usize>), String> {
    let signals: Vec<String> = features
        .iter()
        .filter(|name| Feature::parse(name).is_ok_and(Feature::is_candidate_signal))
        .cloned()
        .collect();
    let columns = signals
        .iter()
        .map(|name| {
            data.feature_names
                .iter()
                .position(|n| n == name)
                .ok_or(format!("the replay has no feature `{name}`"))
        })
        .collect::<Result<_, _>>()?;
    Ok((signals, columns))
}

/// Each user's engagement with the candidates shown, as (time, item) events, latest first (so
/// the replay pops them in time order): one per engaged item and time, however many lists
/// showed it.
fn engagements_by_user(data: &Dataset) -> HashMap<i64, Vec<(f64, u64)>> {
    let mut engagements: HashMap<i64, Vec<(f64, u64)>> = HashMap::new();
    for r in 0..data.requests() {
        let events = engagements.entry(data.user_ids[r]).or_default();
        let rows = data.rows_of(r);
        events.extend(
            (data.engaged_at[rows.clone()].iter().zip(&data.item_hashes[rows]))
                .filter(|(at, _)| at.is_finite())
                .map(|(&at, &item)| (at, item)),
        );
    }
    for events in engagements.values_mut() {
        events.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.cmp(&a.1)));
        events.dedup();
    }
    engagements
}

#[cfg(test)]
mod tests;
