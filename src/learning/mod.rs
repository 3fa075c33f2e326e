//! On-device learning: a personal head on top of the shipped model, learnt from this user's
//! own outcomes on this device, and switched on only while it proves better than the base.
//!
//! - `head`: a bounded linear correction over the contract's candidate signal features and its
//!   pairwise update step;
//! - `gate`: progressive validation, which decides whether the head counts;
//! - `shown`: the lists the device showed, waiting for the engagement that labels them;
//! - `Learner`: the three together, as the signal store keeps them (snapshot, export, `clear`,
//!   retention), used by `Ranker`.
//!
//! The offline replay runs the very same `Learner` prequentially over the logged lists, with
//! the device's timing (`offline::prequential`), so the model card measures this code.

mod config;
mod gate;
mod head;
pub mod metrics;
mod shown;

pub use config::{
    LearningConfig, MAX_GATE_WINDOW, MAX_HEAD_FEATURES, MAX_SHOWN_PER_REQUEST, MAX_SHOWN_REQUESTS,
};
pub use gate::Gate;
pub use head::Head;
pub use shown::{item_hash, ShownList, ShownMemory, ENGAGED, IGNORED, REJECTED};

use crate::item::EventKind;
use metrics::request_metrics;

/// The head and its gate.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PersonalModel {
    pub(crate) head: Head,
    pub(crate) gate: Gate,
    /// Steps taken.
    pub(crate) updates: u32,
}

impl PersonalModel {
    pub fn new(features: usize) -> PersonalModel {
        PersonalModel { head: Head::new(features), ..PersonalModel::default() }
    }

    pub fn head(&self) -> &Head {
        &self.head
    }

    pub fn gate(&self) -> &Gate {
        &self.gate
    }

    pub fn updates(&self) -> u32 {
        self.updates
    }

    /// The head's term for a candidate in a rerank: 0 while the gate is closed.
    pub fn served_term(&self, signals: impl Fn(usize) -> f32, config: &LearningConfig) -> f32 {
        if self.gate.is_open() {
            self.head.term(signals, config.bound)
        } else {
            0.0
        }
    }

    /// Adds the head's term to each of a rerank's `scores` (`signal(i, k)`: candidate `i`'s
    /// `k`-th signal feature); leaves them as they are while the gate is closed.
    pub fn add_served_terms(
        &self,
        signal: impl Fn(usize, usize) -> f32,
        config: &LearningConfig,
        scores: &mut [f32],
    ) {
        if self.gate.is_open() {
            self.head.add_terms(signal, config.bound, scores);
        }
    }

    /// Learns from one labelled list (`rows`: `[n, head width]` signal features, `base`: base
    /// scores, `labels`: outcomes, finite): first validates the head as it is on the list (when
    /// the list has a relevant and an irrelevant candidate), then takes one step. Returns the
    /// validation's NDCG@10 gain of base + head over base.
    pub fn learn(
        &mut self,
        rows: &[f32],
        base: &[f32],
        labels: &[f32],
        config: &LearningConfig,
    ) -> Option<f32> {
        let width = self.head.len();
        let shapes_agree = width > 0 && rows.len() == base.len() * width && labels.len() == base.len();
        if !shapes_agree || !labels.iter().all(|l| l.is_finite()) {
            return None;
        }
        // The head's terms, before the step: what validation scores and the step starts from.
        let mut raw = vec![0.0; base.len()];
        self.head.unclamped_into(|i, k| rows[i * width + k], &mut raw);
        let relevant = labels.iter().filter(|&&l| l > 0.0).count();
        let gain = (relevant > 0 && relevant < labels.len()).then(|| {
            let with_head: Vec<f32> =
                (base.iter().zip(&raw)).map(|(b, r)| b + r.clamp(-config.bound, config.bound)).collect();
            let gain = request_metrics(&with_head, labels).ndcg - request_metrics(base, labels).ndcg;
            self.gate.record(gain as f32, config);
            gain as f32
        });
        if self.head.step(rows, &raw, base, labels, config) > 0 {
            self.updates = self.updates.saturating_add(1);
        }
        gain
    }
}

/// Everything the device keeps for learning: the head's features (the contract's candidate
/// signal features, by name), the personal model, the shown lists and when it last learnt.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Learner {
    pub(crate) features: Vec<String>,
    pub(crate) model: PersonalModel,
    pub(crate) shown: ShownMemory,
    pub(crate) updated_at: Option<f64>,
}

impl Learner {
    pub fn features(&self) -> &[String] {
        &self.features
    }

    pub fn model(&self) -> &PersonalModel {
        &self.model
    }

    pub fn shown(&self) -> &ShownMemory {
        &self.shown
    }

    pub fn updated_at(&self) -> Option<f64> {
        self.updated_at
    }

    /// Makes the head one over `features`. A head learnt over other features (a snapshot
    /// written with another model's contract, or a model update) means nothing for these:
    /// it starts again from zero, closed.
    pub fn adopt(&mut self, features: &[String]) {
        if self.features != features {
            *self = Learner {
                features: features.to_vec(),
                model: PersonalModel::new(features.len()),
                ..Learner::default()
            };
        }
    }

    /// Labels the remembered lists with one recorded event.
    pub fn observe(&mut self, item_id: &str, kind: EventKind, at: f64) {
        if !self.shown.is_empty() {
            self.shown.observe(item_hash(item_id), kind, at);
        }
    }

    /// Learns from every remembered list whose label window has closed by `now`, oldest first.
    pub fn settle(&mut self, now: f64, config: &LearningConfig) {
        while let Some(list) = self.shown.pop_closed(now) {
            self.learn_from(&list, config);
        }
    }

    /// Remembers a shown list; the oldest are learnt from if this pushes them out.
    pub fn remember(&mut self, list: ShownList, config: &LearningConfig) {
        self.shown.push(list);
        while let Some(oldest) = self.shown.pop_excess(config.shown_requests) {
            self.learn_from(&oldest, config);
        }
    }

    fn learn_from(&mut self, list: &ShownList, config: &LearningConfig) {
        let updates = self.model.updates;
        self.model.learn(&list.rows, &list.base, &list.labels, config);
        // A list without outcomes to tell apart taught nothing: it does not date the head.
        if self.model.updates != updates {
            self.updated_at = Some(self.updated_at.map_or(list.shown_at, |t| t.max(list.shown_at)));
        }
    }

    /// Retention: lists shown before `oldest_kept` are forgotten, and so is the head if it
    /// last learnt before it (it is made of outcomes that are all past retention).
    pub fn prune(&mut self, oldest_kept: f64) {
        self.shown.prune(oldest_kept);
        if self.updated_at.is_some_and(|t| t < oldest_kept) {
            self.model = PersonalModel::new(self.features.len());
            self.updated_at = None;
        }
    }

    /// Forgets everything learnt and shown (the features stay: they are the model's).
    pub fn clear(&mut self) {
        *self = Learner {
            model: PersonalModel::new(self.features.len()),
            features: std::mem::take(&mut self.features),
            ..Learner::default()
        };
    }

    /// Bytes of memory the learner's numbers take (weights, window, shown lists).
    pub fn memory_bytes(&self) -> usize {
        let floats = 2 * self.model.head.len() + self.model.gate.gains.len();
        let shown: usize = (self.shown.lists.iter())
            .map(|l| l.items.len() * 8 + (l.base.len() + l.labels.len() + l.rows.len()) * 4 + 16)
            .sum();
        floats * 4 + shown + self.features.iter().map(String::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests;
