//! What the server sends (candidates) and what the client records (events), as plain data.
//! Both carry the same item attributes, so signals recorded on an item line up with the
//! features later computed for it.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// Longest id or attribute string accepted; longer ones are rejected, not truncated.
pub const MAX_STRING_LEN: usize = 256;
/// Most attribute keys of one family (containers, topics) on one item.
pub const MAX_KEYS_PER_FAMILY: usize = 32;
/// Longest item embedding accepted.
pub const MAX_EMBEDDING_LEN: usize = 512;
/// Largest embedding value accepted in magnitude. Embeddings are unit-scale in practice; the
/// bound keeps every sum the store and the features take of them finite in f32, so a stored
/// user vector always survives a snapshot.
pub const MAX_EMBEDDING_VALUE: f32 = 1.0e6;

/// The attributes an item is known by: its id and the keys signals are aggregated under.
/// `null` lists count as empty, as JS callers often spread objects with absent fields.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Item {
    pub id: String,
    /// Who made it (a user, a bot, a publisher).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Where it lives, outermost first (e.g. a guild, then a channel).
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub containers: Vec<String>,
    /// Topic tags.
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    pub topics: Vec<String>,
    /// A small server-computed item embedding (same length for every item of a request).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub embedding: Option<Vec<f32>>,
}

fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// Checks that `embedding` has the length every embedding so far had (`expected`, set by the
/// first one); `what` names the item in the error message (built only on error: this runs
/// once per recorded event).
pub fn check_embedding_length(
    expected: &mut Option<usize>,
    embedding: &[f32],
    what: impl FnOnce() -> String,
) -> Result<(), String> {
    match *expected {
        Some(len) if len != embedding.len() => {
            Err(format!("{}: embedding length {} differs from {len}", what(), embedding.len()))
        }
        _ => {
            *expected = Some(embedding.len());
            Ok(())
        }
    }
}

/// The attribute families signals are kept under. `Item` is the item id itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    Item,
    Author,
    Container,
    Topic,
}

impl Family {
    pub const ALL: [Family; 4] = [Family::Item, Family::Author, Family::Container, Family::Topic];

    pub fn name(self) -> &'static str {
        match self {
            Family::Item => "item",
            Family::Author => "author",
            Family::Container => "container",
            Family::Topic => "topic",
        }
    }

    pub fn from_name(name: &str) -> Option<Family> {
        Family::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn index(self) -> usize {
        self as usize
    }
}

impl Item {
    /// The item's keys of one family.
    pub fn keys(&self, family: Family) -> &[String] {
        match family {
            Family::Item => std::slice::from_ref(&self.id),
            Family::Author => self.author.as_slice(),
            Family::Container => &self.containers,
            Family::Topic => &self.topics,
        }
    }
}

/// An item's attributes, however they are stored (an `Item`, or one item of candidate or
/// event columns), so all are validated by the same `validate_item` and recorded by the same
/// store code.
pub(crate) trait ItemView {
    fn id(&self) -> &str;
    fn keys(&self, family: Family) -> impl ExactSizeIterator<Item = &str>;
    fn embedding(&self) -> Option<&[f32]>;
}

impl<T: ItemView> ItemView for &T {
    fn id(&self) -> &str {
        T::id(self)
    }

    fn keys(&self, family: Family) -> impl ExactSizeIterator<Item = &str> {
        T::keys(self, family)
    }

    fn embedding(&self) -> Option<&[f32]> {
        T::embedding(self)
    }
}

impl ItemView for Item {
    fn id(&self) -> &str {
        &self.id
    }

    fn keys(&self, family: Family) -> impl ExactSizeIterator<Item = &str> {
        Item::keys(self, family).iter().map(String::as_str)
    }

    fn embedding(&self) -> Option<&[f32]> {
        self.embedding.as_deref()
    }
}

/// The rules every item (event or candidate) must meet: a non-empty id, bounded key counts
/// and lengths, a finite embedding of an allowed length.
pub(crate) fn validate_item(item: &impl ItemView) -> Result<(), String> {
    if item.id().is_empty() {
        return Err("empty id".into());
    }
    for family in Family::ALL {
        let mut keys = item.keys(family);
        if keys.len() > MAX_KEYS_PER_FAMILY {
            return Err(format!("{} {} keys (limit {MAX_KEYS_PER_FAMILY})", keys.len(), family.name()));
        }
        // An empty key names nothing (and the snapshot format has no room for one).
        if let Some(key) = keys.find(|k| k.is_empty() || k.len() > MAX_STRING_LEN) {
            if key.is_empty() {
                return Err(format!("an empty {} key", family.name()));
            }
            return Err(format!("{} key of {} bytes (limit {MAX_STRING_LEN})", family.name(), key.len()));
        }
    }
    if let Some(embedding) = item.embedding() {
        if embedding.is_empty() || embedding.len() > MAX_EMBEDDING_LEN {
            return Err(format!("embedding of length {} (allowed 1..={MAX_EMBEDDING_LEN})", embedding.len()));
        }
        // One pass over the values for both checks.
        let in_range = |v: &&f32| v.is_finite() && v.abs() <= MAX_EMBEDDING_VALUE;
        if let Some(value) = embedding.iter().find(|v| !in_range(v)) {
            return Err(if value.is_finite() {
                format!("embedding has a value beyond ±{MAX_EMBEDDING_VALUE:e}")
            } else {
                "embedding has a NaN or infinite value".into()
            });
        }
    }
    Ok(())
}

/// One candidate of a server response. Its server rank is its position in the list. Fields
/// this library does not use (titles, URLs…) are ignored, so a server response can be passed as is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(from = "CandidateFields", into = "CandidateFields")]
pub struct Candidate {
    pub item: Item,
    /// The server's own relevance score (higher is better).
    pub server_score: Option<f32>,
    /// A global popularity count (views, members, ratings…).
    pub popularity: Option<f32>,
    /// Creation time, ms since the Unix epoch.
    pub created_at: Option<f64>,
    /// How long the item takes to watch or read through, in ms (a video's length): what a
    /// dwell on it is measured against.
    pub duration_ms: Option<f64>,
    /// Pinned candidates keep their server position.
    pub pinned: bool,
}

/// A candidate as it crosses the wire: the item's fields inline. Every field is named (no
/// `#[serde(flatten)]`), so deserialisers read only these and never walk a server's unknown,
/// possibly deeply nested, extra fields.
#[derive(Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CandidateFields {
    id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    author: Option<String>,
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    containers: Vec<String>,
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "Vec::is_empty")]
    topics: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    embedding: Option<Vec<f32>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    server_score: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    popularity: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    duration_ms: Option<f64>,
    #[serde(default, deserialize_with = "null_as_default", skip_serializing_if = "std::ops::Not::not")]
    pinned: bool,
}

impl From<CandidateFields> for Candidate {
    fn from(f: CandidateFields) -> Self {
        Candidate {
            item: Item {
                id: f.id,
                author: f.author,
                containers: f.containers,
                topics: f.topics,
                embedding: f.embedding,
            },
            server_score: f.server_score,
            popularity: f.popularity,
            created_at: f.created_at,
            duration_ms: f.duration_ms,
            pinned: f.pinned,
        }
    }
}

impl From<Candidate> for CandidateFields {
    fn from(c: Candidate) -> Self {
        let Item { id, author, containers, topics, embedding } = c.item;
        CandidateFields {
            id,
            author,
            containers,
            topics,
            embedding,
            server_score: c.server_score,
            popularity: c.popularity,
            created_at: c.created_at,
            duration_ms: c.duration_ms,
            pinned: c.pinned,
        }
    }
}

/// The kinds of engagement the signal store understands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EventKind {
    Impression,
    Click,
    Dwell,
    Like,
    Share,
    Dismiss,
    Hide,
}

impl EventKind {
    pub const ALL: [EventKind; 7] = [
        EventKind::Impression,
        EventKind::Click,
        EventKind::Dwell,
        EventKind::Like,
        EventKind::Share,
        EventKind::Dismiss,
        EventKind::Hide,
    ];
    pub const COUNT: usize = Self::ALL.len();

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn name(self) -> &'static str {
        match self {
            EventKind::Impression => "impression",
            EventKind::Click => "click",
            EventKind::Dwell => "dwell",
            EventKind::Like => "like",
            EventKind::Share => "share",
            EventKind::Dismiss => "dismiss",
            EventKind::Hide => "hide",
        }
    }

    /// How much one event of this kind adds to the positive affinity. Dwell counts per
    /// 30 seconds dwelt, so a long read weighs like a click.
    pub fn positive_weight(self) -> f64 {
        match self {
            EventKind::Click => 1.0,
            EventKind::Dwell => 1.0,
            EventKind::Like => 2.0,
            EventKind::Share => 3.0,
            EventKind::Impression | EventKind::Dismiss | EventKind::Hide => 0.0,
        }
    }

    /// How much one event of this kind adds to the negative affinity; hiding is stronger
    /// than dismissing.
    pub fn negative_weight(self) -> f64 {
        match self {
            EventKind::Dismiss => 1.0,
            EventKind::Hide => 3.0,
            _ => 0.0,
        }
    }

    pub fn is_positive(self) -> bool {
        self.positive_weight() > 0.0
    }
}

/// Dwell time that counts as one unit of engagement.
pub const DWELL_UNIT_MS: f64 = 30_000.0;
/// Longest dwell that counts: past half an hour the item was more likely left open than read,
/// and an unbounded dwell would overflow the store's f32 counters (which a snapshot must hold).
pub const MAX_DWELL_MS: f64 = 30.0 * 60_000.0;

/// One engagement the client observed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub kind: EventKind,
    pub item: Item,
    /// When it happened, ms since the Unix epoch.
    pub at: f64,
    /// For `dwell`: how long, in ms.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dwell_ms: Option<f64>,
}

/// An event, however it is stored (an `Event`, or one event of an `EventColumns`): both are
/// validated and recorded by the same code, so they behave identically.
pub(crate) trait EventView: ItemView + Sized {
    fn kind(&self) -> EventKind;
    /// When it happened, ms since the Unix epoch.
    fn at(&self) -> f64;
    fn dwell_ms(&self) -> Option<f64>;

    /// The amount this event adds to its kind's counter: 1 per event, dwell in units of 30 s
    /// up to `MAX_DWELL_MS`.
    fn amount(&self) -> f64 {
        match self.kind() {
            EventKind::Dwell => self.dwell_ms().unwrap_or(0.0).min(MAX_DWELL_MS) / DWELL_UNIT_MS,
            _ => 1.0,
        }
    }

    /// Checks the item and the event's own fields; `index` is its place in the batch.
    fn validate(&self, index: usize) -> Result<()> {
        let invalid = |message: &str| Error::InvalidEvent(format!("event {index}: {message}"));
        validate_item(self).map_err(|e| invalid(&e))?;
        let at = self.at();
        if !at.is_finite() || at < 0.0 {
            return Err(invalid(&format!("timestamp {at} is not a time")));
        }
        match (self.kind(), self.dwell_ms()) {
            (EventKind::Dwell, Some(ms)) if ms.is_finite() && ms >= 0.0 => Ok(()),
            (EventKind::Dwell, _) => Err(invalid("dwell needs a finite, non-negative dwellMs")),
            (_, None) => Ok(()),
            (_, Some(_)) => Err(invalid("dwellMs is only for dwell events")),
        }
    }
}

impl<T: EventView> EventView for &T {
    fn kind(&self) -> EventKind {
        T::kind(self)
    }

    fn at(&self) -> f64 {
        T::at(self)
    }

    fn dwell_ms(&self) -> Option<f64> {
        T::dwell_ms(self)
    }
}

impl ItemView for Event {
    fn id(&self) -> &str {
        &self.item.id
    }

    fn keys(&self, family: Family) -> impl ExactSizeIterator<Item = &str> {
        ItemView::keys(&self.item, family)
    }

    fn embedding(&self) -> Option<&[f32]> {
        self.item.embedding.as_deref()
    }
}

impl EventView for Event {
    fn kind(&self) -> EventKind {
        self.kind
    }

    fn at(&self) -> f64 {
        self.at
    }

    fn dwell_ms(&self) -> Option<f64> {
        self.dwell_ms
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_json_with_extra_fields_and_nulls_parses() {
        let json = r#"{"id":"p1","title":"ignored","nested":{"deep":[1,[2,[3]]]},"topics":null,
            "containers":["g1","c2"],"pinned":null,"serverScore":0.5}"#;
        let candidate: Candidate = serde_json::from_str(json).unwrap();
        assert_eq!(candidate.item.id, "p1");
        assert!(candidate.item.topics.is_empty() && !candidate.pinned);
        assert_eq!(candidate.item.keys(Family::Container), ["g1", "c2"]);
        let round_trip: Candidate =
            serde_json::from_str(&serde_json::to_string(&candidate).unwrap()).unwrap();
        assert_eq!(round_trip, candidate);
    }

    #[test]
    fn events_need_a_kind_an_item_and_a_time() {
        let event: Event =
            serde_json::from_str(r#"{"kind":"dwell","item":{"id":"a"},"at":5,"dwellMs":1000}"#).unwrap();
        assert!(event.validate(0).is_ok());
        assert!((event.amount() - 1.0 / 30.0).abs() < 1e-12);
        assert!(serde_json::from_str::<Event>(r#"{"kind":"stare","item":{"id":"a"},"at":5}"#).is_err());
    }
}
