//! The most recent positively engaged embeddings, kept one by one. A decayed mean (the user and
//! session vectors) blurs several interests into one direction; the best match among the last
//! few items keeps each of them, which is what "more like the thing I just liked" needs.

use std::collections::VecDeque;

/// How many embeddings the ring keeps. Bounds memory (at most 32 × 512 floats) and the cost of
/// a rerank (at most one dot product per kept embedding and candidate).
pub const RECENT_CAPACITY: usize = 32;

/// One kept embedding: when it was engaged with, and the embedding scaled to unit length (or
/// left at zero), so a cosine is one dot product.
#[derive(Debug, Clone, PartialEq)]
pub struct RecentEmbedding {
    pub at: f64,
    pub unit: Vec<f32>,
}

/// The newest `RECENT_CAPACITY` positive embeddings, oldest first.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RecentEmbeddings {
    entries: VecDeque<RecentEmbedding>,
}

impl RecentEmbeddings {
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn dimension(&self) -> Option<usize> {
        self.entries.front().map(|e| e.unit.len())
    }

    pub fn iter(&self) -> impl Iterator<Item = &RecentEmbedding> {
        self.entries.iter()
    }

    /// Adds an embedding engaged with at `at`. Late events go to their place in time order
    /// (after entries at the same time), so the ring holds the newest `RECENT_CAPACITY`
    /// whatever order events arrive in.
    pub fn add(&mut self, embedding: &[f32], at: f64) {
        let position = self.entries.partition_point(|e| e.at <= at);
        if self.entries.len() == RECENT_CAPACITY && position == 0 {
            return; // older than everything kept
        }
        self.entries.insert(position, RecentEmbedding { at, unit: unit(embedding) });
        if self.entries.len() > RECENT_CAPACITY {
            self.entries.pop_front();
        }
    }

    /// Restores entries read from a snapshot; they must be in time order (checked by the caller).
    pub(super) fn from_entries(entries: Vec<RecentEmbedding>) -> Self {
        RecentEmbeddings { entries: entries.into() }
    }

    /// Drops entries older than `oldest_kept`.
    pub fn prune(&mut self, oldest_kept: f64) {
        while self.entries.front().is_some_and(|e| e.at < oldest_kept) {
            self.entries.pop_front();
        }
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }

    /// Lays the newest `limit` kept embeddings (fewer if fewer are kept) out in `matrix`,
    /// newest first, for `RecentMatrix::cosines_into`.
    pub fn newest_into(&self, limit: usize, matrix: &mut RecentMatrix) {
        matrix.fill(self.entries.iter().rev().take(limit).map(|e| e.unit.as_slice()), self.dimension());
    }
}

/// Some kept embeddings laid out dimension by dimension (`by_dimension[d * count + j]` is
/// dimension `d` of embedding `j`), so one candidate's cosines with all of them are summed
/// together: independent lanes the compiler vectorises, while each cosine is still summed in
/// dimension order — bit for bit the plain dot product, on the device and in the offline replay.
/// Filled once per request; reused across requests.
#[derive(Debug, Clone, Default)]
pub struct RecentMatrix {
    dimension: usize,
    count: usize,
    by_dimension: Vec<f32>,
}

impl RecentMatrix {
    fn fill<'a>(&mut self, units: impl ExactSizeIterator<Item = &'a [f32]>, dimension: Option<usize>) {
        self.dimension = dimension.unwrap_or(0);
        self.count = units.len();
        self.by_dimension.clear();
        self.by_dimension.resize(self.dimension * self.count, 0.0);
        for (j, unit) in units.enumerate() {
            for (d, &value) in unit.iter().enumerate() {
                self.by_dimension[d * self.count + j] = value;
            }
        }
    }

    /// Writes into `out` the cosines of `embedding` with the laid-out embeddings, in their
    /// order (none if there are none or the lengths differ). A zero `embedding` gives zeros.
    pub fn cosines_into(&self, embedding: &[f32], out: &mut Vec<f32>) {
        out.clear();
        if self.count == 0 || embedding.len() != self.dimension {
            return;
        }
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        let inverse = if norm > 0.0 { 1.0 / norm } else { 0.0 };
        // -0.0: the start `f32::sum` uses, so the sums equal `iter().sum()` to the bit.
        out.resize(self.count, -0.0);
        for (&value, row) in embedding.iter().zip(self.by_dimension.chunks_exact(self.count)) {
            for (sum, &unit) in out.iter_mut().zip(row) {
                *sum += unit * value;
            }
        }
        for cosine in out.iter_mut() {
            *cosine *= inverse;
        }
    }
}

fn unit(embedding: &[f32]) -> Vec<f32> {
    let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
    if norm > 0.0 {
        embedding.iter().map(|v| v / norm).collect()
    } else {
        vec![0.0; embedding.len()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_newest_in_time_order_whatever_the_arrival_order() {
        let mut forward = RecentEmbeddings::default();
        let mut backward = RecentEmbeddings::default();
        let times: Vec<f64> = (0..RECENT_CAPACITY + 5).map(|k| k as f64 * 10.0).collect();
        for &at in &times {
            forward.add(&[at as f32 + 1.0, 1.0], at);
        }
        for &at in times.iter().rev() {
            backward.add(&[at as f32 + 1.0, 1.0], at);
        }
        assert_eq!(forward, backward);
        assert_eq!(forward.len(), RECENT_CAPACITY);
        assert_eq!(forward.iter().next().unwrap().at, 50.0, "the five oldest were dropped");
        assert_eq!(forward.len(), RECENT_CAPACITY);
    }

    fn cosines(ring: &RecentEmbeddings, embedding: &[f32], limit: usize) -> Vec<f32> {
        let mut matrix = RecentMatrix::default();
        ring.newest_into(limit, &mut matrix);
        let mut out = vec![9.0];
        matrix.cosines_into(embedding, &mut out);
        out
    }

    #[test]
    fn cosines_newest_first() {
        let mut ring = RecentEmbeddings::default();
        assert!(cosines(&ring, &[1.0, 0.0], 4).is_empty());
        ring.add(&[2.0, 0.0], 1.0);
        ring.add(&[0.0, 3.0], 2.0);
        assert_eq!(cosines(&ring, &[2.0, 0.0], 4), [0.0, 1.0]);
        let out = cosines(&ring, &[1.0, 1.0], 1);
        assert!(out.len() == 1 && (out[0] - 0.5f32.sqrt()).abs() < 1e-6, "{out:?}");
        assert!(cosines(&ring, &[1.0, 0.0, 0.0], 4).is_empty(), "other length");
        assert_eq!(cosines(&ring, &[0.0, 0.0], 4), [0.0, 0.0]);
        ring.prune(1.5);
        assert_eq!(ring.len(), 1);
    }

    /// The laid-out sums must be the plain dot products bit for bit: features computed before
    /// this layout (and the models trained on them) must not change.
    #[test]
    fn cosines_equal_plain_dot_products_to_the_bit() {
        let mut state = 12345u32;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            (state as f32 / u32::MAX as f32) * 2.0 - 1.0
        };
        let dimension = 37;
        let mut ring = RecentEmbeddings::default();
        for k in 0..RECENT_CAPACITY + 3 {
            let embedding: Vec<f32> = (0..dimension).map(|_| next() * 1e3).collect();
            ring.add(&embedding, k as f64);
        }
        for limit in [1, 4, 16, RECENT_CAPACITY] {
            let embedding: Vec<f32> = (0..dimension).map(|_| next()).collect();
            let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
            let expected: Vec<u32> = ring
                .entries
                .iter()
                .rev()
                .take(limit)
                .map(|e| {
                    (e.unit.iter().zip(&embedding).map(|(u, v)| u * v).sum::<f32>() * (1.0 / norm)).to_bits()
                })
                .collect();
            let actual: Vec<u32> = cosines(&ring, &embedding, limit).iter().map(|c| c.to_bits()).collect();
            assert_eq!(actual, expected, "limit {limit}");
        }
    }
}
