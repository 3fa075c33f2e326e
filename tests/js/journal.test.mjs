// The client's journal stays exactly "the batches not in the persisted snapshot", even when a
// persist takes its snapshot in the same tick as a record(): a recovery (snapshot + journal
// replay) must then give the same signals, with no batch counted twice. A regression test for
// a bug found while reviewing the client for the kill test: a batch used to be journaled one
// microtask after it was applied, so a snapshot taken in between held it AND left it journaled.
// The journal keeps a batch as the columns the client packed it into (its own copy), which
// must replay.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createLocalRanker, memoryStorage, packEvents } from "localrank";
import { NOW, modelBytes, trappingLoader } from "./helpers.mjs";

const model = modelBytes();
const clicks = (exported) =>
  Object.fromEntries(exported.keys.map((k) => [k.key, k.counts.find((c) => c.kind === "click" && c.halfLife === "30d").value]));

test("a batch recorded in the tick a persist snapshots is not replayed twice after a trap", async () => {
  const { initWasm, armed } = trappingLoader("rerank", () => new WebAssembly.RuntimeError("unreachable"));
  const storage = memoryStorage();
  const ranker = await createLocalRanker({ initWasm, modelBytes: model, storage, now: () => NOW, flushDelayMs: Infinity });
  await ranker.record([{ kind: "click", item: { id: "a" }, at: NOW - 2000 }]);
  // flush() queues its snapshot for the next microtask; record() applies "b" now: the snapshot holds "b".
  const flushed = ranker.flush();
  const recorded = ranker.record([{ kind: "click", item: { id: "b" }, at: NOW - 1000 }]);
  await Promise.all([flushed, recorded]);
  assert.equal(ranker.status.pendingEvents, 0, "b is in the persisted snapshot, so not journaled");
  const before = await ranker.exportSignals();

  armed.on = true;
  assert.equal(ranker.rerank([{ id: "x" }]).fallback?.reason, "WASM_TRAP");
  await ranker.ready();
  assert.equal(ranker.status.instances, 2);
  const after = await ranker.exportSignals();
  assert.deepEqual(clicks(after), clicks(before), "each click counted once");
  assert.deepEqual(after, before);
  await ranker.close();
});

test("journaled batches replay after a trap from the client's own copy, odd ids and all", async () => {
  const { initWasm, armed } = trappingLoader("rerank", () => new WebAssembly.RuntimeError("unreachable"));
  const warnings = [];
  const ranker = await createLocalRanker({ initWasm, modelBytes: model, now: () => NOW, flushDelayMs: Infinity, onWarning: (w) => warnings.push(w) });
  const first = [{ kind: "like", item: { id: "a", topics: ["rust"] }, at: NOW - 3000 }];
  // An id ending in half a surrogate pair, and an extra field that is neither cloneable nor JSON.
  const extra = { callback() {} };
  extra.self = extra;
  const second = [{ kind: "click", item: { id: "b \ud83d", topics: ["rust"] }, at: NOW - 2000, extra }, { kind: "click", item: { id: "c" }, at: NOW - 1000 }];
  await ranker.record(first);
  await ranker.record(second);
  // The journal holds its own copies: changing the caller's events changes no replay.
  first[0].item.id = "changed";
  second[1].item.id = "changed";
  assert.equal(ranker.status.pendingBatches, 2);
  assert.equal(ranker.status.pendingEvents, 3);
  const before = await ranker.exportSignals();
  assert.ok(before.keys.some((k) => k.key === "b \ud83d"), "the odd id, exactly");

  armed.on = true;
  assert.equal(ranker.rerank([{ id: "x" }]).fallback?.reason, "WASM_TRAP");
  await ranker.ready();
  assert.equal(ranker.status.instances, 2);
  assert.match(warnings.at(-1).message, /replayed 3 journaled events/);
  assert.deepEqual(await ranker.exportSignals(), before, "the same signals from the replayed columns");
  await ranker.close();
});
