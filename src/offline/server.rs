//! The simulated privacy-preserving server, for logs without a request log. It sees every
//! user's events, but only a day after
//! they happen, and never reads a user's local signals. It ranks by time-decayed popularity and
//! serves a small item embedding learned from global co-occurrence (random indexing: an item's
//! vector is the sum of fixed random vectors of the users who liked it, each like weighted by
//! 1 / sqrt(the user's likes so far)).
//!
//! It also computes the "full-history server" reference: item-to-item co-occurrence scores
//! against the user's complete recent history, which a server that logged everything could use.

use std::collections::{HashMap, HashSet};

use super::event_log::LoggedEvent;
use super::log::Log;
use super::protocol::{is_positive, Protocol};
use super::random::SplitMix64;
use crate::item::Item;

/// How many of the user's latest positives the full-history reference compares against.
pub const REFERENCE_HISTORY: usize = 50;

pub struct Server<'a> {
    events: &'a [LoggedEvent],
    /// Events before this index have been absorbed.
    cursor: usize,
    /// Dense index of each item id.
    item_index: HashMap<&'a str, usize>,
    /// Each item as first logged (its attributes, without the log's embedding).
    items: Vec<&'a Item>,
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
    /// The item's index (`Server::index`).
    pub item: usize,
    pub score: f32,
    pub popularity: f32,
    pub first_seen: f64,
}

impl<'a> Server<'a> {
    pub fn new(log: &'a Log, protocol: &Protocol) -> Server<'a> {
        let mut item_index = HashMap::new();
        let mut items = Vec::new();
        for logged in &log.events {
            let item = &logged.event.item;
            item_index.entry(item.id.as_str()).or_insert_with(|| {
                items.push(item);
                items.len() - 1
            });
        }
        let n = items.len();
        Server {
            events: &log.events,
            cursor: 0,
            item_index,
            items,
            popularity: vec![0.0; n],
            origin: log.events.first().map_or(0.0, |e| e.event.at),
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

    /// The dense index of an item the log holds.
    pub fn index(&self, id: &str) -> Option<usize> {
        self.item_index.get(id).copied()
    }

    /// Item `i` as the server sends it: its logged attributes and the server's embedding.
    pub fn item(&self, i: usize) -> Item {
        Item { embedding: Some(self.embedding(i)), ..self.items[i].clone() }
    }

    /// Absorbs every event made strictly before `until`.
    pub fn advance_to(&mut self, until: f64) {
        while let Some(logged) = self.events.get(self.cursor) {
            if logged.event.at >= until {
                break;
            }
            self.absorb(logged);
            self.cursor += 1;
        }
    }

    fn absorb(&mut self, logged: &LoggedEvent) {
        let (user, event) = (logged.user, &logged.event);
        let i = self.item_index[event.item.id.as_str()];
        self.popularity[i] += ((event.at - self.origin) / self.half_life_ms).exp2();
        self.counts[i] += 1;
        if self.first_seen[i].is_nan() {
            self.first_seen[i] = event.at;
        }
        if !is_positive(event.kind) {
            return;
        }
        let dimension = self.dimension;
        let user_vector = self.user_vectors.entry(user).or_insert_with(|| random_vector(user, dimension));
        // Each like counts 1 / sqrt(the user's likes so far), so heavy raters do not dominate.
        let liked_so_far = self.liked.get(&user).map_or(0, Vec::len);
        let weight = 1.0 / ((liked_so_far + 1) as f32).sqrt();
        for (e, u) in self.embeddings[i * dimension..(i + 1) * dimension].iter_mut().zip(user_vector.iter()) {
            *e += weight * u;
        }
        self.like_counts[i] += 1;
        let liked = self.liked.entry(user).or_default();
        for &j in liked.iter() {
            let key = (i.min(j) as u32, i.max(j) as u32);
            *self.co_likes.entry(key).or_insert(0) += 1;
        }
        liked.push(i);
    }

    /// The top candidates by decayed popularity at `now`, leaving out `exclude`d items.
    pub fn top(&self, count: usize, now: f64, exclude: &HashSet<usize>) -> Vec<ServedItem> {
        let mut ranked: Vec<usize> =
            (0..self.items.len()).filter(|&i| self.counts[i] > 0 && !exclude.contains(&i)).collect();
        // Ties go to the shorter id, then the bytewise smaller one: for decimal ids (MovieLens'),
        // the numerically smaller.
        let id = |i: usize| (self.items[i].id.len(), self.items[i].id.as_bytes());
        let by_popularity = |a: &usize, b: &usize| {
            self.popularity[*b].total_cmp(&self.popularity[*a]).then(id(*a).cmp(&id(*b)))
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
                item: i,
                score: (self.popularity[i] * scale) as f32,
                popularity: self.counts[i] as f32,
                first_seen: self.first_seen[i],
            })
            .collect()
    }

    /// Item `i`'s embedding as served now: unit length, or zeros if nobody liked it yet.
    pub fn embedding(&self, i: usize) -> Vec<f32> {
        let vector = &self.embeddings[i * self.dimension..(i + 1) * self.dimension];
        let norm = vector.iter().map(|v| v * v).sum::<f32>().sqrt();
        if norm > 0.0 {
            vector.iter().map(|v| v / norm).collect()
        } else {
            vec![0.0; self.dimension]
        }
    }

    /// The full-history reference: summed cosine co-like similarity between item `i` and the
    /// user's latest liked items (`history`, item indices).
    pub fn co_like_score(&self, i: usize, history: &[usize]) -> f32 {
        if self.like_counts[i] == 0 {
            return 0.0;
        }
        history
            .iter()
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
