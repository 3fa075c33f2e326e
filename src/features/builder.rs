//! Turns (candidates, signal store, request context) into the model's input: a row-major
//! `[N, F]` matrix in contract order. The device and the offline replay both call this, so
//! training and serving features cannot differ.

use super::contract::Contract;
use super::feature::{Feature, ServerField, MAX_DWELL_RATIO, SHARE_PRIOR_ENGAGEMENT};
use crate::columns::CandidateColumns;
use crate::error::Result;
use crate::item::{Candidate, EventKind, Family, DWELL_UNIT_MS};
use crate::signals::decay::{DAY_MS, HALF_LIFE_COUNT};
use crate::signals::KeyStats;
use crate::signals::{RecentMatrix, SignalStore, UserVector};

const HOUR_MS: f64 = 3_600_000.0;

/// What a request knows besides its candidates.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RequestContext {
    /// The time to rank at, ms since the Unix epoch; signals are decayed to it.
    pub now: f64,
    /// The user's offset from UTC, for time-of-day features.
    pub utc_offset_minutes: f64,
}

#[derive(Debug, Clone)]
pub struct FeatureBuilder {
    features: Vec<Feature>,
    /// Families whose key summaries some feature reads, so the rest are never looked up.
    families_used: [bool; 4],
    /// How many recent embeddings some feature reads (one dot product each per candidate).
    recent_used: usize,
    /// Server fields whose within-list quantiles some feature reads.
    quantiles_used: [bool; 4],
    /// Whether some feature reads per-kind counts (`count.*`, `dwell.*`), which the key
    /// summaries then carry.
    counts_used: bool,
    /// Columns of the candidate signal features (`Feature::is_candidate_signal`).
    signal_columns: Vec<usize>,
}

/// One candidate's keys of one family, summarised in a single pass over the store.
#[derive(Debug, Clone, Copy, Default)]
struct FamilySummary {
    /// Mean over the keys (absent keys count as zero) of decayed positive/negative engagement.
    positive: [f64; HALF_LIFE_COUNT],
    negative: [f64; HALF_LIFE_COUNT],
    /// Newest positive engagement with any of the keys.
    last_positive_at: Option<f64>,
    /// Most fatigue on one key.
    fatigue: f64,
    /// Mean over the keys of each kind's decayed count (when `counts_used`).
    counts: [[f64; HALF_LIFE_COUNT]; EventKind::COUNT],
    /// Newest event of any kind on one of the keys.
    last_seen_at: Option<f64>,
    /// Mean dwell (ms) per exposure over the keys that had exposures (when `counts_used`).
    dwell_per_exposure: [f64; HALF_LIFE_COUNT],
}

/// What the store says about one key at `now`, computed once per request and key.
#[derive(Debug, Clone, Copy)]
struct KeySummary {
    positive: [f64; HALF_LIFE_COUNT],
    negative: [f64; HALF_LIFE_COUNT],
    last_positive_at: Option<f64>,
    fatigue: f64,
    /// All zero unless the contract reads counts.
    counts: [[f64; HALF_LIFE_COUNT]; EventKind::COUNT],
    last_seen_at: f64,
}

impl KeySummary {
    fn of(stats: &KeyStats, now: f64, with_counts: bool) -> Self {
        let mut summary = KeySummary {
            positive: [0.0; HALF_LIFE_COUNT],
            negative: [0.0; HALF_LIFE_COUNT],
            last_positive_at: stats.last_positive_at,
            fatigue: stats.fatigue_at(now),
            counts: [[0.0; HALF_LIFE_COUNT]; EventKind::COUNT],
            last_seen_at: stats.last_seen_at,
        };
        for h in 0..HALF_LIFE_COUNT {
            (summary.positive[h], summary.negative[h]) = stats.affinity_at(h, now);
        }
        if with_counts {
            for kind in EventKind::ALL {
                for h in 0..HALF_LIFE_COUNT {
                    summary.counts[kind.index()][h] = stats.count_at(kind, h, now);
                }
            }
        }
        summary
    }
}

/// Buffers reused across requests.
#[derive(Debug, Clone, Default)]
pub struct FeatureScratch {
    keys: KeySummaries,
    /// The recent embeddings the features read, laid out once per request.
    recent: RecentMatrix,
    /// One candidate's cosines with them.
    cosines: Vec<f32>,
    /// Per server field, each candidate's quantile in the list, and the sort behind it (each
    /// value with its candidate, so sorting compares values in place).
    quantiles: [Vec<f32>; 4],
    order: Vec<(f64, u32)>,
}

/// Per family and string of the request's table, the key's summary (decays need `exp2`, and a
/// popular author or topic appears on many candidates).
#[derive(Debug, Clone, Default)]
struct KeySummaries {
    /// `slots[family][string]`: `UNSEEN`, `ABSENT` (not in the store) or an index into `keys`.
    slots: [Vec<u32>; 4],
    keys: Vec<KeySummary>,
    /// Whether summaries carry per-kind counts.
    with_counts: bool,
}

const UNSEEN: u32 = u32::MAX;
const ABSENT: u32 = u32::MAX - 1;

impl KeySummaries {
    fn reset(&mut self, strings: usize, families_used: [bool; 4], with_counts: bool) {
        self.with_counts = with_counts;
        for (slots, used) in self.slots.iter_mut().zip(families_used) {
            slots.clear();
            if used {
                slots.resize(strings, UNSEEN);
            }
        }
        self.keys.clear();
    }

    fn key(
        &mut self,
        family: Family,
        key: u32,
        candidates: &CandidateColumns,
        store: &SignalStore,
        now: f64,
    ) -> Option<&KeySummary> {
        let slot = &mut self.slots[family.index()][key as usize];
        if *slot == UNSEEN {
            *slot = match store.key(family, candidates.string(key)) {
                Some(stats) => {
                    self.keys.push(KeySummary::of(stats, now, self.with_counts));
                    (self.keys.len() - 1) as u32
                }
                None => ABSENT,
            };
        }
        match *slot {
            ABSENT => None,
            index => Some(&self.keys[index as usize]),
        }
    }
}

impl FamilySummary {
    fn of(
        i: usize,
        family: Family,
        candidates: &CandidateColumns,
        store: &SignalStore,
        now: f64,
        key_summaries: &mut KeySummaries,
    ) -> Self {
        let mut summary = FamilySummary::default();
        let keys = candidates.keys(i, family);
        if keys.is_empty() {
            return summary;
        }
        let with_counts = key_summaries.with_counts;
        let mut exposed = [0usize; HALF_LIFE_COUNT];
        for &key in keys {
            let Some(stats) = key_summaries.key(family, key, candidates, store, now) else { continue };
            for h in 0..HALF_LIFE_COUNT {
                summary.positive[h] += stats.positive[h];
                summary.negative[h] += stats.negative[h];
            }
            summary.last_positive_at = latest(summary.last_positive_at, stats.last_positive_at);
            summary.last_seen_at = latest(summary.last_seen_at, Some(stats.last_seen_at));
            summary.fatigue = summary.fatigue.max(stats.fatigue);
            if with_counts {
                for (sum, count) in summary.counts.iter_mut().flatten().zip(stats.counts.iter().flatten()) {
                    *sum += count;
                }
                let impressions = &stats.counts[EventKind::Impression.index()];
                let dwell = &stats.counts[EventKind::Dwell.index()];
                for h in 0..HALF_LIFE_COUNT {
                    if impressions[h] > 0.0 {
                        summary.dwell_per_exposure[h] += dwell[h] * DWELL_UNIT_MS / impressions[h];
                        exposed[h] += 1;
                    }
                }
            }
        }
        // Means over the keys. Most candidates have one key of a family (its id, its author),
        // and a division by 1 changes nothing: skipping it saves ~30 divisions per family.
        let count = keys.len() as f64;
        if keys.len() > 1 {
            for h in 0..HALF_LIFE_COUNT {
                summary.positive[h] /= count;
                summary.negative[h] /= count;
            }
        }
        if with_counts {
            if keys.len() > 1 {
                for sum in summary.counts.iter_mut().flatten() {
                    *sum /= count;
                }
            }
            for (sum, &n) in summary.dwell_per_exposure.iter_mut().zip(&exposed) {
                if n > 0 {
                    *sum /= n as f64;
                }
            }
        }
        summary
    }
}

impl FeatureBuilder {
    /// Compiles a contract; a feature name this build does not know fails here, by name.
    pub fn new(contract: &Contract) -> Result<Self> {
        let features =
            contract.features.iter().map(|name| Feature::parse(name)).collect::<Result<Vec<_>>>()?;
        let mut families_used = [false; 4];
        for feature in &features {
            if let Feature::Affinity { family, .. }
            | Feature::Share { family, .. }
            | Feature::Recency { family }
            | Feature::Fatigue { family }
            | Feature::Count { family, .. }
            | Feature::Seen { family }
            | Feature::DwellRelative { family, .. } = *feature
            {
                families_used[family.index()] = true;
            }
        }
        let recent_used = features
            .iter()
            .map(|f| match *f {
                Feature::RecentSimilarity { count, .. } => count,
                Feature::RecentSimilarityLast => 1,
                _ => 0,
            })
            .max()
            .unwrap_or(0);
        let mut quantiles_used = [false; 4];
        for feature in &features {
            if let Feature::ServerQuantile(field) = *feature {
                quantiles_used[field.index()] = true;
            }
        }
        let counts_used =
            features.iter().any(|f| matches!(f, Feature::Count { .. } | Feature::DwellRelative { .. }));
        let signal_columns = (0..features.len()).filter(|&c| features[c].is_candidate_signal()).collect();
        Ok(FeatureBuilder {
            features,
            families_used,
            recent_used,
            quantiles_used,
            counts_used,
            signal_columns,
        })
    }

    pub fn width(&self) -> usize {
        self.features.len()
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
    }

    /// The columns of the candidate signal features: all 0 in a row means the store
    /// knows nothing that bears on that candidate.
    pub fn signal_columns(&self) -> &[usize] {
        &self.signal_columns
    }

    /// Writes the `[candidates.len(), width]` matrix into `out` (cleared first, so a caller can
    /// reuse one buffer across requests). Candidates must have been validated.
    pub fn build_into(
        &self,
        candidates: &[Candidate],
        store: &SignalStore,
        context: &RequestContext,
        out: &mut Vec<f32>,
    ) {
        let columns = CandidateColumns::from_candidates(candidates);
        self.build_columns_into(&columns, store, context, &mut FeatureScratch::default(), out);
    }

    /// `build_into` for columns, with buffers kept in `scratch` between requests.
    pub fn build_columns_into(
        &self,
        candidates: &CandidateColumns,
        store: &SignalStore,
        context: &RequestContext,
        scratch: &mut FeatureScratch,
        out: &mut Vec<f32>,
    ) {
        out.clear();
        out.reserve(candidates.len() * self.width());
        scratch.keys.reset(candidates.string_count(), self.families_used, self.counts_used);
        store.recent().newest_into(self.recent_used, &mut scratch.recent);
        let now = context.now;
        let mut total_positive = [0.0; HALF_LIFE_COUNT];
        if let Some(totals) = store.totals() {
            for (h, total) in total_positive.iter_mut().enumerate() {
                *total = totals.affinity_at(h, now).0;
            }
        }
        let local_hour = ((now + context.utc_offset_minutes * 60_000.0) / HOUR_MS).rem_euclid(24.0);
        let hour_angle = local_hour / 24.0 * std::f64::consts::TAU;
        // The same for every row: computed once (wasm has no native log/sin, libm's are slow).
        let (hour_sin, hour_cos) = hour_angle.sin_cos();
        let activity = total_positive.map(ln_1p);
        let user_vector = store.user_vector();
        let session_vector = store.session_vector();
        for field in ServerField::ALL {
            if self.quantiles_used[field.index()] {
                let value = |i: usize| match field {
                    ServerField::Score => candidates.server_score(i).map(f64::from),
                    ServerField::Popularity => candidates.popularity(i).map(f64::from),
                    // Older is higher, as age grows.
                    ServerField::Age => candidates.created_at(i).map(|created| -created),
                    ServerField::Duration => candidates.duration_ms(i),
                };
                quantiles_into(
                    candidates.len(),
                    value,
                    &mut scratch.order,
                    &mut scratch.quantiles[field.index()],
                );
            }
        }

        let mut summaries = [FamilySummary::default(); 4];
        let recent = &mut scratch.cosines;
        for rank in 0..candidates.len() {
            for family in Family::ALL {
                if self.families_used[family.index()] {
                    summaries[family.index()] =
                        FamilySummary::of(rank, family, candidates, store, now, &mut scratch.keys);
                }
            }
            let embedding = candidates.embedding(rank);
            recent.clear();
            if let Some(embedding) = embedding {
                scratch.recent.cosines_into(embedding, recent);
            }
            for feature in &self.features {
                let value = match *feature {
                    Feature::ServerRank => ln_1p(rank as f64),
                    Feature::ServerQuantile(field) => f64::from(scratch.quantiles[field.index()][rank]),
                    Feature::Affinity { family, positive, half_life } => {
                        let summary = &summaries[family.index()];
                        let value = if positive { summary.positive } else { summary.negative };
                        ln_1p(value[half_life])
                    }
                    Feature::Share { family, half_life } => {
                        // One engagement's worth in the denominator: a plain ratio stays at 1
                        // while one old like decays to nothing (numerator and denominator
                        // alike), so a model read a like from months ago as a strong signal.
                        // The bound: after a clock stepped back, a value updated after `now`
                        // is read undecayed (see `decay_factor`) while one updated before
                        // decays, and a key's old engagement over totals updated since was
                        // once 3·10²⁰ (the model's output −∞).
                        let share = summaries[family.index()].positive[half_life]
                            / (total_positive[half_life] + SHARE_PRIOR_ENGAGEMENT);
                        share.min(1.0)
                    }
                    Feature::Recency { family } => summaries[family.index()]
                        .last_positive_at
                        .map_or(0.0, |at| 1.0 / (1.0 + (now - at).max(0.0) / DAY_MS)),
                    Feature::Fatigue { family } => ln_1p(summaries[family.index()].fatigue),
                    Feature::Count { family, kind, half_life } => {
                        ln_1p(summaries[family.index()].counts[kind.index()][half_life])
                    }
                    Feature::Seen { family } => summaries[family.index()]
                        .last_seen_at
                        .map_or(0.0, |at| 1.0 / (1.0 + (now - at).max(0.0) / HOUR_MS)),
                    Feature::DwellRelative { family, half_life } => {
                        match candidates.duration_ms(rank).filter(|&d| d > 0.0) {
                            Some(duration) => (summaries[family.index()].dwell_per_exposure[half_life]
                                / duration)
                                .min(MAX_DWELL_RATIO),
                            None => 0.0,
                        }
                    }
                    Feature::UserSimilarity => similarity(user_vector, embedding),
                    Feature::SessionSimilarity => similarity(session_vector, embedding),
                    Feature::RecentSimilarity { mean, count } => recent_similarity(recent, mean, count),
                    Feature::RecentSimilarityLast => recent_similarity(recent, false, 1),
                    Feature::UserActivity { half_life } => activity[half_life],
                    Feature::HourSin => hour_sin,
                    Feature::HourCos => hour_cos,
                };
                out.push(value as f32);
            }
        }
    }
}

/// Each of `count` candidates' mid-rank quantile of `value` among those that have one:
/// (values below + half the equal ones + ½) / how many have one, in (0, 1); 0 without a value.
/// Only the order of the values matters, so any increasing map of them gives the same output.
fn quantiles_into(
    count: usize,
    value: impl Fn(usize) -> Option<f64>,
    order: &mut Vec<(f64, u32)>,
    out: &mut Vec<f32>,
) {
    out.clear();
    out.resize(count, 0.0);
    order.clear();
    order.extend((0..count as u32).filter_map(|i| value(i as usize).map(|v| (v, i))));
    order.sort_unstable_by(|a, b| a.0.total_cmp(&b.0));
    let present = order.len();
    let mut start = 0;
    while start < present {
        // `==`, not the sort's total order, decides ties: -0 and +0 are one value.
        let first = order[start].0;
        let end = start + order[start..].iter().take_while(|(v, _)| *v == first).count();
        let quantile = (start + end) as f64 / (2 * present) as f64;
        for &(_, i) in &order[start..end] {
            out[i as usize] = quantile as f32;
        }
        start = end;
    }
}

/// The later of two optional times.
fn latest(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    }
}

/// Best or mean of the first `count` of `cosines` (newest first); 0 when there are none.
fn recent_similarity(cosines: &[f32], mean: bool, count: usize) -> f64 {
    let cosines = &cosines[..count.min(cosines.len())];
    if cosines.is_empty() {
        0.0
    } else if mean {
        cosines.iter().map(|&c| f64::from(c)).sum::<f64>() / cosines.len() as f64
    } else {
        // Not `f32::max`: wasm's `f32.max` differs from it on NaN, so it compiles to a libm call
        // (a tenth of a rerank's feature time). Both skip NaN; they differ only in which of
        // two equal zeros they return, which the model cannot tell apart.
        f64::from(cosines.iter().fold(f32::NEG_INFINITY, |best, &c| if c > best { c } else { best }))
    }
}

/// `x.ln_1p()`, skipping the (software, in wasm) logarithm for the common zero: a key
/// without signals. `ln_1p(±0) = ±0`, so the result is the same bit for bit.
fn ln_1p(x: f64) -> f64 {
    if x == 0.0 {
        x
    } else {
        x.ln_1p()
    }
}

/// Cosine of a local vector and the candidate's embedding; 0 when either is missing.
fn similarity(vector: Option<&UserVector>, embedding: Option<&[f32]>) -> f64 {
    match (vector, embedding) {
        (Some(vector), Some(embedding)) if vector.dimension() == embedding.len() => {
            f64::from(vector.cosine(embedding))
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests;
