// Hostile and careless JavaScript values (issue 13): throwing getters, throwing and revoked
// Proxies, detached buffers, cycles, 10^5-deep arrays, re-entrant calls from getters, use after
// free(), a polluted Object.prototype, `undefined`/`null` for "default". The raw Ranker runs
// the cases of fixtures/hostile-cases.mjs in Node and in Chromium; the client is checked here.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createLocalRanker, memoryStorage, packCandidates, packEvents } from "localrank";
import { Ranker, init } from "localrank/core";
import { hostileCandidates, revokedProxy, runHostileCases, throwingProxy } from "./fixtures/hostile-cases.mjs";
import { NOW, blankPage, catalogue, chromiumSession, idsOf, instrumentedCore, modelBytes } from "./helpers.mjs";

const items = catalogue();
const model = modelBytes();
await init();

test("the raw Ranker in Node: every hostile case ends in a coded error or the server order, and it keeps working", () => {
  assert.deepEqual(runHostileCases({ Ranker, packCandidates, packEvents, model, items, now: NOW }), []);
});

describe("the raw Ranker in Chromium", () => {
  const chromium = chromiumSession();

  test("the same cases hold", async () => {
    const { page, problems } = await blankPage(chromium, chromium.browser);
    const failures = await page.evaluate(
      async ({ items, now }) => {
        const { Ranker, init } = await import("/pkg/localrank/dist/entries/core-browser.js");
        const { packCandidates, packEvents } = await import("/pkg/localrank/dist/entries/browser.js");
        const { runHostileCases } = await import("/tests/js/fixtures/hostile-cases.mjs");
        await init();
        const model = new Uint8Array(await (await fetch("/models/ranker.onnx")).arrayBuffer());
        return runHostileCases({ Ranker, packCandidates, packEvents, model, items, now });
      },
      { items, now: NOW },
    );
    assert.deepEqual(failures, []);
    assert.deepEqual(problems, []);
  });
});

test("thousands of hostile calls keep the module's memory flat (nothing leaks, nothing is left borrowed)", async () => {
  const { Ranker: Instrumented, memory } = await instrumentedCore();
  const ranker = new Instrumented(model);
  const hostile = Object.values(hostileCandidates(items));
  const round = () => {
    for (let i = 0; i < 500; i++) ranker.rerank({ candidates: hostile[i % hostile.length], now: NOW });
  };
  round();
  const before = memory.buffer.byteLength;
  for (let k = 0; k < 8; k++) round();
  assert.equal(memory.buffer.byteLength, before, "no growth over 4 000 more hostile calls");
  assert.equal(ranker.rerank({ candidates: items, now: NOW }).fallback, null);
  ranker.free();
});

describe("the client", () => {
  test("rerank never throws on hostile input and does not replace its module for it", async () => {
    const client = await createLocalRanker({ modelBytes: model, now: () => NOW, storage: memoryStorage() });
    const inputs = [revokedProxy([]), throwingProxy([]), revokedProxy({}), throwingProxy({ candidates: items }), ...Object.values(hostileCandidates(items))];
    for (const input of inputs) {
      let result;
      assert.doesNotThrow(() => (result = client.rerank(input)));
      assert.equal(result.fallback?.reason, "INVALID_REQUEST", JSON.stringify(result.fallback));
    }
    assert.equal(client.status.instances, 1, "a bad input is not a broken module");
    assert.deepEqual(client.warnings, []);
    assert.equal(client.rerank(items).fallback, null);
    await client.close();
  });

  test("options and requests inherited from Object.prototype are not read", async () => {
    Object.prototype.onError = "throw";
    Object.prototype.flushDelayMs = -1;
    try {
      const client = await createLocalRanker({ modelBytes: model, now: () => NOW });
      const duplicate = client.rerank([items[0], { ...items[1], id: items[0].id }]);
      assert.equal(duplicate.fallback?.reason, "INVALID_REQUEST");
      assert.deepEqual(duplicate.ids, [items[0].id, items[0].id]);
      await client.close();
    } finally {
      delete Object.prototype.onError;
      delete Object.prototype.flushDelayMs;
    }
  });

  test("a bad event kind reads as one error, with the kinds it could be", async () => {
    const client = await createLocalRanker({ modelBytes: model, now: () => NOW });
    await assert.rejects(client.record([{ kind: "stare", item: { id: "a" }, at: NOW }]), (error) => {
      assert.equal(error.code, "INVALID_EVENT");
      assert.equal(error.message, "invalid event: event 0: unknown kind `stare`, expected one of impression, click, dwell, like, share, dismiss, hide");
      return true;
    });
    assert.deepEqual(client.rerank(items).ids.length, idsOf(items).length);
    await client.close();
  });
});
