// IndexedDB storage when the browser gets in the way (issue 13, item 5): the browser closes
// the connection (here: the site's storage is cleared, as a user or the browser's own storage
// pressure does), and a transaction is aborted. After a close the client must reopen and
// persist again — before, every later write failed until a reload and the journal grew
// without bound — and a failed write's warning must say what happened.

import assert from "node:assert/strict";
import { test } from "node:test";

import { NOW, blankPage, chromiumSession } from "./helpers.mjs";

const chromium = chromiumSession();

/** A page with a client on IndexedDB (`window.client`), its warnings in `window.warnings`. */
async function clientPage() {
  const context = await chromium.browser.newContext();
  const { page, problems } = await blankPage(chromium, context);
  await page.evaluate(async (now) => {
    const { createLocalRanker, indexedDbStorage } = await import("localrank");
    window.warnings = [];
    window.client = await createLocalRanker({
      modelUrl: "/models/ranker.onnx",
      storage: indexedDbStorage({ databaseName: "localrank-reopen" }),
      flushDelayMs: Infinity,
      now: () => now,
      onWarning: (warning) => window.warnings.push({ code: warning.code, message: warning.message }),
    });
    window.click = (id) => window.client.record([{ kind: "click", item: { id }, at: now - 1000 }]);
  }, NOW);
  return { context, page, problems };
}

test("after the browser closes the IndexedDB connection, the next write reopens it and the journal drains", async () => {
  const { context, page, problems } = await clientPage();
  try {
    await page.evaluate(async () => {
      await window.click("before");
      await window.client.flush();
    });
    // Clearing the origin's IndexedDB force-closes the open connection (its `close` event fires).
    const cdp = await context.newCDPSession(page);
    await cdp.send("Storage.clearDataForOrigin", { origin: new URL(chromium.server.url).origin, storageTypes: "indexeddb" });
    const after = await page.evaluate(async () => {
      for (let i = 0; i < 3; i++) {
        await window.click(`after-${i}`);
        await window.client.flush();
      }
      return { pending: window.client.status.pendingEvents, warnings: window.warnings };
    });
    assert.equal(after.pending, 0, `every write after the close succeeded: ${JSON.stringify(after.warnings)}`);
    assert.deepEqual(after.warnings, []);
    // Every write after the close is on disk: a new client restores it. ("before" went with the
    // database the browser deleted: the OPFS mirror restores a database only when a start finds
    // it empty, and this one was written to again.)
    const restored = await page.evaluate(async () => {
      await window.client.close();
      const { createLocalRanker, indexedDbStorage } = await import("localrank");
      const again = await createLocalRanker({ modelUrl: "/models/ranker.onnx", storage: indexedDbStorage({ databaseName: "localrank-reopen" }) });
      const keys = (await again.exportSignals()).keys.map((k) => k.key).filter((key) => key.startsWith("after")).sort();
      await again.close();
      return keys;
    });
    assert.deepEqual(restored, ["after-0", "after-1", "after-2"]);
    assert.deepEqual(problems, []);
  } finally {
    await context.close();
  }
});

test("an aborted write is reported with a message that says so, and the events stay journaled", async () => {
  const { context, page } = await clientPage();
  try {
    const outcome = await page.evaluate(async () => {
      // The client keeps its model in the database in the background; let that finish first,
      // or its put() aborts too (a second, equally true, warning).
      const { indexedDbStorage } = await import("localrank");
      const storage = indexedDbStorage({ databaseName: "localrank-reopen" });
      while (!(await storage.loadModel())) await new Promise((resolve) => setTimeout(resolve, 10));
      await storage.close?.();
      // The log is written with add(), checkpoints with put(): both abort.
      const { put, add } = IDBObjectStore.prototype;
      const aborting = (write) =>
        function (...args) {
          const request = write.apply(this, args);
          this.transaction.abort();
          return request;
        };
      Object.assign(IDBObjectStore.prototype, { put: aborting(put), add: aborting(add) });
      await window.click("x");
      const error = await window.client.flush().then(() => null, (e) => ({ name: e.name, code: e.code, message: e.message }));
      Object.assign(IDBObjectStore.prototype, { put, add });
      await window.client.flush();
      return { error, warnings: window.warnings, pending: window.client.status.pendingEvents };
    });
    assert.equal(outcome.error?.code, "STORAGE_FAILED");
    assert.equal(outcome.warnings.length, 1, JSON.stringify(outcome.warnings));
    assert.equal(outcome.warnings[0].code, "STORAGE_FAILED");
    assert.doesNotMatch(outcome.warnings[0].message, /: (null|undefined)\b/);
    assert.match(outcome.warnings[0].message, /aborted/);
    assert.equal(outcome.pending, 0, "the next flush wrote it");
  } finally {
    await context.close();
  }
});
