// The client's journal stays exactly "the batches not in the persisted snapshot", even when a
// persist takes its snapshot in the same tick as a record(): a recovery (snapshot + journal
// replay) must then give the same signals, with no batch counted twice. A regression test for
// a bug found while reviewing the client for the kill test: a batch used to be journaled one
// microtask after it was applied, so a snapshot taken in between held it AND left it journaled.
// The journal keeps a batch as the columns `packEvents` made of it, or, for a batch the columns
// cannot carry, as a copy of the objects; both must replay.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createLocalRanker, memoryStorage, packEvents } from "localrank";
import { NOW, modelBytes, trappingLoader } from "./helpers.mjs";

const model = modelBytes();
const clicks = (exported) =>
  Object.fromEntries(exported.keys.map((k) => [k.key, k.counts.find((c) => c.kind === "click" && c.halfLife === "30d").value]));

test("a batch recorded in the tick a persist snapshots is not replayed twice after a trap", async () => {
  const { initWasm, armed } = trappingLoader("rerankColumns", () => new WebAssembly.RuntimeError("unreachable"));
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

test("journaled batches of either shape, packed columns or copied objects, replay after a trap", async () => {
  const { initWasm, armed } = trappingLoader("rerankColumns", () => new WebAssembly.RuntimeError("unreachable"));
  const warnings = [];
  const ranker = await createLocalRanker({ initWasm, modelBytes: model, now: () => NOW, flushDelayMs: Infinity, onWarning: (w) => warnings.push(w) });
  const packable = [{ kind: "like", item: { id: "a", topics: ["rust"] }, at: NOW - 3000 }];
  // An id ending in half a surrogate pair: valid, but not something the string table carries.
  const objects = [{ kind: "click", item: { id: "b \ud83d", topics: ["rust"] }, at: NOW - 2000 }, { kind: "click", item: { id: "c" }, at: NOW - 1000 }];
  assert.ok(packEvents(packable));
  assert.equal(packEvents(objects), null);
  await ranker.record(packable);
  await ranker.record(objects);
  // The journal holds its own copies: changing the caller's events changes no replay.
  packable[0].item.id = "changed";
  objects[1].item.id = "changed";
  assert.equal(ranker.status.pendingBatches, 2);
  assert.equal(ranker.status.pendingEvents, 3);
  const before = await ranker.exportSignals();

  armed.on = true;
  assert.equal(ranker.rerank([{ id: "x" }]).fallback?.reason, "WASM_TRAP");
  await ranker.ready();
  assert.equal(ranker.status.instances, 2);
  assert.match(warnings.at(-1).message, /replayed 3 journaled events/);
  assert.deepEqual(await ranker.exportSignals(), before, "the same signals from the replayed columns and objects");
  await ranker.close();
});

test("a batch the columns cannot carry is refused before anything is stored if it cannot be copied for the journal", async () => {
  const ranker = await createLocalRanker({ initWasm: trappingLoader("rerankColumns", () => new Error()).initWasm, modelBytes: model, now: () => NOW });
  const extra = { callback() {} };
  extra.self = extra; // neither structured-cloneable (a function) nor JSON (a cycle)
  // Packed, the batch needs no copy: its extra field is not read.
  assert.deepEqual(await ranker.record([{ kind: "click", item: { id: "a" }, at: NOW - 1000, extra }]), { recorded: 1, expired: 0 });
  const keys = ranker.keyCount;
  await assert.rejects(
    ranker.record([{ kind: "click", item: { id: "b \ud83d" }, at: NOW - 1000, extra }]),
    (error) => error.name === "LocalrankClientError" && error.code === "INVALID_ARGUMENT",
  );
  assert.equal(ranker.keyCount, keys);
  assert.equal(ranker.status.pendingBatches, 1);
  await ranker.close();
});
