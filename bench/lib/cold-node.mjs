// One cold start in a fresh Node process: `node bench/lib/cold-node.mjs localrank|localrank-slim|ort`
// (localrank-slim: the package's NNEF-only flavour, with models/ranker.nnef.tar).
// Prints one JSON line: first call (wasm compile + instantiate + model load) and warm model loads.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("../../", import.meta.url));
const engine = process.argv[2];
const slim = engine === "localrank-slim";
const model = readFileSync(root + (slim ? "models/ranker.nnef.tar" : "models/ranker.onnx"));
const dir = `${root}pkg/localrank/dist/wasm/${slim ? "slim" : "full"}/`;
const t = () => performance.now();
const out = { engine };
if (engine.startsWith("localrank")) {
  const t0 = t();
  const { createBindings } = await import(dir + "bindings.js");
  const { rankerClass } = await import(`${root}pkg/localrank/dist/core/ranker.js`);
  const glue = createBindings();
  const bytes = readFileSync(dir + "localrank_bg.wasm");
  const t1 = t();
  const module = await WebAssembly.compile(bytes);
  const t2 = t();
  await glue.init({ module_or_path: module });
  const Ranker = rankerClass(glue.WasmRanker);
  const t3 = t();
  let ranker = new Ranker(model);
  const t4 = t();
  ranker.rerank({ candidates: [{ id: "a" }, { id: "b" }], now: Date.now(), utcOffsetMinutes: 0 });
  const t5 = t();
  Object.assign(out, { importAndReadMs: t1 - t0, compileMs: t2 - t1, instantiateMs: t3 - t2, modelLoadMs: t4 - t3, firstRerankMs: t5 - t4, firstCallMs: t4 - t1, firstCallInclImportMs: t4 - t0 });
  const warm = [];
  for (let i = 0; i < 10; i++) {
    const a = t();
    const r = new Ranker(model);
    warm.push(t() - a);
    r.free();
  }
  out.warmModelLoadMs = warm.sort((a, b) => a - b)[5];
} else {
  const t0 = t();
  const ort = await import("onnxruntime-web");
  ort.env.wasm.numThreads = 1;
  const t1 = t();
  const s = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
  const t2 = t();
  // Two rows as wide as the default model's contract (models/kuairand/features.json).
  const width = JSON.parse(readFileSync(root + "models/kuairand/features.json", "utf8")).features.length;
  await s.run({ features: new ort.Tensor("float32", new Float32Array(2 * width), [2, width]) });
  const t3 = t();
  Object.assign(out, { importAndReadMs: t1 - t0, firstCallMs: t2 - t1, firstCallInclImportMs: t2 - t0, firstRunMs: t3 - t2 });
  const warm = [];
  for (let i = 0; i < 10; i++) {
    const a = t();
    const x = await ort.InferenceSession.create(model, { executionProviders: ["wasm"] });
    warm.push(t() - a);
    await x.release();
  }
  out.warmModelLoadMs = warm.sort((a, b) => a - b)[5];
}
console.log(JSON.stringify(out));
