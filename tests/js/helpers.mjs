// Shared by the tests in tests/js/ (not a test file itself: `node --test` runs *.test.mjs).

import { createHash, createPublicKey, generateKeyPairSync, sign } from "node:crypto";
import { readFileSync, readdirSync } from "node:fs";
import { after, before } from "node:test";
import { fileURLToPath } from "node:url";

import { chromium } from "playwright-core";

import { ERROR_CODES, wasmLoader } from "localrank";

import { startServer } from "../../www/serve.mjs";

export { ERROR_CODES };
export const ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The built package folder (./build.sh build; node_modules/localrank links to it). */
export const PACKAGE = fileURLToPath(new URL("../../pkg/localrank/", import.meta.url));
export const MODEL_PATH = fileURLToPath(new URL("../../models/ranker.onnx", import.meta.url));
export const CATALOGUE_PATH = fileURLToPath(new URL("../../www/data/server-response.json", import.meta.url));

export const DAY_MS = 86_400_000;
/** A fixed "now" for reproducible tests (the catalogue was generated a day before it). */
export const NOW = Date.UTC(2025, 0, 16, 12, 0, 0);

export function modelBytes() {
  return new Uint8Array(readFileSync(MODEL_PATH));
}

/** The demo's server response: its items, in the server's order. */
export function catalogue() {
  return JSON.parse(readFileSync(CATALOGUE_PATH, "utf8")).items;
}

/** The fields of an item that events carry. */
export function itemRef({ id, author, containers, topics, embedding }) {
  return { id, author, containers, topics, embedding };
}

/**
 * Like events that should lift `target` under the loaded model, whatever its features: if the
 * model reads topic signals, likes on OTHER items that share the target's topics (so it is the
 * topic that lifts it); otherwise likes on the target itself (every family it has).
 * @returns {{ events: object[], via: "topic" | "item" }}
 */
export function likesFor(target, info, at, count = 3) {
  const readsTopics = info.features.some((f) => /^(affinity|share|recency)\.topic\./.test(f));
  if (readsTopics && target.topics?.length) {
    const events = Array.from({ length: count }, (_, i) => ({
      kind: "like",
      item: { id: `elsewhere-${i}`, topics: target.topics },
      at: at - i * 60_000,
    }));
    return { events, via: "topic" };
  }
  const events = Array.from({ length: count }, (_, i) => ({ kind: "like", item: itemRef(target), at: at - i * 60_000 }));
  return { events, via: "item" };
}

/**
 * A candidate low in `ids` (the current ranking) that is not pinned, to be lifted by signals.
 */
export function lowCandidate(items, ids, fromBottom = 3) {
  const unpinned = ids.filter((id) => !items.find((item) => item.id === id).pinned);
  const id = unpinned[unpinned.length - 1 - fromBottom];
  return items.find((item) => item.id === id);
}

/** CRC-32 (IEEE), as the snapshot format uses. */
export function crc32(bytes) {
  let crc = ~0;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return ~crc >>> 0;
}

/**
 * A copy of a snapshot claiming format `version`, with a valid checksum, as a newer localrank
 * would write it. Header: "LRSIG1" | version u16 LE | payload length u32 | payload | CRC-32.
 */
export function withSnapshotVersion(snapshot, version) {
  const bytes = Uint8Array.from(snapshot); // a copy (Buffer#slice would be a view)
  const view = new DataView(bytes.buffer);
  view.setUint16(6, version, true);
  view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/** A copy with one payload byte flipped (the checksum no longer matches). */
export function corrupted(snapshot) {
  const bytes = Uint8Array.from(snapshot);
  bytes[Math.floor(bytes.length / 2)] ^= 0x5a;
  return bytes;
}

/** Asserts `fn` throws a LocalrankError with `code`; returns the error. */
export function expectLocalrankError(assert, fn, code) {
  let caught;
  try {
    fn();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught, `expected a ${code} error, nothing was thrown`);
  assert.ok(caught instanceof Error, `expected an Error, got ${Object.prototype.toString.call(caught)}`);
  assert.equal(caught.name, "LocalrankError");
  assert.equal(caught.code, code, caught.message);
  assert.equal(typeof caught.message, "string");
  assert.ok(caught.message.length > 0);
  return caught;
}

/**
 * A localrank model bundle (src/model/bundle.rs) made with Node's own crypto — a second,
 * independent implementation of the format, so the test also checks interoperability.
 * @param {Uint8Array} model
 * @param {import("node:crypto").KeyObject} [privateKey] an Ed25519 key; none → unsigned
 */
export function sealBundle(model, privateKey) {
  const digest = createHash("sha256").update(model).digest();
  const signature = privateKey
    ? [publicKeyBytes(privateKey), sign(null, Buffer.concat([Buffer.from("localrank model signature v1\0"), digest]), privateKey)]
    : [];
  const length = Buffer.alloc(4);
  length.writeUInt32LE(model.length);
  return new Uint8Array(Buffer.concat([Buffer.from("LRMODEL1"), digest, Buffer.from([signature.length ? 1 : 0]), ...signature, length, model]));
}

/** An Ed25519 key pair's raw public key (from a private or public KeyObject). */
export function publicKeyBytes(key) {
  const jwk = createPublicKey(key).export({ format: "jwk" });
  return Buffer.from(/** @type {string} */ (jwk.x), "base64url");
}

export const newSigningKey = () => generateKeyPairSync("ed25519").privateKey;

/**
 * One module instance of the built package, with a handle on its linear memory (the glue's
 * `init` hands back the instance's exports): its `Ranker` class (the package's, over this
 * instance) and its `memory`, to measure.
 * @param {"full" | "slim"} [flavour]
 */
export async function instrumentedCore(flavour = "full") {
  const { createBindings } = await import(`${PACKAGE}dist/wasm/${flavour}/bindings.js`);
  const { rankerClass } = await import(`${PACKAGE}dist/core/ranker.js`);
  const bindings = createBindings();
  const module = await WebAssembly.compile(readFileSync(`${PACKAGE}dist/wasm/${flavour}/localrank_bg.wasm`));
  const { memory } = await bindings.init({ module_or_path: module });
  return { Ranker: rankerClass(bindings.WasmRanker), memory: /** @type {WebAssembly.Memory} */ (memory) };
}

/** The candidates' ids in server order, for comparing with fallback results. */
export const idsOf = (items) => items.map((item) => item.id);

/**
 * A loader whose FIRST module's Ranker throws `error()` from `method` while `armed.on` is
 * true (a subclass: the module itself is not touched); later modules are fresh instances,
 * untouched. Simulates a trap in Node (tests/js/trap.test.mjs makes a real one).
 */
export function trappingLoader(method, error) {
  const armed = { on: false, calls: 0 };
  const inner = wasmLoader();
  const initWasm = async (context) => {
    const module = await inner(context);
    if (context.instance > 0) return module;
    class TrappingRanker extends module.Ranker {}
    TrappingRanker.prototype[method] = function (...args) {
      if (armed.on) {
        armed.calls += 1;
        throw error();
      }
      return module.Ranker.prototype[method].apply(this, args);
    };
    return { Ranker: TrappingRanker };
  };
  return { initWasm, armed };
}

// ---- Chromium (Debian's, driven by playwright-core; never a downloaded browser) -------------

export const CHROMIUM_PATH = "/usr/bin/chromium";
/** --no-sandbox: the tests run as root; the rest keep Chromium off this machine's closed network. */
export const CHROMIUM_ARGS = [
  "--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking",
  "--disable-component-update", "--disable-sync", "--no-first-run",
];
/**
 * What `exportSignals()` holds of the recorded events: all but the personal head's learning
 * state, whose shown lists only reranks make, so a restart or a recovered trap has them as of
 * the last checkpoint only (README, "On-device learning"). The log replays every event.
 */
export function recordedSignals({ learning: _learning, ...signals }) {
  return signals;
}

/** Generous: a 2-core machine shared with builds. */
export const BROWSER_TIMEOUT = 30_000;

/** A headless Chromium; each `newContext()` has its own IndexedDB. */
export function launchChromium() {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, timeout: BROWSER_TIMEOUT });
}

/**
 * The server of the demo and the test pages (www/serve.mjs) and a headless Chromium, started
 * before the tests of the file (or of the `describe` it is called in) and closed after them:
 * `.server` and `.browser` of what it returns are set once they run.
 */
export function chromiumSession() {
  const session = { server: undefined, browser: undefined };
  before(async () => {
    session.server = await startServer({ port: 0, testPages: true });
    session.browser = await launchChromium();
  });
  after(async () => {
    await session.browser?.close();
    await session.server?.close();
  });
  return session;
}

/** A Chromium on a profile directory that outlives it (IndexedDB survives a relaunch, or a kill). */
export function launchPersistentChromium(userDataDir) {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS, headless: true, timeout: BROWSER_TIMEOUT,
  });
}

/**
 * The pid of the Chromium browser process (not a renderer or helper) running on
 * `userDataDir`: a persistent context has no `browser().process()`, so it is found in /proc by
 * its command line. Null if none runs.
 */
export function chromiumBrowserPid(userDataDir) {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let args;
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, "utf8").split("\0");
    } catch {
      continue; // exited meanwhile
    }
    if (args.includes(`--user-data-dir=${userDataDir}`) && !args.some((arg) => arg.startsWith("--type="))) return Number(entry);
  }
  return null;
}

/**
 * Collects what would signal a broken page: console errors and warnings, page errors, failed
 * requests, HTTP errors. Returns the (live) list.
 * @param {import("playwright-core").Page} page
 */
export function watchPage(page) {
  page.setDefaultTimeout(BROWSER_TIMEOUT);
  const problems = [];
  page.on("console", (message) => {
    if (message.type() === "error" || message.type() === "warning") problems.push(`console.${message.type()}: ${message.text()}`);
  });
  page.on("pageerror", (error) => problems.push(`pageerror: ${error.message}`));
  page.on("requestfailed", (request) => problems.push(`requestfailed: ${request.url()} ${request.failure()?.errorText}`));
  page.on("response", (response) => response.status() >= 400 && problems.push(`HTTP ${response.status()}: ${response.url()}`));
  return problems;
}

/**
 * A new page of `opener` (a browser context, or the browser) on the test server's blank page,
 * with its problems watched (`watchPage`).
 * @param {{ server: { url: string } }} session a `chromiumSession()`
 */
export async function blankPage(session, opener) {
  const page = await opener.newPage();
  const problems = watchPage(page);
  await page.goto(`${session.server.url}tests/js/fixtures/blank.html`);
  return { page, problems };
}
