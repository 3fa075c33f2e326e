//! What the device showed: the last few reranked lists' top candidates, with their signal
//! features and base scores as of the rerank, waiting for the engagement that labels them.
//! Reranks fill it; recorded events label it; a list is learnt from once its label window has
//! closed (or when a newer list pushes it out).

use std::collections::VecDeque;

use crate::item::EventKind;

/// Outcomes of a shown candidate, as labels (higher is better). Engagement (a click, a dwell,
/// a like, a share) is relevant; a hide or a dismiss is a strong negative, below a candidate
/// that was shown and left alone.
pub const ENGAGED: f32 = 1.0;
pub const IGNORED: f32 = 0.0;
pub const REJECTED: f32 = -1.0;

#[derive(Debug, Clone, PartialEq)]
pub struct ShownList {
    pub(crate) shown_at: f64,
    /// Events after this no longer label the list.
    pub(crate) closes_at: f64,
    /// `item_hash` of each candidate's id, in shown order.
    pub(crate) items: Vec<u64>,
    /// Base scores (server prior + the model's local term) as served.
    pub(crate) base: Vec<f32>,
    pub(crate) labels: Vec<f32>,
    /// `[items.len(), head width]`: each candidate's signal features.
    pub(crate) rows: Vec<f32>,
}

impl ShownList {
    pub fn new(shown_at: f64, closes_at: f64, items: Vec<u64>, base: Vec<f32>, rows: Vec<f32>) -> ShownList {
        let labels = vec![IGNORED; items.len()];
        ShownList { shown_at, closes_at, items, base, labels, rows }
    }

    /// Whether an event on `item` at `at` is an outcome of this list: the item was in it, and
    /// the event came inside its window.
    fn covers(&self, item: u64, at: f64) -> bool {
        (self.shown_at..=self.closes_at).contains(&at) && self.items.contains(&item)
    }

    /// Labels the candidate with this id. A rejection stands whatever else happens;
    /// engagement otherwise.
    fn label(&mut self, item: u64, outcome: f32) {
        for (id, label) in self.items.iter().zip(&mut self.labels) {
            if *id == item && *label != REJECTED {
                *label = outcome;
            }
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShownMemory {
    /// Oldest first.
    pub(crate) lists: VecDeque<ShownList>,
}

impl ShownMemory {
    pub fn len(&self) -> usize {
        self.lists.len()
    }

    pub fn is_empty(&self) -> bool {
        self.lists.is_empty()
    }

    /// Labels every remembered list that showed the item and whose window the event falls in:
    /// what the user engaged with within the window after each list was shown (a feed
    /// re-rendered after each click thus learns, from each render, what the user went on to
    /// engage with). Applying the same event twice changes nothing (a journal replayed after
    /// a crash may do so).
    pub fn observe(&mut self, item: u64, kind: EventKind, at: f64) {
        let outcome = if kind.negative_weight() > 0.0 {
            REJECTED
        } else if kind.is_positive() {
            ENGAGED
        } else {
            return;
        };
        for list in self.lists.iter_mut().filter(|l| l.covers(item, at)) {
            list.label(item, outcome);
        }
    }

    /// The oldest list, if its window has closed by `now`.
    pub fn pop_closed(&mut self, now: f64) -> Option<ShownList> {
        self.lists.front().is_some_and(|l| l.closes_at <= now).then(|| self.lists.pop_front()).flatten()
    }

    pub fn push(&mut self, list: ShownList) {
        self.lists.push_back(list);
    }

    /// The oldest list, while there are more than `capacity` (a new model's contract may
    /// remember fewer lists than the one before it).
    pub fn pop_excess(&mut self, capacity: usize) -> Option<ShownList> {
        (self.lists.len() > capacity).then(|| self.lists.pop_front()).flatten()
    }

    /// Forgets lists shown before `oldest_kept`.
    pub fn prune(&mut self, oldest_kept: f64) {
        self.lists.retain(|l| l.shown_at >= oldest_kept);
    }
}

/// A candidate id as the memory keeps it: 64-bit FNV-1a, so a list costs 8 bytes per
/// candidate whatever its ids' lengths (a collision, about 1 in 10¹⁷ per pair of ids, would
/// only mislabel one remembered candidate).
pub fn item_hash(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
