//! The local user vector: a decayed, engagement-weighted mean of the embeddings of the items the
//! user engaged with positively. It lives only on the device.

use super::decay::decay_factor;

#[derive(Debug, Clone, PartialEq)]
pub struct UserVector {
    /// Weighted sum of embeddings, decayed to `updated_at`.
    pub sum: Vec<f32>,
    /// Sum of weights, decayed the same way.
    pub weight: f32,
    pub updated_at: f64,
}

impl UserVector {
    pub fn new(embedding: &[f32], weight: f64, at: f64) -> Self {
        UserVector {
            sum: embedding.iter().map(|&v| (f64::from(v) * weight) as f32).collect(),
            weight: weight as f32,
            updated_at: at,
        }
    }

    pub fn dimension(&self) -> usize {
        self.sum.len()
    }

    /// Adds `embedding` with `weight` at `at`, decaying with `half_life_ms`.
    pub fn add(&mut self, embedding: &[f32], weight: f64, at: f64, half_life_ms: f64) {
        // Decaying the older side keeps late events exact, as in `KeyStats::add`.
        let (old_factor, new_factor) = if at >= self.updated_at {
            let factor = decay_factor(at - self.updated_at, half_life_ms);
            self.updated_at = at;
            (factor, 1.0)
        } else {
            (1.0, decay_factor(self.updated_at - at, half_life_ms))
        };
        for (sum, &value) in self.sum.iter_mut().zip(embedding) {
            *sum = (f64::from(*sum) * old_factor + f64::from(value) * weight * new_factor) as f32;
        }
        self.weight = (f64::from(self.weight) * old_factor + weight * new_factor) as f32;
    }

    /// Cosine similarity between the user's mean and an item embedding; 0 when either is zero.
    /// The mean's scale cancels out, so decay does not change it.
    pub fn cosine(&self, embedding: &[f32]) -> f32 {
        let (mut dot, mut user_norm, mut item_norm) = (0.0f32, 0.0f32, 0.0f32);
        for (&u, &v) in self.sum.iter().zip(embedding) {
            dot += u * v;
            user_norm += u * u;
            item_norm += v * v;
        }
        let denominator = (user_norm * item_norm).sqrt();
        if denominator > 0.0 {
            dot / denominator
        } else {
            0.0
        }
    }
}
