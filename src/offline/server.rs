//! The simulated privacy-preserving server. It sees every user's ratings, but only a day after
//! they happen, and never reads a user's local signals. It ranks by time-decayed popularity and
//! serves a small item embedding learned from global co-occurrence (random indexing: an item's
//! vector is the sum of fixed random vectors of the users who liked it, each like weighted by
//! 1 / sqrt(the user's likes so far)).
//!
//! It also computes the "full-history server" reference: item-to-item co-occurrence scores
//! against the user's complete recent history, which a server that logged everything could use.

use std::collections::{HashMap, HashSet};

use super::log::{Log, Rating};
use super::protocol::{is_positive, Protocol};
use super::random::SplitMix64;

/// How many of the user's latest positives the full-history reference compares against.
pub const REFERENCE_HISTORY: usize = 50;

pub struct Server<'a> {
    ratings: &'a [Rating],
    /// Ratings before this index have been absorbed.
    cursor: usize,
    /// Dense index of each item id.
    item_index: HashMap<u32, usize>,
    item_ids: Vec<u32>,
    /// Popularity as `sum 2^((t - origin) / h)`: ranks the same as the decayed count at any
    /// time, without touching every item when time passes.
    popularity: Vec<f64>,
    origin: f64,
    counts: Vec<u32>,
    first_seen: Vec<f64>,
    half_life_ms: f64,
    dimension: usize,
    /// Row-major `[items, dimension]`.
    embeddings: Vec<f32>,
    user_vectors: HashMap<u32, Vec<f32>>,
    /// Items each user liked, as absorbed so far (for co-occurrence).
    liked: HashMap<u32, Vec<usize>>,
    /// Co-like counts of item pairs (smaller index first), as absorbed so far.
    co_likes: HashMap<(u32, u32), u32>,
    like_counts: Vec<u32>,
}

/// One candidate as the server sends it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServedItem {
    pub item: u32,
    pub score: f32,
    pub popularity: f32,
    pub first_seen: f64,
}

impl<'a> Server<'a> {
    pub fn new(log: &'a Log, protocol: &Protocol) -> Server<'a> {
        let mut item_index = HashMap::new();
        let mut item_ids = Vec::new();
        for rating in &log.ratings {
            item_index.entry(rating.item).or_insert_with(|| {
                item_ids.push(rating.item);
                item_ids.len() - 1
            });
        }
        let n = item_ids.len();
        Server {
            ratings: &log.ratings,
            cursor: 0,
            item_index,
            item_ids,
            popularity: vec![0.0; n],
            origin: log.ratings.first().map_or(0.0, |r| r.at),
            counts: vec![0; n],
            first_seen: vec![f64::NAN; n],
            half_life_ms: protocol.popularity_half_life_ms,
            dimension: protocol.embedding_dim,
            embeddings: vec![0.0; n * protocol.embedding_dim],
            user_vectors: HashMap::new(),
            liked: HashMap::new(),
            co_likes: HashMap::new(),
            like_counts: vec![0; n],
        }
    }

    /// Absorbs every rating made strictly before `until`.
    pub fn advance_to(&mut self, until: f64) {
        while let Some(&rating) = self.ratings.get(self.cursor) {
            if rating.at >= until {
                break;
            }
            self.absorb(rating);
            self.cursor += 1;
        }
    }

    fn absorb(&mut self, rating: Rating) {
        let i = self.item_index[&rating.item];
        self.popularity[i] += ((rating.at - self.origin) / self.half_life_ms).exp2();
        self.counts[i] += 1;
        if self.first_seen[i].is_nan() {
            self.first_seen[i] = rating.at;
        }
        if !is_positive(rating.rating) {
            return;
        }
        let dimension = self.dimension;
        let user_vector =
            self.user_vectors.entry(rating.user).or_insert_with(|| random_vector(rating.user, dimension));
        // Each like counts 1 / sqrt(the user's likes so far), so heavy raters do not dominate.
        let liked_so_far = self.liked.get(&rating.user).map_or(0, Vec::len);
        let weight = 1.0 / ((liked_so_far + 1) as f32).sqrt();
        for (e, u) in self.embeddings[i * dimension..(i + 1) * dimension].iter_mut().zip(user_vector.iter()) {
            *e += weight * u;
        }
        self.like_counts[i] += 1;
        let liked = self.liked.entry(rating.user).or_default();
        for &j in liked.iter() {
            let key = (i.min(j) as u32, i.max(j) as u32);
            *self.co_likes.entry(key).or_insert(0) += 1;
        }
        liked.push(i);
    }

    /// The top candidates by decayed popularity at `now`, leaving out `exclude`d item ids.
    pub fn top(&self, count: usize, now: f64, exclude: &HashSet<u32>) -> Vec<ServedItem> {
        let mut ranked: Vec<usize> = (0..self.item_ids.len())
            .filter(|&i| self.counts[i] > 0 && !exclude.contains(&self.item_ids[i]))
            .collect();
        let by_popularity = |a: &usize, b: &usize| {
            self.popularity[*b]
                .total_cmp(&self.popularity[*a])
                .then(self.item_ids[*a].cmp(&self.item_ids[*b]))
        };
        if ranked.len() > count {
            ranked.select_nth_unstable_by(count - 1, by_popularity);
            ranked.truncate(count);
        }
        ranked.sort_unstable_by(by_popularity);
        let scale = (-(now - self.origin) / self.half_life_ms).exp2();
        ranked
            .into_iter()
            .map(|i| ServedItem {
                item: self.item_ids[i],
                score: (self.popularity[i] * scale) as f32,
                popularity: self.counts[i] as f32,
                first_seen: self.first_seen[i],
            })
            .collect()
    }

    /// The item's embedding as served now: unit length, or zeros if nobody liked it yet.
    pub fn embedding(&self, item: u32) -> Vec<f32> {
        let Some(&i) = self.item_index.get(&item) else { return vec![0.0; self.dimension] };
        let vector = &self.embeddings[i * self.dimension..(i + 1) * self.dimension];
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter().map(|v| v / norm).collect()
        } else {
            vec![0.0; self.dimension]
        }
    }

    /// The full-history reference: summed cosine co-like similarity between `item` and the
    /// user's latest liked items (`history`, item ids).
    pub fn co_like_score(&self, item: u32, history: &[u32]) -> f32 {
        let Some(&i) = self.item_index.get(&item) else { return 0.0 };
        if self.like_counts[i] == 0 {
            return 0.0;
        }
        history
            .iter()
            .filter_map(|h| self.item_index.get(h))
            .filter(|&&j| j != i && self.like_counts[j] > 0)
            .map(|&j| {
                let key = (i.min(j) as u32, i.max(j) as u32);
                let together = self.co_likes.get(&key).copied().unwrap_or(0) as f32;
                together / ((self.like_counts[i] * self.like_counts[j]) as f32).sqrt()
            })
            .sum()
    }
}

/// A user's fixed random direction, seeded by the user id.
fn random_vector(user: u32, dimension: usize) -> Vec<f32> {
    let mut rng = SplitMix64::new(0x5EED_0000 ^ u64::from(user));
    (0..dimension).map(|_| rng.normal() as f32).collect()
}
