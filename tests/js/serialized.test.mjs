// A rerank request as the server sent it (its JSON text, or the text's UTF-8 bytes): on the page
// the client parses it and ranks exactly as from the objects; in worker mode (Chromium) the page
// posts a copy of it unread and the worker parses and packs it. Unreadable input is
// `INVALID_REQUEST` with no ids, never a throw or a rejection; the caller's bytes stay intact.

import assert from "node:assert/strict";
import { after, test } from "node:test";

import { createLocalRanker, memoryStorage } from "localrank";
import { NOW, PACKAGE, blankPage, catalogue, chromiumSession, idsOf, itemRef, modelBytes } from "./helpers.mjs";

const items = catalogue();
const encode = (value) => new TextEncoder().encode(JSON.stringify(value));
const ranker = await createLocalRanker({ modelBytes: modelBytes(), storage: memoryStorage(), now: () => NOW });
after(() => ranker.close());
// Signals, so the order is the model's and not the server's.
await ranker.record(items.slice(-6).map((item, i) => ({ kind: i % 2 ? "like" : "click", item: itemRef(item), at: NOW - 60_000 * (i + 1) })));

/** What a result says, comparable across forms. */
const outcome = ({ ids, order, scores, fallback }) => ({ ids, order: [...order], scores: [...scores], fallback });

test("a serialized list or request ranks exactly as its objects, from a string, bytes, a view or an ArrayBuffer", () => {
  const request = { candidates: items, now: NOW - 3_600_000, constraints: { maxDisplacement: 4 } };
  const fromObjects = outcome(ranker.rerank(request));
  assert.equal(fromObjects.fallback, null);
  assert.notDeepEqual(fromObjects.ids, idsOf(items), "the signals moved something");
  const bytes = encode(request);
  const padded = new Uint8Array(bytes.length + 7);
  padded.set(bytes, 3);
  for (const [form, input] of [
    ["string", JSON.stringify(request)],
    ["Uint8Array", bytes],
    ["a view into a larger buffer", padded.subarray(3, 3 + bytes.length)],
    ["ArrayBuffer", bytes.slice().buffer],
    ["Node Buffer", Buffer.from(bytes)],
  ]) {
    assert.deepEqual(outcome(ranker.rerank(input)), fromObjects, form);
  }
  assert.deepEqual(outcome(ranker.rerank(encode(items))), outcome(ranker.rerank(items)), "a bare candidate list");
  assert.deepEqual(ranker.rerank(bytes).ids, fromObjects.ids, "the bytes are only read");
  assert.deepEqual([...bytes], [...encode(request)]);
});

test("unreadable serialized input is INVALID_REQUEST with no ids; a readable one is checked like objects", () => {
  const detached = new ArrayBuffer(8);
  const detachedView = new Uint8Array(detached);
  structuredClone(detached, { transfer: [detached] });
  for (const [what, input] of [
    ["a view of a detached buffer", detachedView],
    ["not JSON", "{candidates: ["],
    ["empty", new Uint8Array(0)],
    ["not UTF-8", new Uint8Array([0x5b, 0xff, 0xfe, 0x5d])],
    ["a detached buffer", detached],
    ["JSON null", "null"],
    ["a JSON number", encode(42)],
  ]) {
    const result = ranker.rerank(input);
    assert.equal(result.fallback?.reason, "INVALID_REQUEST", what);
    assert.deepEqual(result.ids, [], what);
    assert.match(result.fallback.message, /request/, what);
  }
  // Parsed, but a candidate is malformed: the server order of what can be read, as for objects.
  const broken = [...items.slice(0, 3), { id: "x", embedding: "not numbers" }];
  const result = ranker.rerank(encode(broken));
  assert.equal(result.fallback?.reason, "INVALID_REQUEST");
  assert.deepEqual(result.ids, idsOf(broken));
  assert.deepEqual(outcome(result).fallback, outcome(ranker.rerank(broken)).fallback);
  // Its settings are read as an object's: `onError: "throw"` is the client's fallback still.
  const throwing = { candidates: broken, onError: "throw" };
  assert.deepEqual(outcome(ranker.rerank(encode(throwing))), outcome(ranker.rerank(throwing)));
});

test("worker mode's byte pool: copies at offset 0, reuses what comes back, keeps no huge buffer, refuses detached bytes", async () => {
  const { BytePool } = await import(`${PACKAGE}dist/worker/byte-pool.js`);
  const pool = new BytePool();
  const bytes = encode(items);
  const first = pool.copy(bytes.subarray(5));
  assert.equal(first.length, bytes.length - 5);
  assert.deepEqual(new Uint8Array(first.buffer, 0, first.length), bytes.subarray(5));
  pool.release(first.buffer);
  const second = pool.copy(bytes);
  assert.equal(second.buffer, first.buffer, "the returned buffer is reused");
  assert.deepEqual(new Uint8Array(second.buffer, 0, second.length), bytes);
  const huge = pool.copy(new Uint8Array(9 * 1024 * 1024));
  pool.release(huge.buffer);
  assert.notEqual(pool.copy(new Uint8Array(9 * 1024 * 1024)).buffer, huge.buffer, "a buffer past 8 MiB is not kept");
  const detached = new ArrayBuffer(8);
  const view = new Uint8Array(detached);
  structuredClone(detached, { transfer: [detached] });
  assert.throws(() => pool.copy(detached), { name: "InputError" });
  assert.throws(() => pool.copy(view), { name: "InputError" }, "nor a view of it");
});

const chromium = chromiumSession();

test("worker mode: a serialized request crosses unread, ranks as the objects on the page, and falls back if the worker fails", async () => {
  const context = await chromium.browser.newContext();
  try {
    const { page, problems } = await blankPage(chromium, context);
    const out = await page.evaluate(async ({ items, now }) => {
      const { createLocalRanker } = await import("localrank/worker");
      const local = await import("localrank");
      const events = items.slice(-6).map((item, i) => ({ kind: i % 2 ? "like" : "click", item: { id: item.id, topics: item.topics, embedding: item.embedding }, at: now - 60_000 * (i + 1) }));
      const remote = await createLocalRanker({ modelUrl: "/models/ranker.onnx", now: () => now });
      const onPage = await local.createLocalRanker({ modelUrl: "/models/ranker.onnx", now: () => now });
      await remote.record(events);
      await onPage.record(events);
      const request = { candidates: items, explain: true };
      const bytes = new TextEncoder().encode(JSON.stringify(request));
      const fromBytes = await remote.rerank(bytes);
      // Many in flight at once, and one after another: the pool's buffers go round.
      const again = [...(await Promise.all([1, 2, 3, 4, 5, 6].map(() => remote.rerank(bytes)))), await remote.rerank(bytes)];
      const fromText = await remote.rerank(JSON.stringify(items));
      const expected = onPage.rerank(request);
      const invalid = await remote.rerank(new Uint8Array([0x7b]));
      // Ids come back exactly: empty-looking, non-ASCII and lone surrogates too.
      const odd = [{ id: "lone-\ud800" }, { id: "é-ü-日本" }, { id: "\udc00" }, ...items.slice(0, 3)];
      const oddIds = { remote: (await remote.rerank(JSON.stringify(odd))).ids, page: onPage.rerank(odd).ids };
      const summary = (r) => ({ ids: r.ids, order: [...r.order], fallback: r.fallback, explanations: r.explanations?.length ?? 0 });
      const out = {
        fromBytes: summary(fromBytes),
        fromText: summary(fromText),
        again: again.map((r) => r.ids.join()),
        expected: summary(expected),
        bytesIntact: bytes.byteLength > 0 && new TextDecoder().decode(bytes) === JSON.stringify(request),
        invalid: summary(invalid),
        oddIds,
        modelInfo: remote.modelInfo().sha256 === onPage.modelInfo().sha256,
      };
      // A model update reaches the page's view of the worker, which is sent only when it changes.
      const nnef = new Uint8Array(await (await fetch("/models/ranker.nnef.tar")).arrayBuffer());
      const updated = await remote.updateModel(nnef);
      const afterUpdate = await remote.rerank(bytes);
      out.update = { changed: updated.sha256 !== expected.model.sha256, info: remote.modelInfo().sha256 === updated.sha256, served: afterUpdate.model?.sha256 === updated.sha256 };
      // The worker gone: the page parses the request for the server order.
      await remote.close();
      out.afterClose = summary(await remote.rerank(bytes));
      await onPage.close();
      return out;
    }, { items, now: NOW });
    assert.equal(out.fromBytes.fallback, null);
    assert.deepEqual(out.fromBytes, out.expected, "bytes in the worker rank as objects on the page");
    assert.notDeepEqual(out.expected.ids, idsOf(items));
    assert.deepEqual(out.fromText.ids, out.expected.ids, "a JSON string, with the page's clock as its time");
    assert.deepEqual(out.again, Array(7).fill(out.expected.ids.join()));
    assert.ok(out.bytesIntact, "the caller's bytes are neither detached nor changed");
    assert.deepEqual(out.oddIds.remote, out.oddIds.page);
    assert.equal(out.oddIds.remote.length, 6);
    assert.ok(out.modelInfo, "the page still knows the worker's model after many responses");
    assert.deepEqual(out.update, { changed: true, info: true, served: true });
    assert.equal(out.invalid.fallback?.reason, "INVALID_REQUEST");
    assert.deepEqual(out.invalid.ids, []);
    assert.equal(out.afterClose.fallback?.reason, "SHIM_ERROR");
    assert.deepEqual(out.afterClose.ids, idsOf(items), "the server order, parsed on the page");
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});
