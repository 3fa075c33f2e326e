// Many tabs, one store per origin, in Chromium: three tabs of one origin record distinct events
// into the shared IndexedDB store at once; then one tab is closed mid-write and one crashes (its
// renderer killed), and every tab is reloaded. Each cycle checks that every acknowledged event is
// in every tab's store exactly once, that the tabs agree, that no corrupt checkpoint was loaded,
// and that exactly one live tab is the leader. Then clear() in one tab clears them all.

import assert from "node:assert/strict";
import { test } from "node:test";

import { chromiumSession, watchPage } from "./helpers.mjs";

const CYCLES = Number(process.env.LOCALRANK_TAB_CYCLES ?? 10);
const chromium = chromiumSession();

/** Opens a tab on the test page; resolves once its client is ready. */
async function openTab(context, reports) {
  const page = await context.newPage();
  const problems = watchPage(page);
  await page.exposeFunction("reportToTest", (message) => reports.push({ page, ...message }));
  await page.goto(`${chromium.server.url}tests/js/fixtures/tabs.html`);
  await page.waitForSelector("body[data-ready]");
  return { page, problems };
}

const leaders = (tabs) => Promise.all(tabs.map(({ page }) => page.evaluate(() => window.localrank.status.leader)));

test(`${CYCLES} cycles of 3 tabs recording at once, one closed mid-write and one crashed: every acknowledged event once in every tab`, { timeout: 15 * 60_000 }, async () => {
  const context = await chromium.browser.newContext();
  /** name → acknowledged count, over all cycles. */
  const acknowledged = new Map();
  try {
    for (let cycle = 0; cycle < CYCLES; cycle++) {
      const reports = [];
      const tabs = [];
      for (let t = 0; t < 3; t++) tabs.push(await openTab(context, reports));
      assert.equal((await leaders(tabs)).filter(Boolean).length, 1, `cycle ${cycle}: one leader`);
      const names = tabs.map((_, t) => `c${cycle}-t${t}`);
      tabs.forEach(({ page }, t) => void page.evaluate((name) => window.recordFor(name), names[t]).catch(() => {}));
      await new Promise((resolve) => setTimeout(resolve, 300 + ((cycle * 97) % 500)));

      // Tab 0 closes mid-write; tab 1's renderer is killed.
      await tabs[0].page.close({ runBeforeUnload: false });
      const session = await context.newCDPSession(tabs[1].page);
      const crashed = new Promise((resolve) => tabs[1].page.once("crash", resolve));
      session.send("Page.crash").catch(() => {}); // the call never returns: the renderer is gone
      await crashed;
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal((await leaders([tabs[2]]))[0], true, `cycle ${cycle}: the surviving tab took the leadership over`);
      await tabs[2].page.close({ runBeforeUnload: false });

      for (const name of names) {
        const acks = reports.filter((r) => r.type === "acked" && r.page === tabs[names.indexOf(name)].page).map((r) => r.acked);
        acknowledged.set(name, Math.max(0, ...acks));
      }
      const warnings = reports.filter((r) => r.type === "warning");
      assert.deepEqual(warnings.map((w) => `${w.code}: ${w.message}`), [], `cycle ${cycle}: warnings`);
      for (const { problems } of [tabs[0], tabs[2]]) assert.deepEqual(problems, [], `cycle ${cycle}: page problems`);
      await tabs[1].page.close().catch(() => {});

      // Every tab, reloaded: the same store, every acknowledged event in it once.
      const reloaded = [];
      for (let t = 0; t < 3; t++) reloaded.push(await openTab(context, []));
      const stores = await Promise.all(reloaded.map(({ page }) => page.evaluate(() => window.itemClicks())));
      for (const store of stores.slice(1)) assert.deepEqual(Object.keys(store).sort(), Object.keys(stores[0]).sort(), `cycle ${cycle}: the tabs agree`);
      for (const [name, acked] of acknowledged) {
        for (let n = 0; n < acked; n++) {
          const value = stores[0][`${name}-${n}`];
          assert.ok(value > 0.99 && value < 1.01, `cycle ${cycle}: ${name}-${n} (of ${acked} acknowledged) is there once: ${value}`);
        }
      }
      for (const [key, value] of Object.entries(stores[0])) assert.ok(value < 1.01, `cycle ${cycle}: ${key} counted ${value} times`);
      assert.equal((await leaders(reloaded)).filter(Boolean).length, 1, `cycle ${cycle}: one leader after the reload`);
      for (const { page } of reloaded) await page.close();
    }
    const total = [...acknowledged.values()].reduce((a, b) => a + b, 0);
    console.log(`tabs test: ${CYCLES} cycles, ${total} acknowledged events across ${acknowledged.size} tab sessions, every one present once in every tab`);

    // clear() in one tab clears every tab.
    const reports = [];
    const [a, b] = [await openTab(context, reports), await openTab(context, reports)];
    assert.ok((await b.page.evaluate(() => window.localrank.keyCount)) > 0);
    await a.page.evaluate(() => window.localrank.clear());
    await b.page.waitForFunction(() => window.localrank.keyCount === 0, null, { timeout: 10_000 });
    assert.deepEqual(await b.page.evaluate(() => window.itemClicks()), {});
  } finally {
    await context.close();
  }
});

test("a model update under a loop of reranks in two tabs: no rerank fails, each names its model, both end on the new one; bad updates are refused; an offline start serves the kept model", async () => {
  const context = await chromium.browser.newContext();
  try {
    const [a, b] = [await openTab(context, []), await openTab(context, [])];
    const loop = (page) =>
      page.evaluate(() => {
        window.served = [];
        window.looping = true;
        const candidates = Array.from({ length: 50 }, (_, i) => ({ id: `p${i}`, topics: [`t${i % 5}`] }));
        const step = () => {
          const result = window.localrank.rerank(candidates);
          window.served.push([result.model?.sha256, result.fallback?.reason ?? null]);
          if (window.looping) setTimeout(step, 2);
        };
        step();
      });
    await Promise.all([loop(a.page), loop(b.page)]);
    const old = await a.page.evaluate(() => window.localrank.modelInfo().sha256);
    const updated = await b.page.evaluate(async () => {
      const bytes = new Uint8Array(await (await fetch("/models/ranker.nnef.tar")).arrayBuffer());
      return (await window.localrank.updateModel(bytes)).sha256;
    });
    assert.notEqual(updated, old);
    await a.page.waitForFunction((sha) => window.localrank.modelInfo().sha256 === sha, updated, { timeout: 10_000 });
    await new Promise((resolve) => setTimeout(resolve, 100));
    for (const { page } of [a, b]) {
      const served = await page.evaluate(() => {
        window.looping = false;
        return window.served;
      });
      assert.ok(served.length > 20, `the loop ran (${served.length} reranks)`);
      assert.deepEqual(served.filter(([, fallback]) => fallback !== null), [], "no rerank fell back");
      const shas = served.map(([sha]) => sha);
      const switched = shas.indexOf(updated);
      assert.ok(switched > 0, "it served the old model first");
      assert.ok(shas.slice(0, switched).every((sha) => sha === old) && shas.slice(switched).every((sha) => sha === updated), "then the new one, from one rerank to the next");
    }

    const refused = await a.page.evaluate(async () => {
      const codes = [];
      for (const source of [{ url: "/models/ranker.onnx", sha256: "00".repeat(32) }, new Uint8Array([1, 2, 3, 4])]) {
        await window.localrank.updateModel(source).then(() => codes.push("accepted"), (error) => codes.push(error.code));
      }
      return { codes, serving: window.localrank.modelInfo().sha256, fallback: window.localrank.rerank([{ id: "x" }, { id: "y" }]).fallback };
    });
    assert.deepEqual(refused.codes, ["MODEL_TAMPERED", "INVALID_MODEL"]);
    assert.equal(refused.serving, updated, "the serving model stays");
    assert.equal(refused.fallback, null);
    await a.page.close();
    await b.page.close();

    // A new tab, offline (its model URL fails): the update kept in IndexedDB serves at once,
    // without even asking for the URL.
    const c = await openTab(context, []);
    const offline = await c.page.evaluate(async () => {
      const { createLocalRanker, indexedDbStorage } = await import("localrank");
      const warnings = [];
      const ranker = await createLocalRanker({
        modelUrl: "/models/not-here.onnx",
        storage: indexedDbStorage({ databaseName: "localrank-tabs" }),
        onWarning: (warning) => warnings.push(warning.code),
      });
      return { sha256: ranker.modelInfo().sha256, warnings, fallback: ranker.rerank([{ id: "x" }, { id: "y" }]).fallback };
    });
    assert.equal(offline.sha256, updated, "the model the tabs switched to");
    assert.deepEqual(offline.warnings, []);
    assert.equal(offline.fallback, null);
  } finally {
    await context.close();
  }
});
