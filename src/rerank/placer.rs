//! The placement rule: fill positions left to right (pinned ones are taken), each with the
//! most preferred unplaced candidate the constraints allow — within the displacement bound of
//! the position; among the candidates that must go now if some would otherwise miss their
//! deadline (rank + bound); and preferably not one that would make a run longer than
//! `max_run`. Each position costs a few tree operations (`trees.rs`), so a list of n
//! candidates is placed in O(n log n), whatever the constraints.

use std::collections::HashMap;

use super::trees::{DeadlineTree, Entry, PreferenceTree};
use super::{Constraints, Diversity};
use crate::columns::CandidateColumns;
use crate::error::Result;

/// How many positions are placed between two looks at the time budget.
const BUDGET_STRIDE: usize = 1024;

pub(super) fn place(
    preferred: &[u32],
    candidates: &CandidateColumns,
    constraints: &Constraints,
    within_budget: &mut dyn FnMut() -> Result<()>,
) -> Result<Vec<u32>> {
    let n = candidates.len();
    let pinned: Vec<bool> = (0..n).map(|i| candidates.pinned(i)).collect();
    let keys = DiversityKeys::new(candidates, constraints.diversity);
    let mut preference = vec![0u32; n];
    for (position, &i) in preferred.iter().enumerate() {
        preference[i as usize] = position as u32;
    }
    let mut unplaced = PreferenceTree::new(
        (0..n).map(|i| (!pinned[i]).then(|| Entry { preference: preference[i], key: keys.id[i] })),
    );
    let mut deadlines = constraints.max_displacement.map(|d| deadline_tree(&pinned, d));
    let mut placed = pinned.clone();
    // The lowest-ranked unplaced candidate, for the fallback below.
    let mut first_unplaced = 0;
    let mut run = Run::default();
    let mut order = Vec::with_capacity(n);
    for (position, &is_pinned) in pinned.iter().enumerate() {
        if position % BUDGET_STRIDE == 0 {
            within_budget()?;
        }
        if is_pinned {
            order.push(position as u32);
            run.extend(keys.key_of(position));
            continue;
        }
        let (low, high) = match constraints.max_displacement {
            Some(d) => (position.saturating_sub(d), (position + d).min(n - 1)),
            None => (0, n - 1),
        };
        let must_go_by = deadlines.as_ref().and_then(DeadlineTree::first_due);
        let high = must_go_by.map_or(high, |limit| high.min(limit));
        let blocked = constraints.diversity.and_then(|diversity| run.blocked(diversity.max_run));
        while placed[first_unplaced] {
            first_unplaced += 1;
        }
        let choice = unplaced
            .query(low, high)
            .pick(blocked)
            .map(|entry| preferred[entry.preference as usize] as usize)
            // Unreachable while the identity order satisfies every rule; kept so a bug can
            // never leave a hole: take the lowest-ranked unplaced candidate.
            .unwrap_or(first_unplaced);
        placed[choice] = true;
        unplaced.remove(choice);
        if let Some(deadlines) = &mut deadlines {
            deadlines.remove(choice);
            // Every candidate ranked after `choice` has one fewer unplaced candidate before it
            // (+1), and every candidate one fewer free position left (-1).
            if choice > 0 {
                deadlines.add(0, choice - 1, -1);
            }
        }
        order.push(choice as u32);
        run.extend(keys.key_of(choice));
    }
    Ok(order)
}

/// The slack of each unplaced candidate before anything is placed: free positions up to its
/// deadline minus the unplaced candidates ranked up to it (= the free positions up to itself).
fn deadline_tree(pinned: &[bool], max_displacement: usize) -> DeadlineTree {
    let n = pinned.len();
    let mut free_before = Vec::with_capacity(n + 1);
    let mut free = 0i64;
    for &pin in pinned {
        free_before.push(free);
        free += i64::from(!pin);
    }
    free_before.push(free);
    DeadlineTree::new((0..n).map(|i| {
        let deadline = (i + max_displacement).min(n - 1);
        (!pinned[i]).then(|| free_before[deadline + 1] - free_before[i + 1])
    }))
}

/// Each candidate's diversity key as a number: equal numbers for equal keys, and a number of
/// its own for a candidate without a key (so it never continues a run).
struct DiversityKeys {
    id: Vec<u32>,
    has_key: Vec<bool>,
}

impl DiversityKeys {
    fn new(candidates: &CandidateColumns, diversity: Option<Diversity>) -> DiversityKeys {
        let n = candidates.len();
        let mut interned: HashMap<&str, u32> = HashMap::new();
        let mut id = Vec::with_capacity(n);
        let mut has_key = Vec::with_capacity(n);
        for i in 0..n {
            let key = diversity.and_then(|diversity| diversity.key(candidates, i as u32));
            let next = interned.len() as u32;
            id.push(key.map_or(n as u32 + i as u32, |key| *interned.entry(key).or_insert(next)));
            has_key.push(key.is_some());
        }
        DiversityKeys { id, has_key }
    }

    fn key_of(&self, candidate: usize) -> Option<u32> {
        self.has_key[candidate].then_some(self.id[candidate])
    }
}

/// The run of one key that ends at the last filled position.
#[derive(Default)]
struct Run {
    key: Option<u32>,
    length: usize,
}

impl Run {
    fn extend(&mut self, key: Option<u32>) {
        if key.is_some() && key == self.key {
            self.length += 1;
        } else {
            self.key = key;
            self.length = usize::from(key.is_some());
        }
    }

    /// The key a next candidate must not have, if the run is already `max_run` long.
    fn blocked(&self, max_run: usize) -> Option<u32> {
        self.key.filter(|_| self.length >= max_run)
    }
}
