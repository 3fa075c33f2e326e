//! Candidates column by column: what the ranker works on. A JS caller sends them this way
//! (typed arrays and one string table, see `ColumnsWire`) so a list crosses into wasm as a
//! handful of copies instead of one conversion per field and per embedding number; a list of
//! `Candidate` objects is converted with `from_candidates`. Keys are indices into a string
//! table, so a key shared by many candidates (an author, a topic) is looked up once per request.

use super::items::{check_column_length, ItemColumns, ItemsWire};
use super::present;
use crate::error::{Error, Result};
use crate::item::{check_embedding_length, validate_item, Candidate, Family};

/// Candidates in the server's order, as columns: their items, and the server's fields.
/// Invariants (lengths, offsets, string indices) hold by construction; field values are
/// checked by `validate`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateColumns {
    items: ItemColumns,
    server_scores: Vec<Option<f32>>,
    popularity: Vec<Option<f32>>,
    created_at: Vec<Option<f64>>,
    duration_ms: Vec<Option<f64>>,
    pinned: Vec<bool>,
}

/// The columns as JS sends them: the items, and per candidate the server's fields. Absent
/// numbers are NaN (a JS caller cannot send a present NaN: the client routes such a list
/// through the object path, whose errors name it).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnsWire {
    pub items: ItemsWire,
    pub server_scores: Vec<f32>,
    pub popularity: Vec<f32>,
    pub created_at: Vec<f64>,
    pub duration_ms: Vec<f64>,
    pub pinned: Vec<u8>,
}

fn wire_error(message: String) -> Error {
    Error::InvalidRequest(format!("candidate columns: {message}"))
}

impl CandidateColumns {
    /// Checks the shape of columns sent by JS: every per-candidate column has one entry per
    /// id, offsets rise to their lists' lengths, string indices are in the table. A bad shape
    /// is `INVALID_REQUEST`; the values themselves are checked by `validate`.
    pub fn from_wire(wire: ColumnsWire) -> Result<Self> {
        let n = wire.items.ids.len();
        let per_candidate = [
            ("serverScores", wire.server_scores.len()),
            ("popularity", wire.popularity.len()),
            ("createdAt", wire.created_at.len()),
            ("durationMs", wire.duration_ms.len()),
            ("pinned", wire.pinned.len()),
        ];
        per_candidate
            .iter()
            .try_for_each(|&(name, len)| check_column_length(name, len, n))
            .map_err(wire_error)?;
        Ok(CandidateColumns {
            items: ItemColumns::from_wire(wire.items).map_err(wire_error)?,
            server_scores: present(wire.server_scores),
            popularity: present(wire.popularity),
            created_at: present(wire.created_at),
            duration_ms: present(wire.duration_ms),
            pinned: wire.pinned.into_iter().map(|p| p != 0).collect(),
        })
    }

    /// The same candidates as columns (no string is shared: keys are not interned).
    pub fn from_candidates(candidates: &[Candidate]) -> Self {
        let mut columns = CandidateColumns::default();
        for candidate in candidates {
            columns.items.push(&candidate.item);
            columns.server_scores.push(candidate.server_score);
            columns.popularity.push(candidate.popularity);
            columns.created_at.push(candidate.created_at);
            columns.duration_ms.push(candidate.duration_ms);
            columns.pinned.push(candidate.pinned);
        }
        columns
    }

    pub fn len(&self) -> usize {
        self.items.len()
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many strings the table holds; key indices are below it.
    pub fn string_count(&self) -> usize {
        self.items.string_count()
    }

    pub fn string(&self, index: u32) -> &str {
        self.items.string(index)
    }

    pub fn id(&self, i: usize) -> &str {
        self.items.id(i)
    }

    /// Candidate `i`'s keys of one family, as string indices.
    pub fn keys(&self, i: usize, family: Family) -> &[u32] {
        self.items.keys(i, family)
    }

    /// The first key of a family (the outermost container), as a string.
    pub fn first_key(&self, i: usize, family: Family) -> Option<&str> {
        self.items.first_key(i, family)
    }

    pub fn embedding(&self, i: usize) -> Option<&[f32]> {
        self.items.embedding(i)
    }

    pub fn server_score(&self, i: usize) -> Option<f32> {
        self.server_scores[i]
    }

    pub fn popularity(&self, i: usize) -> Option<f32> {
        self.popularity[i]
    }

    pub fn created_at(&self, i: usize) -> Option<f64> {
        self.created_at[i]
    }

    pub fn duration_ms(&self, i: usize) -> Option<f64> {
        self.duration_ms[i]
    }

    pub fn pinned(&self, i: usize) -> bool {
        self.pinned[i]
    }

    /// Checks every candidate's fields (the same rules as for an event's item), that ids are
    /// unique, numbers finite and embeddings of one length.
    pub fn validate(&self) -> Result<()> {
        let mut ids = std::collections::HashSet::with_capacity(self.len());
        let mut embedding_len = None;
        for index in 0..self.len() {
            let what = || format!("candidate {index}");
            validate_item(&self.items.item(index))
                .map_err(|e| Error::InvalidRequest(format!("{}: {e}", what())))?;
            let id = self.id(index);
            if !ids.insert(id) {
                return Err(Error::InvalidRequest(format!("{}: duplicate id `{id}`", what())));
            }
            let numbers = [
                ("serverScore", self.server_scores[index].map(f64::from)),
                ("popularity", self.popularity[index].map(f64::from)),
                ("createdAt", self.created_at[index]),
                ("durationMs", self.duration_ms[index]),
            ];
            if let Some((name, value)) = numbers.iter().find(|(_, v)| v.is_some_and(|v| !v.is_finite())) {
                return Err(Error::InvalidRequest(format!(
                    "{}: {name} is {}",
                    what(),
                    value.unwrap_or_default()
                )));
            }
            if let Some(embedding) = self.embedding(index) {
                check_embedding_length(&mut embedding_len, embedding, what).map_err(Error::InvalidRequest)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::super::items::tests::{same_items, table};
    use super::super::items::NO_KEY;
    use super::*;
    use crate::item::Item;

    fn candidates() -> Vec<Candidate> {
        let item = |id: &str, author: Option<&str>, topics: &[&str], embedding: Option<Vec<f32>>| Item {
            id: id.into(),
            author: author.map(Into::into),
            containers: vec!["g".into(), "c".into()],
            topics: topics.iter().map(|t| t.to_string()).collect(),
            embedding,
        };
        vec![
            Candidate {
                item: item("a", Some("ann"), &["rust", "wasm"], Some(vec![1.0, 0.0])),
                server_score: Some(0.5),
                popularity: None,
                created_at: Some(1e12),
                duration_ms: None,
                pinned: true,
            },
            Candidate {
                item: item("é✓😀", None, &[], None),
                server_score: None,
                popularity: Some(3.0),
                created_at: None,
                duration_ms: Some(15_000.0),
                pinned: false,
            },
        ]
    }

    /// What the JS client sends for `candidates()`, keys interned.
    fn wire() -> ColumnsWire {
        let (text, lengths) = table(&["a", "ann", "g", "c", "rust", "wasm", "é✓😀"]);
        ColumnsWire {
            items: ItemsWire {
                text,
                lengths,
                ids: vec![0, 6],
                authors: vec![1, NO_KEY],
                container_offsets: vec![0, 2, 4],
                container_keys: vec![2, 3, 2, 3],
                topic_offsets: vec![0, 2, 2],
                topic_keys: vec![4, 5],
                embedding_offsets: vec![0, 2, 2],
                embeddings: vec![1.0, 0.0],
            },
            server_scores: vec![0.5, f32::NAN],
            popularity: vec![f32::NAN, 3.0],
            created_at: vec![1e12, f64::NAN],
            duration_ms: vec![f64::NAN, 15_000.0],
            pinned: vec![1, 0],
        }
    }

    fn same_candidates(a: &CandidateColumns, b: &CandidateColumns) {
        same_items(&a.items, &b.items);
        for i in 0..a.len() {
            assert_eq!(a.server_score(i), b.server_score(i));
            assert_eq!(a.popularity(i), b.popularity(i));
            assert_eq!(a.created_at(i), b.created_at(i));
            assert_eq!(a.duration_ms(i), b.duration_ms(i));
            assert_eq!(a.pinned(i), b.pinned(i));
        }
    }

    #[test]
    fn wire_columns_equal_the_converted_objects() {
        let from_wire = CandidateColumns::from_wire(wire()).unwrap();
        same_candidates(&from_wire, &CandidateColumns::from_candidates(&candidates()));
        assert!(from_wire.validate().is_ok());
        assert_eq!(from_wire.string_count(), 7, "interned keys are kept shared");
    }

    #[test]
    fn bad_shapes_are_invalid_requests_not_panics() {
        type Spoil = Box<dyn Fn(&mut ColumnsWire)>;
        let cases: Vec<(&str, Spoil)> = vec![
            ("short column", Box::new(|w| w.pinned.pop().map(drop).unwrap_or_default())),
            ("string out of range", Box::new(|w| w.items.ids[1] = 7)),
            ("author out of range", Box::new(|w| w.items.authors[1] = 70)),
            ("topic key out of range", Box::new(|w| w.items.topic_keys[0] = 99)),
            ("offsets fall", Box::new(|w| w.items.container_offsets = vec![0, 3, 2])),
            ("offsets short", Box::new(|w| w.items.topic_offsets = vec![0, 2])),
            ("offsets past the list", Box::new(|w| w.items.embedding_offsets = vec![0, 2, 3])),
            ("lengths past the text", Box::new(|w| w.items.lengths[6] += 1)),
            ("lengths short of the text", Box::new(|w| w.items.lengths[6] -= 2)),
            ("a length splits a surrogate pair", Box::new(|w| w.items.lengths[6] -= 1)),
        ];
        for (name, spoil) in cases {
            let mut wire = wire();
            spoil(&mut wire);
            let error = CandidateColumns::from_wire(wire).expect_err(name);
            assert_eq!(error.code(), "INVALID_REQUEST", "{name}: {error}");
        }
    }

    #[test]
    fn values_are_validated_like_objects() {
        let mut list = candidates();
        list[1].item.id = "a".into();
        let error = CandidateColumns::from_candidates(&list).validate().unwrap_err();
        assert!(error.to_string().contains("candidate 1: duplicate id `a`"), "{error}");
        let mut wire = wire();
        wire.server_scores[0] = f32::INFINITY;
        let error = CandidateColumns::from_wire(wire).unwrap().validate().unwrap_err();
        assert!(error.to_string().contains("candidate 0: serverScore is inf"), "{error}");
        let mut list = candidates();
        list[0].item.embedding = Some(vec![]);
        let error = CandidateColumns::from_candidates(&list).validate().unwrap_err();
        assert!(error.to_string().contains("candidate 0: embedding of length 0"), "{error}");
    }
}
