// The demo page in headless Chromium, served by www/serve.mjs on a free port: it loads under its
// strict CSP without errors, a like changes the order, a reload keeps the signals (IndexedDB),
// "Reset signals" clears them, the clock decays them; plus the server's own rules and the
// IndexedDB adapter's log and two-slot checkpoints.

import assert from "node:assert/strict";
import { request as httpRequest } from "node:http";
import { after, before, describe, test } from "node:test";

import { startServer } from "../../www/serve.mjs";
import { BROWSER_TIMEOUT as TIMEOUT, catalogue, launchChromium, modelBytes, watchPage } from "./helpers.mjs";

const items = catalogue();
const info = await (async () => {
  const { Ranker, init } = await import("localrank/core");
  await init();
  const ranker = new Ranker(modelBytes());
  const modelInfo = ranker.modelInfo();
  ranker.free();
  return modelInfo;
})();

let server;
let browser;

before(async () => {
  server = await startServer({ port: 0 });
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  await server?.close();
});

/**
 * A fresh browser context (own IndexedDB) with a page that records console errors, page
 * errors, failed requests and CSP violations.
 */
async function openPage({ worker = false } = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const problems = watchPage(page);
  await page.addInitScript((worker) => {
    // The demo's own toggle, as a visitor would have left it.
    if (worker && localStorage.getItem("localrank-demo:worker") === null) localStorage.setItem("localrank-demo:worker", "on");
    window.__cspViolations = [];
    document.addEventListener("securitypolicyviolation", (event) => {
      window.__cspViolations.push(`${event.violatedDirective} ${event.blockedURI}`);
    });
  }, worker);
  return { context, page, problems };
}

/** Waits until the page has rendered at least `count` times; returns the render count. */
async function rendered(page, count = 1) {
  await page.waitForFunction(
    (n) => {
      const status = document.querySelector('[data-testid="status"]');
      return status && status.dataset.state === "ready" && Number(status.dataset.renders) >= n;
    },
    count,
    { timeout: TIMEOUT },
  );
  return Number(await page.getAttribute('[data-testid="status"]', "data-renders"));
}

const rankedIds = (page) => page.$$eval('[data-testid="ranked-item"]', (rows) => rows.map((row) => row.dataset.id));
const serverIds = (page) => page.$$eval('[data-testid="server-item"]', (rows) => rows.map((row) => row.dataset.id));
const exportedKeys = async (page) => {
  const knows = page.locator('[data-testid="knows"]');
  if (!(await knows.evaluate((details) => details.open))) await knows.locator("summary").click();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="export"]').dataset.keys) >= 0);
  return JSON.parse(await page.textContent('[data-testid="export"]')).keys;
};

for (const worker of [false, true]) describe(`the demo page${worker ? " with the ranker in a worker" : ""}`, () => {
  let context;
  let page;
  let problems;
  let baseline;
  let liked;

  before(async () => {
    ({ context, page, problems } = await openPage({ worker }));
  });
  after(async () => {
    await context?.close();
  });

  test("loads under its CSP: model info, both lists, latency, no errors or violations", async () => {
    const response = await page.goto(server.url);
    assert.equal(new URL(page.url()).pathname, "/www/index.html", "/ redirects to the page");
    const csp = response.headers()["content-security-policy"];
    // Scripts from the origin, the page's import map by its hash, wasm compilation; nothing else.
    assert.match(csp, /script-src 'self' 'sha256-[A-Za-z0-9+/]{43}=' 'wasm-unsafe-eval';/);
    assert.doesNotMatch(csp, /unsafe-inline|'unsafe-eval'/);
    await rendered(page);

    assert.equal(await page.textContent('[data-testid="model-name"]'), info.name);
    assert.equal(await page.textContent('[data-testid="model-features"]'), String(info.features.length));
    assert.match(await page.textContent('[data-testid="model-size"]'), /^\d+(\.\d)? kB$/);
    assert.match(await page.textContent('[data-testid="latency"]'), /^\d+\.\d ms$/);
    assert.ok(Number(await page.getAttribute('[data-testid="latency"]', "data-ms")) >= 0);

    assert.deepEqual(await serverIds(page), items.map((item) => item.id), "the server's list in its order");
    baseline = await rankedIds(page);
    assert.deepEqual([...baseline].sort(), items.map((item) => item.id).sort(), "the reranked list has the same items");
    items.forEach((item, i) => item.pinned && assert.equal(baseline[i], item.id, "pinned items keep their place"));
    assert.equal(await page.locator('[data-testid="ranked-item"] [data-testid="why"]').count(), items.length);
    assert.equal(await page.isHidden('[data-testid="fallback"]'), true);
    assert.equal(await page.isChecked('[data-testid="worker-toggle"]'), worker);
    assert.equal(await page.getAttribute('[data-testid="served-by"]', "data-sha256"), info.sha256, "the rerank says which model served it");
    assert.equal(await page.textContent('[data-testid="key-count"]'), "0 keys");
    assert.deepEqual(await exportedKeys(page), [], "a new device knows nothing");

    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
    assert.deepEqual(problems, []);
  });

  test("liking an item low in the list moves it up and changes the order", async () => {
    const unpinned = baseline.filter((id) => !items.find((item) => item.id === id).pinned);
    const target = unpinned[unpinned.length - 3];
    liked = target;
    const before = baseline.indexOf(target);
    const renders = await rendered(page);
    await page.locator(`[data-testid="ranked-item"][data-id="${target}"] [data-testid="btn-like"]`).click();
    await rendered(page, renders + 1);
    const after = await rankedIds(page);
    assert.notDeepEqual(after, baseline, "the order changed");
    assert.equal(await page.getAttribute('[data-testid="leader"]', "data-leader"), "true", "the only tab of the origin leads");
    assert.ok(after.indexOf(target) < before, `${target} moved from ${before + 1} to ${after.indexOf(target) + 1}`);
    const moved = Number(await page.getAttribute(`[data-testid="ranked-item"][data-id="${target}"] [data-testid="move"]`, "data-moved"));
    assert.equal(moved, items.findIndex((item) => item.id === target) - after.indexOf(target), "the badge shows how far it moved");
    const why = page.locator(`[data-testid="ranked-item"][data-id="${target}"] [data-testid="why"]`);
    await why.locator("summary").click();
    const groups = await why.locator("li").evaluateAll((rows) => rows.map((row) => [row.dataset.group, row.querySelector(".value").textContent]));
    assert.ok(groups.length > 0);
    const values = groups.map(([, text]) => Math.abs(Number(text.replace("−", "-"))));
    assert.deepEqual(values, [...values].sort((a, b) => b - a), "contributions, largest first");
    assert.notEqual(await page.textContent('[data-testid="key-count"]'), "0 keys");
    // The like bears only on what shares a key with the liked item: everything else keeps
    // its relative order (the local term is exactly 0 for it).
    const likedItem = items.find((item) => item.id === target);
    const shares = (item) =>
      item.id === target || item.author === likedItem.author ||
      item.containers.some((c) => likedItem.containers.includes(c)) || item.topics.some((t) => likedItem.topics.includes(t));
    const unrelated = new Set(items.filter((item) => !shares(item)).map((item) => item.id));
    assert.ok(unrelated.size >= 10, `${unrelated.size} items share nothing with ${target}`);
    assert.deepEqual(after.filter((id) => unrelated.has(id)), baseline.filter((id) => unrelated.has(id)), "unrelated items keep their relative order");
    assert.deepEqual(problems, []);
  });

  test("a reload keeps the signals: the order after it equals the order before", async () => {
    await page.waitForSelector('[data-testid="persist-status"][data-pending="0"]');
    const before = await rankedIds(page);
    const keysBefore = await exportedKeys(page);
    assert.ok(keysBefore.length > 0);
    await page.reload();
    await rendered(page);
    assert.deepEqual(await rankedIds(page), before);
    assert.equal((await exportedKeys(page)).length, keysBefore.length);
    assert.deepEqual(problems, []);
  });

  test("the clock control moves the demo time and signals decay", async () => {
    const target = liked;
    const movedNow = Number(await page.getAttribute(`[data-testid="ranked-item"][data-id="${target}"] [data-testid="move"]`, "data-moved"));
    const likeValue = async () => {
      const exported = JSON.parse(await page.textContent('[data-testid="export"]'));
      const key = exported.keys.find((k) => k.family === "item" && k.key === target);
      return key.counts.find((c) => c.kind === "like" && c.halfLife === "30d").value;
    };
    const likedNow = await likeValue();
    let renders = await rendered(page);
    for (const button of ["clock-plus-1h", "clock-plus-1d", "clock-plus-7d", "clock-plus-30d", "clock-plus-30d"]) {
      await page.click(`[data-testid="${button}"]`);
      renders = await rendered(page, renders + 1);
    }
    const offset = Number(await page.getAttribute('[data-testid="clock-offset"]', "data-offset-ms"));
    assert.equal(offset, (1 + 24 + 7 * 24 + 60 * 24) * 3_600_000);
    assert.match(await page.textContent('[data-testid="clock-offset"]'), /^\+68 d 1 h$/);
    const movedLater = Number(await page.getAttribute(`[data-testid="ranked-item"][data-id="${target}"] [data-testid="move"]`, "data-moved"));
    // 68 days is 2.27 half-lives of the 30-day counter.
    const likedLater = await likeValue();
    assert.ok(Math.abs(likedLater / likedNow - 2 ** (-(offset / (30 * 86_400_000)))) < 1e-3, `${likedNow} → ${likedLater}`);
    // The shipped model reads shares and directions (which decay evenly), so the lift may
    // stay; it must not grow as the signal fades.
    assert.ok(movedLater <= movedNow, `68 days later ${target} is not lifted more (${movedNow} → ${movedLater})`);
    await page.click('[data-testid="clock-reset"]');
    await rendered(page, renders + 1);
    assert.equal(await page.textContent('[data-testid="clock-offset"]'), "now");
    assert.deepEqual(problems, []);
  });

  test('"Reset signals" clears them: the no-signal order returns and the export is empty, also after a reload', async () => {
    const renders = await rendered(page);
    await page.click('[data-testid="reset-signals"]');
    await rendered(page, renders + 1);
    assert.deepEqual(await rankedIds(page), baseline);
    assert.equal(await page.textContent('[data-testid="key-count"]'), "0 keys");
    assert.deepEqual(await exportedKeys(page), []);
    await page.reload();
    await rendered(page);
    assert.deepEqual(await rankedIds(page), baseline);
    assert.deepEqual(await exportedKeys(page), []);
    assert.deepEqual(await page.evaluate(() => window.__cspViolations), []);
    assert.deepEqual(problems, []);
  });

  test("hiding a post pushes it and its author's other posts down", async () => {
    const posts = baseline.map((id) => items.find((item) => item.id === id)).filter((item) => item.kind === "post" && !item.pinned);
    const byAuthor = (author) => posts.filter((item) => item.author === author);
    // A post in the upper half whose author has other posts there too.
    const hidden = posts.find((item, i) => i < posts.length / 2 && byAuthor(item.author).length >= 3);
    assert.ok(hidden, "the catalogue has an author with several posts");
    const siblings = byAuthor(hidden.author).filter((item) => item.id !== hidden.id).map((item) => item.id);
    const renders = await rendered(page);
    await page.locator(`[data-testid="ranked-item"][data-id="${hidden.id}"] [data-testid="btn-hide"]`).click();
    await rendered(page, renders + 1);
    const after = await rankedIds(page);
    assert.ok(after.indexOf(hidden.id) > baseline.indexOf(hidden.id), `${hidden.id}: ${baseline.indexOf(hidden.id) + 1} → ${after.indexOf(hidden.id) + 1}`);
    const drops = siblings.map((id) => after.indexOf(id) - baseline.indexOf(id));
    assert.ok(drops.every((d) => d >= 0), `no other post by ${hidden.author} rises: ${drops}`);
    assert.ok(drops.some((d) => d > 0), `some other post by ${hidden.author} drops: ${drops}`);
    await page.click('[data-testid="reset-signals"]');
    await rendered(page, renders + 2);
    assert.deepEqual(await rankedIds(page), baseline);
    assert.deepEqual(problems, []);
  });
});

describe("the IndexedDB adapter in Chromium", () => {
  test("a log of appends, checkpoints in two alternating slots; a corrupt newest checkpoint falls back to the older one and the log", async () => {
    const { context, page, problems } = await openPage();
    try {
      await page.goto(server.url);
      await rendered(page);
      const result = await page.evaluate(async () => {
        const client = await import("localrank");
        const storage = client.indexedDbStorage({ databaseName: "slot-test" });
        const warnings = [];
        const start = () => client.createLocalRanker({
          modelUrl: "/models/ranker.onnx",
          storage,
          flushDelayMs: Infinity,
          onWarning: (warning) => warnings.push(warning.code),
        });
        const slots = async () => (await storage.load()).snapshots.map((s) => [s.source.match(/slot-\d/)[0], s.generation, s.upTo]);
        const logLength = async () => (await storage.load()).log.length;
        /** `count` batches of one click each on items named `${prefix}-n`, each appended at once. */
        const clicks = async (ranker, prefix, count) => {
          for (let n = 0; n < count; n++) {
            await ranker.record([{ kind: "click", item: { id: `${prefix}-${n}` }, at: Date.now() }]);
            await ranker.flush();
          }
        };
        const out = {};
        const first = await start();
        await clicks(first, "a", 3);
        out.afterAppends = { slots: await slots(), log: await logLength() };
        // The leader folds the log into a checkpoint once it holds 200 batches.
        await clicks(first, "b", 197);
        out.afterFirstCheckpoint = { slots: await slots(), log: await logLength(), leader: first.status.leader };
        await clicks(first, "c", 200);
        out.afterSecondCheckpoint = { slots: await slots(), log: await logLength() };
        out.keys = first.keyCount;
        await first.close();

        // Corrupt the newest checkpoint (generation 1, in slot-1) behind the adapter's back.
        const db = await new Promise((resolve, reject) => {
          const request = indexedDB.open("slot-test");
          request.onsuccess = () => resolve(request.result);
          request.onerror = () => reject(request.error);
        });
        await new Promise((resolve, reject) => {
          const tx = db.transaction("signals", "readwrite");
          const store = tx.objectStore("signals");
          const get = store.get("slot-1");
          get.onsuccess = () => {
            const record = get.result;
            record.bytes[Math.floor(record.bytes.length / 2)] ^= 0xff;
            store.put(record, "slot-1");
          };
          tx.oncomplete = resolve;
          tx.onerror = () => reject(tx.error);
        });
        db.close();

        const second = await start();
        out.warnings = [...warnings];
        out.keysRestored = second.keyCount;
        const exported = await second.exportSignals();
        out.restoredItems = exported.keys.filter((k) => k.family === "item").length;
        await clicks(second, "d", 1);
        out.afterRepair = await slots();
        await second.clear();
        out.afterClear = { slots: await slots(), log: await logLength() };
        await second.close();
        return out;
      });
      assert.deepEqual(result.afterAppends, { slots: [], log: 3 }, "appends only: no checkpoint yet");
      assert.deepEqual(result.afterFirstCheckpoint, { slots: [["slot-0", 0, 200]], log: 200, leader: true }, "the leader's first checkpoint (the log stays: with no older checkpoint it is the fallback)");
      assert.deepEqual(result.afterSecondCheckpoint.slots, [["slot-1", 1, 400], ["slot-0", 0, 200]], "newest first, alternating slots");
      assert.equal(result.afterSecondCheckpoint.log, 200, "the log the older checkpoint still needs is kept");
      assert.equal(result.keys, 400);
      assert.deepEqual(result.warnings, ["CORRUPT_SNAPSHOT"]);
      assert.equal(result.keysRestored, 400, "the older checkpoint and the log after it: every event");
      assert.equal(result.restoredItems, 400);
      assert.deepEqual(result.afterRepair, [["slot-0", 2, 401], ["slot-1", 1, 400]], "a good checkpoint is written at once, over the older slot");
      assert.deepEqual(result.afterClear, { slots: [], log: 0 });
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
    }
  });
});

describe("the static server", () => {
  const get = (path, init) => fetch(new URL(path, server.url), { redirect: "manual", ...init });
  /** The status for a request path sent as is (fetch would normalise "..", "%2e" and "\\"). */
  const rawStatus = (path) =>
    new Promise((resolve, reject) => {
      const { hostname, port } = new URL(server.url);
      httpRequest({ hostname, port, path, method: "GET" }, (response) => {
        response.resume();
        resolve(response.statusCode);
      }).on("error", reject).end();
    });

  test("serves the page, the package and the model with the right types and headers", async () => {
    const root = await get("/");
    assert.equal(root.status, 302);
    assert.equal(root.headers.get("location"), "/www/index.html");
    const expected = {
      "/www/index.html": "text/html; charset=utf-8",
      "/www/demo.mjs": "text/javascript; charset=utf-8",
      "/www/demo.css": "text/css; charset=utf-8",
      "/www/data/server-response.json": "application/json; charset=utf-8",
      "/pkg/localrank/dist/entries/browser.js": "text/javascript; charset=utf-8",
      "/pkg/localrank/dist/wasm/full/localrank_bg.wasm": "application/wasm",
      "/models/ranker.onnx": "application/octet-stream",
    };
    const policy = (scripts) =>
      `default-src 'self'; script-src ${scripts}; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'`;
    for (const [path, type] of Object.entries(expected)) {
      const response = await get(path, { method: "HEAD" });
      assert.equal(response.status, 200, path);
      assert.equal(response.headers.get("content-type"), type, path);
      assert.equal(response.headers.get("cache-control"), "no-store", path);
      // The page may run its own inline import map, by hash; nothing else inline, no eval.
      const scripts = path.endsWith(".html") ? /^'self' 'sha256-[A-Za-z0-9+/]{43}=' 'wasm-unsafe-eval'$/ : /^'self' 'wasm-unsafe-eval'$/;
      const csp = response.headers.get("content-security-policy");
      assert.match(csp.match(/script-src ([^;]*)/)[1], scripts, path);
      assert.equal(csp.replace(/script-src [^;]*/, "script-src S"), policy("S"), path);
    }
    const model = await get("/models/ranker.onnx");
    assert.equal(Buffer.compare(Buffer.from(await model.arrayBuffer()), Buffer.from(modelBytes())), 0);
  });

  test("serves nothing outside /www/, /pkg/localrank/ and /models/, and no path traversal", async () => {
    const refused = [
      "/package.json", "/src/lib.rs", "/pkg/localrank.tgz", "/www/../package.json", "/www/%2e%2e/package.json",
      "/www/..%2fpackage.json", "/pkg/localrank/..%2f..%2fCargo.toml", "/models/%2e%2e%2fCargo.toml", "/www/%00", "/pkg/localrank/.gitignore",
      "/www/data/", "/www/nope.html", "//etc/passwd", "/www/..\\..\\Cargo.toml", "/tests/js/fixtures/durable.html",
    ];
    for (const path of refused) assert.equal(await rawStatus(path), 404, path);
    assert.equal((await get("/www/index.html", { method: "POST" })).status, 405);
  });
});
