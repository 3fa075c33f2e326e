//! "What does this device know about me": the store as plain, decayed, named values.

use serde::Serialize;

use super::decay::HALF_LIVES;
use super::{KeyStats, SignalStore, UserVector};
use crate::item::{EventKind, Family};
use crate::learning::Learner;

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SignalExport {
    /// The time every value below is decayed to (ms since the Unix epoch).
    pub as_of: f64,
    pub key_cap: usize,
    pub retention_days: f64,
    /// The user's overall activity, every event counted once.
    pub totals: Option<ExportedKey>,
    /// Dimension and weight of the local user vector, if any embedding was engaged with.
    pub user_vector: Option<ExportedUserVector>,
    /// The same with a one-hour half-life: what the current session is about.
    pub session_vector: Option<ExportedUserVector>,
    /// The newest positively engaged embeddings (unit length), oldest first.
    pub recent: Vec<ExportedRecent>,
    /// Every key, strongest first.
    pub keys: Vec<ExportedKey>,
    /// What the personal head has learnt (see `learning`).
    pub learning: ExportedLearning,
}

/// The personal head, readably: its weight on each candidate signal feature, and whether it
/// currently counts in reranks and why.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedLearning {
    /// Whether the head's term is added in reranks (its gate is open).
    pub active: bool,
    /// Steps taken.
    pub updates: u32,
    /// Lists on which base and base + head were compared before a step.
    pub validated_lists: u32,
    /// Mean NDCG@10 of base + head minus base over the gate's window, if any list was validated.
    pub mean_gain: Option<f64>,
    /// When the newest list it learnt from was shown.
    pub updated_at: Option<f64>,
    /// Shown lists waiting for their outcomes.
    pub pending_lists: usize,
    /// Bytes of memory the head and the waiting lists take.
    pub memory_bytes: usize,
    /// One per candidate signal feature of the model's contract, in contract order.
    pub weights: Vec<ExportedWeight>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedWeight {
    pub feature: String,
    pub weight: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedUserVector {
    pub dimension: usize,
    pub weight: f64,
    /// The stored f32 values, exactly (as f64, so a JSON text carries them unchanged).
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedRecent {
    pub at: f64,
    /// The stored f32 values, exactly (as f64, so a JSON text carries them unchanged).
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedKey {
    pub family: &'static str,
    pub key: String,
    pub last_seen_at: f64,
    pub last_positive_at: Option<f64>,
    pub last_negative_at: Option<f64>,
    pub fatigue: f64,
    /// Counters that are not zero: `(event kind, half-life, value)`.
    pub counts: Vec<ExportedCount>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExportedCount {
    pub kind: &'static str,
    pub half_life: &'static str,
    pub value: f64,
}

pub fn export(store: &SignalStore, now: f64) -> SignalExport {
    let mut keys: Vec<(f64, ExportedKey)> = Family::ALL
        .iter()
        .flat_map(|&family| {
            store.keys[family.index()].iter().map(move |(name, stats)| {
                (stats.strength_at(now), export_key(family.name(), name, stats, now))
            })
        })
        .collect();
    keys.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.key.cmp(&b.1.key)));
    SignalExport {
        as_of: now,
        key_cap: store.config.key_cap,
        retention_days: store.config.retention_ms / super::decay::DAY_MS,
        totals: store.totals.as_ref().map(|stats| export_key("user", "", stats, now)),
        user_vector: store.user_vector.as_ref().map(export_vector),
        session_vector: store.session_vector.as_ref().map(export_vector),
        recent: (store.recent.iter())
            .map(|e| ExportedRecent { at: e.at, values: e.unit.iter().map(|&v| f64::from(v)).collect() })
            .collect(),
        keys: keys.into_iter().map(|(_, key)| key).collect(),
        learning: export_learning(&store.learner),
    }
}

fn export_learning(learner: &Learner) -> ExportedLearning {
    let model = learner.model();
    ExportedLearning {
        active: model.gate().is_open(),
        updates: model.updates(),
        validated_lists: model.gate().validated(),
        mean_gain: model.gate().mean_gain(),
        updated_at: learner.updated_at(),
        pending_lists: learner.shown().len(),
        memory_bytes: learner.memory_bytes(),
        weights: (learner.features().iter().zip(model.head().weights()))
            .map(|(feature, &weight)| ExportedWeight { feature: feature.clone(), weight: f64::from(weight) })
            .collect(),
    }
}

/// The vector as the mean it stands for (the store keeps a weighted sum).
fn export_vector(vector: &UserVector) -> ExportedUserVector {
    ExportedUserVector {
        dimension: vector.dimension(),
        weight: f64::from(vector.weight),
        values: vector.sum.iter().map(|v| f64::from(v / vector.weight.max(f32::MIN_POSITIVE))).collect(),
    }
}

fn export_key(family: &'static str, name: &str, stats: &KeyStats, now: f64) -> ExportedKey {
    let counts = EventKind::ALL
        .iter()
        .flat_map(|&kind| {
            HALF_LIVES.iter().enumerate().filter_map(move |(h, half_life)| {
                let value = stats.count_at(kind, h, now);
                (value > 0.0).then_some(ExportedCount { kind: kind.name(), half_life: half_life.name, value })
            })
        })
        .collect();
    ExportedKey {
        family,
        key: name.to_owned(),
        last_seen_at: stats.last_seen_at,
        last_positive_at: stats.last_positive_at,
        last_negative_at: stats.last_negative_at,
        fatigue: stats.fatigue_at(now),
        counts,
    }
}
