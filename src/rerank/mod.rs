//! From scores to an order: best score first, ties broken by server rank, then the placement
//! constraints — pinned candidates keep their server position, no candidate moves more than a
//! maximum displacement, and no more than `max_run` candidates in a row share a key.

use serde::{Deserialize, Serialize};

use crate::columns::CandidateColumns;
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

/// Indices of `candidates` by preference: score descending, server rank ascending on ties.
/// `total_cmp` keeps this a total order even if a score were NaN (the runner rejects those).
fn preference(scores: &[f32]) -> Vec<u32> {
    let mut order: Vec<u32> = (0..scores.len() as u32).collect();
    order.sort_unstable_by(|&a, &b| scores[b as usize].total_cmp(&scores[a as usize]).then(a.cmp(&b)));
    order
}

/// The final order, as indices into `candidates`. `scores` has one entry per candidate.
pub fn order(scores: &[f32], candidates: &CandidateColumns, constraints: &Constraints) -> Vec<u32> {
    let preferred = preference(scores);
    let any_pinned = (0..candidates.len()).any(|i| candidates.pinned(i));
    if !any_pinned && constraints.max_displacement.is_none() && constraints.diversity.is_none() {
        return preferred;
    }
    Placer::new(candidates, constraints).place(&preferred)
}

/// Fills free positions one by one with the most preferred candidate the constraints allow.
struct Placer<'a> {
    candidates: &'a CandidateColumns,
    constraints: &'a Constraints,
    /// `slots[p]` is the candidate at position `p` once placed.
    slots: Vec<Option<u32>>,
    /// For displacement: `free_before[p]` = free positions before `p`.
    free_before: Vec<usize>,
}

impl<'a> Placer<'a> {
    fn new(candidates: &'a CandidateColumns, constraints: &'a Constraints) -> Self {
        let slots: Vec<Option<u32>> =
            (0..candidates.len()).map(|i| candidates.pinned(i).then_some(i as u32)).collect();
        let mut free_before = Vec::with_capacity(slots.len() + 1);
        let mut free = 0;
        for slot in &slots {
            free_before.push(free);
            free += usize::from(slot.is_none());
        }
        free_before.push(free);
        Placer { candidates, constraints, slots, free_before }
    }

    fn place(mut self, preferred: &[u32]) -> Vec<u32> {
        let n = self.candidates.len();
        let mut placed: Vec<bool> = (0..n).map(|i| self.candidates.pinned(i)).collect();
        // Unplaced candidates in server order = deadline order for the displacement rule.
        let mut by_rank: Vec<u32> = (0..n as u32).filter(|&i| !placed[i as usize]).collect();
        for position in 0..n {
            if self.slots[position].is_some() {
                continue;
            }
            let must_choose_from = self.tight_prefix(position, &by_rank);
            let allowed = |i: u32| {
                let i = i as usize;
                !placed[i]
                    && self.within_displacement(i, position)
                    && must_choose_from.is_none_or(|limit| i <= limit)
            };
            let choice = preferred
                .iter()
                .copied()
                .filter(|&i| allowed(i))
                .find(|&i| self.keeps_diversity(i, position))
                .or_else(|| preferred.iter().copied().find(|&i| allowed(i)))
                // Unreachable while the identity order satisfies every rule; kept so a bug
                // can never leave a hole: take the lowest-ranked unplaced candidate.
                .unwrap_or(by_rank[0]);
            placed[choice as usize] = true;
            self.slots[position] = Some(choice);
            let at = by_rank.binary_search(&choice).expect("unplaced candidates are in by_rank");
            by_rank.remove(at);
        }
        self.slots.into_iter().map(|slot| slot.expect("every position filled")).collect()
    }

    fn within_displacement(&self, candidate: usize, position: usize) -> bool {
        self.constraints.max_displacement.is_none_or(|d| candidate.abs_diff(position) <= d)
    }

    /// With a displacement bound, candidate `i` must be placed by position `i + d`. If the
    /// first `k` unplaced candidates (in rank order) exactly fill the free positions up to the
    /// k-th one's deadline, one of them must go now: returns the highest rank allowed now.
    fn tight_prefix(&self, position: usize, by_rank: &[u32]) -> Option<usize> {
        let d = self.constraints.max_displacement?;
        let n = self.candidates.len();
        for (k, &i) in by_rank.iter().enumerate() {
            let deadline = (i as usize + d).clamp(position, n - 1);
            let free_slots = self.free_before[deadline + 1] - self.free_before[position];
            if free_slots <= k + 1 {
                return Some(i as usize);
            }
        }
        None
    }

    fn keeps_diversity(&self, candidate: u32, position: usize) -> bool {
        let Some(diversity) = self.constraints.diversity else { return true };
        let Some(key) = diversity.key(self.candidates, candidate) else { return true };
        let run = self.slots[..position]
            .iter()
            .rev()
            .take(diversity.max_run)
            .take_while(|slot| slot.is_some_and(|c| diversity.key(self.candidates, c) == Some(key)))
            .count();
        run < diversity.max_run
    }
}

#[cfg(test)]
mod tests;
