//! Offline evaluation on the test period: NDCG@10, NDCG@5, Recall@10 and MRR for the server
//! order, baselines, the trained model (run by the same `ModelRunner` as the device), controls
//! it cannot be, its ablations and the other shipped models, with 95 % bootstrap intervals over
//! users.

use std::collections::BTreeMap;

use super::protocol::{SPLIT_TEST, SPLIT_VALIDATION};
use super::random::SplitMix64;
use super::replay::Dataset;
use crate::features::FeatureBuilder;
pub use crate::learning::metrics::{request_metrics, RequestMetrics};
use crate::model::ModelRunner;
use crate::ranker::{residual_scores, server_prior};

const BOOTSTRAP_SAMPLES: usize = 1000;
/// Users with this many events or more before a request fall in the bucket.
pub const HISTORY_BUCKETS: [(i64, &str); 4] = [(0, "0–4"), (5, "5–19"), (20, "20–99"), (100, "100+")];

/// A mean with its 95 % bootstrap interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Estimate {
    pub mean: f64,
    pub low: f64,
    pub high: f64,
}

/// What a method is to the card.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The server's order, which every lift is measured against (always the first method).
    Server,
    Baseline,
    /// The model the card is about.
    Model,
    /// A reference the device cannot be (it recalibrates for everyone, or sees all history).
    Control,
    /// The model's features without one family, retrained.
    Ablation,
    /// Another shipped model, trained on another log.
    CrossLog,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MethodResult {
    pub name: String,
    pub role: Role,
    pub ndcg: Estimate,
    pub ndcg5: Estimate,
    pub recall: Estimate,
    pub mrr: Estimate,
    /// Relative NDCG@10 change over the server order.
    pub lift: Estimate,
    /// Mean NDCG@10 per history bucket (NaN for a bucket without requests).
    pub ndcg_by_bucket: Vec<f64>,
    /// Relative NDCG@10 change over the server order per history bucket, paired (the same
    /// resampled users for both).
    pub lift_by_bucket: Vec<Estimate>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub requests: usize,
    pub users: usize,
    pub requests_by_bucket: Vec<usize>,
    pub heuristic_weight: f32,
    /// The full-history reference's weight, when the replay's simulated server computed it.
    pub reference_weight: Option<f32>,
    pub methods: Vec<MethodResult>,
}

impl Evaluation {
    /// The model the card is about.
    pub fn model(&self) -> &MethodResult {
        self.methods.iter().find(|m| m.role == Role::Model).expect("evaluate always scores the model")
    }

    pub fn with_role(&self, role: Role) -> impl Iterator<Item = &MethodResult> {
        self.methods.iter().filter(move |m| m.role == role)
    }
}

/// How each method scores one request's rows.
enum Method {
    Server,
    /// The candidates' server popularity, highest first (ties in server order).
    Popularity,
    Heuristic(f32),
    /// Final scores per request (a model's, computed once).
    Scores(Vec<Vec<f32>>),
    FullHistory(f32),
}

impl Method {
    fn scores(&self, data: &Dataset, request: usize) -> Vec<f32> {
        let rows = data.rows_of(request);
        match self {
            Method::Server => (0..rows.len()).map(server_prior).collect(),
            Method::Popularity => data.popularity[rows].to_vec(),
            Method::Heuristic(w) => {
                rows.enumerate().map(|(k, row)| server_prior(k) + w * data.topic_affinity[row]).collect()
            }
            Method::FullHistory(w) => {
                rows.enumerate().map(|(k, row)| server_prior(k) + w * data.co_like[row]).collect()
            }
            Method::Scores(scores) => scores[request].clone(),
        }
    }
}

fn mean_ndcg(data: &Dataset, requests: &[usize], method: &Method) -> f64 {
    let total: f64 = requests
        .iter()
        .map(|&r| request_metrics(&method.scores(data, r), &data.labels[data.rows_of(r)]).ndcg)
        .sum();
    total / requests.len().max(1) as f64
}

/// The blend weight that maximises validation NDCG@10 over a fixed grid.
fn tune(data: &Dataset, validation: &[usize], method: impl Fn(f32) -> Method) -> f32 {
    const GRID: [f32; 10] = [0.0, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0];
    GRID.into_iter()
        .map(|w| (w, mean_ndcg(data, validation, &method(w))))
        .fold((0.0, f64::MIN), |best, (w, v)| if v > best.1 { (w, v) } else { best })
        .0
}

/// Selects the model's contract columns from the dataset by name.
fn model_inputs(data: &Dataset, model: &ModelRunner, request: usize) -> Result<Vec<f32>, String> {
    let width = data.feature_names.len();
    let columns: Vec<usize> = model
        .contract()
        .features
        .iter()
        .map(|name| {
            data.feature_names
                .iter()
                .position(|n| n == name)
                .ok_or(format!("the replay has no feature `{name}`"))
        })
        .collect::<Result<_, _>>()?;
    let mut inputs = Vec::with_capacity(data.rows_of(request).len() * columns.len());
    for row in data.rows_of(request) {
        inputs.extend(columns.iter().map(|&c| data.features[row * width + c]));
    }
    Ok(inputs)
}

/// How a model's output becomes a request's scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scoring {
    /// As the device does: the local terms through the ranker's own `residual_scores`.
    Device,
    /// An evaluation control (`train.py --ungated`): the server prior plus the raw output, for
    /// every candidate.
    Ungated,
}

/// The final scores each request asked for gets (empty for the others).
pub fn model_scores(
    data: &Dataset,
    model: &mut ModelRunner,
    requests: &[usize],
    scoring: Scoring,
) -> Result<Vec<Vec<f32>>, String> {
    let builder = FeatureBuilder::new(model.contract()).map_err(|e| e.to_string())?;
    let mut scores = vec![Vec::new(); data.requests()];
    for &r in requests {
        let inputs = model_inputs(data, model, r)?;
        let mut request_scores = model.score(&inputs, data.rows_of(r).len()).map_err(|e| e.to_string())?;
        match scoring {
            Scoring::Device => residual_scores(&mut request_scores, &inputs, &builder),
            Scoring::Ungated => {
                for (k, score) in request_scores.iter_mut().enumerate() {
                    *score += server_prior(k);
                }
            }
        }
        scores[r] = request_scores;
    }
    Ok(scores)
}

pub(super) fn bucket_of(history_length: i64) -> usize {
    HISTORY_BUCKETS.iter().rposition(|&(from, _)| history_length >= from).unwrap_or(0)
}

/// One user's test requests, summed per method (and per history bucket), so that a bootstrap
/// resample of users is a sum of these.
#[derive(Debug, Clone)]
struct UserSums {
    requests: usize,
    /// Per method.
    metrics: Vec<RequestMetrics>,
    /// Per method and bucket: summed NDCG@10.
    bucket_ndcg: Vec<[f64; HISTORY_BUCKETS.len()]>,
}

/// Summed metrics over a sample of users (indices into `users`, repeats allowed).
fn pooled(users: &[UserSums], sample: &[usize], pick: impl Fn(&UserSums) -> f64) -> f64 {
    sample.iter().map(|&u| pick(&users[u])).sum()
}

/// A model to evaluate besides the card's own, with its name and role.
pub struct Extra {
    pub name: String,
    pub role: Role,
    pub model: ModelRunner,
    pub scoring: Scoring,
}

/// Evaluates `model` (and `extras`) on the test period against the baselines the replay
/// supports: the server order, a heuristic, the candidates' popularity where the log has it
/// (a request log), and the full-history reference where the simulated server computed it.
pub fn evaluate(
    data: &Dataset,
    model: &mut ModelRunner,
    extras: &mut [Extra],
    seed: u64,
) -> Result<Evaluation, String> {
    let of_split = |split: u8| (0..data.requests()).filter(|&r| data.split[r] == split).collect::<Vec<_>>();
    let validation = of_split(SPLIT_VALIDATION);
    let test = of_split(SPLIT_TEST);
    if test.is_empty() {
        return Err("the dataset has no test requests".into());
    }
    let logged = data.source.logged_requests.is_some();
    let heuristic_weight = tune(data, &validation, Method::Heuristic);
    let reference_weight = (!logged).then(|| tune(data, &validation, Method::FullHistory));
    let server_name = if logged { "logged order (the server's)" } else { "server order" };
    let mut methods: Vec<(String, Role, Method)> = vec![(server_name.into(), Role::Server, Method::Server)];
    if logged {
        methods.push(("popularity (server field)".into(), Role::Baseline, Method::Popularity));
    }
    methods.push((
        "heuristic (server + topic affinity)".into(),
        Role::Baseline,
        Method::Heuristic(heuristic_weight),
    ));
    methods.push((
        "trained model (local signals)".into(),
        Role::Model,
        Method::Scores(model_scores(data, model, &test, Scoring::Device)?),
    ));
    if let Some(w) = reference_weight {
        methods.push(("full-history server (reference)".into(), Role::Control, Method::FullHistory(w)));
    }
    for extra in extras.iter_mut() {
        let scores = model_scores(data, &mut extra.model, &test, extra.scoring)
            .map_err(|e| format!("{}: {e}", extra.name))?;
        methods.push((extra.name.clone(), extra.role, Method::Scores(scores)));
    }

    let mut by_user: BTreeMap<i64, UserSums> = BTreeMap::new();
    let mut requests_by_bucket = vec![0; HISTORY_BUCKETS.len()];
    for &r in &test {
        let bucket = bucket_of(data.history_lengths[r]);
        requests_by_bucket[bucket] += 1;
        let sums = by_user.entry(data.user_ids[r]).or_insert_with(|| UserSums {
            requests: 0,
            metrics: vec![RequestMetrics::default(); methods.len()],
            bucket_ndcg: vec![[0.0; HISTORY_BUCKETS.len()]; methods.len()],
        });
        sums.requests += 1;
        for (m, (_, _, method)) in methods.iter().enumerate() {
            let metrics = request_metrics(&method.scores(data, r), &data.labels[data.rows_of(r)]);
            sums.metrics[m].ndcg += metrics.ndcg;
            sums.metrics[m].ndcg5 += metrics.ndcg5;
            sums.metrics[m].recall += metrics.recall;
            sums.metrics[m].mrr += metrics.mrr;
            sums.bucket_ndcg[m][bucket] += metrics.ndcg;
        }
    }
    let users: &[UserSums] = &by_user.into_values().collect::<Vec<_>>();
    let everyone: Vec<usize> = (0..users.len()).collect();
    let mut rng = SplitMix64::new(seed);
    let resamples: Vec<Vec<usize>> =
        (0..BOOTSTRAP_SAMPLES).map(|_| (0..users.len()).map(|_| rng.below(users.len())).collect()).collect();
    // A statistic's value on all users, with its interval over the resamples (those where it
    // is defined: a resample may hold no request of a bucket).
    let estimate = |statistic: &dyn Fn(&[usize]) -> f64| {
        let samples = resamples.iter().map(|s| statistic(s)).filter(|v| v.is_finite()).collect();
        interval(statistic(&everyone), samples)
    };
    let results = methods
        .iter()
        .enumerate()
        .map(|(m, (name, role, _))| {
            let mean = |pick: fn(&RequestMetrics) -> f64| {
                move |s: &[usize]| {
                    pooled(users, s, |u| pick(&u.metrics[m])) / pooled(users, s, |u| u.requests as f64)
                }
            };
            // Paired: the method and the server order on the same resampled users.
            let lift = |s: &[usize]| {
                pooled(users, s, |u| u.metrics[m].ndcg) / pooled(users, s, |u| u.metrics[0].ndcg) - 1.0
            };
            let bucket_lift = |b: usize| {
                estimate(&|s: &[usize]| {
                    pooled(users, s, |u| u.bucket_ndcg[m][b]) / pooled(users, s, |u| u.bucket_ndcg[0][b])
                        - 1.0
                })
            };
            MethodResult {
                name: name.clone(),
                role: *role,
                ndcg: estimate(&mean(|x| x.ndcg)),
                ndcg5: estimate(&mean(|x| x.ndcg5)),
                recall: estimate(&mean(|x| x.recall)),
                mrr: estimate(&mean(|x| x.mrr)),
                lift: estimate(&lift),
                ndcg_by_bucket: (0..HISTORY_BUCKETS.len())
                    .map(|b| pooled(users, &everyone, |u| u.bucket_ndcg[m][b]) / requests_by_bucket[b] as f64)
                    .collect(),
                lift_by_bucket: (0..HISTORY_BUCKETS.len()).map(bucket_lift).collect(),
            }
        })
        .collect();
    Ok(Evaluation {
        requests: test.len(),
        users: users.len(),
        requests_by_bucket,
        heuristic_weight,
        reference_weight,
        methods: results,
    })
}

/// `mean` with the 2.5 % and 97.5 % quantiles of `samples` (NaN when there are none).
pub(super) fn interval(mean: f64, mut samples: Vec<f64>) -> Estimate {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| {
        if samples.is_empty() {
            f64::NAN
        } else {
            samples[((samples.len() - 1) as f64 * q).round() as usize]
        }
    };
    Estimate { mean, low: at(0.025), high: at(0.975) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_cover_all_history_lengths() {
        assert_eq!(bucket_of(0), 0);
        assert_eq!(bucket_of(4), 0);
        assert_eq!(bucket_of(5), 1);
        assert_eq!(bucket_of(99), 2);
        assert_eq!(bucket_of(100), 3);
        assert_eq!(bucket_of(10_000), 3);
    }
}
