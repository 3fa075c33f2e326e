//! The safety gate: progressive validation. Before each step, the list is scored by the base
//! model alone and by base + head (the head as it was before seeing the list), and the NDCG@10
//! gain is kept over a window of the latest lists; the head counts in reranks only while it
//! beats the base by a margin, after a minimum number of validated lists.

use std::collections::VecDeque;

use super::LearningConfig;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Gate {
    /// Lists validated so far (with a relevant and an irrelevant candidate).
    pub(crate) validated: u32,
    /// NDCG@10 of base + head minus base, latest last, at most `gate_window`.
    pub(crate) gains: VecDeque<f32>,
    /// Whether the head counts in reranks: decided after each validation.
    pub(crate) open: bool,
}

impl Gate {
    pub fn record(&mut self, gain: f32, config: &LearningConfig) {
        self.validated = self.validated.saturating_add(1);
        self.gains.push_back(gain);
        while self.gains.len() > config.gate_window {
            self.gains.pop_front();
        }
        self.open = self.validated as usize >= config.gate_min_requests
            && self.mean_gain().is_some_and(|gain| gain > config.gate_margin);
    }

    pub fn is_open(&self) -> bool {
        self.open
    }

    pub fn validated(&self) -> u32 {
        self.validated
    }

    /// The mean gain over the window, if any list was validated.
    pub fn mean_gain(&self) -> Option<f64> {
        (!self.gains.is_empty())
            .then(|| self.gains.iter().map(|&g| f64::from(g)).sum::<f64>() / self.gains.len() as f64)
    }
}
