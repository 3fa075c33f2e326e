// Worker mode in Chromium (`localrank/worker`): the module, the model and the store in a
// dedicated module worker. The same behaviour as on the page — rerank, record, IndexedDB
// persistence that survives a reload, clear — and a real trap inside the worker, answered with
// the server order and recovered from with the journal replayed.

import assert from "node:assert/strict";
import { test } from "node:test";

import { NOW, blankPage, catalogue, chromiumSession, idsOf, recordedSignals } from "./helpers.mjs";

const items = catalogue();
const chromium = chromiumSession();

test("rerank, record, persist, reload and clear, with the ranker in a worker", async () => {
  const context = await chromium.browser.newContext();
  try {
    const { page, problems } = await blankPage(chromium, context);
    const run = (script, arg) => page.evaluate(script, arg);
    const first = await run(async ({ items, now }) => {
      const { createLocalRanker } = await import("localrank/worker");
      const ranker = await createLocalRanker({ modelUrl: "/models/ranker.onnx", storage: "indexeddb", databaseName: "worker-test", now: () => now, flushDelayMs: Infinity });
      const before = await ranker.rerank(items);
      const target = items.find((item) => item.id === before.ids.at(-4));
      await ranker.record([{ kind: "like", item: { id: target.id, topics: target.topics, embedding: target.embedding }, at: now - 1000 }]);
      const after = await ranker.rerank({ candidates: items, explain: true });
      await ranker.flush();
      const out = {
        before: { ids: before.ids, fallback: before.fallback, model: before.model },
        after: { ids: after.ids, fallback: after.fallback, explanations: after.explanations?.length },
        target: target.id,
        keyCount: ranker.keyCount,
        status: ranker.status,
        info: ranker.modelInfo(),
        exported: await ranker.exportSignals(),
      };
      await ranker.close();
      return out;
    }, { items, now: NOW });
    assert.equal(first.before.fallback, null);
    assert.deepEqual([...first.before.ids].sort(), idsOf(items).sort());
    assert.equal(first.before.model.sha256, first.info.sha256, "the result names the model");
    assert.ok(first.after.ids.indexOf(first.target) < first.before.ids.indexOf(first.target), "the like lifted its item");
    assert.equal(first.after.explanations, items.length);
    assert.ok(first.keyCount > 0);
    assert.equal(first.status.pendingEvents, 0, "flushed");

    await page.reload();
    const second = await run(async ({ items, now }) => {
      const { createLocalRanker } = await import("localrank/worker");
      const ranker = await createLocalRanker({ modelUrl: "/models/ranker.onnx", storage: "indexeddb", databaseName: "worker-test", now: () => now });
      const out = { ids: (await ranker.rerank(items)).ids, exported: await ranker.exportSignals() };
      await ranker.clear();
      out.cleared = { keyCount: ranker.keyCount, ids: (await ranker.rerank(items)).ids };
      await ranker.close();
      return out;
    }, { items, now: NOW });
    assert.deepEqual(recordedSignals(second.exported), recordedSignals(first.exported), "restored from IndexedDB after a reload");
    assert.deepEqual(second.ids, first.after.ids);
    assert.equal(second.cleared.keyCount, 0);
    assert.deepEqual(second.cleared.ids, first.before.ids, "cleared: the order without signals again");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("a real trap inside the worker: the server order with WASM_TRAP, then a fresh instance with the journal replayed", async () => {
  const context = await chromium.browser.newContext();
  try {
    const { page, problems } = await blankPage(chromium, context);
    const out = await page.evaluate(async ({ items, now }) => {
      const { createLocalRanker } = await import("localrank/worker");
      const warnings = [];
      const ranker = await createLocalRanker({
        modelUrl: "/models/ranker.onnx",
        workerUrl: "/tests/js/fixtures/trap-worker.mjs",
        now: () => now,
        flushDelayMs: Infinity,
        onWarning: (warning) => warnings.push(warning.code),
      });
      await ranker.record([{ kind: "like", item: { id: items[40].id, topics: items[40].topics }, at: now - 1000 }]);
      const expected = (await ranker.rerank(items)).ids;
      new BroadcastChannel("localrank-trap-worker").postMessage("corrupt");
      await new Promise((resolve) => setTimeout(resolve, 50));
      const trapped = await ranker.rerank(items);
      await ranker.ready();
      const recovered = await ranker.rerank(items);
      const result = {
        trapped: { ids: trapped.ids, fallback: trapped.fallback?.reason },
        recovered: { ids: recovered.ids, fallback: recovered.fallback },
        expected,
        warnings,
        instances: ranker.status.instances,
      };
      await ranker.close();
      return result;
    }, { items, now: NOW });
    assert.equal(out.trapped.fallback, "WASM_TRAP");
    assert.deepEqual(out.trapped.ids, idsOf(items), "the server's order");
    assert.deepEqual(out.warnings, ["WASM_TRAP", "RECOVERED"]);
    assert.equal(out.instances, 2);
    assert.equal(out.recovered.fallback, null);
    assert.deepEqual(out.recovered.ids, out.expected, "personalised again: the journal was replayed in the worker");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("worker mode reads only its options' own properties and checks its clock (issue 13, items 3 and 5)", async () => {
  const context = await chromium.browser.newContext();
  try {
    const { page, problems } = await blankPage(chromium, context);
    const out = await page.evaluate(async ({ items, now }) => {
      const { createLocalRanker } = await import("localrank/worker");
      const inherited = [];
      Object.prototype.onWarning = (warning) => inherited.push(warning.code);
      Object.prototype.now = () => 0;
      try {
        const warnings = [];
        const ranker = await createLocalRanker({ modelUrl: "/models/ranker.onnx", now: () => NaN, flushDelayMs: Infinity, onWarning: (w) => warnings.push(w) });
        const recorded = await ranker.record([{ kind: "like", item: { id: items[3].id }, at: Date.now() - 1000 }]);
        const result = await ranker.rerank(items);
        const exported = await ranker.exportSignals();
        await ranker.close();
        const plain = await createLocalRanker({ modelUrl: "/models/ranker.onnx", flushDelayMs: Infinity });
        const lastSeen = (await plain.record([{ kind: "click", item: { id: "x" }, at: Date.now() - 1000 }])).clamped;
        await plain.close();
        const bad = await createLocalRanker({ modelUrl: "/models/ranker.onnx", now: 5 }).then(() => null, (error) => error.code);
        return { recorded, fallback: result.fallback, keys: exported.keys.length, warnings: warnings.map((w) => [w.code, w.message]), inherited, lastSeen, bad };
      } finally {
        delete Object.prototype.onWarning;
        delete Object.prototype.now;
      }
    }, { items, now: NOW });
    assert.equal(out.recorded.recorded, 1, "a NaN clock does not refuse the batch: Date.now() is used");
    assert.equal(out.fallback, null);
    assert.ok(out.keys > 0);
    assert.deepEqual(out.warnings.map(([code]) => code), ["BAD_CLOCK"], "reported once");
    assert.match(out.warnings[0][1], /options\.now\(\) gave NaN, not a time; Date\.now\(\) is used instead/);
    assert.deepEqual(out.inherited, [], "Object.prototype.onWarning is not the app's callback");
    assert.equal(out.lastSeen, 0, "Object.prototype.now is not the app's clock (at 0, today's event would be clamped as dated ahead)");
    assert.equal(out.bad, "INVALID_ARGUMENT");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
