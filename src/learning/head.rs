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
        let mut sum = 0.0;
        self.each_unclamped(1, |_, k| signals(k), |_, s| sum = s);
        sum.clamp(-bound, bound)
    }

    /// Adds `term` of each candidate to its entry of `scores`, `signal(i, k)` candidate `i`'s
    /// `k`-th signal feature.
    pub fn add_terms(&self, signal: impl Fn(usize, usize) -> f32, bound: f32, scores: &mut [f32]) {
        self.each_unclamped(scores.len(), signal, |i, sum| scores[i] += sum.clamp(-bound, bound));
    }

    /// Each candidate's term before the clamp, into `sums` (one per candidate).
    pub(super) fn unclamped_into(&self, signal: impl Fn(usize, usize) -> f32, sums: &mut [f32]) {
        self.each_unclamped(sums.len(), signal, |i, sum| sums[i] = sum);
    }

    /// Calls `each(i, sum)` with the term before the clamp of each of `count` candidates:
    /// summed in feature order from -0.0, as `Iterator::sum` adds, so every caller gets the
    /// same bits. `BLOCK` candidates go at a time because their sums are independent: the
    /// processor overlaps them instead of waiting on one candidate's chain of additions.
    fn each_unclamped(
        &self,
        count: usize,
        signal: impl Fn(usize, usize) -> f32,
        mut each: impl FnMut(usize, f32),
    ) {
        const BLOCK: usize = 8;
        let Some(last) = count.checked_sub(1) else { return };
        for start in (0..count).step_by(BLOCK) {
            // A whole block in registers; a short last block repeats its last candidate.
            let candidate = |j: usize| (start + j).min(last);
            let mut block_sums = [-0.0f32; BLOCK];
            for (k, weight) in self.weights.iter().enumerate() {
                for (j, sum) in block_sums.iter_mut().enumerate() {
                    *sum += weight * signal(candidate(j), k);
                }
            }
            for (j, &sum) in block_sums.iter().enumerate().take(count - start) {
                each(start + j, sum);
            }
        }
    }

    /// One step on one list: `rows` its candidates' signal features (`[n, len]`), `raw` their
    /// terms before the clamp (`unclamped_into`, by the head as it is), `base` their base
    /// scores, `labels` their finite outcomes (higher is better). The gradient is the mean over
    /// the list's pairs with different labels (in index order: deterministic) of the pairwise
    /// logistic loss of base + head. Returns the number of pairs (0: no step).
    /// The lengths must agree (`PersonalModel::learn`, the one caller, checks them).
    pub(super) fn step(
        &mut self,
        rows: &[f32],
        raw: &[f32],
        base: &[f32],
        labels: &[f32],
        config: &LearningConfig,
    ) -> usize {
        let width = self.len();
        let terms: Vec<f32> = raw.iter().map(|r| r.clamp(-config.bound, config.bound)).collect();
        // Where the clamp holds a term, it does not move with the weights.
        let free: Vec<f32> = raw.iter().map(|r| f32::from(u8::from(r.abs() < config.bound))).collect();
        let mut gradient = vec![0.0f32; width];
        let mut pairs = 0usize;
        // A candidate with the list's lowest label is better than none: most of a list.
        let lowest = labels.iter().copied().fold(f32::INFINITY, f32::min);
        for better in (0..labels.len()).filter(|&i| labels[i] > lowest) {
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
