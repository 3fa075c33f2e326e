// Shared by the tests in tests/js/ (not a test file itself: `node --test` runs *.test.mjs).

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
export const PKG_NODEJS = fileURLToPath(new URL("../../pkg/nodejs/localrank.js", import.meta.url));
export const PKG_WEB_GLUE = new URL("../../pkg/web/localrank.js", import.meta.url);
export const PKG_WEB_WASM = fileURLToPath(new URL("../../pkg/web/localrank_bg.wasm", import.meta.url));
export const MODEL_PATH = fileURLToPath(new URL("../../models/ranker.onnx", import.meta.url));
export const CATALOGUE_PATH = fileURLToPath(new URL("../../www/data/server-response.json", import.meta.url));

export const DAY_MS = 86_400_000;
/** A fixed "now" for reproducible tests (the catalogue was generated a day before it). */
export const NOW = Date.UTC(2025, 0, 16, 12, 0, 0);

export const ERROR_CODES = [
  "INVALID_REQUEST", "TOO_MANY_CANDIDATES", "INVALID_EVENT", "INVALID_MODEL", "MODEL_UNSIGNED",
  "MODEL_TAMPERED", "MODEL_UNTRUSTED_KEY", "CONTRACT_MISMATCH",
  "UNKNOWN_FEATURE", "CORRUPT_SNAPSHOT", "SNAPSHOT_VERSION", "INFERENCE_FAILED",
  "INVALID_MODEL_OUTPUT", "TIME_BUDGET_EXCEEDED", "MEMORY_BUDGET_EXCEEDED", "INVALID_OPTIONS", "PANIC",
];

export function modelBytes() {
  return new Uint8Array(readFileSync(MODEL_PATH));
}

/** The demo's server response: its items, in the server's order. */
export function catalogue() {
  return JSON.parse(readFileSync(CATALOGUE_PATH, "utf8")).items;
}

/** The fields of an item that events carry. */
export function itemRef({ id, author, containers, topics, embedding }) {
  return { id, author, containers, topics, embedding };
}

/**
 * Like events that should lift `target` under the loaded model, whatever its features: if the
 * model reads topic signals, likes on OTHER items that share the target's topics (so it is the
 * topic that lifts it); otherwise likes on the target itself (every family it has).
 * @returns {{ events: object[], via: "topic" | "item" }}
 */
export function likesFor(target, info, at, count = 3) {
  const readsTopics = info.features.some((f) => /^(affinity|share|recency)\.topic\./.test(f));
  if (readsTopics && target.topics?.length) {
    const events = Array.from({ length: count }, (_, i) => ({
      kind: "like",
      item: { id: `elsewhere-${i}`, topics: target.topics },
      at: at - i * 60_000,
    }));
    return { events, via: "topic" };
  }
  const events = Array.from({ length: count }, (_, i) => ({ kind: "like", item: itemRef(target), at: at - i * 60_000 }));
  return { events, via: "item" };
}

/**
 * A candidate low in `ids` (the current ranking) that is not pinned, to be lifted by signals.
 */
export function lowCandidate(items, ids, fromBottom = 3) {
  const unpinned = ids.filter((id) => !items.find((item) => item.id === id).pinned);
  const id = unpinned[unpinned.length - 1 - fromBottom];
  return items.find((item) => item.id === id);
}

/** CRC-32 (IEEE), as the snapshot format uses. */
export function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/**
 * A copy of a snapshot claiming format `version`, with a valid checksum, as a newer localrank
 * would write it. Header: "LRSIG1" | version u16 LE | payload length u32 | payload | CRC-32.
 */
export function withSnapshotVersion(snapshot, version) {
  const bytes = Uint8Array.from(snapshot); // a copy (Buffer#slice would be a view)
  const view = new DataView(bytes.buffer);
  view.setUint16(6, version, true);
  view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/** A copy with one payload byte flipped (the checksum no longer matches). */
export function corrupted(snapshot) {
  const bytes = Uint8Array.from(snapshot);
  bytes[Math.floor(bytes.length / 2)] ^= 0x5a;
  return bytes;
}

/** Asserts `fn` throws a LocalrankError with `code`; returns the error. */
export function expectLocalrankError(assert, fn, code) {
  let caught;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, `expected a ${code} error, nothing was thrown`);
  assert.ok(caught instanceof Error, `expected an Error, got ${Object.prototype.toString.call(caught)}`);
  assert.equal(caught.name, "LocalrankError");
  assert.equal(caught.code, code, caught.message);
  assert.equal(typeof caught.message, "string");
  assert.ok(caught.message.length > 0);
  return caught;
}

/** The candidates' ids in server order, for comparing with fallback results. */
export const idsOf = (items) => items.map((item) => item.id);
