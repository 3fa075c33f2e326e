//! A log as the replay reads it: every user's device events in time order, and the server's
//! requests where the product logged them (the event-log format, `event_log.rs`).

use super::event_log::{LoggedEvent, RequestLog};

#[derive(Debug, Clone, Default)]
pub struct Log {
    /// Sorted by time; ties keep the file's order.
    pub events: Vec<LoggedEvent>,
    /// How the adapter made the events, if it says (quoted in the model card).
    pub description: Vec<String>,
    /// The product's logged requests; without them the simulated server makes requests.
    pub requests: Option<RequestLog>,
}

impl Log {
    pub fn new(
        mut events: Vec<LoggedEvent>,
        description: Vec<String>,
        mut requests: Option<RequestLog>,
    ) -> Log {
        events.sort_by(|a, b| a.event.at.total_cmp(&b.event.at));
        if let Some(log) = &mut requests {
            log.requests.sort_by(|a, b| a.at.total_cmp(&b.at));
        }
        Log { events, description, requests }
    }

    /// The timestamp below which a fraction `q` of the events fall.
    pub fn time_quantile(&self, q: f64) -> f64 {
        if self.events.is_empty() {
            return 0.0;
        }
        let index = ((self.events.len() as f64 * q) as usize).min(self.events.len() - 1);
        self.events[index].event.at
    }
}
