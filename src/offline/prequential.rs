//! The offline proof of on-device learning: the replay's lists, in time order, through each
//! user's own `PersonalModel` exactly as the device runs it — rerank (base + the head if its
//! gate is open), the logged outcomes of the shown top of the list, one learning step (which
//! validates the head first), the next list. Each list is scored before the head learns from
//! it, so every number is out of sample. The device labels the shown candidates from the
//! events it records (`learning::ShownMemory`); here the log's labels are those outcomes.

use std::collections::{BTreeMap, HashMap};

use super::evaluate::{bucket_of, interval, model_scores, Estimate, Scoring, HISTORY_BUCKETS};
use super::random::SplitMix64;
use super::replay::Dataset;
use crate::features::Feature;
use crate::learning::metrics::request_metrics;
use crate::learning::{LearningConfig, PersonalModel};
use crate::model::ModelRunner;

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
    let columns = signal_columns(data, &model.contract().features)?;
    let width = columns.len();
    let data_width = data.feature_names.len();
    let mut models: HashMap<i64, PersonalModel> = HashMap::new();
    let mut sums: BTreeMap<i64, UserSums> = BTreeMap::new();
    let (mut served_with_head, mut steps) = (0, 0u64);
    let (mut signals, mut served) = (Vec::new(), Vec::new());
    for r in everything {
        let rows = data.rows_of(r);
        let (base, labels) = (&scores[r], &data.labels[rows.clone()]);
        signals.clear();
        signals
            .extend(rows.flat_map(|row| columns.iter().map(move |&c| data.features[row * data_width + c])));
        let personal = models.entry(data.user_ids[r]).or_insert_with(|| PersonalModel::new(width));
        served.clone_from(base);
        personal.add_served_terms(|i, k| signals[i * width + k], &config, &mut served);
        if data.split[r] == split {
            served_with_head += usize::from(personal.gate().is_open());
            let (base_ndcg, head_ndcg) =
                (request_metrics(base, labels).ndcg, request_metrics(&served, labels).ndcg);
            let user = sums.entry(data.user_ids[r]).or_insert([(0.0, 0.0, 0.0); GROUPS]);
            let history = data.history_lengths[r];
            let groups =
                [Some(0), Some(1 + bucket_of(history)), (history >= MANY_EVENTS).then_some(GROUPS - 1)];
            for g in groups.into_iter().flatten() {
                user[g].0 += 1.0;
                user[g].1 += base_ndcg;
                user[g].2 += head_ndcg;
            }
        }
        // What the device shows and remembers: the top of the served order.
        let mut order: Vec<usize> = (0..base.len()).collect();
        order.sort_by(|&a, &b| served[b].total_cmp(&served[a]).then(a.cmp(&b)));
        order.truncate(config.shown_per_request);
        let shown_rows: Vec<f32> =
            order.iter().flat_map(|&i| &signals[i * width..(i + 1) * width]).copied().collect();
        let shown_base: Vec<f32> = order.iter().map(|&i| base[i]).collect();
        let shown_labels: Vec<f32> = order.iter().map(|&i| labels[i]).collect();
        let updates = personal.updates();
        personal.learn(&shown_rows, &shown_base, &shown_labels, &config);
        steps += u64::from(personal.updates() - updates);
    }
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
    Ok(Prequential { config, users: users.len(), rows, served_with_head, steps })
}

/// The dataset's columns of the contract's candidate signal features, in contract order (the
/// head's features, as `Ranker` takes them).
fn signal_columns(data: &Dataset, features: &[String]) -> Result<Vec<usize>, String> {
    let signals = features.iter().filter(|name| Feature::parse(name).is_ok_and(Feature::is_candidate_signal));
    signals
        .map(|name| {
            data.feature_names
                .iter()
                .position(|n| n == name)
                .ok_or(format!("the replay has no feature `{name}`"))
        })
        .collect()
}
