// The client (the `localrank` package's Node entry point) in Node, with the file
// adapter: persistence across restarts, clear(), corrupt and newer-format files, failed
// writes, and recovery from traps with the journal replayed.

import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, existsSync } from "node:fs";
import * as fsPromises from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { after, before, describe, test } from "node:test";

import { createLocalRanker, fileStorage, isLocalrankError, memoryStorage, wasmLoader } from "localrank";
import {
  MODEL_PATH, NOW, ROOT, catalogue, corrupted, idsOf, itemRef, likesFor, lowCandidate, modelBytes, recordedSignals, trappingLoader, withSnapshotVersion,
} from "./helpers.mjs";

const items = catalogue();
const model = modelBytes();
/** The shipped model's info, for helpers that need it before a client exists. */
const info = await (async () => {
  const { Ranker, init } = await import("localrank/core");
  await init();
  const ranker = new Ranker(model);
  const modelInfo = ranker.modelInfo();
  ranker.free();
  return modelInfo;
})();
let dir;
/** LocalRankers a test opened; closed in `after` whatever happened. */
const open = new Set();

before(() => {
  dir = mkdtempSync(join(tmpdir(), "localrank-client-"));
});
after(async () => {
  for (const ranker of open) await ranker.close().catch(() => {});
  rmSync(dir, { recursive: true, force: true });
});

/** One loader for the whole file: the .wasm is compiled once, each instance is new. */
const loader = wasmLoader();

/**
 * A LocalRanker on the file `name` in the temp dir, at the fixed clock NOW.
 * @param {string} name
 * @param {object} [options]
 */
async function start(name, options = {}) {
  const warnings = [];
  const ranker = await createLocalRanker({
    initWasm: loader,
    modelBytes: model,
    storage: fileStorage(join(dir, name)),
    now: () => NOW,
    flushDelayMs: Infinity,
    onWarning: (warning) => warnings.push(warning),
    ...options,
  });
  open.add(ranker);
  return { ranker, warnings, path: join(dir, name) };
}

async function stop(ranker) {
  await ranker.close();
  open.delete(ranker);
}

const liked = (ranker, target = items[44]) => likesFor(target, ranker.modelInfo(), NOW - 60_000).events;

/** The log file next to a file store's checkpoint, and its header's size. */
const logOf = (path) => `${path}.log`;
const LOG_HEADER_BYTES = 20;

/** A raw ranker's snapshot of `events`, as an earlier session (or another version) would have left it. */
async function snapshotOf(events) {
  const { Ranker, init } = await import("localrank/core");
  await init();
  const ranker = new Ranker(model);
  ranker.record(events, NOW);
  const bytes = ranker.snapshot();
  ranker.free();
  return bytes;
}

describe("persistence with the file adapter", () => {
  test("signals survive a restart (a new LocalRanker on the same file)", async () => {
    const first = await start("restart.bin");
    const baseline = first.ranker.rerank(items).ids;
    const target = lowCandidate(items, baseline);
    const summary = await first.ranker.record(liked(first.ranker, target));
    assert.equal(summary.recorded, 3);
    const ranked = first.ranker.rerank(items);
    assert.ok(ranked.ids.indexOf(target.id) < baseline.indexOf(target.id), "the like lifted the item");
    const exported = await first.ranker.exportSignals();
    assert.equal(existsSync(logOf(first.path)), false, "flushDelayMs: Infinity: nothing written before flush/close");
    await stop(first.ranker);

    const log = readFileSync(logOf(first.path));
    assert.equal(log.subarray(0, 8).toString("latin1"), "LRLOG001", "the batch went to the log");
    assert.equal(statSync(logOf(first.path)).mode & 0o777, 0o600, "the signals files are private to their user");
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith("restart.bin.") && !/\.(log|model)$/.test(f)), [], "no temporary or lock files left");

    const second = await start("restart.bin");
    assert.deepEqual(second.warnings, []);
    assert.equal(second.ranker.keyCount, exported.keys.length);
    assert.deepEqual(recordedSignals(await second.ranker.exportSignals()), recordedSignals(exported));
    assert.deepEqual(second.ranker.rerank(items).ids, ranked.ids);
    await stop(second.ranker);
  });

  test("record() is appended to the log after the debounce delay: bytes of the batch, not of the store", async () => {
    const persisted = [];
    let resolvePersist;
    const persistedOnce = new Promise((resolve) => (resolvePersist = resolve));
    const { ranker, path } = await start("debounce.bin", {
      flushDelayMs: 30,
      onPersist: (info) => {
        persisted.push(info);
        resolvePersist();
      },
    });
    await ranker.record([{ kind: "click", item: itemRef(items[5]), at: NOW - 1000 }]);
    await ranker.record([{ kind: "like", item: itemRef(items[6]), at: NOW - 500 }]);
    assert.equal(ranker.status.pendingEvents, 2, "journaled until appended");
    assert.equal(existsSync(logOf(path)), false);
    await persistedOnce;
    assert.equal(persisted.length, 1, "two records within the delay: one write");
    assert.deepEqual({ ...persisted[0], byteLength: 0 }, { kind: "append", byteLength: 0, events: 2, pendingBatches: 0, storage: true });
    assert.equal(persisted[0].byteLength + LOG_HEADER_BYTES, statSync(logOf(path)).size, "the write is the two batches");
    assert.ok(persisted[0].byteLength < 2048, `two events with 8-number embeddings: ${persisted[0].byteLength} bytes`);
    assert.equal(existsSync(path), false, "no checkpoint yet: the log holds everything");
    assert.equal(ranker.status.pendingEvents, 0);
    assert.ok(ranker.status.lastPersistedAt !== null);
    await stop(ranker);
  });

  test("events are applied synchronously: a rerank right after record() sees them", async () => {
    const { ranker } = await start("sync.bin");
    const baseline = ranker.rerank(items).ids;
    const target = lowCandidate(items, baseline);
    const pending = ranker.record(liked(ranker, target));
    assert.ok(ranker.rerank(items).ids.indexOf(target.id) < baseline.indexOf(target.id));
    await pending;
    await stop(ranker);
  });

  test("an append after a corrupt entry and a torn tail cuts the tail, and keys count every whole frame", async () => {
    const path = join(dir, "torn.bin");
    const batch = (seq) => ({ origin: "test", seq, now: NOW, count: 1, events: [{ kind: "click", item: { id: `item-${seq}` }, at: NOW }] });
    assert.deepEqual((await fileStorage(path).append([batch(1), batch(2)])).keys, [1, 2]);
    const whole = statSync(logOf(path)).size;
    // A whole frame whose 12 bytes are no batch, then a frame whose length runs past the end
    // (a crash mid-append).
    const corrupt = new Uint8Array(4 + 12);
    new DataView(corrupt.buffer).setUint32(0, 12, true);
    const torn = new Uint8Array(4 + 8);
    new DataView(torn.buffer).setUint32(0, 1000, true);
    appendFileSync(logOf(path), Buffer.concat([corrupt, torn]));
    const storage = fileStorage(path);
    assert.deepEqual((await storage.append([batch(3)])).keys, [4], "the corrupt frame took key 3");
    const { entries, corruptEntries } = await storage.readLog(0);
    assert.deepEqual(entries.map((entry) => [entry.key, entry.batch.seq]), [[1, 1], [2, 2], [4, 3]]);
    assert.equal(corruptEntries, 1);
    const third = readFileSync(logOf(path)).subarray(whole + corrupt.length);
    assert.equal(new DataView(third.buffer, third.byteOffset).getUint32(0, true) + 4, third.length, "the torn tail is gone: batch 3 follows the corrupt frame and ends the log");
  });

  test("a compaction keeps every later entry's key, past a batch written twice and a corrupt entry", async () => {
    const path = join(dir, "renumber.bin");
    const storage = fileStorage(path);
    const batch = (seq) => ({ origin: "test", seq, now: NOW, count: 1, events: [{ kind: "click", item: { id: `item-${seq}` }, at: NOW }] });
    await storage.append([batch(1), batch(2)]);
    await storage.append([batch(2)]); // a retried write whose first try reached the file: key 3 repeats batch 2
    const corrupt = new Uint8Array(4 + 12);
    new DataView(corrupt.buffer).setUint32(0, 12, true);
    appendFileSync(logOf(path), corrupt); // key 4
    await storage.append([batch(3)]); // key 5
    const before = await storage.readLog(0);
    assert.deepEqual(before.entries.map((entry) => [entry.key, entry.batch.seq]), [[1, 1], [2, 2], [5, 3]]);
    assert.equal(await storage.compact(new Uint8Array([1, 2, 3]), 1, before.epoch), true);
    const after = await storage.readLog(1);
    assert.deepEqual(after.entries.map((entry) => [entry.key, entry.batch.seq]), [[2, 2], [5, 3]], "batch 3 is still key 5");
    assert.equal(after.corruptEntries, 1, "the corrupt entry stays until a checkpoint covers it");
    assert.deepEqual((await storage.append([batch(4)])).keys, [6]);
    assert.equal(await storage.compact(new Uint8Array([4]), 5, before.epoch), true);
    const last = await storage.readLog(0);
    assert.deepEqual(last.entries.map((entry) => [entry.key, entry.batch.seq]), [[6, 4]]);
    assert.equal(last.corruptEntries, 0);
  });

  test("another process's reads after a key: a batch written twice still counts once, a frame changed since is decoded again", async () => {
    const path = join(dir, "poll.bin");
    const writer = fileStorage(path);
    const reader = fileStorage(path);
    const batch = (seq) => ({ origin: "test", seq, now: NOW, count: 1, events: [{ kind: "click", item: { id: `item-${seq}` }, at: NOW }] });
    await writer.append([batch(1), batch(2)]);
    assert.deepEqual((await reader.readLog(0)).entries.map((entry) => entry.key), [1, 2]);
    await writer.append([batch(2), batch(3)]); // batch 2 retried (key 3), then batch 3 (key 4)
    const { entries, corruptEntries } = await reader.readLog(2);
    assert.deepEqual(entries.map((entry) => [entry.key, entry.batch.seq]), [[4, 3]], "key 3 repeats batch 2, read before");
    assert.equal(corruptEntries, 0);
    // Batch 1's frame damaged in place (its CRC-32 too): no longer the frame the reader decoded.
    const bytes = readFileSync(logOf(path));
    const firstFrameEnd = LOG_HEADER_BYTES + 4 + new DataView(bytes.buffer, bytes.byteOffset).getUint32(LOG_HEADER_BYTES, true);
    bytes.fill(0xff, firstFrameEnd - 8, firstFrameEnd);
    writeFileSync(logOf(path), bytes);
    const damaged = await reader.readLog(2);
    assert.equal(damaged.corruptEntries, 1);
    assert.deepEqual(damaged.entries.map((entry) => [entry.key, entry.batch.seq]), [[4, 3]]);
    assert.deepEqual(await fileStorage(path).readLog(2), damaged, "what a process that never read the log gets");
  });

  test("clear() wipes memory and the files' content", async () => {
    const { ranker, path } = await start("clear.bin");
    const baseline = ranker.rerank(items);
    await ranker.record(liked(ranker));
    await ranker.flush();
    assert.ok(statSync(logOf(path)).size > LOG_HEADER_BYTES);
    await ranker.clear();
    assert.equal(existsSync(path), false, "no checkpoint");
    assert.equal(statSync(logOf(path)).size, LOG_HEADER_BYTES, "an empty log");
    assert.equal(ranker.keyCount, 0);
    assert.deepEqual((await ranker.exportSignals()).keys, []);
    assert.deepEqual(ranker.rerank(items).ids, baseline.ids);
    assert.equal(ranker.status.pendingEvents, 0);
    await stop(ranker);
    const again = await start("clear.bin");
    assert.equal(again.ranker.keyCount, 0, "nothing comes back after a restart");
    await stop(again.ranker);
  });

  test("a bad batch rejects with INVALID_EVENT and is neither stored nor journaled", async () => {
    const { ranker } = await start("invalid.bin");
    await assert.rejects(
      ranker.record([{ kind: "like", item: itemRef(items[1]), at: NOW }, { kind: "like", item: { id: "" }, at: NOW }]),
      (error) => isLocalrankError(error) && error.code === "INVALID_EVENT",
    );
    assert.equal(ranker.keyCount, 0);
    assert.equal(ranker.status.pendingBatches, 0);
    await stop(ranker);
  });

  test("a checkpoint's snapshot is taken in two tasks: reranks and records run between them, and nothing is lost", async () => {
    const storage = memoryStorage();
    const ranker = await createLocalRanker({ initWasm: loader, modelBytes: model, storage, now: () => NOW, flushDelayMs: Infinity });
    open.add(ranker);
    const click = (id) => [{ kind: "click", item: { id }, at: NOW - 1000 }];
    for (let n = 0; n < 199; n++) {
      await ranker.record(click(`item-${n}`));
      await ranker.flush();
    }
    await ranker.record(click("item-199"));
    // The 200th logged batch makes the leader checkpoint. Its snapshot's second half waits for
    // the next task (a 0 ms timer): run a rerank and a record just before that task.
    const realSetTimeout = globalThis.setTimeout;
    let between = null;
    globalThis.setTimeout = (callback, delay, ...rest) =>
      realSetTimeout(() => {
        if (delay === 0 && between === null) between = { ranked: ranker.rerank(items), recorded: ranker.record(click("between")) };
        callback(...rest);
      }, delay);
    try {
      await ranker.flush();
    } finally {
      globalThis.setTimeout = realSetTimeout;
    }
    assert.ok(between, "the checkpoint waited for a task between its two halves");
    assert.equal(between.ranked.fallback, null, "a rerank ran between them");
    assert.equal((await between.recorded).recorded, 1);

    const stored = await storage.load();
    assert.equal(stored.snapshots[0]?.upTo, 200, "the checkpoint holds the 200 batches logged when it began");
    const { Ranker, init } = await import("localrank/core");
    await init();
    const fromCheckpoint = new Ranker(model);
    fromCheckpoint.restore(stored.snapshots[0].bytes, NOW);
    const itemKeys = (exported) => exported.keys.filter((k) => k.family === "item").map((k) => k.key);
    const checkpointed = itemKeys(fromCheckpoint.exportSignals(NOW));
    fromCheckpoint.free();
    assert.equal(checkpointed.length, 200);
    assert.ok(!checkpointed.includes("between"), "what was recorded after it began is not in it…");
    await ranker.flush();
    const reopened = await createLocalRanker({ initWasm: loader, modelBytes: model, storage: storage.connect(), now: () => NOW, flushDelayMs: Infinity });
    open.add(reopened);
    const restored = (await reopened.exportSignals()).keys.filter((k) => k.family === "item");
    assert.equal(restored.length, 201, "…but in the log after it: a restart holds every event");
    for (const key of restored) {
      const clicks = key.counts.find((c) => c.kind === "click" && c.halfLife === "30d")?.value;
      assert.ok(clicks > 0.9 && clicks <= 1, `${key.key} once`);
    }
    await stop(reopened);
    await stop(ranker);
  });

  test("a corrupt checkpoint is reported, skipped, and replaced by the leader's next write", async () => {
    const path = join(dir, "corrupt.bin");
    writeFileSync(path, corrupted(await snapshotOf(liked({ modelInfo: () => info }))));

    const { ranker, warnings } = await start("corrupt.bin");
    assert.deepEqual(warnings.map((w) => w.code), ["CORRUPT_SNAPSHOT"]);
    assert.match(warnings[0].message, /corrupt\.bin/);
    assert.equal(ranker.keyCount, 0, "started empty");
    assert.deepEqual(ranker.rerank(items).fallback, null);
    await ranker.record([{ kind: "click", item: itemRef(items[2]), at: NOW - 1000 }]);
    await stop(ranker);

    const reopened = await start("corrupt.bin");
    assert.deepEqual(reopened.warnings, [], "the file holds a valid checkpoint again");
    assert.ok(reopened.ranker.keyCount > 0);
    await stop(reopened.ranker);

    writeFileSync(path, "not a snapshot at all");
    const garbage = await start("corrupt.bin");
    assert.deepEqual(garbage.warnings.map((w) => w.code), ["CORRUPT_SNAPSHOT"]);
    await stop(garbage.ranker);
  });

  test("a newer-format checkpoint is kept untouched and nothing is written; clear() still deletes it", async () => {
    const newer = withSnapshotVersion(await snapshotOf(liked({ modelInfo: () => info })), 99);
    const path = join(dir, "newer.bin");
    writeFileSync(path, newer);

    const { ranker, warnings } = await start("newer.bin");
    assert.deepEqual(warnings.map((w) => w.code), ["SNAPSHOT_VERSION"]);
    assert.equal(ranker.status.persistence, "suspended");
    assert.equal(ranker.keyCount, 0);
    await ranker.record([{ kind: "like", item: itemRef(items[9]), at: NOW - 1000 }]);
    await ranker.flush();
    assert.deepEqual(readFileSync(path), Buffer.from(newer), "the newer version's bytes are not overwritten");
    assert.equal(existsSync(logOf(path)), false, "and nothing is logged next to them");
    assert.equal(ranker.status.pendingEvents, 1, "kept in memory only");
    assert.ok(ranker.keyCount > 0);

    await ranker.clear();
    assert.ok(!existsSync(path), "clear() is the user's wish: it deletes even a newer-format checkpoint");
    assert.equal(ranker.status.persistence, "storage");
    await ranker.record([{ kind: "like", item: itemRef(items[9]), at: NOW - 1000 }]);
    await stop(ranker);
    const reopened = await start("newer.bin");
    assert.ok(reopened.ranker.keyCount > 0, "persisting again, in this version's format");
    await stop(reopened.ranker);
  });

  test("a failed write keeps the files and the journal, and a later flush succeeds", async () => {
    let failSync = false;
    const failing = (handle) => ({ ...handle, write: (...a) => handle.write(...a), writeFile: (d) => handle.writeFile(d), truncate: (n) => handle.truncate(n), close: () => handle.close(), sync: () => (failSync ? Promise.reject(new Error("EIO: simulated")) : handle.sync()) });
    const fs = { ...fsPromises, open: async (...args) => failing(await fsPromises.open(...args)) };
    const { ranker, warnings, path } = await start("failing.bin", { storage: fileStorage(join(dir, "failing.bin"), { fs }) });
    await ranker.record([{ kind: "click", item: itemRef(items[3]), at: NOW - 2000 }]);
    await ranker.flush();

    failSync = true;
    await ranker.record([{ kind: "like", item: itemRef(items[4]), at: NOW - 1000 }]);
    await assert.rejects(ranker.flush(), (error) => error.name === "LocalrankClientError" && error.code === "STORAGE_FAILED");
    assert.deepEqual(readdirSync(dir).filter((f) => f.startsWith("failing.bin.") && !/\.(log|model|leader)$/.test(f)), [], "no temporary or lock file left");
    assert.equal(ranker.status.pendingEvents, 1, "the event stays journaled");
    assert.ok(warnings.some((w) => w.code === "STORAGE_FAILED"));

    failSync = false;
    await ranker.flush();
    assert.equal(ranker.status.pendingEvents, 0);
    const exported = await ranker.exportSignals();
    await stop(ranker);
    const reopened = await start("failing.bin");
    assert.deepEqual(await reopened.ranker.exportSignals(), exported, "the retried batch counts once (its bytes had reached the file before the failed fsync)");
    await stop(reopened.ranker);
  });
});

test("every batch pending at a flush goes to storage in one append, in order, each under its own key", async () => {
  const memory = memoryStorage();
  const appends = [];
  const storage = {
    ...memory,
    append: (batches) => {
      appends.push(batches.map((batch) => batch.seq));
      return memory.append(batches);
    },
  };
  const ranker = await createLocalRanker({ modelBytes: model, storage, now: () => NOW, flushDelayMs: Infinity });
  for (let i = 0; i < 7; i++) await ranker.record([{ kind: "click", item: itemRef(items[i]), at: NOW - 1000 + i }]);
  await ranker.flush();
  assert.deepEqual(appends, [[1, 2, 3, 4, 5, 6, 7]], "seven batches, one write");
  const { log } = await memory.load();
  assert.deepEqual(log.map((entry) => entry.batch.seq), [1, 2, 3, 4, 5, 6, 7]);
  assert.ok(log.every((entry, i) => i === 0 || entry.key === log[i - 1].key + 1), "consecutive keys");
  assert.equal(ranker.status.pendingEvents, 0);
  await stop(ranker);
});

test("a failed debounced write is retried by itself", async () => {
  let failures = 1;
  const fs = {
    ...fsPromises,
    // The log's first write (a new file: written, then renamed into place) fails once.
    rename: (a, b) => (b.endsWith(".log") && failures-- > 0 ? Promise.reject(new Error("ENOSPC: simulated")) : fsPromises.rename(a, b)),
  };
  let persisted;
  const done = new Promise((resolve) => (persisted = resolve));
  const { ranker, warnings, path } = await start("retry.bin", {
    storage: fileStorage(join(dir, "retry.bin"), { fs }),
    flushDelayMs: 10,
    onPersist: persisted,
  });
  await ranker.record([{ kind: "like", item: itemRef(items[12]), at: NOW - 1000 }]);
  await done;
  assert.deepEqual(warnings.map((w) => w.code), ["STORAGE_FAILED"]);
  assert.match(warnings[0].message, /retrying in 1 s/);
  assert.equal(ranker.status.pendingEvents, 0);
  assert.ok(statSync(logOf(path)).size > LOG_HEADER_BYTES);
  await stop(ranker);
});

describe("recovery from traps", () => {
  test("a trap in rerank gives the server order, then a fresh instance with the journal replayed", async () => {
    const { initWasm, armed } = trappingLoader("rerank", () => new WebAssembly.RuntimeError("unreachable"));
    const storage = memoryStorage();
    const warnings = [];
    const ranker = await createLocalRanker({
      initWasm, modelBytes: model, storage, now: () => NOW, flushDelayMs: Infinity, onWarning: (w) => warnings.push(w),
    });
    open.add(ranker);
    const baseline = ranker.rerank(items).ids;
    const target = lowCandidate(items, baseline);
    // Half the signals persisted, half only in the journal.
    await ranker.record([{ kind: "click", item: itemRef(items[20]), at: NOW - 5000 }]);
    await ranker.flush();
    await ranker.record(liked(ranker, target));
    assert.equal(ranker.status.pendingBatches, 1);
    const expected = ranker.rerank(items);
    const exported = await ranker.exportSignals();
    assert.notDeepEqual(expected.ids, baseline);

    armed.on = true;
    const trapped = ranker.rerank({ candidates: items, explain: true });
    assert.equal(armed.calls, 1);
    assert.equal(trapped.fallback?.reason, "WASM_TRAP");
    assert.match(trapped.fallback.message, /unreachable/);
    assert.deepEqual(trapped.ids, idsOf(items), "the server's order");
    assert.deepEqual([...trapped.order], items.map((_, i) => i));
    assert.ok(trapped.order instanceof Uint32Array && trapped.scores instanceof Float32Array);
    assert.equal(trapped.scores.length, 0);

    const during = ranker.rerank(items);
    assert.equal(during.fallback?.reason, "WASM_TRAP", "server order while the module is replaced");
    await ranker.ready();
    assert.equal(ranker.status.state, "ready");
    assert.equal(ranker.status.instances, 2);
    const recovered = ranker.rerank(items);
    assert.equal(recovered.fallback, null);
    assert.equal(armed.calls, 1, "the new instance is not the patched one");
    assert.deepEqual(recovered.ids, expected.ids, "same ranking: persisted snapshot + replayed journal");
    assert.deepEqual(recovered.scores, expected.scores);
    assert.deepEqual(recordedSignals(await ranker.exportSignals()), recordedSignals(exported));
    assert.deepEqual(warnings.map((w) => w.code), ["WASM_TRAP", "RECOVERED"]);
    // The persisted click is in the log (no checkpoint yet), so it is replayed too: 1 + 3 events.
    assert.match(warnings[1].message, /replayed 4 journaled events/);
    assert.equal(ranker.status.pendingBatches, 1, "still journaled: not yet persisted");
    await ranker.flush();
    assert.equal(ranker.status.pendingBatches, 0);
    await ranker.close();
    open.delete(ranker);
  });

  test("any other exception also falls back (SHIM_ERROR) and replaces the module", async () => {
    const { initWasm, armed } = trappingLoader("rerank", () => new Error("recursive use of an object detected"));
    const ranker = await createLocalRanker({ initWasm, modelBytes: model, now: () => NOW, flushDelayMs: Infinity });
    open.add(ranker);
    await ranker.record(liked(ranker));
    const expected = ranker.rerank(items).ids;
    armed.on = true;
    const result = ranker.rerank(items);
    assert.equal(result.fallback?.reason, "SHIM_ERROR");
    assert.deepEqual(result.ids, idsOf(items));
    await ranker.ready();
    assert.deepEqual(ranker.rerank(items).ids, expected);
    await ranker.close();
    open.delete(ranker);
  });

  test("a trap during record() is retried once on a fresh instance", async () => {
    const { initWasm, armed } = trappingLoader("recordColumns", () => new WebAssembly.RuntimeError("memory access out of bounds"));
    const ranker = await createLocalRanker({ initWasm, modelBytes: model, now: () => NOW, flushDelayMs: Infinity });
    open.add(ranker);
    await ranker.record([{ kind: "click", item: itemRef(items[1]), at: NOW - 3000 }]);
    const keysBefore = ranker.keyCount;
    armed.on = true;
    const summary = await ranker.record([{ kind: "like", item: itemRef(items[50]), at: NOW - 1000 }]);
    assert.deepEqual(summary, { recorded: 1, expired: 0, clamped: 0 });
    assert.equal(armed.calls, 1);
    assert.equal(ranker.status.instances, 2);
    assert.ok(ranker.keyCount > keysBefore, "both batches are in the new instance");
    const keys = (await ranker.exportSignals()).keys.map((k) => `${k.family}:${k.key}`);
    assert.ok(keys.includes(`item:${items[1].id}`) && keys.includes(`item:${items[50].id}`));
    await ranker.close();
    open.delete(ranker);
  });

  test("module errors with a code are fallbacks, not traps: no re-instantiation", async () => {
    const ranker = await createLocalRanker({ initWasm: loader, modelBytes: model, now: () => NOW });
    open.add(ranker);
    const duplicate = ranker.rerank([items[0], items[1], { ...items[2], id: items[0].id }]);
    assert.equal(duplicate.fallback?.reason, "INVALID_REQUEST");
    const thrown = ranker.rerank({ candidates: [items[0], { ...items[1], id: items[0].id }], onError: "throw" });
    assert.equal(thrown.fallback?.reason, "INVALID_REQUEST", "the shim never throws, even when asked to");
    for (const garbage of [null, undefined, 42, "items", { candidates: 7 }, [{ id: 1 }]]) {
      const result = ranker.rerank(garbage);
      assert.ok(result.fallback, `fallback for ${JSON.stringify(garbage)}`);
      assert.ok(Array.isArray(result.ids));
    }
    assert.equal(ranker.status.instances, 1);
    assert.equal(ranker.rerank(items).fallback, null);
    await ranker.close();
    open.delete(ranker);
  });

  test("a real overflow inside the module (deeply nested candidate field) never throws and is recovered from", async () => {
    const ranker = await createLocalRanker({ initWasm: loader, modelBytes: model, now: () => NOW, flushDelayMs: Infinity });
    open.add(ranker);
    await ranker.record(liked(ranker));
    const expected = ranker.rerank(items);
    let deep = [];
    for (let i = 0; i < 30_000; i++) deep = [deep];
    const poisoned = [{ ...items[0], title: deep }, ...items.slice(1)];
    let result;
    assert.doesNotThrow(() => (result = ranker.rerank(poisoned)));
    // The module reads only the fields it knows, so the nested field is ignored and the ranking
    // is the usual one; a fallback (should the module ever trap) must be the server's order.
    assert.deepEqual(result.ids, result.fallback ? idsOf(items) : expected.ids);
    if (result.fallback) assert.ok(["WASM_TRAP", "SHIM_ERROR", "INVALID_REQUEST"].includes(result.fallback.reason), result.fallback.reason);
    await ranker.ready();
    const after = ranker.rerank(items);
    assert.equal(after.fallback, null);
    assert.deepEqual(after.ids, expected.ids, "signals intact after the module was replaced");
    await ranker.close();
    open.delete(ranker);
  });

  test("a loader that fails to re-instantiate leaves the server order until it works again", async () => {
    const inner = wasmLoader();
    let failing = false;
    const warnings = [];
    const { initWasm, armed } = trappingLoader("rerank", () => new WebAssembly.RuntimeError("unreachable"));
    const ranker = await createLocalRanker({
      initWasm: (context) => (failing ? Promise.reject(new Error("offline")) : context.instance === 0 ? initWasm(context) : inner(context)),
      modelBytes: model, now: () => NOW, flushDelayMs: Infinity, onWarning: (w) => warnings.push(w),
    });
    open.add(ranker);
    await ranker.record(liked(ranker));
    const expected = ranker.rerank(items).ids;
    failing = true;
    armed.on = true;
    assert.equal(ranker.rerank(items).fallback?.reason, "WASM_TRAP");
    await assert.rejects(ranker.ready());
    assert.equal(ranker.status.state, "broken");
    assert.ok(warnings.some((w) => w.code === "RECOVERY_FAILED"));
    const broken = ranker.rerank(items);
    assert.equal(broken.fallback?.reason, "SHIM_ERROR");
    assert.deepEqual(broken.ids, idsOf(items));
    failing = false;
    await ranker.ready();
    assert.deepEqual(ranker.rerank(items).ids, expected, "journal replayed into the instance that finally loaded");
    await ranker.close();
    open.delete(ranker);
  });
});

describe("loading", () => {
  test("the package's loader gives a fresh instance on every call, from one compiled module", async () => {
    const load = wasmLoader();
    const [a, b] = [await load({ instance: 0, reason: "start" }), await load({ instance: 1, reason: "recover" })];
    assert.notEqual(a.Ranker, b.Ranker, "two module instances");
    const [x, y] = [new a.Ranker(model), new b.Ranker(model)];
    x.record([{ kind: "like", item: itemRef(items[30]), at: NOW - 1000 }], NOW);
    assert.equal(y.keyCount, 0, "signals recorded in one instance are not in the other");
    x.free();
    y.free();
    const [first, second] = [await createLocalRanker({ modelBytes: model, now: () => NOW }), await createLocalRanker({ modelBytes: model, now: () => NOW })];
    await first.record(liked(first));
    assert.ok(first.keyCount > 0);
    assert.equal(second.keyCount, 0, "two LocalRankers never share an instance");
    await first.close();
    await second.close();
  });

  test("modelUrl loads the model (file: URLs in Node) and bad models reject createLocalRanker", async () => {
    const ranker = await createLocalRanker({
      initWasm: loader, modelUrl: new URL("../../models/ranker.onnx", import.meta.url).href, now: () => NOW,
    });
    open.add(ranker);
    assert.equal(ranker.modelInfo().byteSize, model.byteLength);
    await ranker.close();
    open.delete(ranker);
    await assert.rejects(
      createLocalRanker({ initWasm: loader, modelBytes: new Uint8Array([1, 2, 3]) }),
      (error) => isLocalrankError(error) && error.code === "INVALID_MODEL",
    );
    await assert.rejects(
      createLocalRanker({ initWasm: loader, modelBytes: model, rankerOptions: { maxCandidates: 0 } }),
      (error) => isLocalrankError(error) && error.code === "INVALID_OPTIONS",
    );
    await assert.rejects(createLocalRanker({ model }), (error) => error.code === "INVALID_ARGUMENT" && /unknown key `model`/.test(error.message));
    await assert.rejects(createLocalRanker({ modelBytes: model, modelUrl: "x.onnx" }), (error) => error.code === "INVALID_ARGUMENT");
    await assert.rejects(createLocalRanker(), (error) => error.code === "INVALID_ARGUMENT");
  });

  test("a model whose load traps the module is INVALID_MODEL, at the first load and at an update (issue 13, item 2)", async () => {
    // Loading `poison` traps the instance that loads it (as a tract panic does in wasm): a
    // loader whose Ranker raises the engine's RuntimeError for those bytes.
    const poison = model.slice();
    poison[poison.length - 1] ^= 1;
    const trapping = async (context) => {
      const { Ranker } = await loader(context);
      class PoisonedRanker extends Ranker {
        constructor(bytes, options) {
          if (bytes.length === poison.length && bytes.every((b, i) => b === poison[i])) throw new WebAssembly.RuntimeError("unreachable");
          super(bytes, options);
        }
      }
      return { Ranker: PoisonedRanker };
    };
    await assert.rejects(createLocalRanker({ initWasm: trapping, modelBytes: poison }), (error) => {
      assert.equal(error.name, "LocalrankError");
      assert.equal(error.code, "INVALID_MODEL");
      assert.match(error.message, /loading the model broke the module \(RuntimeError: unreachable\); it was refused/);
      return true;
    });
    const ranker = await createLocalRanker({ initWasm: trapping, modelBytes: model, now: () => NOW });
    open.add(ranker);
    const before = ranker.modelInfo().sha256;
    await assert.rejects(ranker.updateModel(poison), (error) => error.code === "INVALID_MODEL");
    assert.equal(ranker.modelInfo().sha256, before, "the old model keeps serving");
    assert.equal(ranker.rerank(items).fallback, null);
    assert.equal(ranker.status.state, "ready");
    await ranker.close();
    open.delete(ranker);
  });

  test("a closed ranker returns the server order and refuses writes", async () => {
    const { ranker } = await start("closed.bin");
    await ranker.close();
    open.delete(ranker);
    assert.equal(ranker.rerank(items).fallback?.reason, "SHIM_ERROR");
    await assert.rejects(ranker.record([]), (error) => error.code === "CLOSED");
    await assert.rejects(ranker.exportSignals(), (error) => error.code === "CLOSED");
    assert.equal(ranker.status.state, "closed");
  });
});

test("starting and reranking in Node never reads the fetch globals (the first read makes Node load its fetch, ~40 ms)", () => {
  // A fresh process: in this one the test runner or another test may have read them already.
  const script = `
    const read = [];
    for (const name of ["Response", "Request", "Headers"]) {
      const own = Object.getOwnPropertyDescriptor(globalThis, name);
      Object.defineProperty(globalThis, name, { configurable: true, get() { read.push(name); return own.get ? own.get.call(this) : own.value; } });
    }
    const { createLocalRanker, memoryStorage } = await import("localrank");
    const { readFileSync } = await import("node:fs");
    const ranker = await createLocalRanker({ modelBytes: readFileSync(${JSON.stringify(MODEL_PATH)}), storage: memoryStorage() });
    const { fallback } = ranker.rerank([{ id: "a" }, { id: "b" }]);
    await ranker.close();
    console.log(JSON.stringify({ read, fallback }));`;
  const out = execFileSync(process.execPath, ["--input-type=module", "-e", script], { cwd: ROOT, encoding: "utf8" });
  assert.deepEqual(JSON.parse(out), { read: [], fallback: null });
});
