//! The personal head: a linear correction over the contract's candidate signal features,
//! learnt by pairwise logistic regression on the final score (base + head), so it learns what
//! the base model gets wrong for this user. AdaGrad steps (a per-feature step size, so
//! features of very different scales need no normalising), L2 towards 0.

use super::LearningConfig;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Head {
    /// One per candidate signal feature, in contract order.
    pub(crate) weights: Vec<f32>,
    /// AdaGrad's sum of squared gradients, per weight.
    pub(crate) squared_gradients: Vec<f32>,
}

/// Keeps the first step of a weight whose gradient was tiny from being huge.
const ADAGRAD_EPSILON: f32 = 1e-6;

impl Head {
    pub fn new(features: usize) -> Head {
        Head { weights: vec![0.0; features], squared_gradients: vec![0.0; features] }
    }

    pub fn len(&self) -> usize {
        self.weights.len()
    }

    pub fn is_empty(&self) -> bool {
        self.weights.is_empty()
    }

    pub fn weights(&self) -> &[f32] {
        &self.weights
    }

    /// The head's term for one candidate, `signals(k)` its `k`-th signal feature: exactly 0
    /// when every signal is 0 (no bias), so a candidate the store knows nothing about keeps
    /// its place.
    pub fn term(&self, signals: impl Fn(usize) -> f32, bound: f32) -> f32 {
        self.unclamped(signals).clamp(-bound, bound)
    }

    fn unclamped(&self, signals: impl Fn(usize) -> f32) -> f32 {
        self.weights.iter().enumerate().map(|(k, w)| w * signals(k)).sum()
    }

    /// One step on one list: `rows` its candidates' signal features (`[n, len]`), `base` their
    /// base scores, `labels` their outcomes (higher is better). The gradient is the mean over
    /// the list's pairs with different labels (in index order: deterministic) of the pairwise
    /// logistic loss of base + head. Returns the number of pairs (0: no step).
    /// The lengths must agree (`PersonalModel::learn`, the one caller, checks them).
    pub(super) fn step(
        &mut self,
        rows: &[f32],
        base: &[f32],
        labels: &[f32],
        config: &LearningConfig,
    ) -> usize {
        let width = self.len();
        let raw: Vec<f32> = rows.chunks_exact(width).map(|row| self.unclamped(|k| row[k])).collect();
        let terms: Vec<f32> = raw.iter().map(|r| r.clamp(-config.bound, config.bound)).collect();
        // Where the clamp holds a term, it does not move with the weights.
        let free: Vec<f32> = raw.iter().map(|r| f32::from(u8::from(r.abs() < config.bound))).collect();
        let mut gradient = vec![0.0f32; width];
        let mut pairs = 0usize;
        for better in 0..labels.len() {
            for worse in 0..labels.len() {
                if labels[better] <= labels[worse] {
                    continue;
                }
                pairs += 1;
                let margin = (base[better] + terms[better]) - (base[worse] + terms[worse]);
                // d/d margin of ln(1 + e^-margin).
                let slope = -1.0 / (1.0 + margin.exp());
                let (b, w) = (&rows[better * width..][..width], &rows[worse * width..][..width]);
                for ((g, b), w) in gradient.iter_mut().zip(b).zip(w) {
                    *g += slope * (free[better] * b - free[worse] * w);
                }
            }
        }
        if pairs == 0 {
            return 0;
        }
        let steps = self.weights.iter_mut().zip(&mut self.squared_gradients).zip(&gradient);
        for ((weight, squared), gradient) in steps {
            let g = gradient / pairs as f32 + config.l2 * *weight;
            *squared += g * g;
            *weight -= config.learning_rate * g / (squared.sqrt() + ADAGRAD_EPSILON);
        }
        pairs
    }
}
