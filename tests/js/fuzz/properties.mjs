// The JS-boundary fuzzer's properties: hostile values (./values.mjs) into every method of the
// raw `Ranker` and of the client, checking after every case that
//   * the outcome is a documented one: a result of the documented shape, the server-order
//     fallback with a stable code, or a thrown `LocalrankError` with a stable code (where the
//     method throws at all: `rerank` only when the request itself asked for `onError: "throw"`);
//   * the same object keeps working (a canary rerank is ranked, not a fallback);
//   * the module's linear memory stays bounded (checked by the runner across the run);
//   * nothing persisted is lost (the client's storage restores to what the client holds).
// Plain ES with fast-check and the package passed in, so it runs in Node and in Chromium.

import { arbitraries, materialize } from "./values.mjs";

const NOW = 1.7e12;
const CANARY = { candidates: [{ id: "c1", topics: ["t"] }, { id: "c2", author: "x" }, { id: "c3" }], now: NOW };

/** Whether some part of `description` matches `test`. */
function anywhere(description, test) {
  if (description === null || typeof description !== "object") return false;
  if (test(description)) return true;
  return (Array.isArray(description) ? description : Object.values(description)).some((part) => anywhere(part, test));
}

/** Whether `description` asks anywhere for `onError: "throw"` (a request may then throw its error). */
const asksToThrow = (description) => anywhere(description, (d) => d.t === "str" && d.v === "throw");

/** Whether `description` calls back into the ranker (which may change its store meanwhile). */
const reenters = (description) => anywhere(description, (d) => d.t === "wrap" && d.how.startsWith("reenter"));

/**
 * The properties, by method name. `pkg`: `{ Ranker, packCandidates, packEvents,
 * createLocalRanker, memoryStorage, initWasm }` (one module instance: `initWasm` hands the
 * client the same one), `model` (bytes), `codes` (every `LocalrankError` code, and the client's).
 */
export function properties(fc, { pkg, model, codes, tally }) {
  const arb = arbitraries(fc);
  const known = new Set(codes);
  const ranker = new pkg.Ranker(model, { keyCap: 2000 });
  const context = { ranker };
  const fail = (message) => {
    throw new Error(message);
  };
  /** Rethrows anything but a coded error. */
  const coded = (error) => {
    if (!(error instanceof Error) || !["LocalrankError", "LocalrankClientError"].includes(error.name) || !known.has(error.code)) throw error;
    tally(`threw ${error.code}`);
  };
  const works = (target = ranker) => {
    const result = target.rerank(CANARY);
    if (result.fallback) fail(`the canary falls back after the case: ${JSON.stringify(result.fallback)}`);
  };
  const checkRanking = (result, fallbackCount) => {
    if (!(result.order instanceof Uint32Array) || !(result.scores instanceof Float32Array)) fail("order/scores are not typed arrays");
    tally(result.fallback ? `fell back ${result.fallback.reason}` : "ranked");
    if (result.fallback) {
      if (!known.has(result.fallback.reason)) fail(`unknown fallback reason ${result.fallback.reason}`);
      if (result.scores.length !== 0 || !result.order.every((v, i) => v === i)) fail("a fallback that is not the server order");
      if (fallbackCount !== undefined && result.order.length !== Math.min(fallbackCount, 1_000_000)) fail("a fallback of the wrong length");
      return;
    }
    const n = result.order.length;
    const seen = new Uint8Array(n);
    for (const i of result.order) {
      if (i >= n || seen[i]) fail("the order is not a permutation");
      seen[i] = 1;
    }
    if (result.scores.length !== n || !result.scores.every(Number.isFinite)) fail("scores of the wrong length or not finite");
  };
  const checkSummary = (summary) => {
    tally(summary.recorded > 0 ? "recorded" : "recorded none");
    for (const key of ["recorded", "expired", "clamped"]) if (!Number.isInteger(summary[key]) || summary[key] < 0) fail(`summary.${key} = ${summary[key]}`);
    if (ranker.keyCount > 2000) fail(`${ranker.keyCount} keys past the cap`);
  };
  const packed = pkg.packCandidates([{ id: "a", topics: ["t"], embedding: [1, 0] }, { id: "b", author: "x", embedding: [0, 1] }]);
  const packedEvents = pkg.packEvents([{ kind: "like", item: { id: "a", topics: ["t"] }, at: NOW }]);
  const columns = (base) =>
    fc.oneof(
      arb.value.map((d) => ({ whole: d })),
      fc.record({ key: fc.constantFrom(...Object.keys(base), "extra"), value: arb.value }).map((r) => ({ replace: r })),
      fc.constant({ intact: true }),
    );
  const columnsOf = (base, d) => (d.intact ? base : d.whole ? materialize(d.whole, context) : { ...base, [d.replace.key]: materialize(d.replace.value, context) });
  const bytes = fc.oneof(
    fc.constant({ intact: true }),
    arb.value.map((d) => ({ value: d })),
    fc.record({ flip: fc.nat(), truncate: fc.boolean() }),
    fc.uint8Array({ maxLength: 64 }).map((random) => ({ random: [...random] })),
  );

  return {
    rerank: fc.property(arb.request, (d) => {
      let result;
      try {
        result = ranker.rerank(materialize(d, context));
      } catch (error) {
        coded(error);
        if (!asksToThrow(d)) fail(`rerank threw ${error.code} without onError: "throw"`);
        return works();
      }
      if (!Array.isArray(result.ids) || result.ids.length !== result.order.length) fail("ids do not match the order");
      checkRanking(result);
      works();
    }),
    rerankColumns: fc.property(columns(packed), arb.settings, (c, s) => {
      let result;
      try {
        result = ranker.rerankColumns(columnsOf(packed, c), materialize(s, context));
      } catch (error) {
        coded(error);
        if (!asksToThrow(s)) fail(`rerankColumns threw ${error.code} without onError: "throw"`);
        return works();
      }
      checkRanking(result);
      works();
    }),
    record: fc.property(arb.events, arb.callTime, (events, now) => {
      try {
        checkSummary(ranker.record(materialize(events, context), materialize(now, context)));
      } catch (error) {
        coded(error);
      }
      works();
    }),
    recordColumns: fc.property(columns(packedEvents), arb.callTime, (c, now) => {
      try {
        checkSummary(ranker.recordColumns(columnsOf(packedEvents, c), materialize(now, context)));
      } catch (error) {
        coded(error);
      }
      works();
    }),
    restore: fc.property(bytes, arb.callTime, (b, t) => {
      const now = materialize(t, context);
      const before = ranker.snapshot();
      let value;
      if (b.value) value = materialize(b.value, context);
      else if (b.random) value = Uint8Array.from(b.random);
      else if (b.intact) value = before;
      else {
        value = before.slice(0, b.truncate ? b.flip % before.length : before.length);
        if (!b.truncate) value[b.flip % value.length] ^= 1 + (b.flip % 255);
      }
      try {
        ranker.restore(value, now);
        tally("restored");
      } catch (error) {
        coded(error);
        const after = ranker.snapshot();
        const changed = after.length !== before.length || after.some((x, i) => x !== before[i]);
        if (changed && !(b.value && reenters(b.value))) fail("a failed restore changed the store");
      }
      works();
    }),
    exportSignals: fc.property(arb.callTime, (d) => {
      try {
        const exported = ranker.exportSignals(materialize(d, context));
        if (!Array.isArray(exported.keys)) fail("an export without keys");
        tally("exported");
      } catch (error) {
        coded(error);
      }
      works();
    }),
    scoreFeatures: fc.property(fc.oneof(fc.nat(8).map((rows) => ({ rows })), fc.tuple(arb.value, arb.value)), (d) => {
      try {
        const width = ranker.modelInfo().features.length;
        const [features, rows] = d.rows !== undefined ? [new Float32Array(d.rows * width).fill(0.5), d.rows] : d.map((v) => materialize(v, context));
        const scores = ranker.scoreFeatures(features, rows);
        if (!(scores instanceof Float32Array) || scores.length !== rows) fail("scores are not a Float32Array of one per row");
        tally("scored");
      } catch (error) {
        coded(error);
      }
      works();
    }),
    /** The methods without arguments, interleaved with hostile calls. */
    sequence: fc.property(fc.array(fc.tuple(fc.constantFrom("snapshot", "clear", "keyCount", "modelInfo", "rerank", "record"), arb.value), { maxLength: 6 }), (steps) => {
      for (const [method, d] of steps) {
        try {
          const value = materialize(d, context);
          if (method === "keyCount") void ranker.keyCount;
          else if (method === "rerank") checkRanking(ranker.rerank(value));
          else if (method === "record") ranker.record(value, NOW);
          else ranker[method](value);
        } catch (error) {
          coded(error);
        }
      }
      works();
    }),
    constructor: fc.property(arb.options, (d) => {
      let built;
      try {
        built = new pkg.Ranker(model, materialize(d, context));
      } catch (error) {
        coded(error);
        return;
      }
      try {
        // Its own options may make it fall back, or throw (a memory budget of a byte, with
        // onError: "throw"): coded, though.
        checkRanking(built.rerank(CANARY));
      } catch (error) {
        coded(error);
      } finally {
        built.free();
      }
    }),
  };
}

/**
 * The client's properties (async): its `rerank` never throws, its other methods resolve or
 * reject with a coded error, it keeps working, and what it persisted restores to what it holds.
 */
export async function clientProperties(fc, { pkg, model, codes, tally }) {
  const arb = arbitraries(fc);
  const known = new Set(codes);
  const storage = pkg.memoryStorage();
  const options = { modelBytes: model, storage, initWasm: pkg.initWasm, flushDelayMs: Infinity, now: () => NOW, rankerOptions: { keyCap: 2000 } };
  const client = await pkg.createLocalRanker(options);
  const context = { ranker: client };
  const fail = (message) => {
    throw new Error(message);
  };
  const coded = (error) => {
    if (!(error instanceof Error) || !["LocalrankError", "LocalrankClientError"].includes(error.name) || !known.has(error.code)) throw error;
    tally(`threw ${error.code}`);
  };
  const works = () => {
    const result = client.rerank(CANARY);
    if (result.fallback) fail(`the client's canary falls back: ${JSON.stringify(result.fallback)}`);
  };
  const properties = {
    "client.rerank": fc.property(fc.oneof(arb.request, arb.candidates), (d) => {
      let result;
      try {
        result = client.rerank(materialize(d, context));
      } catch (error) {
        fail(`the client's rerank threw ${error?.name}: ${error?.message}`);
      }
      tally(result.fallback ? `fell back ${result.fallback.reason}` : "ranked");
      if (result.fallback && !known.has(result.fallback.reason)) fail(`unknown reason ${result.fallback.reason}`);
      if (result.fallback && ["WASM_TRAP", "SHIM_ERROR"].includes(result.fallback.reason)) fail(`a bad input was taken for a broken module: ${result.fallback.message}`);
      works();
    }),
    // The same inputs as the server would send them (their JSON, as text or bytes; random
    // bytes where a value has no JSON): never a throw, and only INVALID_REQUEST for what
    // cannot be read. Materialized without a ranker to re-enter: `JSON.stringify` walks every
    // nested value, so a re-entering getter would call the client from the bottom of an
    // almost exhausted stack, where a wasm call overflows it (which the client recovers from
    // as from a trap; `client.rerank` fuzzes re-entry).
    "client.rerankSerialized": fc.property(fc.oneof(arb.request, arb.candidates), fc.boolean(), fc.uint8Array({ maxLength: 64 }), (d, asText, noise) => {
      let text;
      try {
        text = JSON.stringify(materialize(d, {}));
      } catch {
        text = undefined;
      }
      const bytes = text === undefined ? noise : new TextEncoder().encode(text);
      const input = asText ? (text ?? String.fromCharCode(...noise)) : bytes;
      let result;
      try {
        result = client.rerank(input);
      } catch (error) {
        fail(`the client's rerank of a serialized request threw ${error?.name}: ${error?.message}`);
      }
      tally(result.fallback ? `fell back ${result.fallback.reason}` : "ranked");
      if (result.fallback && !known.has(result.fallback.reason)) fail(`unknown reason ${result.fallback.reason}`);
      if (result.fallback && ["WASM_TRAP", "SHIM_ERROR"].includes(result.fallback.reason)) fail(`a bad input was taken for a broken module: ${result.fallback.message}`);
      works();
    }),
    "client.record": fc.asyncProperty(arb.events, fc.option(arb.callTime, { nil: undefined }), async (events, now) => {
      try {
        const summary = await client.record(materialize(events, context), now && materialize(now, context));
        tally(summary.recorded > 0 ? "recorded" : "recorded none");
      } catch (error) {
        coded(error);
      }
      works();
    }),
    "client.exportSignals": fc.asyncProperty(arb.callTime, async (d) => {
      try {
        await client.exportSignals(materialize(d, context));
        tally("exported");
      } catch (error) {
        coded(error);
      }
      works();
    }),
  };
  /**
   * After the run: it made no new instance, and nothing it acknowledged is lost — a client
   * started on its storage afterwards (checkpoint + log) holds exactly what it held.
   */
  const finish = async () => {
    await client.flush();
    if (client.status.instances !== 1) fail(`the client replaced its module ${client.status.instances - 1} times: ${JSON.stringify(client.warnings.map((w) => w.message))}`);
    if (client.status.pendingEvents !== 0) fail("events left unpersisted after a flush");
    const held = await client.exportSignals(NOW);
    await client.close();
    const reopened = await pkg.createLocalRanker(options);
    const persisted = await reopened.exportSignals(NOW);
    await reopened.close();
    const same = (a, b) => JSON.stringify([a.keys, a.totals, a.userVector, a.recent]) === JSON.stringify([b.keys, b.totals, b.userVector, b.recent]);
    if (!same(held, persisted)) fail("the persisted store differs from the client's");
  };
  return { properties, finish };
}

/**
 * Runs each property `numRuns` times (from `seed`), one after the other; returns a report per
 * name: runs, milliseconds, the module's linear memory after it, how the calls ended (counted
 * through `outcomes.current`, which the properties' `tally` fills), and the first failure with
 * its counterexample (shrunk) if one failed.
 */
export async function runAll(fc, named, { numRuns, seed, memoryBytes, outcomes, log = () => {} }) {
  const report = {};
  for (const [name, property] of Object.entries(named)) {
    const started = performance.now();
    outcomes.current = {};
    const details = await fc.check(property, { numRuns, seed });
    const entry = { runs: details.numRuns, ms: Math.round(performance.now() - started), memoryBytes: memoryBytes(), outcomes: outcomes.current };
    if (details.failed) {
      entry.failure = String(details.errorInstance?.stack ?? details.errorInstance ?? details.error);
      try {
        entry.counterexample = fc.stringify(details.counterexample);
      } catch {
        entry.counterexample = "(cannot be printed)";
      }
    }
    report[name] = entry;
    log(`${name}: ${entry.runs} runs in ${entry.ms} ms, linear memory ${(entry.memoryBytes / 2 ** 20).toFixed(1)} MiB${entry.failure ? ` FAILED: ${entry.failure}` : ""}`);
  }
  return report;
}
