//! From scores to an order: best score first, ties broken by server rank, then the placement
//! constraints — pinned candidates keep their server position, no candidate moves more than a
//! maximum displacement, and no more than `max_run` candidates in a row share a key
//! (`placer.rs`, in O(n log n) with the trees of `trees.rs`).

mod placer;
mod trees;

use serde::{Deserialize, Serialize};

use crate::columns::CandidateColumns;
use crate::error::{Error, Result};
use crate::item::Family;

/// Placement rules for one request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Constraints {
    /// Most positions a candidate may move from its server rank, up or down.
    #[serde(default)]
    pub max_displacement: Option<usize>,
    #[serde(default)]
    pub diversity: Option<Diversity>,
}

/// At most `max_run` candidates in a row with the same author (or outermost container).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Diversity {
    pub by: DiversityKey,
    pub max_run: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DiversityKey {
    Author,
    Container,
}

impl Diversity {
    fn key(self, candidates: &CandidateColumns, i: u32) -> Option<&str> {
        let family = match self.by {
            DiversityKey::Author => Family::Author,
            DiversityKey::Container => Family::Container,
        };
        candidates.first_key(i as usize, family)
    }
}

/// Indices of `candidates` by preference: score descending, server rank ascending on ties, in
/// `total_cmp`'s order of scores (a total order even if a score were NaN; the runner rejects
/// those). Each candidate is sorted as one integer, its score's key then its index: under
/// `perf` at N = 500, with the personal head reordering the list, the sort took about 2.5
/// times less than with a comparator looking the scores up.
pub fn preference(scores: &[f32]) -> Vec<u32> {
    let mut keys: Vec<u64> =
        (scores.iter().zip(0u32..)).map(|(&s, i)| u64::from(descending(s)) << 32 | u64::from(i)).collect();
    keys.sort_unstable();
    // The low half is the index.
    keys.into_iter().map(|key| key as u32).collect()
}

/// A key whose integer order is the reverse of `total_cmp`'s order of scores.
fn descending(score: f32) -> u32 {
    let bits = score.to_bits();
    // `total_cmp`'s own mapping: a negative's magnitude bits flipped, then the sign bit.
    let ascending = if bits >> 31 == 1 { !bits } else { bits | 1 << 31 };
    !ascending
}

/// The final order, as indices into `candidates`. `scores` has one entry per candidate.
/// `within_budget` is called every thousand placements or so; its error stops the placement.
pub fn order(
    scores: &[f32],
    candidates: &CandidateColumns,
    constraints: &Constraints,
    within_budget: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<u32>> {
    let preferred = preference(scores);
    let any_pinned = (0..candidates.len()).any(|i| candidates.pinned(i));
    if !any_pinned && constraints.max_displacement.is_none() && constraints.diversity.is_none() {
        return Ok(preferred);
    }
    placer::place(&preferred, candidates, constraints, within_budget)
}

impl Constraints {
    /// The rules a request's constraints must meet (a run of zero could never be kept).
    pub fn validate(&self) -> Result<()> {
        match self.diversity {
            Some(diversity) if diversity.max_run == 0 => {
                Err(Error::InvalidRequest("constraints.diversity.maxRun must be at least 1".into()))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests;
