// The Chromium half of the benchmark: ?mode=full runs the model-only and end-to-end cases;
// ?mode=cold-localrank / cold-localrank-slim / cold-ort measures one cold start (with &warmup=1
// it then keeps the engine busy, so that the browser's compiled-code cache has the optimised
// code for a second visit). Results go to window.__bench.
import { endToEnd, memory, modelOnly, workerMode } from "../lib/cases.mjs";

const params = new URLSearchParams(location.search);
const mode = params.get("mode") ?? "full";
const logEl = document.getElementById("log");
const log = (line) => { logEl.textContent += line + "\n"; console.log(line); };
const t = () => performance.now();

// Capture ORT's linear memory (its Emscripten glue creates it with `new WebAssembly.Memory`).
const memories = [];
WebAssembly.Memory = new Proxy(WebAssembly.Memory, {
  construct(target, args) { const m = new target(...args); memories.push(m); return m; },
});

// The page's time in workers' "message" listeners, where a result arriving is read (reading
// `event.data` deserializes it), and when the last one ended: part of what worker mode costs
// the page's thread.
const receiving = { totalMs: 0, lastEnd: 0 };
const addEventListener = Worker.prototype.addEventListener;
Worker.prototype.addEventListener = function (type, listener, options) {
  if (type !== "message" || typeof listener !== "function") return addEventListener.call(this, type, listener, options);
  return addEventListener.call(this, type, function (event) {
    const t0 = performance.now();
    try {
      return listener.call(this, event);
    } finally {
      receiving.lastEnd = performance.now();
      receiving.totalMs += receiving.lastEnd - t0;
    }
  }, options);
};

async function loadModel() {
  return new Uint8Array(await (await fetch("/models/ranker.onnx")).arrayBuffer());
}

/**
 * One instance's bindings of the package's full or slim flavour, not yet instantiated, and
 * the package's `Ranker` class over them (`instance`, what `wasmLoader()` hands the client).
 */
async function bindings(slim) {
  const dir = `/pkg/localrank/dist/wasm/${slim ? "slim" : "full"}/`;
  const { createBindings } = await import(dir + "bindings.js");
  const { rankerClass } = await import("/pkg/localrank/dist/core/ranker.js");
  const glue = createBindings();
  return { glue, instance: { Ranker: rankerClass(glue.WasmRanker) }, wasm: dir + "localrank_bg.wasm" };
}

async function coldLocalrank(slim = false) {
  const t0 = t();
  const { glue, instance, wasm } = await bindings(slim);
  const model = slim ? new Uint8Array(await (await fetch("/models/ranker.nnef.tar")).arrayBuffer()) : await loadModel();
  const t1 = t();
  // Compiled while it streams in, then instantiated: what the client's loader does.
  const exports = await glue.init({ module_or_path: await WebAssembly.compileStreaming(fetch(wasm)) });
  const t2 = t();
  new instance.Ranker(model);
  const t3 = t();
  const warm = [];
  for (let i = 0; i < 5; i++) { const a = t(); new instance.Ranker(model).free(); warm.push(t() - a); }
  if (params.has("warmup")) for (let i = 0; i < 200; i++) new instance.Ranker(model).free();
  return { engine: slim ? "localrank-slim" : "localrank", fetchCompileInstantiateMs: t2 - t1, modelLoadMs: t3 - t2, firstCallMs: t3 - t1, firstCallInclImportMs: t3 - t0, warmModelLoadMs: warm.sort((a, b) => a - b)[2], memory: exports.memory.buffer.byteLength };
}

async function coldOrt() {
  const t0 = t();
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  const model = await loadModel();
  const t1 = t();
  await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const t2 = t();
  const warm = [];
  for (let i = 0; i < 5; i++) { const a = t(); const s = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] }); warm.push(t() - a); await s.release(); }
  if (params.has("warmup")) for (let i = 0; i < 200; i++) await (await ort.InferenceSession.create(model, { executionProviders: ["wasm"] })).release();
  return { engine: "ort", firstCallMs: t2 - t1, firstCallInclImportMs: t2 - t0, warmModelLoadMs: warm.sort((a, b) => a - b)[2] };
}

async function full() {
  const { glue, instance, wasm } = await bindings(false);
  const ort = await import("/ort/ort.wasm.min.mjs");
  ort.env.wasm.numThreads = 1;
  const model = await loadModel();
  const exports = await glue.init({ module_or_path: await WebAssembly.compileStreaming(fetch(wasm)) });
  const makeRanker = (options) => new instance.Ranker(model, options);
  // The client on this same instance, so its memory is the one measured.
  const client = await import("localrank");
  const makeClient = (rankerOptions) => client.createLocalRanker({ initWasm: () => instance, modelBytes: model, rankerOptions, flushDelayMs: Infinity });
  const session = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const ranker = makeRanker();
  const width = ranker.modelInfo().features.length;
  const budgetMs = Number(params.get("budget") ?? 800);
  const result = { userAgent: navigator.userAgent, crossOriginIsolated };
  // First, on a fresh page: the main thread's share is small enough for leftovers of the other
  // cases (a bigger heap, more collections) to show in it.
  const { createLocalRanker: createWorkerRanker } = await import("localrank/worker");
  result.worker = await workerMode({
    makeWorkerClient: () => createWorkerRanker({ modelBytes: model, flushDelayMs: Infinity }),
    makeClient: () => client.createLocalRanker({ modelBytes: model, flushDelayMs: Infinity }),
    receiving: () => ({ ...receiving }),
    log,
  });
  result.modelOnly = await modelOnly({ ranker, ort, session, width, budgetMs, log });
  result.endToEnd = await endToEnd({ makeClient, makeRanker, packCandidates: client.packCandidates, ort, session, budgetMs, log });
  result.memory = await memory({ makeClient, memoryBytes: () => exports.memory.buffer.byteLength, n: 50, reranks: Number(params.get("reranks") ?? 2000), log });
  return result;
}

try {
  const run = { full, "cold-localrank": () => coldLocalrank(), "cold-localrank-slim": () => coldLocalrank(true), "cold-ort": coldOrt }[mode];
  window.__bench = { ok: true, result: await run() };
} catch (e) {
  window.__bench = { ok: false, error: String(e?.stack ?? e) };
}
