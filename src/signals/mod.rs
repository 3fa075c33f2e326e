//! The signal store: everything this device knows about its user's engagement, bounded in keys
//! and in time, and kept only in memory until the caller asks for a snapshot.

pub mod decay;
mod export;
mod key_stats;
mod recent;
mod snapshot;
mod user_vector;

use std::collections::{HashMap, HashSet};

pub use export::{ExportedKey, ExportedRecent, SignalExport};
pub use key_stats::KeyStats;
pub use recent::{RecentEmbedding, RecentEmbeddings, RecentMatrix, RECENT_CAPACITY};
pub use snapshot::SNAPSHOT_VERSION;
pub use user_vector::UserVector;

use crate::columns::EventColumns;
use crate::error::{Error, Result};
use crate::item::{check_embedding_length, Event, EventView, Family};
use decay::{DAY_MS, SESSION_VECTOR_HALF_LIFE_MS, USER_VECTOR_HALF_LIFE_MS};

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
        if self.key_cap == 0 || self.key_cap > 1_000_000 {
            return Err(Error::InvalidOptions(format!("keyCap {} not in 1..=1000000", self.key_cap)));
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

    /// The embedding length every stored embedding has, if any is stored.
    fn embedding_dimension(&self) -> Option<usize> {
        [&self.user_vector, &self.session_vector]
            .into_iter()
            .find_map(|v| v.as_ref().map(UserVector::dimension))
            .or_else(|| self.recent.dimension())
    }

    /// Records a batch of events observed up to `now`. The batch is validated whole before
    /// anything is stored, so a bad event never leaves half a batch behind.
    pub fn record(&mut self, events: &[Event], now: f64) -> Result<RecordSummary> {
        self.record_events(events.iter(), now)
    }

    /// `record` for a batch packed as columns: the same checks, errors and effects.
    pub fn record_columns(&mut self, events: &EventColumns, now: f64) -> Result<RecordSummary> {
        self.record_events(events.iter(), now)
    }

    fn record_events<E: EventView>(
        &mut self,
        events: impl Iterator<Item = E> + Clone,
        now: f64,
    ) -> Result<RecordSummary> {
        let mut embedding_len = self.embedding_dimension();
        for (index, event) in events.clone().enumerate() {
            event.validate(index)?;
            if let Some(embedding) = event.embedding() {
                check_embedding_length(&mut embedding_len, embedding, || format!("event {index}"))
                    .map_err(Error::InvalidEvent)?;
            }
        }
        let oldest_kept = now - self.config.retention_ms;
        let mut summary = RecordSummary::default();
        for event in events {
            if event.at() < oldest_kept {
                summary.expired += 1;
                continue;
            }
            self.apply(&event);
            summary.recorded += 1;
            // Within the batch too: one huge batch of new keys must not grow memory past the
            // cap (wasm memory never shrinks back).
            if self.key_count() > self.config.key_cap {
                self.enforce_key_cap(now);
            }
        }
        Ok(summary)
    }

    fn apply(&mut self, event: &impl EventView) {
        let (kind, at, amount) = (event.kind(), event.at(), event.amount());
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

    /// Drops everything not touched within the retention limit before `now`.
    pub fn prune(&mut self, now: f64) {
        let oldest_kept = now - self.config.retention_ms;
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
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.keys = Default::default();
        self.totals = None;
        self.user_vector = None;
        self.session_vector = None;
        self.recent.clear();
    }

    /// Serialises the store (see `snapshot.rs` for the format).
    pub fn snapshot(&self) -> Vec<u8> {
        snapshot::encode(self)
    }

    /// Replaces the store with a snapshot's content, applying this store's limits to it.
    /// On any error the current content is kept.
    pub fn restore(&mut self, bytes: &[u8], now: f64) -> Result<()> {
        let decoded = snapshot::decode(bytes)?;
        let mut restored = SignalStore { config: self.config, ..decoded };
        restored.prune(now);
        restored.enforce_key_cap(now);
        *self = restored;
        Ok(())
    }

    /// A human-readable account of everything stored, decayed to `now`.
    pub fn export(&self, now: f64) -> SignalExport {
        export::export(self, now)
    }
}

#[cfg(test)]
mod tests;
