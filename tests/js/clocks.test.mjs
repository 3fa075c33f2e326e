// Clocks that lie (issue 13, item 3): a `now` far ahead, events dated years ahead, NaN times,
// a client clock that returns NaN, a wall clock that steps back. None may delete or lose an
// acknowledged signal; non-finite times are coded errors.

import assert from "node:assert/strict";
import { test } from "node:test";

import { createLocalRanker, memoryStorage } from "localrank";
import { Ranker, init } from "localrank/core";
import { DAY_MS, NOW, catalogue, expectLocalrankError, itemRef, modelBytes } from "./helpers.mjs";

await init();
const items = catalogue();
const model = modelBytes();
const likes = (at) => items.slice(10, 20).map((item) => ({ kind: "like", item: itemRef(item), at }));

/** A fresh Ranker holding what `storage` persisted: its newest checkpoint, then the log after it. */
async function persisted(storage, now) {
  const state = await storage.load();
  const ranker = new Ranker(model);
  const checkpoint = state.snapshots[0];
  if (checkpoint) ranker.restore(checkpoint.bytes, now);
  for (const { key, batch } of state.log) {
    if (key <= (checkpoint?.upTo ?? 0)) continue;
    if (batch.columns) ranker.recordColumns(batch.columns, batch.now);
    else ranker.record(batch.events, batch.now);
  }
  return { ranker, checkpoints: state.snapshots.length };
}

test("one rerank with `now` 100 days ahead deletes nothing, and the next persist holds every signal", async () => {
  const storage = memoryStorage();
  const client = await createLocalRanker({ modelBytes: model, storage, now: () => NOW, flushDelayMs: Infinity });
  await client.record(likes(NOW - 1000));
  const keys = client.keyCount;
  assert.ok(keys > 0);
  const ahead = client.rerank({ candidates: items, now: NOW + 100 * DAY_MS });
  assert.equal(ahead.fallback, null, "it reranks (everything decayed to that time)");
  assert.equal(client.keyCount, keys, "retention deletes nothing on one request's word");
  // Enough batches for the leader to fold the log into a checkpoint: a snapshot of the store
  // as it is after that rerank.
  for (let i = 0; i < 200; i++) await client.record([{ kind: "impression", item: { id: `later-${i}` }, at: NOW }]);
  await client.flush();
  const { ranker: restored, checkpoints } = await persisted(storage, NOW);
  assert.ok(checkpoints > 0, "a checkpoint was written");
  assert.equal(restored.keyCount, client.keyCount, "the persisted store is whole");
  assert.equal(restored.keyCount, keys + 200);
  restored.free();
  await client.close();
});

test("an event dated 5 years ahead is recorded at `now`: its keys keep counting, decaying and expiring", () => {
  const ranker = new Ranker(model);
  const fiveYears = 5 * 365 * DAY_MS;
  const item = { id: "ahead", topics: ["t"] };
  assert.deepEqual(ranker.record([{ kind: "like", item, at: NOW + fiveYears }], NOW), { recorded: 1, expired: 0, clamped: 1 });
  const key = () => ranker.exportSignals(NOW + DAY_MS).keys.find((k) => k.key === "ahead");
  assert.equal(key().lastSeenAt, NOW);
  ranker.record([{ kind: "like", item, at: NOW + DAY_MS }], NOW + DAY_MS);
  const daily = key().counts.find((c) => c.kind === "like" && c.halfLife === "1d").value;
  assert.ok(Math.abs(daily - 1.5) < 1e-6, `the like a day later adds to it: ${daily}`);
  // A day later again, the 1-day counter has decayed by half.
  const later = ranker.exportSignals(NOW + 2 * DAY_MS).keys.find((k) => k.key === "ahead").counts.find((c) => c.kind === "like" && c.halfLife === "1d").value;
  assert.ok(Math.abs(later - 0.75) < 1e-6, `${later}`);
  ranker.free();
});

test("non-finite times are coded errors and change nothing", () => {
  const ranker = new Ranker(model);
  ranker.record(likes(NOW - 1000), NOW);
  const snapshot = ranker.snapshot();
  const keys = ranker.keyCount;
  for (const now of [NaN, Infinity, -Infinity, 8.64e15 + 1, 1e300]) {
    expectLocalrankError(assert, () => ranker.record(likes(NOW), now), "INVALID_EVENT");
    expectLocalrankError(assert, () => ranker.restore(snapshot, now), "INVALID_REQUEST");
    expectLocalrankError(assert, () => ranker.exportSignals(now), "INVALID_REQUEST");
    assert.equal(ranker.rerank({ candidates: items, now }).fallback?.reason, "INVALID_REQUEST");
    assert.equal(ranker.keyCount, keys, `${now}: the store is as it was`);
  }
  expectLocalrankError(assert, () => ranker.record([{ kind: "like", item: { id: "x" }, at: NaN }], NOW), "INVALID_EVENT");
  // The key cap holds at any clock (a NaN `now` used to switch it off).
  const capped = new Ranker(model, { keyCap: 100 });
  for (const now of [NOW, 8.64e15]) {
    const flood = Array.from({ length: 500 }, (_, i) => ({ kind: "impression", item: { id: `k${now}-${i}` }, at: NOW }));
    capped.record(flood, now);
    assert.ok(capped.keyCount <= 100, `${capped.keyCount} keys at now = ${now}`);
  }
  capped.free();
  ranker.free();
});

test("a client whose clock returns NaN uses Date.now(), says so once, restores and keeps what was persisted", async () => {
  const storage = memoryStorage();
  const first = await createLocalRanker({ modelBytes: model, storage, now: () => Date.now(), flushDelayMs: Infinity });
  await first.record(likes(Date.now() - 1000));
  const keys = first.keyCount;
  await first.close();

  const warnings = [];
  const broken = await createLocalRanker({ modelBytes: model, storage, now: () => NaN, flushDelayMs: Infinity, onWarning: (w) => warnings.push(w) });
  assert.equal(broken.keyCount, keys, "the persisted signals were restored");
  assert.equal(broken.rerank(items).fallback, null);
  await broken.record([{ kind: "click", item: { id: "new" }, at: Date.now() }]);
  await broken.flush();
  assert.deepEqual(warnings.map((w) => w.code), ["BAD_CLOCK"]);
  assert.match(warnings[0].message, /options\.now\(\) gave NaN, not a time; Date\.now\(\) is used instead/);
  await broken.close();

  const { ranker: check } = await persisted(storage, Date.now());
  assert.ok(check.keyCount > keys, "the old signals and the new one");
  check.free();
});

test("a wall clock that steps back an hour does not stop the client persisting", async () => {
  const realNow = Date.now;
  let offset = 0;
  Date.now = () => realNow() + offset;
  try {
    const storage = memoryStorage();
    let persists = 0;
    const client = await createLocalRanker({ modelBytes: model, storage, flushDelayMs: 20, onPersist: () => persists++ });
    await client.record([{ kind: "click", item: { id: "before" }, at: Date.now() }]);
    await new Promise((resolve) => setTimeout(resolve, 80));
    assert.equal(persists, 1);
    offset = -3_600_000;
    for (let i = 0; i < 3; i++) {
      await client.record([{ kind: "click", item: { id: `after-${i}` }, at: Date.now() }]);
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    assert.ok(persists >= 2, `persisted ${persists} times`);
    assert.equal(client.status.pendingEvents, 0, "every event is on storage");
    await client.close();
  } finally {
    Date.now = realNow;
  }
});
