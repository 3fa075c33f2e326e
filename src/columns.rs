//! Candidates column by column: what the ranker works on. A JS caller sends them this way
//! (typed arrays and one string table, see `ColumnsWire`) so a list crosses into wasm as a
//! handful of copies instead of one conversion per field and per embedding number; a list of
//! `Candidate` objects is converted with `from_candidates`. Keys are indices into a string
//! table, so a key shared by many candidates (an author, a topic) is looked up once per request.

use crate::error::{Error, Result};
use crate::item::{check_embedding_length, validate_item, Candidate, Family, ItemView};

/// "No author" in `authors`.
pub const NO_KEY: u32 = u32::MAX;

/// Keys of one multi-valued family: candidate `i` has `keys[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, Default, PartialEq)]
struct KeyLists {
    offsets: Vec<u32>,
    keys: Vec<u32>,
}

impl KeyLists {
    fn of(&self, i: usize) -> &[u32] {
        &self.keys[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn push(&mut self, keys: impl IntoIterator<Item = u32>) {
        if self.offsets.is_empty() {
            self.offsets.push(0);
        }
        self.keys.extend(keys);
        self.offsets.push(self.keys.len() as u32);
    }

    fn check(&self, n: usize, strings: usize, name: &str) -> Result<()> {
        check_offsets(&self.offsets, n, self.keys.len(), name)?;
        match self.keys.iter().find(|&&k| k as usize >= strings) {
            Some(k) => Err(wire_error(format!("{name}Keys: string {k} of {strings}"))),
            None => Ok(()),
        }
    }
}

/// Candidates in the server's order, as columns. Invariants (lengths, offsets, string indices)
/// hold by construction; field values are checked by `validate`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CandidateColumns {
    /// Every string of the table, concatenated; string `s` ends at byte `ends[s]`.
    text: String,
    ends: Vec<u32>,
    ids: Vec<u32>,
    /// `NO_KEY` for none.
    authors: Vec<u32>,
    containers: KeyLists,
    topics: KeyLists,
    /// Candidate `i`'s embedding is `embeddings[embedding_offsets[i]..embedding_offsets[i + 1]]`
    /// when `has_embedding[i]`.
    embedding_offsets: Vec<u32>,
    embeddings: Vec<f32>,
    has_embedding: Vec<bool>,
    server_scores: Vec<Option<f32>>,
    popularity: Vec<Option<f32>>,
    created_at: Vec<Option<f64>>,
    pinned: Vec<bool>,
}

/// The columns as JS sends them. Absent numbers are NaN and an absent embedding is empty
/// (a JS caller cannot send a present NaN: the client routes such a list through the object
/// path, whose errors name it). Strings are one `text` cut by `lengths` in UTF-16 code units
/// (JS `string.length`), so no separator can collide with a string's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnsWire {
    pub text: String,
    pub lengths: Vec<u32>,
    pub ids: Vec<u32>,
    pub authors: Vec<u32>,
    pub container_offsets: Vec<u32>,
    pub container_keys: Vec<u32>,
    pub topic_offsets: Vec<u32>,
    pub topic_keys: Vec<u32>,
    pub embedding_offsets: Vec<u32>,
    pub embeddings: Vec<f32>,
    pub server_scores: Vec<f32>,
    pub popularity: Vec<f32>,
    pub created_at: Vec<f64>,
    pub pinned: Vec<u8>,
}

fn wire_error(message: String) -> Error {
    Error::InvalidRequest(format!("candidate columns: {message}"))
}

fn check_offsets(offsets: &[u32], n: usize, total: usize, name: &str) -> Result<()> {
    if offsets.len() != n + 1 {
        return Err(wire_error(format!("{name}Offsets has {} entries, expected {}", offsets.len(), n + 1)));
    }
    if offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1]) || offsets[n] as usize != total {
        return Err(wire_error(format!("{name}Offsets must rise from 0 to {total}")));
    }
    Ok(())
}

/// Byte ends of the strings of `text` cut at the given UTF-16 lengths.
fn byte_ends(text: &str, lengths: &[u32]) -> Result<Vec<u32>> {
    let mismatch = || wire_error("lengths do not add up to the text".into());
    let mut ends = Vec::with_capacity(lengths.len());
    let mut chars = text.char_indices();
    let mut at = 0;
    for &length in lengths {
        let mut units = 0;
        while units < length {
            let (_, c) = chars.next().ok_or_else(mismatch)?;
            units += c.len_utf16() as u32;
            at += c.len_utf8();
        }
        if units != length {
            return Err(wire_error("a length cuts a character in two".into()));
        }
        ends.push(at as u32);
    }
    if at != text.len() {
        return Err(mismatch());
    }
    Ok(ends)
}

fn present_f32(values: Vec<f32>) -> Vec<Option<f32>> {
    values.into_iter().map(|v| (!v.is_nan()).then_some(v)).collect()
}

impl CandidateColumns {
    /// Checks the shape of columns sent by JS: every per-candidate column has one entry per
    /// id, offsets rise to their lists' lengths, string indices are in the table. A bad shape
    /// is `INVALID_REQUEST`; the values themselves are checked by `validate`.
    pub fn from_wire(wire: ColumnsWire) -> Result<Self> {
        let n = wire.ids.len();
        let per_candidate = [
            ("authors", wire.authors.len()),
            ("serverScores", wire.server_scores.len()),
            ("popularity", wire.popularity.len()),
            ("createdAt", wire.created_at.len()),
            ("pinned", wire.pinned.len()),
        ];
        if let Some((name, len)) = per_candidate.iter().find(|(_, len)| *len != n) {
            return Err(wire_error(format!("{name} has {len} entries for {n} ids")));
        }
        let ends = byte_ends(&wire.text, &wire.lengths)?;
        let strings = ends.len();
        if let Some(k) = wire.ids.iter().find(|&&k| k as usize >= strings) {
            return Err(wire_error(format!("ids: string {k} of {strings}")));
        }
        if let Some(k) = wire.authors.iter().find(|&&k| k != NO_KEY && k as usize >= strings) {
            return Err(wire_error(format!("authors: string {k} of {strings}")));
        }
        let containers = KeyLists { offsets: wire.container_offsets, keys: wire.container_keys };
        containers.check(n, strings, "container")?;
        let topics = KeyLists { offsets: wire.topic_offsets, keys: wire.topic_keys };
        topics.check(n, strings, "topic")?;
        check_offsets(&wire.embedding_offsets, n, wire.embeddings.len(), "embedding")?;
        let has_embedding = wire.embedding_offsets.windows(2).map(|w| w[1] > w[0]).collect();
        Ok(CandidateColumns {
            text: wire.text,
            ends,
            ids: wire.ids,
            authors: wire.authors,
            containers,
            topics,
            embedding_offsets: wire.embedding_offsets,
            embeddings: wire.embeddings,
            has_embedding,
            server_scores: present_f32(wire.server_scores),
            popularity: present_f32(wire.popularity),
            created_at: wire.created_at.into_iter().map(|v| (!v.is_nan()).then_some(v)).collect(),
            pinned: wire.pinned.into_iter().map(|p| p != 0).collect(),
        })
    }

    /// The same candidates as columns (no string is shared: keys are not interned).
    pub fn from_candidates(candidates: &[Candidate]) -> Self {
        let mut columns = CandidateColumns::default();
        columns.embedding_offsets.push(0);
        columns.containers.offsets.push(0);
        columns.topics.offsets.push(0);
        for candidate in candidates {
            let item = &candidate.item;
            let id = columns.push_string(&item.id);
            columns.ids.push(id);
            let author = item.author.as_deref().map_or(NO_KEY, |a| columns.push_string(a));
            columns.authors.push(author);
            let containers: Vec<u32> = item.containers.iter().map(|k| columns.push_string(k)).collect();
            columns.containers.push(containers);
            let topics: Vec<u32> = item.topics.iter().map(|k| columns.push_string(k)).collect();
            columns.topics.push(topics);
            columns.has_embedding.push(item.embedding.is_some());
            columns.embeddings.extend(item.embedding.iter().flatten());
            columns.embedding_offsets.push(columns.embeddings.len() as u32);
            columns.server_scores.push(candidate.server_score);
            columns.popularity.push(candidate.popularity);
            columns.created_at.push(candidate.created_at);
            columns.pinned.push(candidate.pinned);
        }
        columns
    }

    fn push_string(&mut self, s: &str) -> u32 {
        self.text.push_str(s);
        self.ends.push(self.text.len() as u32);
        (self.ends.len() - 1) as u32
    }

    pub fn len(&self) -> usize {
        self.ids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// How many strings the table holds; key indices are below it.
    pub fn string_count(&self) -> usize {
        self.ends.len()
    }

    pub fn string(&self, index: u32) -> &str {
        let end = self.ends[index as usize] as usize;
        let start = if index == 0 { 0 } else { self.ends[index as usize - 1] as usize };
        &self.text[start..end]
    }

    pub fn id(&self, i: usize) -> &str {
        self.string(self.ids[i])
    }

    /// Candidate `i`'s keys of one family, as string indices.
    pub fn keys(&self, i: usize, family: Family) -> &[u32] {
        match family {
            Family::Item => std::slice::from_ref(&self.ids[i]),
            Family::Author if self.authors[i] == NO_KEY => &[],
            Family::Author => std::slice::from_ref(&self.authors[i]),
            Family::Container => self.containers.of(i),
            Family::Topic => self.topics.of(i),
        }
    }

    /// The first key of a family (the outermost container), as a string.
    pub fn first_key(&self, i: usize, family: Family) -> Option<&str> {
        self.keys(i, family).first().map(|&k| self.string(k))
    }

    pub fn embedding(&self, i: usize) -> Option<&[f32]> {
        self.has_embedding[i].then(|| {
            &self.embeddings[self.embedding_offsets[i] as usize..self.embedding_offsets[i + 1] as usize]
        })
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
            let candidate = CandidateRef { columns: self, index };
            validate_item(&candidate).map_err(|e| Error::InvalidRequest(format!("{}: {e}", what())))?;
            let id = self.id(index);
            if !ids.insert(id) {
                return Err(Error::InvalidRequest(format!("{}: duplicate id `{id}`", what())));
            }
            let numbers = [
                ("serverScore", self.server_scores[index].map(f64::from)),
                ("popularity", self.popularity[index].map(f64::from)),
                ("createdAt", self.created_at[index]),
            ];
            if let Some((name, value)) = numbers.iter().find(|(_, v)| v.is_some_and(|v| !v.is_finite())) {
                return Err(Error::InvalidRequest(format!(
                    "{}: {name} is {}",
                    what(),
                    value.unwrap_or_default()
                )));
            }
            if let Some(embedding) = self.embedding(index) {
                check_embedding_length(&mut embedding_len, embedding, &what())
                    .map_err(Error::InvalidRequest)?;
            }
        }
        Ok(())
    }
}

/// One candidate of a column set, seen as an item for the shared checks.
struct CandidateRef<'a> {
    columns: &'a CandidateColumns,
    index: usize,
}

impl ItemView for CandidateRef<'_> {
    fn id(&self) -> &str {
        self.columns.id(self.index)
    }

    fn keys(&self, family: Family) -> impl ExactSizeIterator<Item = &str> {
        self.columns.keys(self.index, family).iter().map(|&k| self.columns.string(k))
    }

    fn embedding(&self) -> Option<&[f32]> {
        self.columns.embedding(self.index)
    }
}

#[cfg(test)]
mod tests {
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
                pinned: true,
            },
            Candidate {
                item: item("é✓😀", None, &[], None),
                server_score: None,
                popularity: Some(3.0),
                created_at: None,
                pinned: false,
            },
        ]
    }

    /// What the JS client sends for `candidates()`, keys interned.
    fn wire() -> ColumnsWire {
        let strings = ["a", "ann", "g", "c", "rust", "wasm", "é✓😀"];
        ColumnsWire {
            text: strings.concat(),
            lengths: strings.iter().map(|s| s.encode_utf16().count() as u32).collect(),
            ids: vec![0, 6],
            authors: vec![1, NO_KEY],
            container_offsets: vec![0, 2, 4],
            container_keys: vec![2, 3, 2, 3],
            topic_offsets: vec![0, 2, 2],
            topic_keys: vec![4, 5],
            embedding_offsets: vec![0, 2, 2],
            embeddings: vec![1.0, 0.0],
            server_scores: vec![0.5, f32::NAN],
            popularity: vec![f32::NAN, 3.0],
            created_at: vec![1e12, f64::NAN],
            pinned: vec![1, 0],
        }
    }

    fn same_candidates(a: &CandidateColumns, b: &CandidateColumns) {
        assert_eq!(a.len(), b.len());
        for i in 0..a.len() {
            assert_eq!(a.id(i), b.id(i));
            for family in Family::ALL {
                let keys = |c: &CandidateColumns| -> Vec<String> {
                    c.keys(i, family).iter().map(|&k| c.string(k).to_owned()).collect()
                };
                assert_eq!(keys(a), keys(b), "candidate {i} {family:?}");
            }
            assert_eq!(a.embedding(i), b.embedding(i));
            assert_eq!(a.server_score(i), b.server_score(i));
            assert_eq!(a.popularity(i), b.popularity(i));
            assert_eq!(a.created_at(i), b.created_at(i));
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
            ("string out of range", Box::new(|w| w.ids[1] = 7)),
            ("author out of range", Box::new(|w| w.authors[1] = 70)),
            ("topic key out of range", Box::new(|w| w.topic_keys[0] = 99)),
            ("offsets fall", Box::new(|w| w.container_offsets = vec![0, 3, 2])),
            ("offsets short", Box::new(|w| w.topic_offsets = vec![0, 2])),
            ("offsets past the list", Box::new(|w| w.embedding_offsets = vec![0, 2, 3])),
            ("lengths past the text", Box::new(|w| w.lengths[6] += 1)),
            ("lengths short of the text", Box::new(|w| w.lengths[6] -= 2)),
            ("a length splits a surrogate pair", Box::new(|w| w.lengths[6] -= 1)),
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
