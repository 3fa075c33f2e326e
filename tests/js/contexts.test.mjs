// Several clients on one storage, in Node: what tabs of one origin (memoryStorage().connect()
// stands in for their shared IndexedDB here; tests/js/tabs.test.mjs does it in Chromium) and
// processes on one file store do. Each context's events reach the others and are applied once;
// exactly one leader folds the log into checkpoints, and another takes over when it closes;
// clear() anywhere clears everywhere; a model update switches every context; a start without
// network serves the last good model.

import assert from "node:assert/strict";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { createLocalRanker, fileStorage, memoryStorage } from "localrank";
import { MODEL_PATH, NOW, catalogue, itemRef, modelBytes, newSigningKey, publicKeyBytes, sealBundle } from "./helpers.mjs";

const items = catalogue();
const model = modelBytes();
const NNEF = fileURLToPath(new URL("../../models/ranker.nnef.tar", import.meta.url));
let dir;
before(() => {
  dir = mkdtempSync(join(tmpdir(), "localrank-contexts-"));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const start = (storage, options = {}) => createLocalRanker({ modelBytes: model, storage, now: () => NOW, flushDelayMs: Infinity, ...options });
const click = (id, at = NOW - 1000) => ({ kind: "click", item: { id }, at });
/** Item keys with their 30-day click count, from an export. */
const clicks = async (ranker) =>
  Object.fromEntries(
    (await ranker.exportSignals()).keys
      .filter((key) => key.family === "item")
      .map((key) => [key.key, key.counts.find((c) => c.kind === "click" && c.halfLife === "30d")?.value ?? 0]),
  );
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

describe("tabs of one origin (connected memory storages)", () => {
  test("each tab's events reach the other and are applied once; exactly one leader, handed over on close", async () => {
    const shared = memoryStorage();
    const a = await start(shared);
    const b = await start(shared.connect());
    await settle();
    assert.deepEqual([a.status.leader, b.status.leader], [true, false], "the first tab leads");

    await a.record([click("from-a")]);
    await b.record([click("from-b")]);
    await Promise.all([a.flush(), b.flush()]);
    await settle();
    const [inA, inB] = [await clicks(a), await clicks(b)];
    assert.deepEqual(Object.keys(inA).sort(), ["from-a", "from-b"]);
    assert.deepEqual(inA, inB, "both tabs hold both events");
    assert.ok(Math.abs(inA["from-a"] - inA["from-b"]) < 1e-6 && inA["from-a"] > 0.9 && inA["from-a"] <= 1, "each once");

    await a.close();
    await settle();
    assert.equal(b.status.leader, true, "the other tab took over");
    const c = await start(shared.connect());
    assert.deepEqual(await clicks(c), inB, "a new tab restores everything from the log");
    await b.close();
    await c.close();
  });

  test("the leader folds the log into a checkpoint; the others rebuild on it and still hold every event once", async () => {
    const shared = memoryStorage();
    const a = await start(shared);
    const b = await start(shared.connect());
    await settle();
    for (let n = 0; n < 210; n++) {
      const writer = n % 2 ? b : a;
      await writer.record([click(`item-${n}`)]);
      await writer.flush();
    }
    await settle();
    const stored = await shared.load();
    assert.ok(stored.snapshots[0]?.upTo >= 200, "the leader wrote a checkpoint holding the first 200 batches");
    const [inA, inB] = [await clicks(a), await clicks(b)];
    assert.equal(Object.keys(inA).length, 210);
    assert.deepEqual(Object.keys(inB).sort(), Object.keys(inA).sort());
    for (const [key, value] of Object.entries(inA)) assert.ok(Math.abs(value - inB[key]) < 1e-5 && value > 0.9 && value <= 1, key);
    await a.close();
    await b.close();
  });

  test("clear() in one tab clears every tab", async () => {
    const shared = memoryStorage();
    const a = await start(shared);
    const b = await start(shared.connect());
    await a.record([click("x")]);
    await a.flush();
    await settle();
    assert.equal(b.keyCount > 0, true);
    await b.clear();
    await settle();
    assert.equal(a.keyCount, 0, "the other tab forgot too");
    assert.equal(b.keyCount, 0);
    await a.record([click("after")]);
    await a.flush();
    await settle();
    assert.deepEqual(Object.keys(await clicks(b)), ["after"], "and still hears what comes after");
    await a.close();
    await b.close();
  });
});

describe("model updates", () => {
  test("updateModel swaps the model between two reranks, keeps the signals, and every tab follows", async () => {
    const shared = memoryStorage();
    const a = await start(shared);
    const b = await start(shared.connect());
    await a.record([{ kind: "like", item: itemRef(items[40]), at: NOW - 1000 }]);
    await a.flush();
    await settle();
    const before = a.rerank(items);
    assert.equal(before.model.sha256, a.modelInfo().sha256, "every result names its model");
    const signals = await a.exportSignals();

    // The same ranking function in another file (the NNEF conversion is refused by the full
    // build only if it cannot read it; it can): a different SHA-256, the same scores.
    const nnef = new Uint8Array(execFileSync("cat", [NNEF]));
    const info = await a.updateModel(nnef);
    assert.notEqual(info.sha256, before.model.sha256);
    assert.deepEqual(await a.exportSignals(), signals, "the signals stay as they are");
    const afterUpdate = a.rerank(items);
    assert.equal(afterUpdate.model.sha256, info.sha256);
    assert.deepEqual(afterUpdate.ids, before.ids, "the same function ranks the same");
    await settle();
    await settle();
    assert.equal(b.modelInfo().sha256, info.sha256, "the other tab switched to the same model");
    assert.equal(b.rerank(items).model.sha256, info.sha256);
    await a.close();
    await b.close();
  });

  test("a tampered, unsigned or broken update is refused with its code and the old model keeps serving", async () => {
    const key = newSigningKey();
    const trustedKeys = [Buffer.from(publicKeyBytes(key)).toString("hex")];
    const signed = sealBundle(model, key);
    const ranker = await start(memoryStorage(), { modelBytes: signed, rankerOptions: { trustedKeys } });
    const serving = ranker.modelInfo().sha256;
    const refusals = [
      [model, "MODEL_UNSIGNED"],
      [sealBundle(model), "MODEL_UNSIGNED"],
      [sealBundle(model, newSigningKey()), "MODEL_UNTRUSTED_KEY"],
      [Uint8Array.from(signed, (b, i) => (i === signed.length - 10 ? b ^ 1 : b)), "MODEL_TAMPERED"],
      [new Uint8Array([1, 2, 3]), "MODEL_UNSIGNED"],
    ];
    for (const [bytes, code] of refusals) {
      await assert.rejects(ranker.updateModel(bytes), (error) => error.code === code, code);
      assert.equal(ranker.modelInfo().sha256, serving);
      assert.equal(ranker.rerank(items).fallback, null, "still serving");
    }
    await ranker.close();

    const open = await start(memoryStorage());
    await assert.rejects(open.updateModel(new Uint8Array([1, 2, 3])), (error) => error.code === "INVALID_MODEL");
    const url = new URL(`file://${MODEL_PATH}`);
    await assert.rejects(open.updateModel({ url, sha256: "00".repeat(32) }), (error) => error.code === "MODEL_TAMPERED");
    const sha256 = execFileSync("sha256sum", [MODEL_PATH], { encoding: "utf8" }).split(" ")[0];
    assert.equal((await open.updateModel({ url, sha256 })).byteSize, model.byteLength, "the right SHA-256 passes");
    await open.close();
  });

  test("a start without network serves the last good model kept in storage", async () => {
    const path = join(dir, "offline.bin");
    const online = await createLocalRanker({ modelUrl: new URL(`file://${MODEL_PATH}`), storage: fileStorage(path), now: () => NOW });
    const sha256 = online.modelInfo().sha256;
    await online.close();
    const warnings = [];
    const offline = await createLocalRanker({
      modelUrl: "https://models.example.invalid/ranker.onnx",
      fetch: () => Promise.reject(new TypeError("fetch failed: offline")),
      storage: fileStorage(path),
      now: () => NOW,
      onWarning: (w) => warnings.push(w.code),
    });
    assert.equal(offline.modelInfo().sha256, sha256);
    assert.deepEqual(warnings, ["MODEL_FROM_STORAGE"]);
    assert.equal(offline.rerank(items).fallback, null, "reranks at once");
    await offline.close();
    await assert.rejects(
      createLocalRanker({ modelUrl: "https://models.example.invalid/ranker.onnx", fetch: () => Promise.reject(new TypeError("offline")), storage: memoryStorage() }),
      (error) => error.code === "UNAVAILABLE",
      "nothing kept: the model is unavailable",
    );
  });
});

describe("processes on one file store", () => {
  const WRITER = fileURLToPath(new URL("./fixtures/file-writer.mjs", import.meta.url));

  /** A writer process: records `prefix-n` clicks, reporting each acknowledged count on stdout. */
  function writer(path, prefix, count) {
    const child = spawn(process.execPath, [WRITER, path, prefix, String(count)], { stdio: ["ignore", "pipe", "inherit"] });
    const state = { acked: 0, done: null };
    child.stdout.setEncoding("utf8");
    child.stdout.on("data", (text) => {
      for (const line of text.split("\n")) if (/^acked \d+$/.test(line)) state.acked = Number(line.split(" ")[1]);
    });
    state.done = new Promise((resolve) => child.on("exit", resolve));
    state.child = child;
    return state;
  }

  test("two processes record at once, one is killed mid-write: every acknowledged event is there once", async () => {
    for (let cycle = 0; cycle < 3; cycle++) {
      const path = join(dir, `shared-${cycle}.bin`);
      const a = writer(path, `a${cycle}`, 400);
      const b = writer(path, `b${cycle}`, 400);
      // Both writing (a fresh process loads its module and model first), then a kill at a
      // moment that differs per cycle.
      while (a.acked < 10 || b.acked < 10) await new Promise((resolve) => setTimeout(resolve, 10));
      await new Promise((resolve) => setTimeout(resolve, 20 + 37 * cycle));
      b.child.kill("SIGKILL");
      await Promise.all([a.done, b.done]);
      const reader = await createLocalRanker({ modelBytes: model, storage: fileStorage(path), now: () => Date.now() });
      const seen = await clicks(reader);
      await reader.close();
      for (const [prefix, state] of [[`a${cycle}`, a], [`b${cycle}`, b]]) {
        for (let n = 0; n < state.acked; n++) {
          const value = seen[`${prefix}-${n}`];
          assert.ok(value > 0.9 && value <= 1.0001, `cycle ${cycle}: ${prefix}-${n} (acked ${state.acked}) is there exactly once: ${value}`);
        }
      }
      assert.equal(a.acked, 400, "the surviving writer finished");
      assert.ok(b.acked > 0, `the killed writer had acknowledged events (${b.acked})`);
      for (const value of Object.values(seen)) assert.ok(value <= 1.0001, "nothing counted twice");
    }
  });
});
