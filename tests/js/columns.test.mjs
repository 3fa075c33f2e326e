// The column paths: candidates packed by `packCandidates` and ranked by `Ranker.rerankColumns`
// must give exactly what `Ranker.rerank` gives for the objects (it packs them the same way),
// and events packed by `packEvents` and recorded by `Ranker.recordColumns` exactly what
// `record` stores (the same snapshot bytes); what the module cannot take is a coded error
// naming it. And the slim package (NNEF-only) must rank exactly like the full one.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import { createLocalRanker, packCandidates, packEvents } from "localrank";
import * as pkg from "localrank/core";
import * as slim from "localrank/slim/core";
import { DAY_MS, NOW, PACKAGE, catalogue, expectLocalrankError, itemRef, modelBytes } from "./helpers.mjs";

await Promise.all([pkg.init(), slim.init()]);
const items = catalogue();

/** Signals on a few catalogue items, so the ranking is not the server's. */
function events() {
  return items.slice(20, 30).map((item, i) => ({ kind: i % 3 ? "like" : "dismiss", item: itemRef(item), at: NOW - i * 3_600_000 }));
}

function ranked(Ranker, model) {
  const ranker = new Ranker(model);
  ranker.record(events(), NOW);
  return ranker;
}

test("packed columns rank exactly like the objects, with and without constraints", () => {
  const ranker = ranked(pkg.Ranker, modelBytes());
  const columns = packCandidates(items);
  assert.ok(columns, "the demo response packs");
  const occurrences = items.reduce((n, c) => n + 1 + (c.author ? 1 : 0) + (c.containers?.length ?? 0) + (c.topics?.length ?? 0), 0);
  assert.ok(columns.lengths.length < occurrences, "shared keys are stored once");
  for (const extra of [{}, { explain: true }, { constraints: { maxDisplacement: 4, diversity: { by: "container", maxRun: 2 } } }]) {
    const request = { candidates: items, now: NOW, ...extra };
    const objects = ranker.rerank(request);
    const packed = ranker.rerankColumns(columns, request);
    assert.equal(packed.fallback, null);
    assert.deepEqual([...packed.order], [...objects.order], JSON.stringify(extra));
    assert.deepEqual([...packed.scores], [...objects.scores], "bit for bit");
    assert.deepEqual(packed.explanations, objects.explanations);
  }
  // Without settings (or with null) the request defaults apply: the current time, no constraints.
  const byDefault = ranker.rerank({ candidates: items });
  for (const settings of [undefined, null]) {
    const packed = ranker.rerankColumns(columns, settings);
    assert.equal(packed.fallback, null);
    assert.deepEqual([...packed.order], [...byDefault.order], String(settings));
  }
  ranker.free();
});

test("the client and the raw Ranker return the candidates' own ids, lone surrogates and all", async () => {
  const client = await createLocalRanker({ initWasm: () => pkg, modelBytes: modelBytes(), flushDelayMs: Infinity });
  await client.record(events(), NOW);
  const raw = ranked(pkg.Ranker, modelBytes());
  const odd = [...items.slice(0, 5), { id: "😀 \ud800 lone surrogate", topics: ["x"] }, { id: "a\ud800" }, { id: "a\ud801" }, { id: "\ufdd0a" }, { id: "last" }];
  for (const candidates of [items, odd]) {
    const viaClient = client.rerank({ candidates, now: NOW });
    const viaRaw = raw.rerank({ candidates, now: NOW });
    assert.equal(viaClient.fallback, null);
    assert.equal(viaRaw.fallback, null, "ids differing only in a lone surrogate are distinct");
    assert.deepEqual(viaClient.ids, [...viaRaw.order].map((i) => candidates[i].id));
    assert.deepEqual(viaRaw.ids, viaClient.ids);
    assert.deepEqual([...viaClient.scores], [...viaRaw.scores]);
  }
  raw.free();
  await client.close();
});

test("what the module cannot take is a coded INVALID_REQUEST naming it", async () => {
  const client = await createLocalRanker({ initWasm: () => pkg, modelBytes: modelBytes(), flushDelayMs: Infinity });
  const [a, b] = [items[0], items[1]];
  const bad = {
    "a number id": [a, { ...b, id: 7 }],
    "a NaN score": [a, { ...b, serverScore: NaN }],
    "a string in an embedding": [{ ...a, embedding: [1, "2"] }, { ...b, embedding: [1, 2] }],
    "topics not a list": [a, { ...b, topics: "rust" }],
    "a string for pinned": [a, { ...b, pinned: "yes" }],
  };
  const messages = {
    "a number id": "invalid request: candidate 1: id must be a string",
    "a NaN score": "invalid request: candidate 1: serverScore is NaN",
    "a string in an embedding": "invalid request: candidate 0: embedding[1] must be a number",
    "topics not a list": "invalid request: candidate 1: topics must be an array of strings",
    "a string for pinned": "invalid request: candidate 1: pinned must be a boolean",
  };
  for (const [name, candidates] of Object.entries(bad)) {
    assert.equal(packCandidates(candidates), null, name);
    const result = client.rerank({ candidates, now: NOW });
    assert.equal(result.fallback?.reason, "INVALID_REQUEST", name);
    assert.equal(result.fallback?.message, messages[name]);
    assert.deepEqual(result.order, Uint32Array.from([0, 1]), `${name}: server order`);
  }
  // Values the columns carry are validated in the module, as for objects.
  const carried = [[a, { ...b, id: a.id }], [a, { ...b, serverScore: 1e39 }], [a, { ...b, id: "" }], [{ ...a, embedding: [1, 2] }, { ...b, embedding: [1] }]];
  for (const candidates of carried) {
    assert.ok(packCandidates(candidates));
    assert.equal(client.rerank({ candidates, now: NOW }).fallback?.reason, "INVALID_REQUEST");
  }
  await client.close();
  const ranker = new pkg.Ranker(modelBytes());
  expectLocalrankError(assert, () => ranker.rerankColumns({ ...packCandidates(items), ids: new Float32Array(items.length) }, { onError: "throw" }), "INVALID_REQUEST");
  ranker.free();
});

const KINDS = ["impression", "click", "dwell", "like", "share", "dismiss", "hide"];

/**
 * Every kind on catalogue items (embeddings and all), items repeated, out of time order, one
 * past retention, odd strings (a lone surrogate inside an id, emoji keys).
 */
function eventBatch() {
  const events = items.slice(0, 40).map((_, i) => {
    const event = { kind: KINDS[i % KINDS.length], item: itemRef(items[i % 15]), at: NOW - ((i * 7919) % 40) * 3_600_000 };
    if (event.kind === "dwell") event.dwellMs = 1000 * i;
    return event;
  });
  events[5].at = NOW - 200 * DAY_MS;
  events.push({ kind: "like", item: { id: "é✓😀 \ud800 inside", containers: ["😀"], topics: ["x", "😀"], author: null }, at: NOW });
  return events;
}

test("packed events record exactly like the objects: the same summaries, the same snapshot bytes", () => {
  // A small key cap, so eviction happens inside a batch too.
  const [objects, columns] = [new pkg.Ranker(modelBytes(), { keyCap: 30 }), new pkg.Ranker(modelBytes(), { keyCap: 30 })];
  const batch = eventBatch();
  const packed = packEvents(batch);
  assert.ok(packed, "the batch packs");
  const occurrences = batch.reduce((n, { item }) => n + 1 + (item.author ? 1 : 0) + (item.containers?.length ?? 0) + (item.topics?.length ?? 0), 0);
  assert.ok(packed.lengths.length < occurrences, "ids and keys are stored once");
  for (const events of [batch, batch.slice(10, 20).reverse(), []]) {
    const summary = objects.record(events, NOW);
    assert.deepEqual(columns.recordColumns(packEvents(events), NOW), summary);
  }
  assert.equal(objects.keyCount, columns.keyCount);
  assert.ok(objects.keyCount <= 30);
  assert.deepEqual(columns.snapshot(), objects.snapshot(), "byte for byte");
  assert.deepEqual(columns.exportSignals(NOW), objects.exportSignals(NOW));
  objects.free();
  columns.free();
});

test("what the module cannot take in an event is a coded INVALID_EVENT naming it, nothing stored", async () => {
  const client = await createLocalRanker({ initWasm: () => pkg, modelBytes: modelBytes(), flushDelayMs: Infinity });
  const good = { kind: "like", item: itemRef(items[0]), at: NOW - 1000 };
  const bad = {
    "an unknown kind": { ...good, kind: "stare" },
    "a kind of the wrong type": { ...good, kind: 3 },
    "a time as a string": { ...good, at: "2025-01-16" },
    "a number id": { ...good, item: { id: 7 } },
    "no item": { kind: "click", at: NOW },
    "topics not a list": { ...good, item: { id: "a", topics: "rust" } },
    "a string in an embedding": { ...good, item: { id: "a", embedding: [1, "2"] } },
    "an empty embedding": { ...good, item: { id: "a", embedding: [] } },
    "an embedding past 512 numbers": { ...good, item: { id: "a", embedding: new Array(600).fill(0.5) } },
    "a NaN dwell": { kind: "dwell", item: { id: "a" }, at: NOW, dwellMs: NaN },
    "not an object": null,
  };
  for (const [name, event] of Object.entries(bad)) {
    assert.equal(packEvents([good, event]), null, name);
    await assert.rejects(client.record([good, event], NOW), (error) => {
      assert.equal(error.name, "LocalrankError", name);
      assert.equal(error.code, "INVALID_EVENT", name);
      assert.match(error.message, /^invalid event: event 1: /, name);
      assert.doesNotMatch(error.message, /Error: .*Error:/, `${name}: one error, not one nested in another`);
      return true;
    });
  }
  await assert.rejects(client.record([{ ...good, kind: "stare" }], NOW), {
    message: "invalid event: event 0: unknown kind `stare`, expected one of impression, click, dwell, like, share, dismiss, hide",
  });
  assert.equal(packEvents("events"), null);
  await assert.rejects(client.record(/** @type {never} */ ("events"), NOW), (error) => error.code === "INVALID_EVENT");
  assert.equal(client.keyCount, 0, "nothing stored");
  assert.equal(client.status.pendingBatches, 0, "nothing journaled");
  // Ids ending in half a surrogate pair pack (encoded, so they cannot pair up with the next
  // string in the table) and come back exactly, distinct from each other.
  const tails = ["tail \ud83d", "tail \ud83e", "\ufdd0tail"].map((id) => ({ ...good, item: { id } }));
  assert.ok(packEvents(tails));
  assert.deepEqual(await client.record(tails, NOW), { recorded: 3, expired: 0, clamped: 0 });
  const stored = (await client.exportSignals(NOW)).keys.filter((k) => k.family === "item").map((k) => k.key);
  assert.deepEqual(stored.sort(), tails.map((t) => t.item.id).sort());
  await client.close();
});

test("values the event columns carry are checked in the module, with the same code and message either way", () => {
  const [objects, columns] = [new pkg.Ranker(modelBytes()), new pkg.Ranker(modelBytes())];
  const good = { kind: "like", item: itemRef(items[0]), at: NOW - 1000 };
  const bad = [
    { ...good, item: { id: "" } },
    { ...good, item: { id: "a", topics: ["rust", ""] } },
    { ...good, item: { id: "x".repeat(300) } },
    { ...good, at: -1 },
    { ...good, at: NaN },
    { ...good, at: Infinity },
    { kind: "dwell", item: { id: "a" }, at: NOW },
    { kind: "dwell", item: { id: "a" }, at: NOW, dwellMs: -5 },
    { kind: "dwell", item: { id: "a" }, at: NOW, dwellMs: Infinity },
    { ...good, dwellMs: 10 },
    { ...good, item: { id: "a", embedding: [1, 2] } }, // the good event's embedding is longer
    { ...good, item: { id: "a", embedding: [NaN, ...items[0].embedding.slice(1)] } },
  ];
  for (const event of bad) {
    const packed = packEvents([good, event]);
    assert.ok(packed, JSON.stringify(event).slice(0, 80));
    const viaObjects = expectLocalrankError(assert, () => objects.record([good, event], NOW), "INVALID_EVENT");
    const viaColumns = expectLocalrankError(assert, () => columns.recordColumns(packed, NOW), "INVALID_EVENT");
    assert.equal(viaColumns.message, viaObjects.message);
    assert.match(viaColumns.message, /^invalid event: event 1: /);
  }
  assert.equal(columns.keyCount, 0, "a bad batch stores nothing");
  objects.free();
  columns.free();
});

test("malformed event columns are INVALID_EVENT errors, not traps", () => {
  const ranker = new pkg.Ranker(modelBytes());
  const packed = /** @type {NonNullable<ReturnType<typeof packEvents>>} */ (packEvents(eventBatch()));
  const malformed = {
    "not an object": 42,
    "no columns": {},
    "text not a string": { ...packed, text: 5 },
    "ids of the wrong array type": { ...packed, ids: new Float64Array(packed.ids.length) },
    "kinds missing": { ...packed, kinds: undefined },
    "a kind code past the kinds": { ...packed, kinds: packed.kinds.map((k, i) => (i === 3 ? 7 : k)) },
    "times short": { ...packed, at: packed.at.subarray(1) },
    "offsets short": { ...packed, topicOffsets: packed.topicOffsets.subarray(1) },
    "offsets past the keys": { ...packed, containerOffsets: packed.containerOffsets.map((o) => o + 1) },
    "a key past the table": { ...packed, topicKeys: packed.topicKeys.map(() => packed.lengths.length) },
    "lengths past the text": { ...packed, lengths: packed.lengths.map((l) => l + 1) },
  };
  for (const [name, columns] of Object.entries(malformed)) {
    const error = expectLocalrankError(assert, () => ranker.recordColumns(/** @type {never} */ (columns), NOW), "INVALID_EVENT");
    assert.match(error.message, /event columns: /, name);
  }
  assert.equal(ranker.keyCount, 0);
  assert.equal(ranker.recordColumns(packed, NOW).recorded, packed.kinds.length - 1, "the module is fine (one event is past retention)");
  ranker.free();
});

const NNEF = new URL("../../models/ranker.nnef.tar", import.meta.url);

test("the slim flavour (NNEF only, `localrank/slim/core`) ranks exactly like the full one", () => {
  const manifest = JSON.parse(readFileSync(`${PACKAGE}package.json`, "utf8"));
  assert.equal(manifest.exports["./slim/core"].node.import, "./dist/entries/slim-core-node.js");
  const nnef = new Uint8Array(readFileSync(NNEF));
  const [full, small] = [ranked(pkg.Ranker, modelBytes()), ranked(slim.Ranker, nnef)];
  assert.deepEqual(small.modelInfo().features, full.modelInfo().features, "the contract came with the NNEF archive");
  const columns = packCandidates(items);
  const [a, b] = [full.rerankColumns(columns, { now: NOW }), small.rerankColumns(columns, { now: NOW })];
  assert.deepEqual([...b.order], [...a.order]);
  assert.deepEqual([...b.scores], [...a.scores]);
  expectLocalrankError(assert, () => new slim.Ranker(modelBytes()), "INVALID_MODEL");
  full.free();
  small.free();
});

test("an engine that cannot compile the module (no wasm SIMD) gets a coded UNAVAILABLE error", async () => {
  // A module using a SIMD instruction, as localrank's does everywhere; on an engine without
  // SIMD this compile throws the same WebAssembly.CompileError, simulated here by a bad opcode.
  const noSimd = async () => {
    await WebAssembly.compile(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 5, 1, 3, 0, 0xff, 0x0b]));
    return pkg;
  };
  await assert.rejects(createLocalRanker({ initWasm: noSimd, modelBytes: modelBytes() }), (error) => {
    assert.equal(error.name, "LocalrankClientError");
    assert.equal(error.code, "UNAVAILABLE");
    assert.match(error.message, /cannot compile .* wasm SIMD/);
    assert.ok(error.cause instanceof WebAssembly.CompileError);
    return true;
  });
});
