//! Turns (candidates, signal store, request context) into the model's input: a row-major
//! `[N, F]` matrix in contract order. The device and the offline replay both call this, so
//! training and serving features cannot differ.

use super::contract::Contract;
use super::feature::Feature;
use crate::error::Result;
use crate::item::{Candidate, Family};
use crate::signals::decay::{DAY_MS, HALF_LIFE_COUNT};
use crate::signals::{SignalStore, UserVector};

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
}

impl FamilySummary {
    fn of(keys: &[String], family: Family, store: &SignalStore, now: f64) -> Self {
        let mut summary = FamilySummary::default();
        if keys.is_empty() {
            return summary;
        }
        for stats in keys.iter().filter_map(|key| store.key(family, key)) {
            for h in 0..HALF_LIFE_COUNT {
                let (positive, negative) = stats.affinity_at(h, now);
                summary.positive[h] += positive;
                summary.negative[h] += negative;
            }
            summary.last_positive_at = match (summary.last_positive_at, stats.last_positive_at) {
                (Some(a), Some(b)) => Some(a.max(b)),
                (a, b) => a.or(b),
            };
            summary.fatigue = summary.fatigue.max(stats.fatigue_at(now));
        }
        let count = keys.len() as f64;
        for h in 0..HALF_LIFE_COUNT {
            summary.positive[h] /= count;
            summary.negative[h] /= count;
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
            | Feature::Fatigue { family } = *feature
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
        Ok(FeatureBuilder { features, families_used, recent_used })
    }

    pub fn width(&self) -> usize {
        self.features.len()
    }

    pub fn features(&self) -> &[Feature] {
        &self.features
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
        out.clear();
        out.reserve(candidates.len() * self.width());
        let now = context.now;
        let mut total_positive = [0.0; HALF_LIFE_COUNT];
        if let Some(totals) = store.totals() {
            for (h, total) in total_positive.iter_mut().enumerate() {
                *total = totals.affinity_at(h, now).0;
            }
        }
        let local_hour = ((now + context.utc_offset_minutes * 60_000.0) / HOUR_MS).rem_euclid(24.0);
        let hour_angle = local_hour / 24.0 * std::f64::consts::TAU;
        let user_vector = store.user_vector();
        let session_vector = store.session_vector();

        let mut summaries = [FamilySummary::default(); 4];
        let mut recent = Vec::with_capacity(self.recent_used);
        for (rank, candidate) in candidates.iter().enumerate() {
            for family in Family::ALL {
                if self.families_used[family.index()] {
                    let keys = candidate.item.keys(family);
                    summaries[family.index()] = FamilySummary::of(keys, family, store, now);
                }
            }
            recent.clear();
            if let (true, Some(embedding)) = (self.recent_used > 0, candidate.item.embedding.as_deref()) {
                store.recent().cosines_into(embedding, self.recent_used, &mut recent);
            }
            for feature in &self.features {
                let value = match *feature {
                    Feature::ServerScore => f64::from(candidate.server_score.unwrap_or(0.0)),
                    Feature::ServerRank => (rank as f64).ln_1p(),
                    Feature::ServerPopularity => {
                        f64::from(candidate.popularity.unwrap_or(0.0).max(0.0)).ln_1p()
                    }
                    Feature::ServerAge => candidate
                        .created_at
                        .map_or(0.0, |created| ((now - created).max(0.0) / HOUR_MS).ln_1p()),
                    Feature::Affinity { family, positive, half_life } => {
                        let summary = &summaries[family.index()];
                        let value = if positive { summary.positive } else { summary.negative };
                        value[half_life].ln_1p()
                    }
                    Feature::Share { family, half_life } => {
                        let total = total_positive[half_life];
                        if total > 0.0 {
                            summaries[family.index()].positive[half_life] / total
                        } else {
                            0.0
                        }
                    }
                    Feature::Recency { family } => summaries[family.index()]
                        .last_positive_at
                        .map_or(0.0, |at| 1.0 / (1.0 + (now - at).max(0.0) / DAY_MS)),
                    Feature::Fatigue { family } => summaries[family.index()].fatigue.ln_1p(),
                    Feature::UserSimilarity => similarity(user_vector, candidate),
                    Feature::SessionSimilarity => similarity(session_vector, candidate),
                    Feature::RecentSimilarity { mean, count } => recent_similarity(&recent, mean, count),
                    Feature::RecentSimilarityLast => recent_similarity(&recent, false, 1),
                    Feature::UserActivity { half_life } => total_positive[half_life].ln_1p(),
                    Feature::HourSin => hour_angle.sin(),
                    Feature::HourCos => hour_angle.cos(),
                };
                out.push(value as f32);
            }
        }
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
        f64::from(cosines.iter().copied().fold(f32::NEG_INFINITY, f32::max))
    }
}

/// Cosine of a local vector and the candidate's embedding; 0 when either is missing.
fn similarity(vector: Option<&UserVector>, candidate: &Candidate) -> f64 {
    match (vector, candidate.item.embedding.as_deref()) {
        (Some(vector), Some(embedding)) if vector.dimension() == embedding.len() => {
            f64::from(vector.cosine(embedding))
        }
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests;
