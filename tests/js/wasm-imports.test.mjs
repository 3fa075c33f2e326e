// Privacy by construction: what the built .wasm can reach. A WebAssembly module can only touch
// the outside world through its imports, and wasm-bindgen's glue decides what each import does.
// The claim checked here, precisely: the module's imports are the eight functions below
// (seven in the slim flavour), each doing exactly what its line says — read the time, fill its
// own memory with random bytes, create an `Error` and read its `stack`, print a string to
// `console.error`, throw an `Error` with a message, turn its own string into a JS string — and
// no JS value from a caller ever enters it: every export takes numbers, strings and typed
// arrays, copied into its memory (the glue puts a JS value into the module's reference table
// only for an exception `crypto.getRandomValues` throws). Holding no object but its own
// errors and strings, and able to read no property but an error's `stack`, the module cannot
// reach `Function`, the network, storage or the page. (An earlier set of imports — Reflect
// get/set, `call`, `push`, object creation, for serde-wasm-bindgen — could in principle be
// chained into `Function(string)` by the module's code; under a Content-Security-Policy
// without 'unsafe-eval', which the demo and fixture apps are tested under, the browser forbids
// that anyway.) It also checks that the module exports only the Ranker API plus wasm-bindgen's
// runtime.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { PACKAGE } from "./helpers.mjs";

/** wasm-bindgen puts every import in one module namespace, named after its glue file. */
const GLUE_NAMESPACE = "./localrank_bg.js";

/**
 * Every import the module may have, by name without wasm-bindgen's hash, with the shape its
 * glue implementation must have. To allow a new one, add a line with a comment saying why it
 * is needed — and what it lets the module reach.
 * @type {Record<string, RegExp>}
 */
const ALLOWED = {
  // -- Time: the time budget's clock (a number).
  now: /^performance\.now\(\)$/,
  // -- Randomness: tract's getrandom (hash-map seeds); fills wasm memory, returns nothing.
  getRandomValues: /^globalThis\.crypto\.getRandomValues\(getArrayU8FromWasm0\(arg0, arg1\)\)$/,
  // -- The panic hook: a fresh Error, its stack (a string, copied into wasm memory), and the
  //    panic message printed to console.error (the message string is freed in a `finally`).
  new: /^new Error\(\)$/,
  stack: /^arg1\.stack$/,
  error: /^let deferred0_0; let deferred0_1; try \{ deferred0_0 = arg0; deferred0_1 = arg1; console\.error\(getStringFromWasm0\(arg0, arg1\)\); \} finally \{ wasm\.__wbindgen_free\(deferred0_0, deferred0_1, 1\); \}$/,
  // -- wasm-bindgen intrinsics: throwing an Error with a message (its own borrow checks), a
  //    string of the module's own memory as a JS string (its error texts), the reference table.
  __wbindgen_throw: /^throw new Error\(getStringFromWasm0\(arg0, arg1\)\)$/,
  __wbindgen_generic: /^getStringFromWasm0\(arg0, arg1\)$/,
  __wbindgen_init_externref_table: /^const table = wasm\.__wbindgen_externrefs;( table\.set\(\d+, (undefined|null|true|false)\);?)+$/,
};

/**
 * Names in an implementation that would reach the network, storage, the page, other code or
 * the host: none may appear (`globalThis` only as `globalThis.crypto.getRandomValues`).
 */
const FORBIDDEN = [
  "fetch", "XMLHttpRequest", "WebSocket", "WebTransport", "EventSource", "RTCPeerConnection", "sendBeacon",
  "indexedDB", "localStorage", "sessionStorage", "caches", "cookie", "navigator", "document", "window", "self",
  "location", "postMessage", "BroadcastChannel", "Worker", "importScripts", "import", "require", "eval",
  "Function", "setTimeout", "setInterval", "process", "Deno", "Bun", "globalThis(?!\\.crypto\\.getRandomValues\\()",
];
const FORBIDDEN_RE = new RegExp(`\\b(${FORBIDDEN.join("|")})\\b`);

/** The import's name without wasm-bindgen's hash: `__wbg_now_f1d8…` → `now`. */
export function baseName(name) {
  const generic = /^__wbindgen_generic_\d+$/.exec(name);
  if (generic) return "__wbindgen_generic";
  const hashed = /^__wbg_(.+)_[0-9a-f]{16}$/.exec(name);
  if (!hashed) return name;
  return hashed[1];
}

/**
 * An import's glue function reduced to what it does, as one line: its body (inside
 * wasm-bindgen's `handleError` wrapper, if any) without comments, without the write-back of a
 * result into wasm memory (`passStringToWasm0`, `getDataViewMemory0().set…`), with one-letter
 * aliases of an argument replaced by the argument and `const ret = X; return ret;` as `X`.
 */
export function implementationOf(fn) {
  const source = fn.toString();
  const handled = /handleError\(function \([^)]*\) \{([\s\S]*)\}, arguments\)/.exec(source);
  let body = (handled ? handled[1] : source.slice(source.indexOf("{") + 1, source.lastIndexOf("}")))
    .replace(/\/\/[^\n]*/g, "")
    .replace(/\s+/g, " ")
    .replace(/ ?(const|var) ptr1 = [^;]*passStringToWasm0\(ret, [^;]*;/g, "")
    .replace(/ ?(const|var) len1 = WASM_VECTOR_LEN;/g, "")
    .replace(/ ?getDataViewMemory0\(\)\.set\w+\([^;]*;/g, "")
    .trim();
  const alias = /^const (v|val|obj) = (arg\d); /.exec(body);
  if (alias) body = body.slice(alias[0].length).replace(new RegExp(`\\b${alias[1]}\\b`, "g"), alias[2]);
  return body
    .replace(/const ret = ([^;]*); return ret;/, "$1")
    .replace(/^const ret = ([^;]*);$/, "$1")
    .replace(/;$/, "");
}

/**
 * The import object the bindings pass to `WebAssembly.instantiate`, caught on the way, by the
 * compiled module it was given with (so concurrent instantiations cannot mix them up).
 */
const importsByModule = new Map();
const instantiate = WebAssembly.instantiate;
WebAssembly.instantiate = (module, imports) => {
  importsByModule.set(module, imports);
  return instantiate.call(WebAssembly, module, imports);
};

/** Runs `load` once; later calls get the first result. */
const once = (load) => {
  let result = null;
  return () => (result ??= load());
};

const packages = ["full", "slim"].map((flavour) => {
  const dir = `${PACKAGE}dist/wasm/${flavour}/`;
  return {
    label: `localrank (${flavour})`,
    wasm: `${dir}localrank_bg.wasm`,
    bindings: `${dir}bindings.js`,
    imports: once(async () => {
      const { createBindings } = await import(`${dir}bindings.js`);
      const glue = createBindings();
      const module = await WebAssembly.compile(readFileSync(`${dir}localrank_bg.wasm`));
      await glue.init({ module_or_path: module });
      assert.ok(importsByModule.has(module), "the bindings instantiated the module");
      return { glue, imports: importsByModule.get(module) };
    }),
  };
});

/** The WasmRanker methods the module exports (`wasmranker_<method>`), besides its constructor and free. */
const RANKER_METHODS = [
  "rerankColumns", "takeOrder", "takeScores", "takeContributions", "explainedGroups", "recordColumns", "snapshot", "beginSnapshot", "finishSnapshot", "restore",
  "clear", "exportSignals", "modelInfo", "keyCount", "maxCandidates", "memoryBudgetBytes", "scoreFeatures",
];
/** wasm-bindgen's runtime exports (allocator, exception slot, externref table, start) and state. */
const RUNTIME_EXPORTS = [
  "memory", "start", "__wbindgen_start", "__wbindgen_malloc", "__wbindgen_realloc", "__wbindgen_free",
  "__wbindgen_exn_store", "__externref_table_alloc", "__externref_table_dealloc", "__wbindgen_externrefs",
  // wasm-bindgen 0.2.130's abort-handler state (rt/mod.rs): two integers, never read by the glue.
  "__abort_handler", "__instance_terminated",
];

/**
 * The imports that break the rules: `unexpected` (name not in the allowlist), `reaching` (the
 * name or the glue's implementation names a forbidden API), `wrong` (the implementation is not
 * what the allowlist says, or missing).
 * @param {WebAssembly.ModuleImportDescriptor[]} imports
 * @param {Record<string, Function>} glue the glue's import functions
 */
export function audit(imports, glue) {
  const unexpected = [];
  const reaching = [];
  const wrong = [];
  for (const { name } of imports) {
    const fn = glue[name];
    const allowed = ALLOWED[baseName(name)];
    if (!Object.hasOwn(ALLOWED, baseName(name))) unexpected.push(name);
    if (FORBIDDEN_RE.test(name) || (typeof fn === "function" && FORBIDDEN_RE.test(fn.toString()))) reaching.push(`${name}: ${fn}`);
    if (typeof fn !== "function") wrong.push(`${name}: not implemented by the glue`);
    else if (allowed && !allowed.test(implementationOf(fn))) wrong.push(`${name}: ${implementationOf(fn)}`);
  }
  return { unexpected, reaching, wrong };
}

test("the audit itself catches a network, storage or disguised import", () => {
  const imports = ["__wbg_fetch_0123456789abcdef", "__wbg_stack_0123456789abcdef", "__wbg_now_0123456789abcdef"]
    .map((name) => ({ module: GLUE_NAMESPACE, name, kind: "function" }));
  const glue = {
    __wbg_fetch_0123456789abcdef: function (arg0) { const ret = fetch(arg0); return ret; },
    // An allowed name whose glue reads IndexedDB instead.
    __wbg_stack_0123456789abcdef: function () { const ret = globalThis.indexedDB; return ret; },
    __wbg_now_0123456789abcdef: function () { const ret = performance.now(); return ret; },
  };
  const result = audit(imports, glue);
  assert.deepEqual(result.unexpected, ["__wbg_fetch_0123456789abcdef"]);
  assert.deepEqual(result.reaching.map((r) => r.split(":")[0]), ["__wbg_fetch_0123456789abcdef", "__wbg_stack_0123456789abcdef"]);
  assert.deepEqual(result.wrong, ["__wbg_stack_0123456789abcdef: globalThis.indexedDB"]);
});

test("the hash stripping and the implementation reader", () => {
  assert.equal(baseName("__wbg_now_f1d8e63456aa85b5"), "now");
  assert.equal(baseName("__wbg___wbindgen_throw_4c88d8bf264fd984"), "__wbindgen_throw");
  assert.equal(baseName("__wbindgen_generic_0000000000000003"), "__wbindgen_generic");
  assert.equal(baseName("__wbindgen_init_externref_table"), "__wbindgen_init_externref_table");
  assert.equal(implementationOf(function (arg0) { const ret = arg0.length; return ret; }), "arg0.length");
  assert.equal(implementationOf(function (arg0, arg1) { const obj = arg1; const ret = typeof(obj) === "number" ? obj : undefined; return ret; }), 'typeof(arg1) === "number" ? arg1 : undefined');
  assert.ok(FORBIDDEN_RE.test("globalThis.fetch(url)") && FORBIDDEN_RE.test("globalThis.indexedDB"));
  assert.ok(!FORBIDDEN_RE.test("globalThis.crypto.getRandomValues(getArrayU8FromWasm0(arg0, arg1))"));
  assert.ok(FORBIDDEN_RE.test("navigator.sendBeacon(u)") && FORBIDDEN_RE.test("new Function(s)") && FORBIDDEN_RE.test("self.caches"));
});

for (const pkg of packages) {
  describe(`${pkg.label}: the .wasm's imports and exports`, () => {
    const module = new WebAssembly.Module(readFileSync(pkg.wasm));
    const imports = WebAssembly.Module.imports(module);

    test("every import is an allowed function of the glue, implemented as allowed, none reaching network or storage", async () => {
      const { imports: glueImports } = await pkg.imports();
      const namespaces = [...new Set(imports.map((i) => i.module))];
      assert.deepEqual(namespaces, [GLUE_NAMESPACE], "imports only from wasm-bindgen's glue (no env, no WASI)");
      assert.deepEqual(imports.filter((i) => i.kind !== "function").map((i) => i.name), [], "no imported memory, table or global");

      const { unexpected, reaching, wrong } = audit(imports, glueImports[GLUE_NAMESPACE]);
      assert.deepEqual(unexpected, [], `imports not in the allowlist of ${import.meta.url}: ${unexpected.join(", ")}`);
      assert.deepEqual(reaching, [], "imports whose glue could reach the network, storage or other code");
      assert.deepEqual(wrong, [], "imports whose glue does something else than the allowlist says");
      const names = new Set(imports.map((i) => baseName(i.name)));
      console.log(`${pkg.label}: ${imports.length} imports (${names.size} distinct without hashes), all allowed`);
    });

    test("no caller's JS value enters the module: exports take numbers, strings and typed arrays only", () => {
      const glue = readFileSync(pkg.bindings, "utf8");
      // The glue's one way to hand wasm a JS value is its reference table; it is fed only by
      // `handleError` (an exception of an import), and `handleError` wraps only getRandomValues.
      const feeds = [...glue.matchAll(/addToExternrefTable0\(|addHeapObject\(/g)].length;
      const handled = [...glue.matchAll(/handleError\(/g)].length;
      const definitions = /function addToExternrefTable0\(/.test(glue) ? 1 : 0;
      assert.equal(feeds - definitions, definitions, "the reference table is fed from handleError alone");
      assert.equal(handled, 2 * definitions, "handleError is defined once and used once (getRandomValues)");
      if (definitions) assert.match(glue, /getRandomValues_[0-9a-f]+: function\(\) \{ return handleError\(/);
      // Every export's argument is passed as a copy into wasm memory or as a number.
      const exported = glue.slice(glue.indexOf("class WasmRanker"), glue.indexOf("function __wbg_get_imports"));
      assert.doesNotMatch(exported, /addToExternrefTable0|addHeapObject|__wbindgen_externrefs/);
    });

    test("exports: the Ranker API and wasm-bindgen's runtime, nothing else", async () => {
      const exports = WebAssembly.Module.exports(module).map((e) => e.name);
      const api = ["wasmranker_new", "__wbg_wasmranker_free", ...RANKER_METHODS.map((m) => `wasmranker_${m}`)];
      assert.deepEqual(exports.filter((name) => !api.includes(name) && !RUNTIME_EXPORTS.includes(name)), [], "unexpected exports");
      assert.deepEqual(api.filter((name) => !exports.includes(name)), [], "the whole Ranker API is exported");

      // The JS side: the WasmRanker class with exactly these methods (free and dispose aside).
      const { glue } = await pkg.imports();
      const { WasmRanker } = glue;
      const methods = Object.getOwnPropertyNames(WasmRanker.prototype).filter((m) => !["constructor", "free", "__destroy_into_raw"].includes(m));
      assert.deepEqual(methods.sort(), [...RANKER_METHODS].sort(), "WasmRanker's methods");
      assert.deepEqual(Object.keys(glue).sort(), ["WasmRanker", "init"], "the bindings hand out the WasmRanker and their instantiation");
      console.log(`${pkg.label}: ${exports.length} exports (${api.length} Ranker API, ${exports.length - api.length} runtime)`);
    });
  });
}
