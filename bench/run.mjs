#!/usr/bin/env node
// localrank vs onnxruntime-web (issue 4). `./build.sh bench` builds the packages, then runs this:
// Node in-process cases, cold starts in fresh processes / pages, the same cases in headless
// Chromium (playwright-core), sizes. Prints a table; writes bench/results/results.json + chart.svg.
//   BENCH_QUICK=1 shortens every timing loop; BENCH_NO_BROWSER=1 skips Chromium;
//   `node bench/run.mjs --report` re-prints the table and chart from the last results.json.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import { fileURLToPath, pathToFileURL } from "node:url";
import { brotliCompressSync, gzipSync, constants } from "node:zlib";

import { endToEnd, ingest, learningCost, memory, modelOnly, persistence, SIZES } from "./lib/cases.mjs";
import { startServer } from "./server.mjs";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const RESULTS = ROOT + "bench/results/";
const QUICK = !!process.env.BENCH_QUICK;
const BUDGET = QUICK ? 300 : 1200;
const log = (s) => console.error(`  ${s}`);
const section = (s) => console.error(`\n==> ${s}`);

// Capture ORT's linear memory before it is created (see page/bench.mjs).
const ortMemories = [];
WebAssembly.Memory = new Proxy(WebAssembly.Memory, {
  construct(target, args) { const m = new target(...args); ortMemories.push(m); return m; },
});

function machine() {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const model = /model name\s*:\s*(.*)/.exec(cpuinfo)?.[1] ?? os.cpus()[0]?.model;
  return { date: new Date().toISOString(), node: process.version, nproc: Number(execFileSync("nproc").toString().trim()), cpu: model, platform: `${os.platform()} ${os.release()} ${os.arch()}`, memGB: +(os.totalmem() / 2 ** 30).toFixed(1) };
}

function sizes() {
  const size = (rel) => {
    const bytes = readFileSync(ROOT + rel);
    return { file: rel, raw: bytes.length, gzip: gzipSync(bytes, { level: 9 }).length, brotli: brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length };
  };
  const ortDist = "node_modules/onnxruntime-web/dist/";
  return {
    localrank: { wasm: size("pkg/localrank/dist/wasm/full/localrank_bg.wasm"), glue: size("pkg/localrank/dist/wasm/full/bindings.js") },
    localrankSlim: { wasm: size("pkg/localrank/dist/wasm/slim/localrank_bg.wasm"), model: size("models/ranker.nnef.tar") },
    ort: { wasm: size(ortDist + "ort-wasm-simd-threaded.wasm"), glue: [size(ortDist + "ort.wasm.min.mjs"), size(ortDist + "ort-wasm-simd-threaded.mjs")] },
    model: size("models/ranker.onnx"),
  };
}

/**
 * The quality of the model being timed, as its card states it (models/MODEL_CARD.md, made by
 * `./build.sh model`): the trained model's NDCG@10 and its lift over the server's order, and
 * whether the card names this very file's sha256 (if not, the figures are not this model's).
 */
function quality() {
  const card = readFileSync(ROOT + "models/MODEL_CARD.md", "utf8");
  const sha256 = createHash("sha256").update(readFileSync(ROOT + "models/ranker.onnx")).digest("hex");
  const cells = /^\| trained model \(local signals\) \|(.*)\|$/m.exec(card)?.[1].split("|").map((cell) => cell.trim());
  return { model: "models/ranker.onnx", card: "models/MODEL_CARD.md", ndcg10: cells?.[0] ?? null, lift: cells?.at(-1) ?? null, cardIsForThisModel: card.includes(sha256) };
}

// The engines take turns, so a noisy minute on this shared machine hits all of them alike.
function coldNode(engines, runs) {
  const out = Object.fromEntries(engines.map((engine) => [engine, []]));
  for (let i = 0; i < runs; i++) {
    for (const engine of engines) out[engine].push(JSON.parse(execFileSync(process.execPath, [ROOT + "bench/lib/cold-node.mjs", engine]).toString()));
  }
  return out;
}

const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]; };
function summariseCold(runs) {
  const keys = Object.keys(runs[0]).filter((k) => typeof runs[0][k] === "number");
  return { runs: runs.length, ...Object.fromEntries(keys.map((k) => [k, median(runs.map((r) => r[k]))])) };
}

async function nodeCases() {
  const wasmDir = ROOT + "pkg/localrank/dist/wasm/full/";
  const glue = (await import(pathToFileURL(wasmDir + "bindings.js"))).createBindings();
  const exports = await glue.init({ module_or_path: await WebAssembly.compile(readFileSync(wasmDir + "localrank_bg.wasm")) });
  // The package's Ranker over this one instance (what `wasmLoader()` hands the client).
  const { rankerClass } = await import(pathToFileURL(ROOT + "pkg/localrank/dist/core/ranker.js"));
  const instance = { Ranker: rankerClass(glue.WasmRanker) };
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
  const model = readFileSync(ROOT + "models/ranker.onnx");
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const makeRanker = (options) => new instance.Ranker(model, options);
  // The client on this same instance, so its memory is the one measured.
  const client = await import("localrank");
  const makeClient = (rankerOptions) => client.createLocalRanker({ initWasm: () => instance, modelBytes: model, rankerOptions, flushDelayMs: Infinity });
  const ranker = makeRanker();
  const width = ranker.modelInfo().features.length;
  const res = {};
  section("Node: model only");
  res.modelOnly = await modelOnly({ ranker, ort, session, width, budgetMs: BUDGET, log });
  section("Node: end to end");
  res.endToEnd = await endToEnd({ makeClient, makeRanker, packCandidates: client.packCandidates, ort, session, budgetMs: BUDGET, log });
  section("Node: memory");
  res.memory = await memory({ makeClient, memoryBytes: () => exports.memory.buffer.byteLength, n: 50, reranks: QUICK ? 1000 : 10_000, log });
  // Per-call cost of crossing into the wasm: a getter that only sums four lengths.
  const t0 = performance.now();
  for (let i = 0; i < 100_000; i++) ranker.keyCount;
  res.exportCallUs = (performance.now() - t0) / 100;
  log(`one export call (keyCount getter): ${res.exportCallUs.toFixed(2)} us`);
  const ortMem = () => Math.max(0, ...ortMemories.map((m) => m.buffer.byteLength));
  const ortBefore = ortMem();
  const x = new ort.Tensor("float32", new Float32Array(500 * width), [500, width]);
  for (let i = 0; i < 10_000; i++) await session.run({ features: x });
  res.ortMemory = { afterLoad: ortBefore, after10kRunsN500: ortMem() };
  log(`ORT memory: ${JSON.stringify(res.ortMemory)}`);
  section("Node: signal ingest + snapshot");
  res.ingest = ingest({ makeRanker, packEvents: client.packEvents, log });
  section("Node: persistence");
  res.persistence = await persistence({
    makeClient: (options) => client.createLocalRanker({ modelBytes: model, initWasm: () => instance, ...options }),
    memoryStorage: client.memoryStorage,
    log,
  });
  section("Node: on-device learning");
  res.learning = await learningCost({ makeClient, budgetMs: BUDGET, log });
  return res;
}

async function browserCases() {
  const { chromium } = await import("playwright-core");
  const { server, url } = await startServer();
  const browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox", "--headless", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"] });
  const run = async (mode, timeoutMs) => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const wasmFiles = new Set();
    page.on("request", (r) => { if (/\.(wasm|mjs|js)$/.test(new URL(r.url()).pathname)) wasmFiles.add(new URL(r.url()).pathname); });
    page.on("console", (m) => { if (mode === "full") log(`[chromium] ${m.text()}`); });
    await page.goto(`${url}/bench/page/index.html?mode=${mode}&budget=${BUDGET}`);
    await page.waitForFunction(() => window.__bench, null, { timeout: timeoutMs });
    const out = await page.evaluate(() => window.__bench);
    await context.close();
    if (!out.ok) throw new Error(`chromium ${mode}: ${out.error}`);
    return { ...out.result, files: [...wasmFiles] };
  };
  try {
    const res = { version: browser.version() };
    section(`Chromium ${res.version}: cold starts (fresh context each)`);
    const coldRuns = QUICK ? 2 : 7;
    const cl = [], cs = [], co = [];
    for (let i = 0; i < coldRuns; i++) {
      cl.push(await run("cold-localrank", 60_000));
      cs.push(await run("cold-localrank-slim", 60_000));
      co.push(await run("cold-ort", 60_000));
    }
    res.cold = { localrank: summariseCold(cl), localrankSlim: summariseCold(cs), ort: summariseCold(co), filesLocalrank: cl[0].files, filesOrt: co[0].files };
    log(JSON.stringify(res.cold));
    section("Chromium: second visits (the page reloaded with its files in the HTTP cache)");
    res.secondVisit = await secondVisits(browser, QUICK ? 2 : 5);
    log(JSON.stringify(res.secondVisit));
    section("Chromium: model only, end to end, memory");
    const full = await run("full", 300_000);
    Object.assign(res, full);
    return res;
  } finally {
    await browser.close();
    server.close();
  }
}

/**
 * The second visit: in one browser context, a first visit (the cold case, then `warmup` keeps
 * the engine busy so V8 optimises the hot functions), a pause for Chrome to write the compiled
 * code next to the cached .wasm (it caches code from streamed compilations of cacheable
 * responses), then the same page again: what a returning user's page load costs.
 */
async function secondVisits(browser, runs) {
  const { server, url } = await startServer({ cacheable: true });
  const visit = async (page, mode, query = "") => {
    await page.goto(`${url}/bench/page/index.html?mode=${mode}${query}`);
    await page.waitForFunction(() => window.__bench, null, { timeout: 60_000 });
    const out = await page.evaluate(() => window.__bench);
    if (!out.ok) throw new Error(`chromium ${mode}: ${out.error}`);
    return out.result;
  };
  const engines = ["cold-localrank", "cold-localrank-slim", "cold-ort"];
  const out = Object.fromEntries(engines.map((mode) => [mode, []]));
  try {
    for (let i = 0; i < runs; i++) {
      for (const mode of engines) {
        const context = await browser.newContext();
        const page = await context.newPage();
        const first = await visit(page, mode, "&warmup=1");
        await page.waitForTimeout(3000);
        const second = await visit(page, mode);
        out[mode].push({ ...second, firstVisitFirstCallMs: first.firstCallMs });
        await context.close();
      }
    }
  } finally {
    server.close();
  }
  return { localrank: summariseCold(out["cold-localrank"]), localrankSlim: summariseCold(out["cold-localrank-slim"]), ort: summariseCold(out["cold-ort"]) };
}

// ---------- report ----------
const f = (x, d = 3) => (x === undefined || Number.isNaN(x) ? "-" : x.toFixed(d));
const MB = (b) => (b / 2 ** 20).toFixed(2) + " MB";
const KB = (b) => (b / 1024).toFixed(0) + " KB";

function table(r) {
  const lines = [];
  const row = (...cells) => lines.push(cells.map((c, i) => String(c).padEnd(i === 0 ? 33 : 19) + " ").join("").trimEnd());
  const hr = () => lines.push("-".repeat(34 + 20 * 6));
  lines.push(`localrank vs onnxruntime-web ${r.env.ortVersion} — ${r.env.date}`);
  lines.push(`Node ${r.env.node}, Chromium ${r.chromium?.version ?? "-"}, ${r.env.nproc} cores, ${r.env.cpu}, ${r.env.platform}`);
  const q = r.quality;
  if (q) lines.push(`model timed: ${q.model}; its quality (${q.card}${q.cardIsForThisModel ? "" : ", which is NOT for this file: re-run ./build.sh model"}): NDCG@10 ${q.ndcg10}, lift over the server's order ${q.lift}`);
  for (const [envName, e] of [["Node", r.node], ["Chromium", r.chromium]]) {
    if (!e?.modelOnly) continue;
    lines.push("");
    lines.push(`[${envName}] 1. model only (ms per call, median / p99)`);
    row("N", "localrank", "ORT", "ratio lr/ORT", "max |diff|");
    hr();
    for (const n of SIZES) {
      const m = e.modelOnly[n];
      row(n, `${f(m.localrank.median)} / ${f(m.localrank.p99)}`, `${f(m.ort.median)} / ${f(m.ort.p99)}`, f(m.ratio, 2) + "x", m.maxAbsDiff.toExponential(1));
    }
    lines.push("");
    lines.push(`[${envName}] 2. end to end: candidates (parsed JSON) + signals -> ids, through the JS client (ms, median / p99)`);
    row("N", "localrank", "ORT + JS", "ratio lr/(ORT+JS)", "lr pack / +copy", "lr model", "lr valid+feat+sort", "lr object path", "JS features", "parity");
    hr();
    for (const n of SIZES) {
      const m = e.endToEnd[n];
      const b = m.breakdown;
      row(n, `${f(m.localrank.median)} / ${f(m.localrank.p99)}`, `${f(m.ortJs.median)} / ${f(m.ortJs.p99)}`, f(m.ratio, 2) + "x", `${f(b.packMedian)} / ${f(b.packCopyMedian)}`, f(b.modelMedian), f(b.validateFeaturesSortMedian), f(m.objectPath.median), f(b.jsFeaturesMedian),
        `|Δscore| ${m.parity.scoresMaxAbsDiff.toExponential(1)} ${m.parity.sameIdsOrder ? "same order" : `${m.parity.positionsDiffering} pos differ`}${m.parity.columnsEqualObjects ? "" : "; COLUMNS != OBJECTS"}`);
    }
  }
  lines.push("");
  lines.push("3. cold start (ms, median of fresh processes / pages)");
  row("", "localrank", "ORT", "ratio lr/ORT");
  hr();
  const cn = r.cold.node, cc = r.chromium?.cold;
  row("Node first call (wasm+model)", f(cn.localrank.firstCallMs, 1), f(cn.ort.firstCallMs, 1), f(cn.localrank.firstCallMs / cn.ort.firstCallMs, 2) + "x");
  row("Node  incl. module import", f(cn.localrank.firstCallInclImportMs, 1), f(cn.ort.firstCallInclImportMs, 1), f(cn.localrank.firstCallInclImportMs / cn.ort.firstCallInclImportMs, 2) + "x");
  row("Node  lr compile/inst/model", `${f(cn.localrank.compileMs, 1)}/${f(cn.localrank.instantiateMs, 1)}/${f(cn.localrank.modelLoadMs, 1)}`);
  row("Node warm model load", f(cn.localrank.warmModelLoadMs, 2), f(cn.ort.warmModelLoadMs, 2), f(cn.localrank.warmModelLoadMs / cn.ort.warmModelLoadMs, 2) + "x");
  const sn = cn.localrankSlim;
  if (sn) {
    row("Node slim first call (NNEF)", f(sn.firstCallMs, 1), "", f(sn.firstCallMs / cn.ort.firstCallMs, 2) + "x");
    row("Node slim compile/inst/model", `${f(sn.compileMs, 1)}/${f(sn.instantiateMs, 1)}/${f(sn.modelLoadMs, 1)}`);
    row("Node slim warm model load", f(sn.warmModelLoadMs, 2), "", f(sn.warmModelLoadMs / cn.ort.warmModelLoadMs, 2) + "x");
  }
  if (cc) {
    row("Chromium first call (wasm+model)", f(cc.localrank.firstCallMs, 1), f(cc.ort.firstCallMs, 1), f(cc.localrank.firstCallMs / cc.ort.firstCallMs, 2) + "x");
    row("Chromium lr wasm / model load", `${f(cc.localrank.fetchCompileInstantiateMs, 1)}/${f(cc.localrank.modelLoadMs, 1)}`);
    row("Chromium warm model load", f(cc.localrank.warmModelLoadMs, 2), f(cc.ort.warmModelLoadMs, 2), f(cc.localrank.warmModelLoadMs / cc.ort.warmModelLoadMs, 2) + "x");
    const sc = cc.localrankSlim;
    if (sc) {
      row("Chromium slim first call (NNEF)", f(sc.firstCallMs, 1), "", f(sc.firstCallMs / cc.ort.firstCallMs, 2) + "x");
      row("Chromium slim wasm / model load", `${f(sc.fetchCompileInstantiateMs, 1)}/${f(sc.modelLoadMs, 1)}`);
    }
  }
  const sv = r.chromium?.secondVisit;
  if (sv) {
    row("Chromium 2nd visit first call", f(sv.localrank.firstCallMs, 1), f(sv.ort.firstCallMs, 1), f(sv.localrank.firstCallMs / sv.ort.firstCallMs, 2) + "x");
    row("Chromium 2nd visit lr wasm / model", `${f(sv.localrank.fetchCompileInstantiateMs, 1)}/${f(sv.localrank.modelLoadMs, 1)}`, "", "", `(its 1st visit: ${f(sv.localrank.firstVisitFirstCallMs, 1)} / ORT ${f(sv.ort.firstVisitFirstCallMs, 1)})`);
    row("Chromium 2nd visit slim", f(sv.localrankSlim.firstCallMs, 1), "", f(sv.localrankSlim.firstCallMs / sv.ort.firstCallMs, 2) + "x", `wasm / model ${f(sv.localrankSlim.fetchCompileInstantiateMs, 1)}/${f(sv.localrankSlim.modelLoadMs, 1)}`);
  }
  lines.push("");
  lines.push("4. size (raw / gzip -9 / brotli 11)");
  const s = r.sizes;
  const fmt = (x) => `${KB(x.raw)} / ${KB(x.gzip)} / ${KB(x.brotli)}`;
  const sum = (xs) => ({ raw: xs.reduce((a, x) => a + x.raw, 0), gzip: xs.reduce((a, x) => a + x.gzip, 0), brotli: xs.reduce((a, x) => a + x.brotli, 0) });
  row("wasm", fmt(s.localrank.wasm), fmt(s.ort.wasm), `brotli ${f(s.localrank.wasm.brotli / s.ort.wasm.brotli, 2)}x`);
  if (s.localrankSlim) row("wasm, slim (NNEF only)", fmt(s.localrankSlim.wasm), "", `brotli ${f(s.localrankSlim.wasm.brotli / s.ort.wasm.brotli, 2)}x`);
  row("JS glue", fmt(s.localrank.glue), fmt(sum(s.ort.glue)), `brotli ${f(s.localrank.glue.brotli / sum(s.ort.glue).brotli, 2)}x`);
  row("model (shared)", fmt(s.model));
  if (s.localrankSlim) row("model, NNEF (slim)", fmt(s.localrankSlim.model));
  lines.push(`  localrank: ${s.localrank.wasm.file}; ORT: ${s.ort.wasm.file} + ${s.ort.glue.map((g) => g.file.split("/").pop()).join(" + ")}`);
  if (r.chromium?.cold) lines.push(`  fetched by Chromium — ORT: ${r.chromium.cold.filesOrt.join(", ")}; localrank: ${r.chromium.cold.filesLocalrank.join(", ")}`);
  lines.push("");
  lines.push(`5. wasm linear memory (localrank N=${r.node.memory.n}, ${r.node.memory.checkpoints.at(-1).reranks} reranks; ORT N=500, 10k runs)`);
  for (const [envName, m] of [["Node", r.node.memory], ["Chromium", r.chromium?.memory]]) {
    if (!m) continue;
    row(`${envName} localrank`, `load ${MB(m.afterLoad)}`, `+signals ${MB(m.afterRecord)}`, `1 rerank ${MB(m.checkpoints[0].bytes)}`, `${m.checkpoints.at(-1).reranks} reranks ${MB(m.afterAll)}`);
  }
  row("Node ORT", `load ${MB(r.node.ortMemory.afterLoad)}`, "", "", `10k runs ${MB(r.node.ortMemory.after10kRunsN500)}`);
  lines.push("");
  lines.push(`one call into localrank's wasm (keyCount getter): ${f(r.node.exportCallUs, 2)} us`);
  lines.push("");
  lines.push("6. signal ingest (Node, batches of 1000) and snapshot at the key cap");
  const g = r.node.ingest;
  const M = (perSec) => `${(perSec / 1e6).toFixed(3)} M`;
  row("events/s (steady, 500-item set)", "localrank", "JS store", "ratio lr/JS", "lr pack / batch (ms)");
  row("  packEvents + recordColumns", M(g.columnsEventsPerSec), M(g.jsEventsPerSec), f(g.columnsEventsPerSec / g.jsEventsPerSec, 2) + "x", `${f(g.packBatchMs.median)} / ${f(g.columnsBatchMs.median)}`);
  row("  record (object path)", M(g.objectEventsPerSec), "", f(g.objectEventsPerSec / g.jsEventsPerSec, 2) + "x", `- / ${f(g.objectBatchMs.median)}`);
  row("events/s (new keys, to cap)", M(g.freshKeyEventsPerSec), "", "", g.sameStore ? "columns = objects: same snapshot" : "COLUMNS != OBJECTS");
  row("snapshot", `${g.keyCountAtSnapshot} keys`, `${KB(g.snapshotBytes)}`, `${f(g.snapshotMs.median, 2)} ms`, `restore ${f(g.restoreMs.median, 2)} ms`);
  const p = r.node.persistence;
  lines.push("");
  lines.push(`8. persistence at a ${p.keys}-key store (Node, in-memory log; the storage's own I/O aside)`);
  row("a flush after 10 events", `${p.flushBytes.median} B`, `${f(p.flushMs.median)} ms (p99 ${f(p.flushMs.p99)})`, `a full snapshot instead: ${KB(p.fullSnapshotBytes)}`);
  row("a checkpoint (the leader, rarely)", `${KB(p.checkpointBytes)}`, `blocks the thread for ${f(checkpointBlockMs(g), 2)} ms: encoding ${f(g.snapshotBeginMs.median, 2)}, then in a later task checksumming and copying out ${f(g.snapshotFinishMs.median, 2)} (in one call: ${f(g.snapshotMs.median, 2)})`);
  const l = r.node.learning;
  if (l) {
    lines.push("");
    lines.push(`9. on-device learning (Node, N=${l.n}; head ${l.active ? "active" : "NOT active"} after ${l.rounds} lists of a user opening "${l.topic}", ${l.updates} steps; ms, median / p99)`);
    row("rerank, learning on", `${f(l.on.median)} / ${f(l.on.p99)}`, `${f(l.ratio, 3)}x`);
    row("rerank, learning off", `${f(l.off.median)} / ${f(l.off.p99)}`);
  }
  const w = r.chromium?.worker;
  if (w) {
    lines.push("");
    lines.push(`7. worker mode (Chromium, N=${w.n}, ms, median / p99; the same order as on the page: ${w.sameOrder})`);
    row("page's main thread per rerank", `${f(w.mainThread.median)} / ${f(w.mainThread.p99)}`, "(candidate objects: packing + posting + reading the result)");
    row("round trip (result back)", `${f(w.roundTrip.median)} / ${f(w.roundTrip.p99)}`, `added latency ${f(w.addedLatencyMs)}`);
    row("serialized: page's main thread", `${f(w.serializedMainThread.median)} / ${f(w.serializedMainThread.p99)}`, `(the response's ${KB(w.serializedBytes)} of JSON: copying into a reused buffer + posting + reading the result)`);
    row("serialized: round trip", `${f(w.serializedRoundTrip.median)} / ${f(w.serializedRoundTrip.p99)}`, `added latency ${f(w.serializedAddedLatencyMs)} (the worker parses and packs)`);
    row("the same rerank on the page", `${f(w.onPage.median)} / ${f(w.onPage.p99)}`);
  }
  lines.push("");
  lines.push("Budgets");
  for (const b of r.budgets) {
    lines.push(`  ${b.met ? "MET   " : "MISSED"} ${b.name}: ${b.measured}`);
    if (!b.met && b.limit) lines.push(`           limited by: ${b.limit}`);
  }
  return lines.join("\n");
}

/** What a checkpoint blocks its thread for: the longer of its snapshot's two steps (bench case 6). */
function checkpointBlockMs(ingest) {
  return Math.max(ingest.snapshotBeginMs.median, ingest.snapshotFinishMs.median);
}

function budgets(r) {
  const out = [];
  // `limit`: what the run's own breakdown says holds the figure back, printed when missed.
  const add = (name, met, measured, limit = "") => out.push({ name, met, measured, limit });
  for (const [envName, e] of [["Node", r.node], ["Chromium", r.chromium]]) {
    if (!e?.modelOnly) continue;
    const m = e.modelOnly[500];
    add(`[${envName}] model-only N=500 localrank <= 1.0x ORT`, m.ratio <= 1, `${f(m.ratio, 2)}x (${f(m.localrank.median)} vs ${f(m.ort.median)} ms)`,
      `both engines' per-operator cost on a graph this small (N=50 ${f(e.modelOnly[50].ratio, 2)}x, N=2000 ${f(e.modelOnly[2000].ratio, 2)}x)`);
    const x = e.endToEnd[500];
    const b = x.breakdown;
    const parts = `packing ${f(b.packMedian)} + copying in ${f(b.packCopyMedian - b.packMedian)} + model ${f(b.modelMedian)} + validation, features and ordering ${f(b.validateFeaturesSortMedian)} ms`;
    add(`[${envName}] end to end N=500 median < 0.5 ms`, x.localrank.median < 0.5, `${f(x.localrank.median)} ms`, parts);
    add(`[${envName}] end to end N=500 p99 < 1 ms`, x.localrank.p99 < 1, `${f(x.localrank.p99)} ms`, `the median (${f(x.localrank.median)} ms) plus collections of the packing's arrays and this shared machine's noise`);
    add(`[${envName}] end to end N=500 <= 0.5x ORT+JS`, x.ratio <= 0.5, `${f(x.ratio, 2)}x (${f(x.localrank.median)} vs ${f(x.ortJs.median)} ms)`, parts);
  }
  const cn = r.cold.node;
  add("[Node] cold start <= 0.25x ORT session creation (first call)", cn.localrank.firstCallMs <= 0.25 * cn.ort.firstCallMs, `${f(cn.localrank.firstCallMs / cn.ort.firstCallMs, 2)}x (${f(cn.localrank.firstCallMs, 1)} vs ${f(cn.ort.firstCallMs, 1)} ms)`,
    `compiling ${f(cn.localrank.compileMs, 1)} + instantiating ${f(cn.localrank.instantiateMs, 1)} + the first model load ${f(cn.localrank.modelLoadMs, 1)} ms (tract's loader and optimiser in not-yet-optimised code; a warm load takes ${f(cn.localrank.warmModelLoadMs, 1)} ms)`);
  if (r.chromium?.cold) {
    const cc = r.chromium.cold;
    add("[Chromium] cold start <= 0.25x ORT session creation (first call)", cc.localrank.firstCallMs <= 0.25 * cc.ort.firstCallMs, `${f(cc.localrank.firstCallMs / cc.ort.firstCallMs, 2)}x (${f(cc.localrank.firstCallMs, 1)} vs ${f(cc.ort.firstCallMs, 1)} ms)`,
      `fetching, compiling and instantiating ${f(cc.localrank.fetchCompileInstantiateMs, 1)} + the first model load ${f(cc.localrank.modelLoadMs, 1)} ms (a warm load takes ${f(cc.localrank.warmModelLoadMs, 1)} ms)`);
  }
  const sv = r.chromium?.secondVisit;
  if (sv) {
    add("[Chromium] second visit <= 0.25x ORT's second visit (first call)", sv.localrank.firstCallMs <= 0.25 * sv.ort.firstCallMs, `${f(sv.localrank.firstCallMs / sv.ort.firstCallMs, 2)}x (${f(sv.localrank.firstCallMs, 1)} vs ${f(sv.ort.firstCallMs, 1)} ms)`,
      `the module from the HTTP cache with its compiled code ${f(sv.localrank.fetchCompileInstantiateMs, 1)} + the model load ${f(sv.localrank.modelLoadMs, 1)} ms: the first part grows with the module's size`);
  }
  const s = r.sizes;
  add("brotli wasm <= 0.5x ORT's wasm", s.localrank.wasm.brotli <= 0.5 * s.ort.wasm.brotli, `${f(s.localrank.wasm.brotli / s.ort.wasm.brotli, 2)}x (${KB(s.localrank.wasm.brotli)} vs ${KB(s.ort.wasm.brotli)})`,
    `tract, whose readers link every operator whatever the model (rustfft alone is 12 % of the code), and the ONNX loader adds ${s.localrankSlim ? KB(s.localrank.wasm.brotli - s.localrankSlim.wasm.brotli) : "?"} over the slim flavour (README, "Where the time goes"; node bench/lib/code-by-crate.mjs)`);
  // The slim flavour's own budget (issue 14): under a megabyte, 10^6 bytes.
  if (s.localrankSlim) add("brotli wasm <= 1.0 MB (slim flavour)", s.localrankSlim.wasm.brotli <= 1e6, `${(s.localrankSlim.wasm.brotli / 1e6).toFixed(3)} MB (${KB(s.localrankSlim.wasm.brotli)}; ${f(s.localrankSlim.wasm.brotli / s.ort.wasm.brotli, 2)}x ORT's wasm)`,
    "tract-core, ndarray and rustfft (FFTs no ranking model uses): tract-nnef's reader builds its full operator set for every archive, so all of tract stays linked (README, \"Where the time goes\"; node bench/lib/code-by-crate.mjs)");
  for (const [envName, m] of [["Node", r.node.memory], ["Chromium", r.chromium?.memory]]) {
    if (!m) continue;
    const flat = m.afterAll === m.checkpoints[0].bytes;
    add(`[${envName}] linear memory <= 16 MB and flat across reranks`, m.afterAll <= 16 * 2 ** 20 && flat, `${MB(m.afterAll)}, after 1 rerank ${MB(m.checkpoints[0].bytes)} -> after ${m.checkpoints.at(-1).reranks} ${MB(m.afterAll)}`);
  }
  const w = r.chromium?.worker;
  if (w) {
    add("[Chromium] worker mode N=500, candidate objects: main thread per rerank <= 0.1 ms", w.mainThread.median <= 0.1, `${f(w.mainThread.median)} ms (round trip ${f(w.roundTrip.median)} ms, ${f(w.addedLatencyMs)} ms more than on the page)`,
      `reading and packing the 500 candidate objects, which only the page's thread can (packing alone on the page: ${f(r.chromium.endToEnd?.[500]?.breakdown.packMedian)} ms)`);
    add("[Chromium] worker mode N=500, the serialized response: main thread per rerank <= 0.1 ms", w.serializedMainThread.median <= 0.1, `${f(w.serializedMainThread.median)} ms for ${KB(w.serializedBytes)} of JSON (round trip ${f(w.serializedRoundTrip.median)} ms, ${f(w.serializedAddedLatencyMs)} ms more than on the page)`,
      "copying the bytes into a reused buffer and posting it, then reading the result (500 ids)");
  }
  const p = r.node.persistence;
  add("[Node] a flush after 10 events at a 20 000-key store writes <= 16 KB", p.flushBytes.median <= 16 * 1024, `${p.flushBytes.median} B (a full snapshot: ${KB(p.fullSnapshotBytes)})`);
  add("[Node] main thread per flush <= 1 ms", p.flushMs.median <= 1, `${f(p.flushMs.median)} ms`);
  const blockMs = checkpointBlockMs(r.node.ingest);
  add("[Node] a checkpoint blocks a rerank <= 5 ms", blockMs <= 5, `${f(blockMs, 2)} ms (the longer of its snapshot's two steps, ${r.node.ingest.keyCountAtSnapshot} keys; in one call ${f(r.node.ingest.snapshotMs.median, 2)} ms; in worker mode it blocks the worker, not the page)`,
    `encoding the whole store, ${KB(r.node.ingest.snapshotBytes)}, in one synchronous step (reading it must happen at one moment)`);
  const l = r.node.learning;
  if (l) {
    add(`[Node] learning (head active) adds <= 5 % to a rerank at N=${l.n}`, l.active && l.ratio <= 1.05, `${f(l.ratio, 3)}x (${f(l.on.median)} vs ${f(l.off.median)} ms; head ${l.active ? "active" : "not active"})`,
      l.active ? "the head's term on every candidate, and remembering the shown top 50 with its features" : "the head did not become active in the scenario, so its cost is not what a learning device pays");
  }
  const g = r.node.ingest;
  add("[Node] ingest >= 1 M events/s (packEvents + recordColumns)", g.columnsEventsPerSec >= 1e6, `${(g.columnsEventsPerSec / 1e6).toFixed(3)} M/s (object path ${(g.objectEventsPerSec / 1e6).toFixed(3)} M/s, JS store ${(g.jsEventsPerSec / 1e6).toFixed(3)} M/s)`);
  return out;
}

function chart(r) {
  // Grouped bars: median ms per N for model-only and end to end, Node and Chromium.
  const groups = [];
  for (const [envName, e] of [["Node", r.node], ["Chromium", r.chromium]]) {
    if (!e?.modelOnly) continue;
    groups.push({ title: `${envName}: model only`, data: SIZES.map((n) => [n, e.modelOnly[n].localrank.median, e.modelOnly[n].ort.median]) });
    groups.push({ title: `${envName}: end to end`, data: SIZES.map((n) => [n, e.endToEnd[n].localrank.median, e.endToEnd[n].ortJs.median]) });
  }
  const W = 360, H = 240, pad = 40, cols = 2;
  const width = W * cols, height = H * Math.ceil(groups.length / cols) + 40;
  const parts = [`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="11">`, `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="18" font-size="13">localrank (blue) vs onnxruntime-web (orange; end to end: ORT + JS features) — median ms, log scale — ${r.env.date.slice(0, 10)}</text>`];
  groups.forEach((g, gi) => {
    const ox = (gi % cols) * W, oy = 30 + Math.floor(gi / cols) * H;
    const vals = g.data.flatMap((d) => [d[1], d[2]]);
    const lo = Math.log10(Math.min(...vals) / 2), hi = Math.log10(Math.max(...vals) * 1.5);
    const y = (v) => oy + H - pad - ((Math.log10(v) - lo) / (hi - lo)) * (H - 2 * pad);
    parts.push(`<text x="${ox + pad}" y="${oy + 16}" font-size="12">${g.title}</text>`);
    parts.push(`<line x1="${ox + pad}" y1="${oy + H - pad}" x2="${ox + W - 10}" y2="${oy + H - pad}" stroke="#333"/>`);
    const bw = (W - pad - 20) / g.data.length;
    g.data.forEach(([n, a, b], i) => {
      const x = ox + pad + i * bw + 6;
      for (const [k, v, color] of [[0, a, "#2b6cb0"], [1, b, "#dd6b20"]]) {
        const top = y(v);
        parts.push(`<rect x="${x + k * (bw / 2 - 4)}" y="${top}" width="${bw / 2 - 6}" height="${oy + H - pad - top}" fill="${color}"/>`);
        parts.push(`<text x="${x + k * (bw / 2 - 4)}" y="${top - 3}" font-size="9">${v < 1 ? v.toFixed(3) : v.toFixed(2)}</text>`);
      }
      parts.push(`<text x="${x + bw / 4}" y="${oy + H - pad + 14}">N=${n}</text>`);
    });
  });
  parts.push("</svg>");
  return parts.join("\n");
}

// ---------- main ----------
mkdirSync(RESULTS, { recursive: true });
if (process.argv.includes("--report")) {
  // Re-print the table and redraw the chart from the last results.json, without measuring.
  const saved = JSON.parse(readFileSync(RESULTS + "results.json", "utf8"));
  saved.budgets = budgets(saved);
  console.log(table(saved));
  writeFileSync(RESULTS + "table.txt", table(saved) + "\n");
  writeFileSync(RESULTS + "chart.svg", chart(saved));
  process.exit(0);
}
const ortVersion = JSON.parse(readFileSync(ROOT + "node_modules/onnxruntime-web/package.json", "utf8")).version;
const results = { env: { ...machine(), ortVersion, quick: QUICK } };
section("sizes");
results.sizes = sizes();
results.quality = quality();
section("Node: cold starts (fresh processes)");
const cold = coldNode(["localrank", "localrank-slim", "ort"], QUICK ? 2 : 9);
results.cold = { node: { localrank: summariseCold(cold.localrank), localrankSlim: summariseCold(cold["localrank-slim"]), ort: summariseCold(cold.ort) } };
log(JSON.stringify(results.cold.node));
results.node = await nodeCases();
if (!process.env.BENCH_NO_BROWSER) results.chromium = await browserCases();
results.budgets = budgets(results);
const text = table(results);
console.log(text);
writeFileSync(RESULTS + "results.json", JSON.stringify(results, null, 2));
writeFileSync(RESULTS + "table.txt", text + "\n");
writeFileSync(RESULTS + "chart.svg", chart(results));
console.error(`\nwrote ${RESULTS}results.json, table.txt, chart.svg`);
process.exit(0);
