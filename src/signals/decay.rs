//! Exponential decay. A counter decayed with half-life `h` that received amounts `a_i` at times
//! `t_i` is worth `sum_i a_i * 2^(-(now - t_i) / h)` at `now`. Counters store that sum referenced
//! to one time and are brought forward on read, so the order events arrive in does not matter.

/// A half-life the store keeps every counter at.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalfLife {
    /// Name used in feature names and exports ("1h", "1d", "7d", "30d").
    pub name: &'static str,
    pub ms: f64,
}

pub const HOUR_MS: f64 = 3_600_000.0;
pub const DAY_MS: f64 = 24.0 * HOUR_MS;

/// The half-lives every counter is kept at, shortest first.
pub const HALF_LIVES: [HalfLife; 4] = [
    HalfLife { name: "1h", ms: HOUR_MS },
    HalfLife { name: "1d", ms: DAY_MS },
    HalfLife { name: "7d", ms: 7.0 * DAY_MS },
    HalfLife { name: "30d", ms: 30.0 * DAY_MS },
];
pub const HALF_LIFE_COUNT: usize = HALF_LIVES.len();

/// Half-life of fatigue (impressions without engagement) and of the user vector.
pub const FATIGUE_HALF_LIFE_MS: f64 = DAY_MS;
pub const USER_VECTOR_HALF_LIFE_MS: f64 = 30.0 * DAY_MS;
/// Half-life of the session vector: the user's interests of the last hour or so.
pub const SESSION_VECTOR_HALF_LIFE_MS: f64 = HOUR_MS;

pub fn half_life_index(name: &str) -> Option<usize> {
    HALF_LIVES.iter().position(|h| h.name == name)
}

/// The factor a value loses over `elapsed_ms`. Negative elapsed time (a value referenced to a
/// later time than asked) is treated as no decay.
pub fn decay_factor(elapsed_ms: f64, half_life_ms: f64) -> f64 {
    if elapsed_ms <= 0.0 {
        1.0
    } else {
        (-elapsed_ms / half_life_ms).exp2()
    }
}

/// Decay factors for every half-life over one elapsed time.
pub fn decay_factors(elapsed_ms: f64) -> [f64; HALF_LIFE_COUNT] {
    HALF_LIVES.map(|h| decay_factor(elapsed_ms, h.ms))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_half_life_halves() {
        for h in HALF_LIVES {
            assert!((decay_factor(h.ms, h.ms) - 0.5).abs() < 1e-15);
            assert!((decay_factor(3.0 * h.ms, h.ms) - 0.125).abs() < 1e-15);
        }
    }

    #[test]
    fn no_time_no_decay() {
        assert_eq!(decay_factor(0.0, DAY_MS), 1.0);
        assert_eq!(decay_factor(-5.0, DAY_MS), 1.0);
    }
}
