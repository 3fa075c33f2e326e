// The packed package (pkg/localrank.tgz) installed into fresh copies of the fixture apps, the
// way users install it: `npm ci` for each app's pinned dependencies, then `npm install` of the
// tarball. Each app runs only what the README shows (tests/packaging/examples/, which the
// README quotes word for word: tests/js/readme.test.mjs):
//   vite, webpack      bundled with the real bundler, served under the demo's strict CSP, run
//                      in headless Chromium: rerank, record, persist in IndexedDB, reload (the
//                      webpack app runs the ranker in a Web Worker, `localrank/worker`)
//   node-esm, node-cjs the Node / Electron-main example, run twice on one signal file
//   typescript         a strict consumer of the published types, with rejected misuse

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

import { startServer } from "../../www/serve.mjs";
import { launchChromium, watchPage } from "../js/helpers.mjs";

const HERE = fileURLToPath(new URL(".", import.meta.url));
const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TARBALL = join(ROOT, "pkg/localrank.tgz");
const MODEL = join(ROOT, "models/ranker.onnx");
const FEED = join(ROOT, "www/data/server-response.json");

let work;
before(() => {
  assert.ok(existsSync(TARBALL), "pkg/localrank.tgz exists (./build.sh build makes it)");
  work = mkdtempSync(join(tmpdir(), "localrank-packaging-"));
});
after(() => rmSync(work, { recursive: true, force: true }));

const run = (command, args, cwd) =>
  execFileSync(command, args, { cwd, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, NO_UPDATE_NOTIFIER: "1" } });

/**
 * A fresh copy of fixture `name` with the package installed from the tarball, and the README
 * example `example` (if any) at `examplePath`; `assets` receives the model and a server feed.
 */
function installFixture(name, { example, examplePath, assets = "." } = {}) {
  const dir = join(work, name);
  cpSync(join(HERE, name), dir, { recursive: true });
  const lock = JSON.parse(readFileSync(join(dir, "package-lock.json"), "utf8"));
  const npm = ["--no-audit", "--no-fund", "--loglevel=error"];
  if (Object.keys(lock.packages ?? {}).length > 1) run("npm", ["ci", ...npm], dir);
  run("npm", ["install", ...npm, TARBALL], dir);
  if (example) {
    mkdirSync(join(dir, examplePath, ".."), { recursive: true });
    cpSync(join(HERE, "examples", example), join(dir, examplePath));
  }
  mkdirSync(join(dir, assets), { recursive: true });
  cpSync(MODEL, join(dir, assets, "ranker.onnx"));
  cpSync(join(ROOT, "www/favicon.svg"), join(dir, assets, "favicon.svg"));
  // The examples read a candidate list: what a server response's `items` is.
  writeFileSync(join(dir, assets, "feed.json"), JSON.stringify(JSON.parse(readFileSync(FEED, "utf8")).items));
  return dir;
}

/** The app's files as a bundler wrote them: every .wasm among them, and whether any JS names a Node built-in. */
function builtFiles(dist) {
  const files = readdirSync(dist, { recursive: true }).map(String);
  const js = files.filter((f) => f.endsWith(".js")).map((f) => readFileSync(join(dist, f), "utf8")).join("\n");
  return { wasm: files.filter((f) => f.endsWith(".wasm")), chunks: files.filter((f) => f.endsWith(".js")).length, nodeBuiltins: /["']node:[a-z/]+["']/.test(js) };
}

/** How many batches the client's IndexedDB log holds (0 before the first append). */
function persistedBatches(page) {
  return page.evaluate(
    () =>
      new Promise((resolve) => {
        const open = indexedDB.open("localrank");
        open.onsuccess = () => {
          const db = open.result;
          if (!db.objectStoreNames.contains("signals-log")) {
            db.close();
            return resolve(0);
          }
          const request = db.transaction("signals-log").objectStore("signals-log").count();
          request.onsuccess = () => {
            db.close();
            resolve(request.result);
          };
        };
        open.onerror = () => resolve(0);
      }),
  );
}

/**
 * The built app in Chromium under the strict CSP: it reranks, a like moves items, the signals
 * persist in IndexedDB and survive a reload.
 */
async function checkInBrowser(roots) {
  const server = await startServer({ port: 0, mounts: roots.map((dir) => ["/", dir]) });
  const browser = await launchChromium();
  try {
    const page = await (await browser.newContext()).newPage();
    const problems = watchPage(page);
    const order = async () => {
      await page.waitForSelector("#feed[data-status]");
      return page.$$eval("#feed li", (items) => items.map((item) => item.id));
    };
    await page.goto(server.url);
    const before = await order();
    assert.equal(await page.getAttribute("#feed", "data-status"), "reranked");
    assert.equal(before.length, JSON.parse(readFileSync(FEED, "utf8")).items.length);

    // A like on an item near the bottom moves it (and items like it) up.
    const liked = before[before.length - 3];
    await page.evaluate(() => document.querySelector("#feed").removeAttribute("data-status"));
    await page.click(`[id="${liked}"]`);
    const personalised = await order();
    assert.notDeepEqual(personalised, before, "a like changes the order");
    assert.ok(personalised.indexOf(liked) < before.indexOf(liked), `${liked} moved up`);

    // Persisted within the flush window (1 s debounce), then restored after a reload.
    const deadline = Date.now() + 10_000;
    while ((await persistedBatches(page)) === 0) {
      assert.ok(Date.now() < deadline, "the like was persisted to IndexedDB within 10 s");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    await page.reload();
    assert.deepEqual(await order(), personalised, "the signals survived the reload");
    assert.deepEqual(problems, [], "no console errors, CSP violations or failed requests");
  } finally {
    await browser.close();
    await server.close();
  }
}

describe("bundled web apps", () => {
  test("Vite: vite build, the .wasm fingerprinted, the app works in Chromium under a strict CSP", async () => {
    const dir = installFixture("vite", { example: "browser.js", examplePath: "src/main.js", assets: "public" });
    run(join(dir, "node_modules/.bin/vite"), ["build", "--logLevel", "warn"], dir);
    const built = builtFiles(join(dir, "dist"));
    assert.equal(built.wasm.length, 1, `one .wasm in dist: ${built.wasm}`);
    assert.match(built.wasm[0], /localrank_bg-[\w-]{6,}\.wasm$/, "fingerprinted by Vite");
    assert.equal(built.nodeBuiltins, false, "no Node built-in in the browser bundle");
    await checkInBrowser([join(dir, "dist")]);
  });

  test("webpack 5, with the ranker in a worker: the worker bundled, the .wasm emitted as an asset, the app works in Chromium under a strict CSP", async () => {
    const dir = installFixture("webpack", { example: "browser-worker.js", examplePath: "src/main.js", assets: "public" });
    run(join(dir, "node_modules/.bin/webpack"), ["--no-stats"], dir);
    const built = builtFiles(join(dir, "dist"));
    assert.equal(built.wasm.length, 1, `one .wasm in dist: ${built.wasm}`);
    assert.match(built.wasm[0], /^[0-9a-f]{16,}\.wasm$/, "fingerprinted by webpack");
    assert.ok(built.chunks > 1, `the worker is a chunk of its own (${built.chunks} .js files)`);
    assert.equal(built.nodeBuiltins, false, "no Node built-in in the browser bundle");
    await checkInBrowser([join(dir, "dist"), join(dir, "public")]);
  });
});

describe("Node and Electron's main process", () => {
  for (const [fixture, example, main] of [
    ["node-esm", "node.mjs", "main.mjs"],
    ["node-cjs", "electron-main.cjs", "main.cjs"],
  ]) {
    test(`${fixture}: the README example reranks, and a second run restores the signal file`, () => {
      const dir = installFixture(fixture, { example, examplePath: main });
      const first = run(process.execPath, [main], dir).trim().split("\n");
      assert.deepEqual(first[0], "0 signal keys on this device");
      assert.match(first[1], /^reranked /);
      // The first run's batches are in the log beside the (not yet written) checkpoint file.
      assert.ok(existsSync(join(dir, "signals.bin.log")), "the signal log was written");
      const second = run(process.execPath, [main], dir).trim().split("\n");
      const [, keys] = second[0].match(/^(\d+) signal keys on this device$/) ?? [];
      assert.ok(Number(keys) > 0, `the second run restored the first one's signals: ${second[0]}`);
      assert.match(second[1], /^reranked /);
    });
  }
});

test("TypeScript: a strict consumer compiles against the published types, and misuse is rejected", () => {
  const dir = installFixture("typescript");
  for (const file of ["node.ts", "browser.ts"]) {
    const expected = (readFileSync(join(dir, file), "utf8").match(/@ts-expect-error/g) ?? []).length;
    assert.ok(expected >= 3, `${file} still has its rejected calls (${expected})`);
  }
  const tsc = join(dir, "node_modules/.bin/tsc");
  for (const config of ["tsconfig.json", "tsconfig.browser.json"]) {
    try {
      run(tsc, ["-p", config], dir);
    } catch (error) {
      assert.fail(`tsc -p ${config} failed:\n${error.stdout}${error.stderr}`);
    }
  }
});
