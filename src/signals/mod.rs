//! The signal store: everything this device knows about its user's engagement, bounded in keys
//! and in time, and kept only in memory until the caller asks for a snapshot.

pub mod decay;
mod export;
mod key_stats;
mod recent;
mod snapshot;
mod user_vector;

use std::collections::{HashMap, HashSet};

pub use export::{ExportedKey, ExportedLearning, ExportedRecent, ExportedWeight, SignalExport};
pub use key_stats::KeyStats;
pub use recent::{RecentEmbedding, RecentEmbeddings, RecentMatrix, RECENT_CAPACITY};
pub use snapshot::{UnsealedSnapshot, MAX_SNAPSHOT_BYTES, SNAPSHOT_VERSION};
pub use user_vector::UserVector;

use crate::columns::EventColumns;
use crate::error::{Error, Result};
use crate::item::{check_embedding_length, Event, EventView, Family};
use crate::learning::Learner;
use decay::{DAY_MS, HOUR_MS, SESSION_VECTOR_HALF_LIFE_MS, USER_VECTOR_HALF_LIFE_MS};

/// Most events one `record` call takes (the same bound as a candidate list's): a batch is
/// validated whole before anything is stored, so its size is the memory it needs at once.
pub const MAX_EVENTS_PER_BATCH: usize = 100_000;

/// How far after its batch's `now` an event may be dated and keep its time. Clocks of
/// devices and servers disagree by seconds to minutes; an event dated later than this claims
/// a time that has not come, and is recorded at `now` instead (`RecordSummary::clamped`).
/// Left as it was, a key's counters would be referenced to that far future time, every real
/// event on the key would then be added decayed to nothing, and the key would never expire.
pub const FUTURE_SLACK_MS: f64 = HOUR_MS;

/// Retention is applied at most once per this much advance of the store's timeline (it scans
/// every key), so a stale key may outlive its limit by up to this long.
const RETENTION_INTERVAL_MS: f64 = HOUR_MS;

/// The latest time a JavaScript `Date` can hold (year 275760).
pub const LATEST_TIME_MS: f64 = 8.64e15;

/// Checks that a caller's `now` is a time (finite, from the epoch to `LATEST_TIME_MS`): a
/// batch recorded at 10²⁴¹ would reference its keys' counters to it for good.
pub fn check_now(now: f64, error: fn(String) -> Error) -> Result<()> {
    if (0.0..=LATEST_TIME_MS).contains(&now) {
        Ok(())
    } else {
        Err(error(format!("now = {now} is not a time")))
    }
}

/// The most keys a store may be configured to hold.
pub const MAX_KEY_CAP: usize = 1_000_000;

/// Limits of the store.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StoreConfig {
    /// Most keys kept across all families; past it the weakest are evicted.
    pub key_cap: usize,
    /// Data not touched for this long is dropped.
    pub retention_ms: f64,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig { key_cap: 20_000, retention_ms: 90.0 * DAY_MS }
    }
}

impl StoreConfig {
    pub fn validate(&self) -> Result<()> {
        if self.key_cap == 0 || self.key_cap > MAX_KEY_CAP {
            return Err(Error::InvalidOptions(format!("keyCap {} not in 1..={MAX_KEY_CAP}", self.key_cap)));
        }
        if !(self.retention_ms.is_finite() && self.retention_ms > 0.0) {
            return Err(Error::InvalidOptions("retention must be a positive duration".into()));
        }
        Ok(())
    }
}

/// What `record` did with a batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RecordSummary {
    pub recorded: usize,
    /// Events already older than the retention limit, not stored.
    pub expired: usize,
    /// Of the recorded events, those dated more than `FUTURE_SLACK_MS` after `now`: recorded
    /// at `now`.
    pub clamped: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SignalStore {
    config: StoreConfig,
    keys: [HashMap<String, KeyStats>; 4],
    /// Every recorded event once, whatever its keys: the user's overall activity.
    totals: Option<KeyStats>,
    user_vector: Option<UserVector>,
    /// The same mean with a one-hour half-life: what the current session is about.
    session_vector: Option<UserVector>,
    /// The newest positively engaged embeddings, one by one.
    recent: RecentEmbeddings,
    /// The personal head and the shown lists it learns from (`learning`).
    learner: Learner,
    /// The time retention was last applied at (`NEG_INFINITY`: never): nothing older than the
    /// limit before it is held. Only recorded batches move it (see `record_events`), and it is
    /// in the snapshot, so the store is a function of its snapshot and the batches recorded
    /// on it since: what a restart or a replaced module rebuilds is what was held.
    retained_at: f64,
}

impl SignalStore {
    pub fn new(config: StoreConfig) -> Result<Self> {
        config.validate()?;
        Ok(SignalStore {
            config,
            keys: Default::default(),
            totals: None,
            user_vector: None,
            session_vector: None,
            recent: RecentEmbeddings::default(),
            learner: Learner::default(),
            retained_at: f64::NEG_INFINITY,
        })
    }

    pub fn config(&self) -> StoreConfig {
        self.config
    }

    pub fn key_count(&self) -> usize {
        self.keys.iter().map(HashMap::len).sum()
    }

    pub fn key(&self, family: Family, name: &str) -> Option<&KeyStats> {
        self.keys[family.index()].get(name)
    }

    pub fn totals(&self) -> Option<&KeyStats> {
        self.totals.as_ref()
    }

    pub fn user_vector(&self) -> Option<&UserVector> {
        self.user_vector.as_ref()
    }

    pub fn session_vector(&self) -> Option<&UserVector> {
        self.session_vector.as_ref()
    }

    pub fn recent(&self) -> &RecentEmbeddings {
        &self.recent
    }

    pub fn learner(&self) -> &Learner {
        &self.learner
    }

    pub fn learner_mut(&mut self) -> &mut Learner {
        &mut self.learner
    }

    /// The embedding length every stored embedding has, if any is stored.
    fn embedding_dimension(&self) -> Option<usize> {
        [&self.user_vector, &self.session_vector]
            .into_iter()
            .find_map(|v| v.as_ref().map(UserVector::dimension))
            .or_else(|| self.recent.dimension())
    }

    /// Records a batch of events observed up to `now`. The batch is validated whole before
    /// anything is stored, so a bad event never leaves half a batch behind. Events older than
    /// the retention limit before `now` are not stored; events dated more than
    /// `FUTURE_SLACK_MS` after `now` are recorded at `now`.
    pub fn record(&mut self, events: &[Event], now: f64) -> Result<RecordSummary> {
        self.record_events(events.iter(), now)
    }

    /// `record` for a batch packed as columns: the same checks, errors and effects.
    pub fn record_columns(&mut self, events: &EventColumns, now: f64) -> Result<RecordSummary> {
        self.record_events(events.iter(), now)
    }

    fn record_events<E: EventView>(
        &mut self,
        events: impl ExactSizeIterator<Item = E> + Clone,
        now: f64,
    ) -> Result<RecordSummary> {
        check_now(now, Error::InvalidEvent)?;
        if events.len() > MAX_EVENTS_PER_BATCH {
            return Err(Error::InvalidEvent(format!(
                "a batch of {} events (limit {MAX_EVENTS_PER_BATCH}): record it in parts",
                events.len()
            )));
        }
        let mut embedding_len = self.embedding_dimension();
        for (index, event) in events.clone().enumerate() {
            event.validate(index)?;
            if let Some(embedding) = event.embedding() {
                check_embedding_length(&mut embedding_len, embedding, || format!("event {index}"))
                    .map_err(Error::InvalidEvent)?;
            }
        }
        let time_of = |event: &E| if event.at() > now + FUTURE_SLACK_MS { now } else { event.at() };
        let newest_held = self.newest_event_at();
        // Retention follows the store's own timeline: up to the newest event it already held,
        // as far as this batch's clock agrees. So one batch dated far ahead deletes nothing by
        // itself, and neither does a request (reads change nothing).
        let retain_at = newest_held
            .map(|newest| now.min(newest))
            .filter(|&horizon| horizon - self.retained_at >= RETENTION_INTERVAL_MS);
        let oldest_kept = now.max(retain_at.unwrap_or(self.retained_at)) - self.config.retention_ms;
        let batch_newest = events.clone().map(|e| time_of(&e)).fold(f64::NEG_INFINITY, f64::max);
        // A batch that stores nothing changes nothing (the client journals only batches that
        // store something, and the store must be what its journal rebuilds).
        if batch_newest < oldest_kept {
            return Ok(RecordSummary { expired: events.len(), ..RecordSummary::default() });
        }
        if let Some(horizon) = retain_at {
            self.retain(horizon);
        }
        // Keys compete for the cap by their strength at the store's own time (its newest event,
        // this batch's included), never at a `now` beyond it.
        let strength_at = now.min(newest_held.map_or(batch_newest, |n| n.max(batch_newest)));
        let mut summary = RecordSummary::default();
        for event in events {
            let at = time_of(&event);
            if at < oldest_kept {
                summary.expired += 1;
                continue;
            }
            self.apply(&event, at);
            self.learner.observe(event.id(), event.kind(), at);
            summary.recorded += 1;
            summary.clamped += usize::from(at != event.at());
            // Within the batch too: one huge batch of new keys must not grow memory past the
            // cap (wasm memory never shrinks back).
            if self.key_count() > self.config.key_cap {
                self.enforce_key_cap(strength_at);
            }
        }
        Ok(summary)
    }

    /// The newest event time the store holds (every event reaches the totals), if any.
    pub fn newest_event_at(&self) -> Option<f64> {
        self.totals.as_ref().map(|totals| totals.last_seen_at)
    }

    /// The time retention was last applied at (`NEG_INFINITY`: never).
    pub fn retained_at(&self) -> f64 {
        self.retained_at
    }

    /// Adds one validated event, dated `at` (its own time, or `now` if that was far ahead).
    fn apply(&mut self, event: &impl EventView, at: f64) {
        let (kind, amount) = (event.kind(), event.amount());
        for family in Family::ALL {
            for key in event.keys(family) {
                let map = &mut self.keys[family.index()];
                // A key already stored (the usual case) costs no allocation.
                let stats = match map.get_mut(key) {
                    Some(stats) => stats,
                    None => map.entry(key.to_owned()).or_insert_with(|| KeyStats::new(at)),
                };
                stats.add(kind, amount, at);
            }
        }
        self.totals.get_or_insert_with(|| KeyStats::new(at)).add(kind, amount, at);
        let weight = amount * kind.positive_weight();
        let Some(embedding) = event.embedding().filter(|_| weight > 0.0) else { return };
        self.recent.add(embedding, at);
        for (vector, half_life_ms) in [
            (&mut self.user_vector, USER_VECTOR_HALF_LIFE_MS),
            (&mut self.session_vector, SESSION_VECTOR_HALF_LIFE_MS),
        ] {
            match vector {
                Some(vector) => vector.add(embedding, weight, at, half_life_ms),
                None => *vector = Some(UserVector::new(embedding, weight, at)),
            }
        }
    }

    /// Evicts the weakest keys once the cap is passed, down to 90 % of it, so a flood of new
    /// keys costs one selection per tenth of the cap rather than one scan per key.
    fn enforce_key_cap(&mut self, now: f64) {
        let count = self.key_count();
        if count <= self.config.key_cap {
            return;
        }
        let keep = self.config.key_cap - self.config.key_cap / 10;
        let mut strengths: Vec<f64> =
            self.keys.iter().flat_map(|map| map.values().map(|s| s.strength_at(now))).collect();
        let cut = count - keep;
        strengths.select_nth_unstable_by(cut - 1, f64::total_cmp);
        let threshold = strengths[cut - 1];
        // Keys strictly weaker than the threshold go first; ties at the threshold go only as
        // far as needed, so exactly `keep` keys remain. Which ties go is decided by family and
        // key, not by the maps' (randomly seeded) order, so the same events always leave the
        // same keys.
        let ties_to_drop = cut - strengths[..cut].iter().filter(|&&s| s < threshold).count();
        let mut ties: Vec<(usize, &str)> = (self.keys.iter().enumerate())
            .flat_map(|(family, map)| map.iter().map(move |(key, stats)| (family, key.as_str(), stats)))
            .filter(|(_, _, stats)| stats.strength_at(now) == threshold)
            .map(|(family, key, _)| (family, key))
            .collect();
        if ties_to_drop < ties.len() {
            ties.select_nth_unstable(ties_to_drop);
        }
        let mut dropped_ties: [HashSet<String>; 4] = Default::default();
        for &(family, key) in &ties[..ties_to_drop.min(ties.len())] {
            dropped_ties[family].insert(key.to_owned());
        }
        for (map, dropped_ties) in self.keys.iter_mut().zip(&dropped_ties) {
            map.retain(|key, stats| {
                let strength = stats.strength_at(now);
                if strength < threshold {
                    false
                } else {
                    strength != threshold || !dropped_ties.contains(key)
                }
            });
        }
    }

    /// Applies retention at `horizon` (never before `retained_at`): drops everything not
    /// touched within the limit before it.
    fn retain(&mut self, horizon: f64) {
        self.retained_at = horizon;
        let oldest_kept = horizon - self.config.retention_ms;
        for map in &mut self.keys {
            map.retain(|_, stats| stats.last_seen_at >= oldest_kept);
        }
        if self.totals.as_ref().is_some_and(|t| t.last_seen_at < oldest_kept) {
            self.totals = None;
        }
        for vector in [&mut self.user_vector, &mut self.session_vector] {
            if vector.as_ref().is_some_and(|v| v.updated_at < oldest_kept) {
                *vector = None;
            }
        }
        self.recent.prune(oldest_kept);
        self.learner.prune(oldest_kept);
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.keys = Default::default();
        self.totals = None;
        self.user_vector = None;
        self.session_vector = None;
        self.recent.clear();
        self.learner.clear();
        self.retained_at = f64::NEG_INFINITY;
    }

    /// Serialises the store (see `snapshot.rs` for the format).
    pub fn snapshot(&self) -> Vec<u8> {
        self.begin_snapshot().seal()
    }

    /// The first step of `snapshot`, all that reads the store: the snapshot as of now, to be
    /// sealed (checksummed) when the caller has time. Sealed, it is exactly `snapshot()`'s.
    pub fn begin_snapshot(&self) -> UnsealedSnapshot {
        snapshot::encode(self)
    }

    /// Replaces the store with a snapshot's content, applying this store's limits to it:
    /// retention at the time the snapshot's store last applied it (a restart deletes nothing
    /// the store held, whatever `now` says), the key cap with strengths at `now` (never later
    /// than the snapshot's newest event). On any error the current content is kept.
    pub fn restore(&mut self, bytes: &[u8], now: f64) -> Result<()> {
        check_now(now, Error::InvalidRequest)?;
        let decoded = snapshot::decode(bytes)?;
        let mut restored = SignalStore { config: self.config, ..decoded };
        if restored.retained_at.is_finite() {
            restored.retain(restored.retained_at);
        }
        restored.enforce_key_cap(restored.newest_event_at().map_or(now, |newest| now.min(newest)));
        *self = restored;
        Ok(())
    }

    /// A human-readable account of everything stored, decayed to `now`.
    pub fn export(&self, now: f64) -> Result<SignalExport> {
        check_now(now, Error::InvalidRequest)?;
        Ok(export::export(self, now))
    }
}

#[cfg(test)]
mod tests;
