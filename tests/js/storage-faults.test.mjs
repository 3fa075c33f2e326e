// Storage that fails, in Chromium: IndexedDB missing (as in some private modes), out of quota,
// a transaction aborted, an upgrade blocked by an older version of the app in another tab.
// In each case the client keeps reranking from memory, reports a coded STORAGE_FAILED warning,
// keeps the events journaled and retries with back-off; once the fault is gone, every event
// it acknowledged — and every event recorded meanwhile — is persisted and restored by the next
// start. Faults are injected into the page's real IndexedDB (or, for the quota, by Chromium's
// DevTools protocol).

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { blankPage, chromiumSession } from "./helpers.mjs";

const chromium = chromiumSession();

/**
 * Runs a session in a fresh page: `inject` (in the page) starts the fault, then a client
 * records 3 batches while it lasts, `lift` ends it, and a flush must succeed. Returns what the
 * page saw, and what a second client (a reload) restores.
 */
async function session(name, { inject, lift, beforeStart }) {
  const context = await chromium.browser.newContext();
  try {
    const { page, problems } = await blankPage(chromium, context);
    if (beforeStart) await beforeStart(context, page);
    await page.evaluate(inject);
    const during = await page.evaluate(async (db) => {
      const { createLocalRanker, indexedDbStorage } = await import("localrank");
      const warnings = [];
      const ranker = await createLocalRanker({
        modelUrl: "/models/ranker.onnx",
        storage: indexedDbStorage({ databaseName: db }),
        flushDelayMs: 20,
        onWarning: (warning) => warnings.push(`${warning.code}: ${warning.message}`),
      });
      window.faultRanker = ranker;
      for (let n = 0; n < 3; n++) await ranker.record([{ kind: "click", item: { id: `during-${n}` }, at: Date.now() }]);
      await new Promise((resolve) => setTimeout(resolve, 300));
      const flushed = await ranker.flush().then(() => "ok", (error) => `${error.name} ${error.code}`);
      return {
        warnings,
        flushed,
        pending: ranker.status.pendingEvents,
        reranked: ranker.rerank([{ id: "during-0" }, { id: "other" }]).fallback,
        keys: ranker.keyCount,
      };
    }, name);
    await page.evaluate(lift);
    if (beforeStart) await beforeStart(context, page, { lift: true });
    const recovered = await page.evaluate(async () => {
      const ranker = window.faultRanker;
      await ranker.record([{ kind: "click", item: { id: "after" }, at: Date.now() }]);
      // The client retries by itself with back-off; here flush() is retried for a few seconds,
      // as the browser may take a moment to let the blocked upgrade through.
      for (let attempt = 0; ; attempt++) {
        try {
          await ranker.flush();
          break;
        } catch (error) {
          if (attempt === 50) throw error;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      const out = { pending: ranker.status.pendingEvents };
      await ranker.close();
      return out;
    });
    await page.reload();
    const restored = await page.evaluate(async (db) => {
      const { createLocalRanker, indexedDbStorage } = await import("localrank");
      const ranker = await createLocalRanker({ modelUrl: "/models/ranker.onnx", storage: indexedDbStorage({ databaseName: db }) });
      const keys = (await ranker.exportSignals()).keys.filter((k) => k.family === "item").map((k) => k.key).sort();
      await ranker.close();
      return keys;
    }, name);
    return { during, recovered, restored, problems };
  } finally {
    await context.close();
  }
}

function checkSession({ during, recovered, restored }) {
  assert.ok(during.warnings.some((w) => w.startsWith("STORAGE_FAILED")), `a coded warning: ${during.warnings}`);
  assert.equal(during.flushed, "LocalrankClientError STORAGE_FAILED", "flush() rejects with a code");
  assert.equal(during.pending, 3, "the events stay journaled");
  assert.equal(during.reranked, null, "reranking goes on, from memory");
  assert.ok(during.keys >= 3, "with the events recorded meanwhile");
  assert.equal(recovered.pending, 0, "once the fault is gone, everything is written");
  assert.deepEqual(restored, ["after", "during-0", "during-1", "during-2"], "and restored by the next start");
}

describe("IndexedDB failures", () => {
  test("IndexedDB unavailable (a private mode without it)", async () => {
    const result = await session("faults-missing", {
      inject: () => {
        window.realIndexedDB = window.indexedDB;
        Object.defineProperty(window, "indexedDB", { value: undefined, configurable: true });
      },
      lift: () => Object.defineProperty(window, "indexedDB", { value: window.realIndexedDB, configurable: true }),
    });
    checkSession(result);
    assert.ok(result.during.warnings.some((w) => /not available/.test(w)), result.during.warnings.join("\n"));
  });

  test("quota exceeded (Chromium's quota for the origin set to nothing)", async () => {
    let cdp;
    const result = await session("faults-quota", {
      // The database exists before the quota drops, as for an app that has run before.
      beforeStart: async (context, page, { lift = false } = {}) => {
        cdp ??= await context.newCDPSession(page);
        const origin = new URL(chromium.server.url).origin;
        if (!lift) {
          await page.evaluate(() => new Promise((resolve) => (indexedDB.open("faults-quota", 2).onupgradeneeded = (e) => {
            const db = e.target.result;
            db.createObjectStore("signals");
            db.createObjectStore("signals-models");
            db.createObjectStore("signals-log", { autoIncrement: true });
          }) && setTimeout(resolve, 200)));
        }
        await cdp.send("Storage.overrideQuotaForOrigin", lift ? { origin } : { origin, quotaSize: 1 });
      },
      inject: () => {},
      lift: () => {},
    });
    checkSession(result);
    assert.ok(result.during.warnings.some((w) => /Quota/i.test(w)), result.during.warnings.join("\n"));
  });

  test("every write's transaction aborted", async () => {
    const result = await session("faults-abort", {
      inject: () => {
        const add = IDBObjectStore.prototype.add;
        window.abortWrites = true;
        IDBObjectStore.prototype.add = function (...args) {
          const request = add.apply(this, args);
          if (window.abortWrites) this.transaction.abort();
          return request;
        };
      },
      lift: () => {
        window.abortWrites = false;
      },
    });
    checkSession(result);
    assert.ok(result.during.warnings.some((w) => /abort/i.test(w)), result.during.warnings.join("\n"));
  });

  test("the upgrade blocked by an older version of the app holding the database open in another tab", async () => {
    let older;
    const result = await session("faults-blocked", {
      beforeStart: async (context, page, { lift = false } = {}) => {
        if (lift) {
          await older.close();
          return;
        }
        older = await context.newPage();
        await older.goto(`${chromium.server.url}tests/js/fixtures/blank.html`);
        // Version 1, and no versionchange handler: it never lets go.
        await older.evaluate(() => new Promise((resolve) => {
          const request = indexedDB.open("faults-blocked", 1);
          request.onupgradeneeded = () => request.result.createObjectStore("signals");
          request.onsuccess = () => {
            window.held = request.result;
            resolve();
          };
        }));
      },
      inject: () => {},
      lift: () => {},
    });
    checkSession(result);
    assert.ok(result.during.warnings.some((w) => /blocked/.test(w)), result.during.warnings.join("\n"));
  });
});

describe("the browser deleting the database", () => {
  // Chromium deletes an origin's IndexedDB when it finds its LevelDB corrupt, which a SIGKILL at
  // the wrong moment can cause (client/src/storage/opfs-mirror.ts). Here the deletion is done
  // by `indexedDB.deleteDatabase` between two starts, as Chromium's recovery does it.
  test("the signals come back from the OPFS mirror, with a STORE_RECOVERED warning; a cleared store stays cleared", async () => {
    const context = await chromium.browser.newContext();
    try {
      const { page, problems } = await blankPage(chromium, context);
      const start = (db) =>
        page.evaluate(async (db) => {
          const { createLocalRanker, indexedDbStorage } = await import("localrank");
          const warnings = [];
          window.mirrorRanker = await createLocalRanker({
            modelUrl: "/models/ranker.onnx",
            storage: indexedDbStorage({ databaseName: db }),
            flushDelayMs: 10,
            onWarning: (warning) => warnings.push(warning.code),
          });
          window.mirrorWarnings = warnings;
          return { keys: (await window.mirrorRanker.exportSignals()).keys.filter((k) => k.family === "item").map((k) => k.key).sort(), warnings };
        }, db);
      const recordAndClose = (ids, { clear = false } = {}) =>
        page.evaluate(async ({ ids, clear }) => {
          const ranker = window.mirrorRanker;
          if (clear) await ranker.clear();
          for (const id of ids) await ranker.record([{ kind: "click", item: { id }, at: Date.now() }]);
          await ranker.flush();
          await ranker.close();
        }, { ids, clear });
      const deleteDatabase = (db) =>
        page.evaluate((db) => new Promise((resolve, reject) => {
          const request = indexedDB.deleteDatabase(db);
          request.onsuccess = () => resolve();
          request.onerror = () => reject(request.error);
        }), db);

      const db = "mirror-recovery";
      assert.deepEqual((await start(db)).keys, []);
      const first = Array.from({ length: 40 }, (_, n) => `m-${String(n).padStart(2, "0")}`);
      await recordAndClose(first);
      await deleteDatabase(db);
      const recovered = await start(db);
      assert.deepEqual(recovered.keys, first, "every acknowledged event is back");
      assert.deepEqual(recovered.warnings, ["STORE_RECOVERED"]);
      // The database is whole again: later events join the recovered ones under new keys.
      await recordAndClose(["m-later"]);
      const again = await start(db);
      assert.deepEqual(again.keys, [...first, "m-later"].sort());
      assert.deepEqual(again.warnings, [], "restored from IndexedDB itself this time");
      // clear() empties the copy too: a deleted database after it brings nothing back.
      await recordAndClose(["after-clear"], { clear: true });
      await deleteDatabase(db);
      const cleared = await start(db);
      assert.deepEqual(cleared.keys, ["after-clear"], "only what was recorded after clear()");
      await page.evaluate(() => window.mirrorRanker.close());
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});
