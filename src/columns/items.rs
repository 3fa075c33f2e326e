//! The item attributes candidates and events share (id, author, containers, topics,
//! embedding), column by column over one string table. Candidate and event columns both hold
//! one, so the wire shape is checked by one `from_wire` and items are validated by the same
//! `validate_item` as `Item` objects.

use crate::item::{Family, Item, ItemView};

/// "No author" in `authors`.
pub const NO_KEY: u32 = u32::MAX;

/// Keys of one multi-valued family: item `i` has `keys[offsets[i]..offsets[i + 1]]`.
#[derive(Debug, Clone, PartialEq)]
struct KeyLists {
    offsets: Vec<u32>,
    keys: Vec<u32>,
}

impl Default for KeyLists {
    fn default() -> Self {
        KeyLists { offsets: vec![0], keys: Vec::new() }
    }
}

impl KeyLists {
    fn of(&self, i: usize) -> &[u32] {
        &self.keys[self.offsets[i] as usize..self.offsets[i + 1] as usize]
    }

    fn push(&mut self, keys: impl IntoIterator<Item = u32>) {
        self.keys.extend(keys);
        self.offsets.push(self.keys.len() as u32);
    }

    fn check(&self, n: usize, strings: usize, name: &str) -> Result<(), String> {
        check_offsets(&self.offsets, n, self.keys.len(), name)?;
        match self.keys.iter().find(|&&k| k as usize >= strings) {
            Some(k) => Err(format!("{name}Keys: string {k} of {strings}")),
            None => Ok(()),
        }
    }
}

/// Items as columns. Invariants (lengths, offsets, string indices) hold by construction;
/// field values are checked by `validate_item` on each `ItemRef`.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemColumns {
    /// Every string of the table, concatenated; string `s` ends at byte `ends[s]`.
    text: String,
    ends: Vec<u32>,
    ids: Vec<u32>,
    /// `NO_KEY` for none.
    authors: Vec<u32>,
    containers: KeyLists,
    topics: KeyLists,
    /// Item `i`'s embedding is `embeddings[embedding_offsets[i]..embedding_offsets[i + 1]]`
    /// when `has_embedding[i]`.
    embedding_offsets: Vec<u32>,
    embeddings: Vec<f32>,
    has_embedding: Vec<bool>,
}

impl Default for ItemColumns {
    fn default() -> Self {
        ItemColumns {
            text: String::new(),
            ends: Vec::new(),
            ids: Vec::new(),
            authors: Vec::new(),
            containers: KeyLists::default(),
            topics: KeyLists::default(),
            embedding_offsets: vec![0],
            embeddings: Vec::new(),
            has_embedding: Vec::new(),
        }
    }
}

/// The item columns as JS sends them. An absent embedding is empty (a present empty one
/// cannot be sent: the client routes it through the object path, whose error names it).
/// Strings are one `text` cut by `lengths` in UTF-16 code units (JS `string.length`), so no
/// separator can collide with a string's content.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemsWire {
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
}

/// Checks that one per-item column has an entry for each of the `n` items.
pub(super) fn check_column_length(name: &str, len: usize, n: usize) -> Result<(), String> {
    if len == n {
        Ok(())
    } else {
        Err(format!("{name} has {len} entries for {n} ids"))
    }
}

fn check_offsets(offsets: &[u32], n: usize, total: usize, name: &str) -> Result<(), String> {
    if offsets.len() != n + 1 {
        return Err(format!("{name}Offsets has {} entries, expected {}", offsets.len(), n + 1));
    }
    if offsets[0] != 0 || offsets.windows(2).any(|w| w[0] > w[1]) || offsets[n] as usize != total {
        return Err(format!("{name}Offsets must rise from 0 to {total}"));
    }
    Ok(())
}

/// Byte ends of the strings of `text` cut at the given UTF-16 lengths.
fn byte_ends(text: &str, lengths: &[u32]) -> Result<Vec<u32>, String> {
    let mismatch = || "lengths do not add up to the text".to_owned();
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
            return Err("a length cuts a character in two".into());
        }
        ends.push(at as u32);
    }
    if at != text.len() {
        return Err(mismatch());
    }
    Ok(ends)
}

impl ItemColumns {
    /// Checks the shape of item columns sent by JS: offsets rise to their lists' lengths and
    /// every string index is in the table. The message names the faulty column; the caller
    /// turns it into its own error code.
    pub fn from_wire(wire: ItemsWire) -> Result<Self, String> {
        let n = wire.ids.len();
        check_column_length("authors", wire.authors.len(), n)?;
        let ends = byte_ends(&wire.text, &wire.lengths)?;
        let strings = ends.len();
        if let Some(k) = wire.ids.iter().find(|&&k| k as usize >= strings) {
            return Err(format!("ids: string {k} of {strings}"));
        }
        if let Some(k) = wire.authors.iter().find(|&&k| k != NO_KEY && k as usize >= strings) {
            return Err(format!("authors: string {k} of {strings}"));
        }
        let containers = KeyLists { offsets: wire.container_offsets, keys: wire.container_keys };
        containers.check(n, strings, "container")?;
        let topics = KeyLists { offsets: wire.topic_offsets, keys: wire.topic_keys };
        topics.check(n, strings, "topic")?;
        check_offsets(&wire.embedding_offsets, n, wire.embeddings.len(), "embedding")?;
        let has_embedding = wire.embedding_offsets.windows(2).map(|w| w[1] > w[0]).collect();
        Ok(ItemColumns {
            text: wire.text,
            ends,
            ids: wire.ids,
            authors: wire.authors,
            containers,
            topics,
            embedding_offsets: wire.embedding_offsets,
            embeddings: wire.embeddings,
            has_embedding,
        })
    }

    /// Appends an item (its strings are not interned: each gets its own table entry).
    pub fn push(&mut self, item: &Item) {
        let id = self.push_string(&item.id);
        self.ids.push(id);
        let author = item.author.as_deref().map_or(NO_KEY, |a| self.push_string(a));
        self.authors.push(author);
        let containers: Vec<u32> = item.containers.iter().map(|k| self.push_string(k)).collect();
        self.containers.push(containers);
        let topics: Vec<u32> = item.topics.iter().map(|k| self.push_string(k)).collect();
        self.topics.push(topics);
        self.has_embedding.push(item.embedding.is_some());
        self.embeddings.extend(item.embedding.iter().flatten());
        self.embedding_offsets.push(self.embeddings.len() as u32);
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

    /// Item `i`'s keys of one family, as string indices.
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

    /// Item `i`, seen as an item for the shared checks and for the signal store.
    pub(crate) fn item(&self, index: usize) -> ItemRef<'_> {
        ItemRef { columns: self, index }
    }
}

/// One item of a column set.
#[derive(Clone, Copy)]
pub(crate) struct ItemRef<'a> {
    columns: &'a ItemColumns,
    index: usize,
}

impl ItemView for ItemRef<'_> {
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
pub(super) mod tests {
    use super::*;

    /// The strings of a wire's table, with their UTF-16 lengths.
    pub fn table(strings: &[&str]) -> (String, Vec<u32>) {
        (strings.concat(), strings.iter().map(|s| s.encode_utf16().count() as u32).collect())
    }

    /// Asserts that two column sets hold the same items (string tables may differ).
    pub fn same_items(a: &ItemColumns, b: &ItemColumns) {
        assert_eq!(a.len(), b.len());
        for i in 0..a.len() {
            assert_eq!(a.id(i), b.id(i));
            for family in Family::ALL {
                let keys = |c: &ItemColumns| -> Vec<String> {
                    c.keys(i, family).iter().map(|&k| c.string(k).to_owned()).collect()
                };
                assert_eq!(keys(a), keys(b), "item {i} {family:?}");
            }
            assert_eq!(a.embedding(i), b.embedding(i));
        }
    }
}
