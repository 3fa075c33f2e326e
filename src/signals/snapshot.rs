//! The snapshot format: what the shim persists. Little-endian, versioned, checksummed:
//!
//! ```text
//! "LRSIG1" | version u16 | payload length u32 | payload | CRC-32 of everything before it (u32)
//! payload = totals? | user vector? | session vector?
//!           | recent count u32 | (time f64, dimension u32, unit embedding)*
//!           | key count u32 | (family u8, name length u16, name, stats)*
//!           | learner | retained at f64 (NaN: never)
//! learner = feature count u16 | (name length u16, name)* | weights f32* | squared gradients f32*
//!           | updates u32 | updated at f64 (NaN: never) | validated u32 | gate open u8
//!           | gain count u16 | gain f32* | list count u16
//!           | (shown at f64, closes at f64, candidate count u16, (id hash u64, base f32, label f32, signals f32*)*)*
//! ```
//!
//! Version 1 had no recent embeddings; it still restores, with none. Version 2 had no
//! learner; it restores with none (the head starts from zero, closed). Version 3 had no
//! retention time; it restores as never retained (the next recorded batch applies retention). Decoding checks every length and value, so corrupt bytes give `CorruptSnapshot`
//! (never a panic), and bytes from a newer format give `SnapshotVersion`.

use std::collections::HashMap;

use super::decay::HALF_LIFE_COUNT;
use super::{
    KeyStats, RecentEmbedding, RecentEmbeddings, SignalStore, StoreConfig, UserVector, MAX_KEY_CAP,
    RECENT_CAPACITY,
};
use crate::error::{Error, Result};
use crate::item::{EventKind, Family, MAX_EMBEDDING_LEN, MAX_STRING_LEN};
use crate::learning::{
    Gate, Head, Learner, PersonalModel, ShownList, ShownMemory, ENGAGED, IGNORED, MAX_GATE_WINDOW,
    MAX_HEAD_FEATURES, MAX_SHOWN_PER_REQUEST, MAX_SHOWN_REQUESTS, REJECTED,
};

const MAGIC: &[u8; 6] = b"LRSIG1";
pub const SNAPSHOT_VERSION: u16 = 4;
/// The last version without recent embeddings.
const VERSION_WITHOUT_RECENT: u16 = 1;
/// The last version without the learner.
const VERSION_WITHOUT_LEARNER: u16 = 2;
/// The last version without the time retention was applied at.
const VERSION_WITHOUT_RETAINED_AT: u16 = 3;
const HEADER_LEN: usize = MAGIC.len() + 2 + 4;
const CHECKSUM_LEN: usize = 4;
/// A key's counters and times as encoded (`write_stats`).
const STATS_LEN: usize = 4 * 8 + 4 + EventKind::COUNT * HALF_LIFE_COUNT * 4;
/// A user vector of the longest embedding (`write_optional_vector`).
const VECTOR_LEN: usize = 4 + 4 + 8 + MAX_EMBEDDING_LEN * 4;
/// The largest learner section (`write_learner`).
const LEARNER_LEN: usize = 2
    + MAX_HEAD_FEATURES * (2 + MAX_STRING_LEN + 2 * 4)
    + 4
    + 8
    + 4
    + 1
    + 2
    + MAX_GATE_WINDOW * 4
    + 2
    + MAX_SHOWN_REQUESTS * (8 + 8 + 2 + MAX_SHOWN_PER_REQUEST * (8 + 4 + 4 + MAX_HEAD_FEATURES * 4));
/// The largest snapshot a store can write: every section full, `MAX_KEY_CAP` keys of the
/// longest names. Longer bytes are refused before they are read (or, by the JS side, copied).
pub const MAX_SNAPSHOT_BYTES: usize = HEADER_LEN
    + (1 + STATS_LEN)
    + 2 * VECTOR_LEN
    + 4
    + RECENT_CAPACITY * (8 + 4 + MAX_EMBEDDING_LEN * 4)
    + 4
    + MAX_KEY_CAP * (1 + 2 + MAX_STRING_LEN + STATS_LEN)
    + LEARNER_LEN
    + 8
    + CHECKSUM_LEN;

/// A snapshot's bytes without their checksum: everything that reads the store, done at once
/// (so they are the store as of that moment). Sealing them reads only these bytes, so it can
/// come later: a checkpoint in two steps, neither blocking its thread as long as both would.
#[derive(Debug)]
pub struct UnsealedSnapshot(Vec<u8>);

impl UnsealedSnapshot {
    /// The snapshot: these bytes and the CRC-32 of them.
    pub fn seal(mut self) -> Vec<u8> {
        let checksum = crc32fast::hash(&self.0);
        self.0.extend_from_slice(&checksum.to_le_bytes());
        self.0
    }
}

pub fn encode(store: &SignalStore) -> UnsealedSnapshot {
    encode_as(store, SNAPSHOT_VERSION)
}

/// Encodes in `version`'s layout; older layouts leave out what they did not have (tests write
/// version 1 snapshots this way to check they still restore).
fn encode_as(store: &SignalStore, version: u16) -> UnsealedSnapshot {
    // One buffer, sized up front for all but the learner's few kilobytes, with the header's
    // length filled in at the end: a full store is megabytes, and growing or copying it again
    // showed in a checkpoint's time.
    let names_len: usize = store.keys.iter().flat_map(|map| map.keys()).map(String::len).sum();
    let recent_len: usize = store.recent.iter().map(|entry| 8 + 4 + 4 * entry.unit.len()).sum();
    let mut bytes = Vec::with_capacity(
        HEADER_LEN
            + (1 + STATS_LEN)
            + 2 * VECTOR_LEN
            + 4
            + recent_len
            + 4
            + store.key_count() * (1 + 2 + STATS_LEN)
            + names_len
            + 8
            + CHECKSUM_LEN,
    );
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&version.to_le_bytes());
    bytes.extend_from_slice(&0u32.to_le_bytes());
    write_optional_stats(&mut bytes, store.totals.as_ref());
    write_optional_vector(&mut bytes, store.user_vector.as_ref());
    write_optional_vector(&mut bytes, store.session_vector.as_ref());
    if version > VERSION_WITHOUT_RECENT {
        bytes.extend_from_slice(&(store.recent.len() as u32).to_le_bytes());
        for entry in store.recent.iter() {
            bytes.extend_from_slice(&entry.at.to_le_bytes());
            bytes.extend_from_slice(&(entry.unit.len() as u32).to_le_bytes());
            for value in &entry.unit {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
    }
    bytes.extend_from_slice(&(store.key_count() as u32).to_le_bytes());
    for family in Family::ALL {
        // In a canonical order, so the same store always gives the same bytes whatever its
        // maps' (randomly seeded) order: by the name's CRC-32, then the name. Sorting by the
        // names themselves was 40 % of a checkpoint's time (their common prefixes).
        let mut entries: Vec<_> = store.keys[family.index()]
            .iter()
            .map(|(name, stats)| (crc32fast::hash(name.as_bytes()), name, stats))
            .collect();
        entries.sort_unstable_by(|a, b| a.0.cmp(&b.0).then_with(|| a.1.cmp(b.1)));
        for (_, name, stats) in entries {
            bytes.push(family as u8);
            bytes.extend_from_slice(&(name.len() as u16).to_le_bytes());
            bytes.extend_from_slice(name.as_bytes());
            write_stats(&mut bytes, stats);
        }
    }
    if version > VERSION_WITHOUT_LEARNER {
        write_learner(&mut bytes, &store.learner);
    }
    if version > VERSION_WITHOUT_RETAINED_AT {
        let retained_at = if store.retained_at.is_finite() { store.retained_at } else { f64::NAN };
        bytes.extend_from_slice(&retained_at.to_le_bytes());
    }
    let payload_len = (bytes.len() - HEADER_LEN) as u32;
    bytes[HEADER_LEN - 4..HEADER_LEN].copy_from_slice(&payload_len.to_le_bytes());
    UnsealedSnapshot(bytes)
}

fn write_optional_vector(out: &mut Vec<u8>, vector: Option<&UserVector>) {
    match vector {
        Some(vector) => {
            out.extend_from_slice(&(vector.sum.len() as u32).to_le_bytes());
            out.extend_from_slice(&vector.weight.to_le_bytes());
            out.extend_from_slice(&vector.updated_at.to_le_bytes());
            for value in &vector.sum {
                out.extend_from_slice(&value.to_le_bytes());
            }
        }
        None => out.extend_from_slice(&0u32.to_le_bytes()),
    }
}

fn write_f32s(out: &mut Vec<u8>, values: &[f32]) {
    for value in values {
        out.extend_from_slice(&value.to_le_bytes());
    }
}

/// Lengths fit their u16 fields: the config's and `MAX_HEAD_FEATURES`'s limits are below 2¹⁶.
fn write_learner(out: &mut Vec<u8>, learner: &Learner) {
    out.extend_from_slice(&(learner.features.len() as u16).to_le_bytes());
    for name in &learner.features {
        out.extend_from_slice(&(name.len() as u16).to_le_bytes());
        out.extend_from_slice(name.as_bytes());
    }
    let model = &learner.model;
    write_f32s(out, &model.head.weights);
    write_f32s(out, &model.head.squared_gradients);
    out.extend_from_slice(&model.updates.to_le_bytes());
    out.extend_from_slice(&learner.updated_at.unwrap_or(f64::NAN).to_le_bytes());
    out.extend_from_slice(&model.gate.validated.to_le_bytes());
    out.push(u8::from(model.gate.open));
    out.extend_from_slice(&(model.gate.gains.len() as u16).to_le_bytes());
    for gain in &model.gate.gains {
        out.extend_from_slice(&gain.to_le_bytes());
    }
    out.extend_from_slice(&(learner.shown.lists.len() as u16).to_le_bytes());
    for list in &learner.shown.lists {
        out.extend_from_slice(&list.shown_at.to_le_bytes());
        out.extend_from_slice(&list.closes_at.to_le_bytes());
        out.extend_from_slice(&(list.items.len() as u16).to_le_bytes());
        let width = learner.features.len();
        for (k, item) in list.items.iter().enumerate() {
            out.extend_from_slice(&item.to_le_bytes());
            out.extend_from_slice(&list.base[k].to_le_bytes());
            out.extend_from_slice(&list.labels[k].to_le_bytes());
            write_f32s(out, &list.rows[k * width..(k + 1) * width]);
        }
    }
}

fn write_optional_stats(out: &mut Vec<u8>, stats: Option<&KeyStats>) {
    out.push(u8::from(stats.is_some()));
    if let Some(stats) = stats {
        write_stats(out, stats);
    }
}

fn write_stats(out: &mut Vec<u8>, stats: &KeyStats) {
    for value in [
        stats.updated_at,
        stats.last_seen_at,
        stats.last_positive_at.unwrap_or(f64::NAN),
        stats.last_negative_at.unwrap_or(f64::NAN),
    ] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&stats.fatigue.to_le_bytes());
    for row in &stats.counts {
        for count in row {
            out.extend_from_slice(&count.to_le_bytes());
        }
    }
}

#[cfg(test)]
pub(super) fn encode_version_1(store: &SignalStore) -> Vec<u8> {
    encode_as(store, VERSION_WITHOUT_RECENT).seal()
}

#[cfg(test)]
pub(super) fn encode_learner_len(learner: &Learner) -> usize {
    let mut out = Vec::new();
    write_learner(&mut out, learner);
    out.len()
}

#[cfg(test)]
pub(super) fn encode_version_2(store: &SignalStore) -> Vec<u8> {
    encode_as(store, VERSION_WITHOUT_LEARNER).seal()
}

#[cfg(test)]
pub(super) fn encode_version_3(store: &SignalStore) -> Vec<u8> {
    encode_as(store, VERSION_WITHOUT_RETAINED_AT).seal()
}

/// Decodes snapshot bytes into a store with default limits (the caller applies its own).
pub fn decode(bytes: &[u8]) -> Result<SignalStore> {
    if bytes.len() > MAX_SNAPSHOT_BYTES {
        return Err(corrupt(&format!(
            "{} bytes, more than any snapshot ({MAX_SNAPSHOT_BYTES})",
            bytes.len()
        )));
    }
    if bytes.len() < HEADER_LEN + CHECKSUM_LEN || &bytes[..MAGIC.len()] != MAGIC {
        return Err(corrupt("not a localrank snapshot"));
    }
    let version = u16::from_le_bytes([bytes[6], bytes[7]]);
    if version > SNAPSHOT_VERSION {
        return Err(Error::SnapshotVersion { found: version, supported: SNAPSHOT_VERSION });
    }
    let payload_len = u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize;
    if bytes.len() != HEADER_LEN + payload_len + CHECKSUM_LEN {
        return Err(corrupt("length does not match its header"));
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM_LEN);
    if crc32fast::hash(body) != u32::from_le_bytes(checksum.try_into().expect("4 bytes")) {
        return Err(corrupt("checksum mismatch"));
    }
    let mut reader = Reader { bytes: &body[HEADER_LEN..] };
    let totals = match reader.u8()? {
        0 => None,
        1 => Some(reader.stats()?),
        _ => return Err(corrupt("bad totals flag")),
    };
    let user_vector = reader.user_vector()?;
    let session_vector = reader.user_vector()?;
    let mut store = SignalStore::new(StoreConfig::default()).expect("default config is valid");
    if version > VERSION_WITHOUT_RECENT {
        store.recent = reader.recent()?;
    }
    let key_count = reader.u32()? as usize;
    store.totals = totals;
    store.user_vector = user_vector;
    store.session_vector = session_vector;
    check_dimensions(&store)?;
    for _ in 0..key_count {
        let family =
            *Family::ALL.get(usize::from(reader.u8()?)).ok_or_else(|| corrupt("unknown key family"))?;
        let name_len = usize::from(reader.u16()?);
        if name_len > MAX_STRING_LEN {
            return Err(corrupt("bad key length"));
        }
        let name =
            std::str::from_utf8(reader.take(name_len)?).map_err(|_| corrupt("key is not UTF-8"))?.to_owned();
        let stats = reader.stats()?;
        // Earlier versions recorded empty keys (found by fuzzing); they are refused now, and
        // dropped here so those snapshots still restore.
        if name.is_empty() {
            continue;
        }
        let map: &mut HashMap<String, KeyStats> = &mut store.keys[family.index()];
        if map.insert(name, stats).is_some() {
            return Err(corrupt("duplicate key"));
        }
    }
    if version > VERSION_WITHOUT_LEARNER {
        store.learner = reader.learner()?;
    }
    if version > VERSION_WITHOUT_RETAINED_AT {
        store.retained_at = reader.optional_time()?.unwrap_or(f64::NEG_INFINITY);
    }
    if !reader.bytes.is_empty() {
        return Err(corrupt("trailing bytes"));
    }
    Ok(store)
}

/// Every stored embedding must have one length, as `record` guarantees.
fn check_dimensions(store: &SignalStore) -> Result<()> {
    let vectors = [&store.user_vector, &store.session_vector];
    let mut dimensions = vectors
        .into_iter()
        .filter_map(|v| v.as_ref().map(UserVector::dimension))
        .chain(store.recent.iter().map(|e| e.unit.len()));
    match dimensions.next() {
        Some(first) if dimensions.any(|d| d != first) => Err(corrupt("embeddings of different lengths")),
        _ => Ok(()),
    }
}

fn corrupt(what: &str) -> Error {
    Error::CorruptSnapshot(what.to_owned())
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.bytes.len() < n {
            return Err(corrupt("truncated"));
        }
        let (head, tail) = self.bytes.split_at(n);
        self.bytes = tail;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        Ok(self.take(N)?.try_into().expect("took N bytes"))
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn time(&mut self) -> Result<f64> {
        let value = f64::from_le_bytes(self.array()?);
        if value.is_finite() {
            Ok(value)
        } else {
            Err(corrupt("time is not finite"))
        }
    }

    fn optional_time(&mut self) -> Result<Option<f64>> {
        let value = f64::from_le_bytes(self.array()?);
        match value {
            v if v.is_nan() => Ok(None),
            v if v.is_finite() => Ok(Some(v)),
            _ => Err(corrupt("time is infinite")),
        }
    }

    /// A counter value: finite and non-negative.
    fn count(&mut self) -> Result<f32> {
        let value = f32::from_le_bytes(self.array()?);
        if value.is_finite() && value >= 0.0 {
            Ok(value)
        } else {
            Err(corrupt("counter is negative or not finite"))
        }
    }

    fn stats(&mut self) -> Result<KeyStats> {
        let updated_at = self.time()?;
        let last_seen_at = self.time()?;
        let last_positive_at = self.optional_time()?;
        let last_negative_at = self.optional_time()?;
        let fatigue = self.count()?;
        let mut counts = [[0.0; HALF_LIFE_COUNT]; EventKind::COUNT];
        for row in &mut counts {
            for count in row {
                *count = self.count()?;
            }
        }
        Ok(KeyStats { updated_at, counts, fatigue, last_positive_at, last_negative_at, last_seen_at })
    }

    fn recent(&mut self) -> Result<RecentEmbeddings> {
        let count = self.u32()? as usize;
        if count > RECENT_CAPACITY {
            return Err(corrupt("too many recent embeddings"));
        }
        let mut entries: Vec<RecentEmbedding> = Vec::with_capacity(count);
        for _ in 0..count {
            let at = self.time()?;
            if entries.last().is_some_and(|e| e.at > at) {
                return Err(corrupt("recent embeddings out of time order"));
            }
            let dimension = self.u32()? as usize;
            if dimension == 0 || dimension > MAX_EMBEDDING_LEN {
                return Err(corrupt("bad recent embedding length"));
            }
            entries.push(RecentEmbedding { at, unit: self.finite_values(dimension)? });
        }
        Ok(RecentEmbeddings::from_entries(entries))
    }

    fn learner(&mut self) -> Result<Learner> {
        let width = usize::from(self.u16()?);
        if width > MAX_HEAD_FEATURES {
            return Err(corrupt("too many head features"));
        }
        let mut features = Vec::with_capacity(width);
        for _ in 0..width {
            let len = usize::from(self.u16()?);
            if len > MAX_STRING_LEN {
                return Err(corrupt("bad head feature name length"));
            }
            let name =
                std::str::from_utf8(self.take(len)?).map_err(|_| corrupt("head feature is not UTF-8"))?;
            features.push(name.to_owned());
        }
        let weights = self.finite_values(width)?;
        let squared_gradients = self.finite_values(width)?;
        if squared_gradients.iter().any(|&g| g < 0.0) {
            return Err(corrupt("negative squared gradient"));
        }
        let updates = self.u32()?;
        let updated_at = self.optional_time()?;
        let validated = self.u32()?;
        let open = match self.u8()? {
            0 => false,
            1 => true,
            _ => return Err(corrupt("bad gate flag")),
        };
        let gain_count = usize::from(self.u16()?);
        if gain_count > MAX_GATE_WINDOW {
            return Err(corrupt("too many gate gains"));
        }
        let gains = self.finite_values(gain_count)?.into();
        let list_count = usize::from(self.u16()?);
        if list_count > MAX_SHOWN_REQUESTS {
            return Err(corrupt("too many shown lists"));
        }
        let mut lists = std::collections::VecDeque::with_capacity(list_count);
        for _ in 0..list_count {
            let shown_at = self.time()?;
            let closes_at = self.time()?;
            if closes_at < shown_at {
                return Err(corrupt("a shown list closes before it was shown"));
            }
            let count = usize::from(self.u16()?);
            if count > MAX_SHOWN_PER_REQUEST {
                return Err(corrupt("too many shown candidates"));
            }
            let (mut items, mut base, mut labels) = (Vec::new(), Vec::new(), Vec::new());
            let mut rows = Vec::with_capacity(count * width);
            for _ in 0..count {
                items.push(u64::from_le_bytes(self.array()?));
                base.extend(self.finite_values(1)?);
                let label = f32::from_le_bytes(self.array()?);
                if ![ENGAGED, IGNORED, REJECTED].contains(&label) {
                    return Err(corrupt("bad shown label"));
                }
                labels.push(label);
                rows.extend(self.finite_values(width)?);
            }
            lists.push_back(ShownList { shown_at, closes_at, items, base, labels, rows });
        }
        Ok(Learner {
            features,
            model: PersonalModel {
                head: Head { weights, squared_gradients },
                gate: Gate { validated, gains, open },
                updates,
            },
            shown: ShownMemory { lists },
            updated_at,
        })
    }

    fn finite_values(&mut self, count: usize) -> Result<Vec<f32>> {
        let mut values = Vec::with_capacity(count);
        for _ in 0..count {
            let value = f32::from_le_bytes(self.array()?);
            if !value.is_finite() {
                return Err(corrupt("embedding value is not finite"));
            }
            values.push(value);
        }
        Ok(values)
    }

    fn user_vector(&mut self) -> Result<Option<UserVector>> {
        let dimension = self.u32()? as usize;
        if dimension == 0 {
            return Ok(None);
        }
        if dimension > MAX_EMBEDDING_LEN {
            return Err(corrupt("user vector too long"));
        }
        let weight = self.count()?;
        let updated_at = self.time()?;
        let sum = self.finite_values(dimension)?;
        Ok(Some(UserVector { sum, weight, updated_at }))
    }
}
