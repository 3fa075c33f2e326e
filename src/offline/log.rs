//! An interaction log in the shape the replay needs: ratings with times, and item topics.

use std::collections::HashMap;

/// One rating: an engagement of `user` with `item` at `at` (ms since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rating {
    pub user: u32,
    pub item: u32,
    pub rating: f32,
    pub at: f64,
}

#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Sorted by time; ties keep the file's order.
    pub ratings: Vec<Rating>,
    pub topics: HashMap<u32, Vec<String>>,
}

impl Log {
    pub fn new(mut ratings: Vec<Rating>, topics: HashMap<u32, Vec<String>>) -> Log {
        ratings.sort_by(|a, b| a.at.total_cmp(&b.at));
        Log { ratings, topics }
    }

    /// The timestamp below which a fraction `q` of the ratings fall.
    pub fn time_quantile(&self, q: f64) -> f64 {
        if self.ratings.is_empty() {
            return 0.0;
        }
        let index = ((self.ratings.len() as f64 * q) as usize).min(self.ratings.len() - 1);
        self.ratings[index].at
    }
}
