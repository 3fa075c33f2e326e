//! Event batches column by column: how the JS client sends what it records (`EventColumnsWire`,
//! typed arrays and one string table), so a batch crosses into wasm as a handful of copies
//! instead of one conversion per field. The signal store records them through the same
//! validation and apply code as `Event` objects (`SignalStore::record_columns`).

use super::items::{check_column_length, ItemColumns, ItemRef, ItemsWire};
use super::present;
use crate::error::{Error, Result};
use crate::item::{Event, EventKind, EventView, Family, ItemView};

/// A batch of events as columns: their items, and per event its kind, time and dwell.
/// Invariants (lengths, offsets, string indices, kind codes) hold by construction; field
/// values are checked when the batch is recorded, as for objects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventColumns {
    items: ItemColumns,
    kinds: Vec<EventKind>,
    at: Vec<f64>,
    dwell_ms: Vec<Option<f64>>,
}

/// The columns as JS sends them: the items, and per event its kind as an index into
/// `EventKind::ALL`, its time, and its dwell (NaN: absent; a JS caller cannot send a present
/// NaN: the client routes such a batch through the object path, whose error names it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EventColumnsWire {
    pub items: ItemsWire,
    pub kinds: Vec<u8>,
    pub at: Vec<f64>,
    pub dwell_ms: Vec<f64>,
}

fn wire_error(message: String) -> Error {
    Error::InvalidEvent(format!("event columns: {message}"))
}

impl EventColumns {
    /// Checks the shape of columns sent by JS: every per-event column has one entry per id,
    /// offsets rise to their lists' lengths, string indices are in the table, kind codes name
    /// a kind. A bad shape is `INVALID_EVENT`; the values are checked when recorded.
    pub fn from_wire(wire: EventColumnsWire) -> Result<Self> {
        let n = wire.items.ids.len();
        let per_event =
            [("kinds", wire.kinds.len()), ("at", wire.at.len()), ("dwellMs", wire.dwell_ms.len())];
        per_event
            .iter()
            .try_for_each(|&(name, len)| check_column_length(name, len, n))
            .map_err(wire_error)?;
        let kinds = wire
            .kinds
            .iter()
            .map(|&code| EventKind::ALL.get(usize::from(code)).copied())
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| wire_error(format!("kinds: a code past the {} event kinds", EventKind::COUNT)))?;
        Ok(EventColumns {
            items: ItemColumns::from_wire(wire.items).map_err(wire_error)?,
            kinds,
            at: wire.at,
            dwell_ms: present(wire.dwell_ms),
        })
    }

    /// The same events as columns (no string is shared: keys are not interned).
    pub fn from_events(events: &[Event]) -> Self {
        let mut columns = EventColumns::default();
        for event in events {
            columns.items.push(&event.item);
            columns.kinds.push(event.kind);
            columns.at.push(event.at);
            columns.dwell_ms.push(event.dwell_ms);
        }
        columns
    }

    pub fn len(&self) -> usize {
        self.kinds.len()
    }

    pub fn is_empty(&self) -> bool {
        self.kinds.is_empty()
    }

    /// The events in order, seen as events for the signal store.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = EventRef<'_>> + Clone {
        (0..self.len()).map(|index| EventRef { columns: self, item: self.items.item(index), index })
    }
}

/// One event of a column set.
#[derive(Clone, Copy)]
pub(crate) struct EventRef<'a> {
    columns: &'a EventColumns,
    item: ItemRef<'a>,
    index: usize,
}

impl ItemView for EventRef<'_> {
    fn id(&self) -> &str {
        self.item.id()
    }

    fn keys(&self, family: Family) -> impl ExactSizeIterator<Item = &str> {
        self.item.keys(family)
    }

    fn embedding(&self) -> Option<&[f32]> {
        self.item.embedding()
    }
}

impl EventView for EventRef<'_> {
    fn kind(&self) -> EventKind {
        self.columns.kinds[self.index]
    }

    fn at(&self) -> f64 {
        self.columns.at[self.index]
    }

    fn dwell_ms(&self) -> Option<f64> {
        self.columns.dwell_ms[self.index]
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;

    use super::super::items::tests::{same_items, table};
    use super::super::items::NO_KEY;
    use super::*;
    use crate::item::Item;

    /// The wire the JS client's `packEvents` sends for `events`: every string interned once.
    pub fn interned_wire(events: &[Event]) -> EventColumnsWire {
        let mut strings: Vec<&str> = Vec::new();
        let mut indices: HashMap<&str, u32> = HashMap::new();
        let mut intern =
            |s| *indices.entry(s).or_insert_with(|| (strings.push(s), strings.len() as u32 - 1).1);
        let mut wire = EventColumnsWire::default();
        let items = &mut wire.items;
        items.container_offsets.push(0);
        items.topic_offsets.push(0);
        items.embedding_offsets.push(0);
        for event in events {
            items.ids.push(intern(event.item.id.as_str()));
            items.authors.push(event.item.author.as_deref().map_or(NO_KEY, &mut intern));
            items.container_keys.extend(event.item.containers.iter().map(|k| intern(k)));
            items.container_offsets.push(items.container_keys.len() as u32);
            items.topic_keys.extend(event.item.topics.iter().map(|k| intern(k)));
            items.topic_offsets.push(items.topic_keys.len() as u32);
            items.embeddings.extend(event.item.embedding.iter().flatten());
            items.embedding_offsets.push(items.embeddings.len() as u32);
            wire.kinds.push(event.kind.index() as u8);
            wire.at.push(event.at);
            wire.dwell_ms.push(event.dwell_ms.unwrap_or(f64::NAN));
        }
        (wire.items.text, wire.items.lengths) = table(&strings);
        wire
    }

    fn events() -> Vec<Event> {
        let item = |id: &str, author: Option<&str>, topics: &[&str], embedding: Option<Vec<f32>>| Item {
            id: id.into(),
            author: author.map(Into::into),
            containers: vec!["g".into()],
            topics: topics.iter().map(|t| t.to_string()).collect(),
            embedding,
        };
        vec![
            Event {
                kind: EventKind::Like,
                item: item("a", Some("ann"), &["rust", "wasm"], Some(vec![1.0, 0.0])),
                at: 1e12,
                dwell_ms: None,
            },
            Event {
                kind: EventKind::Dwell,
                item: item("é✓😀", None, &[], None),
                at: 2e12,
                dwell_ms: Some(4e4),
            },
            Event {
                kind: EventKind::Hide,
                item: item("a", Some("ann"), &["rust"], None),
                at: 3e12,
                dwell_ms: None,
            },
        ]
    }

    /// What the JS client sends for `events()`, ids and keys interned.
    fn wire() -> EventColumnsWire {
        let (text, lengths) = table(&["a", "ann", "g", "rust", "wasm", "é✓😀"]);
        EventColumnsWire {
            items: ItemsWire {
                text,
                lengths,
                ids: vec![0, 5, 0],
                authors: vec![1, NO_KEY, 1],
                container_offsets: vec![0, 1, 2, 3],
                container_keys: vec![2, 2, 2],
                topic_offsets: vec![0, 2, 2, 3],
                topic_keys: vec![3, 4, 3],
                embedding_offsets: vec![0, 2, 2, 2],
                embeddings: vec![1.0, 0.0],
            },
            kinds: vec![3, 2, 6],
            at: vec![1e12, 2e12, 3e12],
            dwell_ms: vec![f64::NAN, 4e4, f64::NAN],
        }
    }

    #[test]
    fn wire_columns_equal_the_converted_objects() {
        let from_wire = EventColumns::from_wire(wire()).unwrap();
        let from_events = EventColumns::from_events(&events());
        // (Debug, not PartialEq: the absent dwells are NaN.)
        assert_eq!(
            format!("{:?}", interned_wire(&events())),
            format!("{:?}", wire()),
            "packed like the client"
        );
        same_items(&from_wire.items, &from_events.items);
        assert_eq!(from_wire.kinds, from_events.kinds);
        assert_eq!(from_wire.at, from_events.at);
        assert_eq!(from_wire.dwell_ms, from_events.dwell_ms);
        assert_eq!(from_wire.items.string_count(), 6, "interned strings are kept shared");
        for (index, (columns, object)) in from_wire.iter().zip(&events()).enumerate() {
            assert_eq!(columns.amount(), object.amount(), "event {index}");
            assert!(columns.validate(index).is_ok());
        }
    }

    #[test]
    fn bad_shapes_are_invalid_events_not_panics() {
        type Spoil = Box<dyn Fn(&mut EventColumnsWire)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("short kinds", Box::new(|w| w.kinds.truncate(2))),
            ("long times", Box::new(|w| w.at.push(0.0))),
            ("short dwell", Box::new(|w| w.dwell_ms.clear())),
            ("short authors", Box::new(|w| w.items.authors.truncate(1))),
            ("unknown kind code", Box::new(|w| w.kinds[1] = EventKind::COUNT as u8)),
            ("kind code 255", Box::new(|w| w.kinds[0] = 255)),
            ("id out of range", Box::new(|w| w.items.ids[2] = 6)),
            ("author out of range", Box::new(|w| w.items.authors[0] = 70)),
            ("container key out of range", Box::new(|w| w.items.container_keys[1] = 99)),
            ("offsets fall", Box::new(|w| w.items.topic_offsets = vec![0, 2, 1, 3])),
            ("offsets do not start at 0", Box::new(|w| w.items.container_offsets = vec![1, 1, 2, 3])),
            ("offsets short", Box::new(|w| w.items.container_offsets = vec![0, 1, 3])),
            ("offsets empty", Box::new(|w| w.items.embedding_offsets.clear())),
            ("offsets past the list", Box::new(|w| w.items.embedding_offsets = vec![0, 2, 2, 3])),
            ("lengths past the text", Box::new(|w| w.items.lengths[5] += 1)),
            ("lengths short of the text", Box::new(|w| w.items.lengths[5] -= 2)),
            ("a length splits a surrogate pair", Box::new(|w| w.items.lengths[5] -= 1)),
            ("no strings, ids", Box::new(|w| (w.items.text, w.items.lengths) = (String::new(), vec![]))),
        ];
        for (name, spoil) in cases {
            let mut wire = wire();
            spoil(&mut wire);
            let error = EventColumns::from_wire(wire).expect_err(name);
            assert_eq!(error.code(), "INVALID_EVENT", "{name}: {error}");
            assert!(error.to_string().contains("event columns: "), "{name}: {error}");
        }
        let offsets = vec![0];
        let items = ItemsWire {
            container_offsets: offsets.clone(),
            topic_offsets: offsets.clone(),
            embedding_offsets: offsets,
            ..ItemsWire::default()
        };
        let empty = EventColumns::from_wire(EventColumnsWire { items, ..EventColumnsWire::default() });
        assert!(empty.unwrap().is_empty(), "an empty batch is a valid one");
    }
}
