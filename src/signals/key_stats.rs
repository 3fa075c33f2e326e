//! What the store knows about one key (an item, author, container or topic): decayed counters
//! per event kind and half-life, last interaction times and fatigue.

use super::decay::{decay_factor, decay_factors, FATIGUE_HALF_LIFE_MS, HALF_LIFE_COUNT};
use crate::item::EventKind;

#[derive(Debug, Clone, PartialEq)]
pub struct KeyStats {
    /// The time `counts` and `fatigue` are referenced to.
    pub updated_at: f64,
    /// `counts[kind][half_life]`, decayed to `updated_at`.
    pub counts: [[f32; HALF_LIFE_COUNT]; EventKind::COUNT],
    /// Impressions since the last positive engagement, decayed to `updated_at`.
    pub fatigue: f32,
    pub last_positive_at: Option<f64>,
    pub last_negative_at: Option<f64>,
    /// Newest event time on this key; retention is measured from it.
    pub last_seen_at: f64,
}

impl KeyStats {
    pub fn new(at: f64) -> Self {
        KeyStats {
            updated_at: at,
            counts: [[0.0; HALF_LIFE_COUNT]; EventKind::COUNT],
            fatigue: 0.0,
            last_positive_at: None,
            last_negative_at: None,
            last_seen_at: at,
        }
    }

    /// Adds `amount` of `kind` at time `at`. Late events (before `updated_at`) are added
    /// already decayed, which gives exactly the closed-form sum.
    pub fn add(&mut self, kind: EventKind, amount: f64, at: f64) {
        if at > self.updated_at {
            self.advance_to(at);
        }
        let factors = decay_factors(self.updated_at - at);
        let row = &mut self.counts[kind.index()];
        for (count, factor) in row.iter_mut().zip(factors) {
            *count = (f64::from(*count) + amount * factor) as f32;
        }
        if kind == EventKind::Impression {
            let factor = decay_factor(self.updated_at - at, FATIGUE_HALF_LIFE_MS);
            self.fatigue = (f64::from(self.fatigue) + amount * factor) as f32;
        }
        if kind.is_positive() {
            // An engagement ends the fatigue that came before it.
            if self.last_positive_at.is_none_or(|t| at >= t) {
                self.fatigue = 0.0;
            }
            self.last_positive_at = Some(self.last_positive_at.map_or(at, |t| t.max(at)));
        }
        if kind.negative_weight() > 0.0 {
            self.last_negative_at = Some(self.last_negative_at.map_or(at, |t| t.max(at)));
        }
        self.last_seen_at = self.last_seen_at.max(at);
    }

    fn advance_to(&mut self, at: f64) {
        let elapsed = at - self.updated_at;
        let factors = decay_factors(elapsed);
        for row in &mut self.counts {
            for (count, factor) in row.iter_mut().zip(factors) {
                *count = (f64::from(*count) * factor) as f32;
            }
        }
        self.fatigue = (f64::from(self.fatigue) * decay_factor(elapsed, FATIGUE_HALF_LIFE_MS)) as f32;
        self.updated_at = at;
    }

    /// The decayed counter of `kind` at half-life `half_life` as seen at `now`.
    pub fn count_at(&self, kind: EventKind, half_life: usize, now: f64) -> f64 {
        let h = super::decay::HALF_LIVES[half_life].ms;
        f64::from(self.counts[kind.index()][half_life]) * decay_factor(now - self.updated_at, h)
    }

    /// Weighted positive and negative engagement at one half-life, as seen at `now`.
    pub fn affinity_at(&self, half_life: usize, now: f64) -> (f64, f64) {
        let h = super::decay::HALF_LIVES[half_life].ms;
        let factor = decay_factor(now - self.updated_at, h);
        let (mut positive, mut negative) = (0.0, 0.0);
        for kind in EventKind::ALL {
            let count = f64::from(self.counts[kind.index()][half_life]);
            positive += count * kind.positive_weight();
            negative += count * kind.negative_weight();
        }
        (positive * factor, negative * factor)
    }

    pub fn fatigue_at(&self, now: f64) -> f64 {
        f64::from(self.fatigue) * decay_factor(now - self.updated_at, FATIGUE_HALF_LIFE_MS)
    }

    /// How much this key still matters: all engagement at the longest half-life. Used to pick
    /// which keys to evict when the store is full.
    pub fn strength_at(&self, now: f64) -> f64 {
        let longest = HALF_LIFE_COUNT - 1;
        EventKind::ALL.iter().map(|&k| self.count_at(k, longest, now)).sum()
    }
}

#[cfg(test)]
mod tests {
    #[cfg(not(target_arch = "wasm32"))]
    use super::super::decay::DAY_MS;
    use super::super::decay::HALF_LIVES;
    use super::*;

    /// The stored counter must equal the closed form `sum a_i 2^(-(now - t_i)/h)` whatever
    /// order the events arrive in.
    #[test]
    fn counters_match_closed_form_in_any_order() {
        let events = [(1.0, 0.0), (2.0, 5.0e6), (0.5, 9.0e7), (3.0, 2.0e6)];
        let now = 2.0e8;
        let mut forward = KeyStats::new(0.0);
        let mut shuffled = KeyStats::new(0.0);
        for &(amount, at) in &events {
            forward.add(EventKind::Click, amount, at);
        }
        for &(amount, at) in events.iter().rev() {
            shuffled.add(EventKind::Click, amount, at);
        }
        for (h, half_life) in HALF_LIVES.iter().enumerate() {
            let expected: f64 = events.iter().map(|&(a, t)| a * (-(now - t) / half_life.ms).exp2()).sum();
            for stats in [&forward, &shuffled] {
                let got = stats.count_at(EventKind::Click, h, now);
                assert!(
                    (got - expected).abs() <= 1e-6 * expected.max(1e-12),
                    "{}: {got} vs {expected}",
                    half_life.name
                );
            }
        }
    }

    #[cfg(not(target_arch = "wasm32"))]
    proptest::proptest! {
        /// For any events, in any arrival order: every counter equals the closed form, and
        /// read at later and later times it never grows.
        #[test]
        fn counters_follow_the_closed_form_and_only_decay(
            events in proptest::collection::vec((0.0f64..100.0, 0.0f64..60.0 * DAY_MS), 1..40),
            later in proptest::collection::vec(0.0f64..90.0 * DAY_MS, 1..6),
        ) {
            let mut stats = KeyStats::new(events[0].1);
            for &(amount, at) in &events {
                stats.add(EventKind::Click, amount, at);
            }
            let newest = events.iter().map(|&(_, t)| t).fold(f64::MIN, f64::max);
            let mut reads: Vec<f64> = later.iter().map(|d| newest + d).collect();
            reads.sort_by(f64::total_cmp);
            for (h, half_life) in HALF_LIVES.iter().enumerate() {
                let mut previous = f64::INFINITY;
                for &now in &reads {
                    let expected: f64 =
                        events.iter().map(|&(a, t)| a * (-(now - t) / half_life.ms).exp2()).sum();
                    let got = stats.count_at(EventKind::Click, h, now);
                    // f32 storage: a relative error of a few ulps per event, and subnormals.
                    proptest::prop_assert!(
                        (got - expected).abs() <= 1e-5 * expected + 1e-30,
                        "{}: {got} vs {expected}", half_life.name
                    );
                    proptest::prop_assert!(got <= previous);
                    previous = got;
                }
            }
        }
    }

    #[test]
    fn engagement_resets_fatigue_and_weights_kinds() {
        let mut stats = KeyStats::new(0.0);
        stats.add(EventKind::Impression, 1.0, 0.0);
        stats.add(EventKind::Impression, 1.0, 0.0);
        assert_eq!(stats.fatigue_at(0.0), 2.0);
        assert!((stats.fatigue_at(FATIGUE_HALF_LIFE_MS) - 1.0).abs() < 1e-6);
        stats.add(EventKind::Like, 1.0, 10.0);
        stats.add(EventKind::Hide, 1.0, 10.0);
        assert_eq!(stats.fatigue_at(10.0), 0.0);
        let (positive, negative) = stats.affinity_at(3, 10.0);
        assert!((positive - 2.0).abs() < 1e-5, "{positive}");
        assert!((negative - 3.0).abs() < 1e-5, "{negative}");
        assert_eq!(stats.last_positive_at, Some(10.0));
    }
}
