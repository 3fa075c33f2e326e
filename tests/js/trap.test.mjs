// Trap recovery in Chromium with a real trap (client-node.test.mjs simulates traps by making
// methods throw): tests/js/fixtures/trap-lab.mjs corrupts the live Ranker's pointer into wasm
// memory, so the next rerank traps inside the module with a WebAssembly.RuntimeError. The
// client must answer that call with the server order (WASM_TRAP), build a new instance,
// restore the last persisted snapshot (IndexedDB) and replay its journal, and rerank as before.

import assert from "node:assert/strict";
import { test } from "node:test";

import { NOW, blankPage, catalogue, chromiumSession, idsOf, itemRef, likesFor, lowCandidate, modelBytes, recordedSignals } from "./helpers.mjs";

const items = catalogue();
const chromium = chromiumSession();

/** Like events that lift a low candidate under the shipped model (computed with the raw Ranker in Node). */
async function personalisingEvents() {
  const { Ranker, init } = await import("localrank/core");
  await init();
  const ranker = new Ranker(modelBytes());
  const baseline = ranker.rerank({ candidates: items, now: NOW }).ids;
  const { events } = likesFor(lowCandidate(items, baseline), ranker.modelInfo(), NOW - 60_000);
  ranker.free();
  return events;
}

test("a real wasm trap in rerank: server order with WASM_TRAP, a fresh instance with the snapshot and journal, personalised again", async () => {
  const context = await chromium.browser.newContext();
  try {
    const { page, problems } = await blankPage(chromium, context);
    const input = {
      items,
      persistedEvents: [{ kind: "click", item: itemRef(items[20]), at: NOW - 5000 }],
      journaledEvents: await personalisingEvents(),
      now: NOW,
    };
    const out = await page.evaluate(async (args) => (await import("/tests/js/fixtures/trap-lab.mjs")).run(args), input);

    assert.notDeepEqual(out.expected.ids, out.baseline, "the signals personalise the order");
    assert.equal(out.pendingBefore, input.journaledEvents.length, "the likes are only in the journal");
    assert.equal(out.rankersBefore, 1, "the client's one Ranker");

    // The trap is real: a RuntimeError thrown by wasm code.
    assert.ok(out.trap, `a WASM_TRAP warning (warnings: ${out.warnings})`);
    assert.equal(out.trap.runtimeError, true, `${out.trap.name}: ${out.trap.message}`);
    assert.match(out.trap.message, /out of bounds/);
    assert.match(out.trap.stack, /wasm-function\[\d+\]/, "thrown from inside the module");
    console.log(`real trap: ${out.trap.name}: ${out.trap.message}; top frames: ${out.trap.stack.split("\n").slice(1, 3).map((l) => l.trim()).join(" | ")}`);

    // The trapped call and the calls during recovery: the server's order.
    assert.equal(out.trapped.fallback?.reason, "WASM_TRAP");
    assert.deepEqual(out.trapped.ids, idsOf(items));
    assert.deepEqual(out.trapped.order, items.map((_, i) => i));
    assert.equal(out.trapped.scores, 0);
    assert.equal(out.during.fallback?.reason, "WASM_TRAP");
    assert.equal(out.during.state, "recovering");

    // A new instance (new glue copy), the snapshot restored and the journal replayed.
    assert.equal(out.status.state, "ready");
    assert.equal(out.status.instances, 2);
    assert.deepEqual(out.loaderCalls, [{ instance: 0, reason: "start" }, { instance: 1, reason: "recover" }]);
    assert.equal(out.freshModule, true, "the loader's second module is a new instance");
    assert.deepEqual(out.warnings, ["WASM_TRAP", "RECOVERED"]);
    // The persisted click is in the log, not in a checkpoint: it is replayed with the journaled likes.
    assert.match(out.recoveredMessage, new RegExp(`replayed ${input.persistedEvents.length + input.journaledEvents.length} journaled events`));
    assert.deepEqual(recordedSignals(out.exportAfter), recordedSignals(out.exportBefore), "the same signals as before the trap");
    assert.equal(out.recovered.fallback, null);
    assert.deepEqual(out.recovered.ids, out.expected.ids, "personalised again, as before the trap");
    assert.deepEqual(out.recovered.scores, out.expected.scores);
    assert.equal(out.status.pendingEvents, input.journaledEvents.length, "still journaled until the next persist");

    // …and the recovered instance persists: a new client on the same IndexedDB sees it all.
    assert.deepEqual(recordedSignals(out.reopened.exported), recordedSignals(out.exportBefore));
    assert.deepEqual(out.reopened.ids, out.expected.ids);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
