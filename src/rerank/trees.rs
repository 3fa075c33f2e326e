//! The two segment trees that make placement O(n log n), both indexed by server rank: which
//! unplaced candidate in a window is preferred (and the preferred one of another key, for the
//! diversity rule), and which unplaced candidate is first due under the displacement bound.

/// An unplaced candidate as the preference tree holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Entry {
    /// Position in the preference order (0: most preferred); unique per candidate.
    pub preference: u32,
    /// The candidate's diversity key (interned; a candidate without one has a key of its own).
    pub key: u32,
}

/// The best two entries of a range whose keys differ: `best`, and the best entry whose key is
/// not `best`'s. Enough to answer "the best one not of key K" for any K.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TopTwo {
    pub best: Option<Entry>,
    pub other_key: Option<Entry>,
}

impl TopTwo {
    fn of(entry: Option<Entry>) -> TopTwo {
        TopTwo { best: entry, other_key: None }
    }

    fn merge(a: TopTwo, b: TopTwo) -> TopTwo {
        let entries = [a.best, a.other_key, b.best, b.other_key];
        let best = entries.into_iter().flatten().min_by_key(|e| e.preference);
        let other_key = best.and_then(|best| {
            entries.into_iter().flatten().filter(|e| e.key != best.key).min_by_key(|e| e.preference)
        });
        TopTwo { best, other_key }
    }

    /// The best entry, or with `blocked` the best one of another key if there is one.
    pub fn pick(self, blocked: Option<u32>) -> Option<Entry> {
        match (self.best, blocked) {
            (Some(best), Some(key)) if best.key == key => self.other_key.or(self.best),
            _ => self.best,
        }
    }
}

/// Unplaced candidates by server rank; answers "the best two of a rank range" in O(log n).
pub struct PreferenceTree {
    size: usize,
    nodes: Vec<TopTwo>,
}

impl PreferenceTree {
    pub fn new(entries: impl ExactSizeIterator<Item = Option<Entry>>) -> PreferenceTree {
        let size = entries.len().next_power_of_two();
        let mut nodes = vec![TopTwo::default(); 2 * size];
        for (i, entry) in entries.enumerate() {
            nodes[size + i] = TopTwo::of(entry);
        }
        for node in (1..size).rev() {
            nodes[node] = TopTwo::merge(nodes[2 * node], nodes[2 * node + 1]);
        }
        PreferenceTree { size, nodes }
    }

    pub fn remove(&mut self, index: usize) {
        let mut node = self.size + index;
        self.nodes[node] = TopTwo::default();
        while node > 1 {
            node /= 2;
            self.nodes[node] = TopTwo::merge(self.nodes[2 * node], self.nodes[2 * node + 1]);
        }
    }

    /// The best two of ranks `low..=high` (nothing if the range is empty).
    pub fn query(&self, low: usize, high: usize) -> TopTwo {
        let mut result = TopTwo::default();
        if low > high {
            return result;
        }
        let (mut left, mut right) = (self.size + low, self.size + high + 1);
        while left < right {
            if left % 2 == 1 {
                result = TopTwo::merge(result, self.nodes[left]);
                left += 1;
            }
            if right % 2 == 1 {
                right -= 1;
                result = TopTwo::merge(result, self.nodes[right]);
            }
            left /= 2;
            right /= 2;
        }
        result
    }
}

/// A value no sequence of updates brings down to zero: what a placed candidate holds.
const PLACED: i64 = 1 << 40;

/// Per candidate (by rank) its slack under the displacement bound: the free positions left
/// up to its deadline minus the unplaced candidates that must fill them by then (itself and
/// every unplaced one ranked before it). Slack 0 means one of those must be placed now.
/// Range-add and "first with slack ≤ 0", both in O(log n).
pub struct DeadlineTree {
    size: usize,
    /// Minimum of the subtree, including this node's own pending `add`.
    min: Vec<i64>,
    add: Vec<i64>,
}

impl DeadlineTree {
    pub fn new(slack: impl ExactSizeIterator<Item = Option<i64>>) -> DeadlineTree {
        let size = slack.len().next_power_of_two();
        let mut min = vec![PLACED; 2 * size];
        for (i, value) in slack.enumerate() {
            min[size + i] = value.unwrap_or(PLACED);
        }
        for node in (1..size).rev() {
            min[node] = min[2 * node].min(min[2 * node + 1]);
        }
        DeadlineTree { size, min, add: vec![0; 2 * size] }
    }

    /// Adds `delta` to ranks `low..=high`.
    pub fn add(&mut self, low: usize, high: usize, delta: i64) {
        self.add_in(1, 0, self.size - 1, low, high, delta);
    }

    fn add_in(&mut self, node: usize, from: usize, to: usize, low: usize, high: usize, delta: i64) {
        if high < from || to < low {
            return;
        }
        if low <= from && to <= high {
            self.min[node] += delta;
            self.add[node] += delta;
            return;
        }
        let middle = (from + to) / 2;
        self.add_in(2 * node, from, middle, low, high, delta);
        self.add_in(2 * node + 1, middle + 1, to, low, high, delta);
        self.min[node] = self.min[2 * node].min(self.min[2 * node + 1]) + self.add[node];
    }

    /// Takes a placed candidate out.
    pub fn remove(&mut self, index: usize) {
        self.add(index, index, PLACED);
    }

    /// The first rank whose slack is ≤ 0, if any.
    pub fn first_due(&self) -> Option<usize> {
        if self.min[1] > 0 {
            return None;
        }
        let (mut node, mut above) = (1, 0);
        while node < self.size {
            above += self.add[node];
            node = if self.min[2 * node] + above <= 0 { 2 * node } else { 2 * node + 1 };
        }
        Some(node - self.size)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_preference_tree_answers_the_best_of_another_key() {
        let entry = |preference, key| Some(Entry { preference, key });
        let mut tree =
            PreferenceTree::new([entry(3, 0), entry(0, 0), entry(2, 1), None, entry(1, 0)].into_iter());
        let all = tree.query(0, 4);
        assert_eq!(all.best, entry(0, 0));
        assert_eq!(all.other_key, entry(2, 1));
        assert_eq!(all.pick(Some(0)), entry(2, 1));
        assert_eq!(tree.query(3, 4).pick(Some(0)), entry(1, 0), "no other key: the best");
        assert_eq!(tree.query(3, 3), TopTwo::default());
        assert_eq!(tree.query(4, 3), TopTwo::default());
        tree.remove(1);
        assert_eq!(tree.query(0, 4).best, entry(1, 0));
    }

    #[test]
    fn the_deadline_tree_finds_the_first_due() {
        let mut tree = DeadlineTree::new([Some(3), Some(1), Some(2), None].into_iter());
        assert_eq!(tree.first_due(), None);
        tree.add(0, 3, -1);
        assert_eq!(tree.first_due(), Some(1));
        tree.remove(1);
        assert_eq!(tree.first_due(), None);
        tree.add(1, 2, -1);
        assert_eq!(tree.first_due(), Some(2));
        tree.add(0, 0, -2);
        assert_eq!(tree.first_due(), Some(0));
    }
}
