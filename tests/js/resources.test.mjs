// Bounded resources, through the built package (its wasm bindings in Node, whose `init` hands
// back the instance's exports, so its linear memory can be measured): a flood of 1 000 000 distinct keys
// keeps the store at its cap and the memory flat; 100 000 candidates are refused (or, at the
// maximum maxCandidates, handled) in bounded time; 1 MB strings and huge embeddings are refused
// with coded errors, never a trap. The Rust tests cover the same limits on the core
// (src/signals/tests.rs, src/ranker/tests.rs); these check them across the JS boundary.

import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import v8 from "node:v8";
import vm from "node:vm";

import { createLocalRanker, memoryStorage, packCandidates, wasmLoader } from "localrank";
import { NOW, catalogue, expectLocalrankError, idsOf, instrumentedCore, modelBytes } from "./helpers.mjs";

const MiB = 2 ** 20;
const items = catalogue();
const model = modelBytes();
/** One instance of the package's full flavour: its `Ranker` class and linear memory. */
let pkg;
/** @type {WebAssembly.Memory} */
let memory;

before(async () => {
  pkg = await instrumentedCore();
  ({ memory } = pkg);
});

const memoryMiB = () => memory.buffer.byteLength / MiB;

describe("a flood of distinct keys", () => {
  test("1 000 000 distinct keys in batches of 10 000: keyCount never passes the cap, linear memory stops growing", () => {
    const keyCap = 20_000;
    const batch = 10_000;
    const total = 1_000_000;
    const ranker = new pkg.Ranker(model, { keyCap });
    const atStart = memoryMiB();
    let maxKeys = 0;
    let afterFill = null;
    const started = performance.now();
    for (let first = 0; first < total; first += batch) {
      const events = Array.from({ length: batch }, (_, i) => ({ kind: "click", item: { id: `flood-${first + i}` }, at: NOW - 1000 }));
      assert.deepEqual(ranker.record(events, NOW), { recorded: batch, expired: 0, clamped: 0 });
      maxKeys = Math.max(maxKeys, ranker.keyCount);
      assert.ok(ranker.keyCount <= keyCap, `${ranker.keyCount} keys after ${first + batch}`);
      // Steady state: the cap was reached long ago and eviction has run many times (the map
      // has had its one resize: evicted keys leave tombstones, and with most slots live the
      // hash map grows once rather than rehash in place).
      if (first + batch === total / 2) afterFill = memoryMiB();
    }
    const seconds = (performance.now() - started) / 1000;
    const afterFlood = memoryMiB();
    // The store still answers, with at most a cap's worth of the flood's keys.
    const exported = ranker.exportSignals(NOW);
    const survivors = exported.keys.filter((k) => k.family === "item").map((k) => Number(k.key.slice("flood-".length)));
    assert.ok(survivors.length <= keyCap && survivors.length > 0);
    console.log(
      `key flood: ${total} distinct keys in ${seconds.toFixed(1)} s (${Math.round(total / seconds / 1000)} k/s), keyCap ${keyCap}, ` +
        `max keyCount ${maxKeys}, final ${ranker.keyCount}; linear memory ${atStart.toFixed(1)} MiB at start, ` +
        `${afterFill.toFixed(1)} MiB after ${total / 2} keys, ${afterFlood.toFixed(1)} MiB after ${total}`,
    );
    assert.ok(maxKeys <= keyCap);
    // wasm memory never shrinks, so "bounded" is: no page added in the second half of the flood.
    assert.ok(afterFlood <= afterFill + 1, `memory grew from ${afterFill} to ${afterFlood} MiB during the flood`);
    assert.ok(afterFlood <= 64, `linear memory ${afterFlood} MiB for a ${keyCap}-key store`);
    ranker.free();
  });
});

describe("100 000 candidates", () => {
  const many = (n) => Array.from({ length: n }, (_, i) => ({ ...items[i % items.length], id: `c${i}`, pinned: undefined }));

  test("over maxCandidates (default 5 000): the server order with TOO_MANY_CANDIDATES, within 2 s", () => {
    const ranker = new pkg.Ranker(model);
    const candidates = many(100_000);
    const started = performance.now();
    const result = ranker.rerank({ candidates, now: NOW });
    const ms = performance.now() - started;
    assert.equal(result.fallback?.reason, "TOO_MANY_CANDIDATES");
    assert.deepEqual(result.ids, idsOf(candidates));
    assert.equal(result.order.length, 100_000);
    console.log(`100 000 candidates refused in ${ms.toFixed(0)} ms (linear memory now ${memoryMiB().toFixed(1)} MiB)`);
    assert.ok(ms < 2000, `${ms} ms`);
    assert.equal(ranker.rerank({ candidates: items, now: NOW }).fallback, null, "the ranker still works");
    ranker.free();
  });

  // (The budget is checked against the request's estimate: feature rows plus the model's
  // intermediate values per row, which depend on the model. The shipped one fits 100 000 rows
  // under the default 64 MiB, not under 16 MiB.)
  test("at the largest maxCandidates (100 000): over a 16 MiB memory budget → server order; with 256 MiB reranked within 10 s; one more is refused", () => {
    const candidates = many(100_000);
    const capped = new pkg.Ranker(model, { maxCandidates: 100_000, memoryBudgetBytes: 16 * MiB });
    assert.equal(capped.rerank({ candidates, now: NOW }).fallback?.reason, "MEMORY_BUDGET_EXCEEDED");
    capped.free();
    const ranker = new pkg.Ranker(model, { maxCandidates: 100_000, memoryBudgetBytes: 256 * MiB });
    const started = performance.now();
    const result = ranker.rerank({ candidates, now: NOW });
    const ms = performance.now() - started;
    assert.equal(result.fallback, null);
    assert.deepEqual([...result.order].sort((a, b) => a - b), candidates.map((_, i) => i));
    console.log(`100 000 candidates reranked in ${ms.toFixed(0)} ms (linear memory now ${memoryMiB().toFixed(1)} MiB)`);
    assert.ok(ms < 10_000, `${ms} ms`);
    assert.equal(ranker.rerank({ candidates: many(100_001), now: NOW }).fallback?.reason, "TOO_MANY_CANDIDATES");
    ranker.free();
  });
});

describe("sizes are decided before anything is converted or allocated (issue 13, item 4)", () => {
  /** `fn`'s milliseconds and how much the module's linear memory grew meanwhile (MiB). */
  const measure = (fn) => {
    const [started, memoryBefore] = [performance.now(), memoryMiB()];
    const value = fn();
    return { value, ms: performance.now() - started, grew: memoryMiB() - memoryBefore };
  };

  test("10⁶ candidate objects: TOO_MANY_CANDIDATES at once, nothing converted", () => {
    const ranker = new pkg.Ranker(model);
    const candidates = new Array(1_000_000).fill(items[0]);
    const { value, ms, grew } = measure(() => ranker.rerank({ candidates, now: NOW }));
    console.log(`10^6 candidate objects refused in ${ms.toFixed(0)} ms, linear memory +${grew.toFixed(1)} MiB`);
    assert.equal(value.fallback?.reason, "TOO_MANY_CANDIDATES");
    assert.equal(value.ids.length, 1_000_000, "the server order, whole");
    assert.ok(ms < 2000, `${ms} ms`);
    assert.equal(grew, 0, "no linear memory for a list that is refused");
    ranker.free();
  });

  test("10⁷ strings in candidate columns and 10⁶ events: refused by count before a copy", () => {
    const ranker = new pkg.Ranker(model);
    const n = 10_000_000;
    const columns = { ...packCandidates(items.slice(0, 1)), lengths: new Uint32Array(n), ids: new Uint32Array(n), text: "" };
    const ranked = measure(() => ranker.rerankColumns(columns, { now: NOW }));
    console.log(`10^7 column strings refused in ${ranked.ms.toFixed(0)} ms, linear memory +${ranked.grew.toFixed(1)} MiB`);
    assert.equal(ranked.value.fallback?.reason, "TOO_MANY_CANDIDATES");
    assert.equal(ranked.grew, 0);
    const events = new Array(1_000_000).fill({ kind: "click", item: { id: "x" }, at: NOW });
    const recorded = measure(() => {
      try {
        ranker.record(events, NOW);
      } catch (error) {
        return error;
      }
    });
    console.log(`10^6 events refused in ${recorded.ms.toFixed(0)} ms, linear memory +${recorded.grew.toFixed(1)} MiB`);
    assert.equal(recorded.value?.code, "INVALID_EVENT");
    assert.match(recorded.value.message, /record it in parts/);
    assert.ok(recorded.ms < 2000 && recorded.grew === 0, `${recorded.ms} ms, +${recorded.grew} MiB`);
    assert.equal(ranker.rerank({ candidates: items, now: NOW }).fallback, null, "the ranker still works");
    ranker.free();
  });

  test("a 4 GiB model or snapshot: a coded error, no allocation in the module", () => {
    // A 4 GiB zeroed buffer is only address space until it is written.
    let huge;
    try {
      huge = new Uint8Array(2 ** 32);
    } catch {
      return; // a runtime that cannot even make the buffer has nothing to hand the module
    }
    const memoryBefore = memoryMiB();
    expectLocalrankError(assert, () => new pkg.Ranker(huge), "INVALID_MODEL");
    const ranker = new pkg.Ranker(model);
    expectLocalrankError(assert, () => ranker.restore(huge, NOW), "CORRUPT_SNAPSHOT");
    expectLocalrankError(assert, () => ranker.restore(new Uint8Array(huge.buffer, 0, 2 ** 31), NOW), "CORRUPT_SNAPSHOT");
    assert.equal(memoryMiB(), memoryBefore, "nothing was copied in");
    assert.equal(ranker.rerank({ candidates: items, now: NOW }).fallback, null);
    ranker.free();
  });
});

describe("oversized strings and embeddings", () => {
  const MB_STRING = "x".repeat(MiB);
  const HUGE = Array.from({ length: MiB }, () => 0.5);
  const oversized = {
    "a 1 MB id": { id: MB_STRING },
    "a 1 MB author": { author: MB_STRING },
    "a 1 MB topic": { topics: ["ok", MB_STRING] },
    "a 1 MB container": { containers: [MB_STRING] },
    "an embedding of 2^20 numbers": { embedding: HUGE },
    "100 000 topics": { topics: Array.from({ length: 100_000 }, (_, i) => `t${i}`) },
  };

  test("in a candidate: the server order with INVALID_REQUEST (or the coded error with onError: throw)", () => {
    const ranker = new pkg.Ranker(model);
    const timings = [];
    for (const [what, fields] of Object.entries(oversized)) {
      const candidates = [{ ...items[0], ...fields }, items[1], items[2]];
      const started = performance.now();
      const result = ranker.rerank({ candidates, now: NOW });
      timings.push(`${what} ${(performance.now() - started).toFixed(0)} ms`);
      assert.equal(result.fallback?.reason, "INVALID_REQUEST", what);
      assert.match(result.fallback.message, /limit|allowed/, `${what}: the message names the limit`);
      assert.deepEqual(result.ids, idsOf(candidates), what);
      const error = expectLocalrankError(assert, () => ranker.rerank({ candidates, now: NOW, onError: "throw" }), "INVALID_REQUEST");
      assert.ok(!(error instanceof WebAssembly.RuntimeError));
    }
    console.log(`oversized candidate fields refused: ${timings.join(", ")}`);
    assert.equal(ranker.rerank({ candidates: items, now: NOW }).fallback, null, "the ranker still works");
    ranker.free();
  });

  test("in an event: INVALID_EVENT, nothing of the batch stored", () => {
    const ranker = new pkg.Ranker(model);
    ranker.record([{ kind: "like", item: { id: "kept", topics: ["t"] }, at: NOW - 1000 }], NOW);
    const before = ranker.exportSignals(NOW);
    for (const [what, fields] of Object.entries(oversized)) {
      const good = { kind: "click", item: { id: "fine" }, at: NOW - 500 };
      const bad = { kind: "like", item: { id: "big", ...fields }, at: NOW - 100 };
      const error = expectLocalrankError(assert, () => ranker.record([good, bad], NOW), "INVALID_EVENT");
      assert.match(error.message, /limit|allowed/, what);
    }
    const typed = { kind: "like", item: { id: "big", embedding: new Float32Array(MiB) }, at: NOW };
    expectLocalrankError(assert, () => ranker.record([typed], NOW), "INVALID_EVENT");
    assert.deepEqual(ranker.exportSignals(NOW), before, "the store is as before");
    ranker.free();
  });
});

describe("replaced module instances", () => {
  test("each recovery frees the instance it replaces (a 20 000-key store: no growth over 8 recoveries)", async () => {
    v8.setFlagsFromString("--expose-gc");
    const gc = vm.runInNewContext("gc");
    /** ArrayBuffers and wasm memories Node holds, after collecting what is garbage. */
    const held = async () => {
      for (let i = 0; i < 4; i++) {
        gc();
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      const { arrayBuffers, external } = process.memoryUsage();
      return (arrayBuffers + external) / MiB;
    };
    // Every instance traps on the next rerank once armed (as a corrupted one would).
    const armed = { on: false };
    const inner = wasmLoader();
    const initWasm = async (context) => {
      const { Ranker } = await inner(context);
      class TrappingRanker extends Ranker {
        rerank(request) {
          if (armed.on) throw new WebAssembly.RuntimeError("unreachable");
          return super.rerank(request);
        }
      }
      return { Ranker: TrappingRanker };
    };
    const client = await createLocalRanker({ initWasm, modelBytes: model, storage: memoryStorage(), now: () => NOW, flushDelayMs: Infinity });
    for (let batch = 0; batch < 2; batch++) {
      await client.record(Array.from({ length: 10_000 }, (_, i) => ({ kind: "click", item: { id: `k${batch}-${i}` }, at: NOW - 1000 })));
    }
    await client.flush();
    const recover = async () => {
      armed.on = true;
      client.rerank(items);
      armed.on = false;
      await client.ready();
    };
    await recover();
    const afterOne = await held();
    for (let i = 0; i < 8; i++) await recover();
    const afterNine = await held();
    console.log(`recoveries: ${afterOne.toFixed(1)} MiB held after 1, ${afterNine.toFixed(1)} MiB after 9 (${client.status.instances} instances made)`);
    assert.equal(client.status.instances, 10);
    assert.equal(client.keyCount, 20_000, "every recovery restored the store");
    assert.ok(afterNine <= afterOne + 2, `grew from ${afterOne.toFixed(1)} to ${afterNine.toFixed(1)} MiB`);
    await client.close();
  });
});
