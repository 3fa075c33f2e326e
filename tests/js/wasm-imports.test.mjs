// Privacy by construction: what the built .wasm can reach. A WebAssembly module can only touch
// the outside world through its imports, and wasm-bindgen's glue decides what each import does.
// So the test lists the imports of the package's two .wasm flavours, checks each against an
// explicit allowlist (name without wasm-bindgen's hash + what its glue implementation must
// look like), and fails on any import that is not listed and on any implementation that names
// a network, storage or code-loading API. The core gets time and randomness from its caller;
// everything else is JS value plumbing for serde-wasm-bindgen and js-sys.
// It also checks that the module exports only the Ranker API plus wasm-bindgen's runtime.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, test } from "node:test";

import { PACKAGE } from "./helpers.mjs";

/** wasm-bindgen puts every import in one module namespace, named after its glue file. */
const GLUE_NAMESPACE = "./localrank_bg.js";

/**
 * Every import the module may have, by name without wasm-bindgen's hash, with the shape its
 * glue implementation must have. To allow a new one (e.g. new binding plumbing), add a line
 * with a comment saying why it is needed.
 * @type {Record<string, RegExp>}
 */
const ALLOWED = {
  // -- Time: the ranker's clock (performance.now for budgets, Date for "now" and the UTC offset).
  now: /^(Date|performance)\.now\(\)$/,
  new_0: /^new Date\(\)$/,
  getTimezoneOffset: /^arg0\.getTimezoneOffset\(\)$/,
  // -- Randomness: tract's getrandom (hash-map seeds); fills wasm memory, returns nothing.
  getRandomValues: /^globalThis\.crypto\.getRandomValues\(getArrayU8FromWasm0\(arg0, arg1\)\)$/,
  // -- Errors and the panic hook: LocalrankError objects, panic messages to console.error.
  Error: /^Error\(getStringFromWasm0\(arg0, arg1\)\)$/,
  new: /^new (Error|Object|Array|Uint8Array)\((getStringFromWasm0\(arg0, arg1\)|arg0)?\)$/,
  set_name: /^arg0\.name = getStringFromWasm0\(arg1, arg2\)$/,
  stack: /^arg1\.stack$/,
  // (the message string is freed in a `finally`)
  error: /^let deferred0_0; let deferred0_1; try \{ deferred0_0 = arg0; deferred0_1 = arg1; console\.error\(getStringFromWasm0\(arg0, arg1\)\); \} finally \{ wasm\.__wbindgen_free\(deferred0_0, deferred0_1, 1\); \}$/,
  __wbindgen_throw: /^throw new Error\(getStringFromWasm0\(arg0, arg1\)\)$/,
  __wbindgen_debug_string: /^debugString\(arg1\)$/,
  // -- JS value plumbing (serde-wasm-bindgen reading requests/events, building results).
  get: /^(Reflect\.get\(arg0, arg1\)|arg0\[arg1 >>> 0\])$/,
  get_unchecked: /^arg0\[arg1 >>> 0\]$/,
  get_with_ref_key: /^arg0\[arg1\]$/,
  set: /^(Reflect\.set\(arg0, arg1, arg2\)|arg0\[arg1( >>> 0)?\] = arg2)$/,
  length: /^arg0\.length$/,
  keys: /^Object\.keys\(arg0\)$/,
  entries: /^Object\.entries\(arg0\)$/,
  push: /^arg0\.push\(arg1\)$/,
  from: /^Array\.from\(arg0\)$/,
  isArray: /^Array\.isArray\(arg0\)$/,
  isSafeInteger: /^Number\.isSafeInteger\(arg0\)$/,
  Number: /^Number\(arg0\)$/,
  String: /^String\(arg1\)$/,
  // Iterating a JS iterable: Symbol.iterator, calling the iterator method found on the value
  // the caller passed (`call` has no arguments, so it cannot run code from a string), next/done/value.
  iterator: /^Symbol\.iterator$/,
  call: /^arg0\.call\(arg1\)$/,
  next: /^arg0\.next(\(\))?$/,
  done: /^arg0\.done$/,
  value: /^arg0\.value$/,
  instanceof_Uint8Array: /^let result; try \{ result = arg0 instanceof Uint8Array; \} catch \(_\) \{ result = false; \} result$/,
  instanceof_ArrayBuffer: /^let result; try \{ result = arg0 instanceof ArrayBuffer; \} catch \(_\) \{ result = false; \} result$/,
  // rerankColumns, recordColumns: typed-array columns are checked before they are copied in.
  instanceof_Uint32Array: /^let result; try \{ result = arg0 instanceof Uint32Array; \} catch \(_\) \{ result = false; \} result$/,
  instanceof_Float32Array: /^let result; try \{ result = arg0 instanceof Float32Array; \} catch \(_\) \{ result = false; \} result$/,
  instanceof_Float64Array: /^let result; try \{ result = arg0 instanceof Float64Array; \} catch \(_\) \{ result = false; \} result$/,
  // Typed arrays out of wasm memory: result order/scores, snapshot bytes; bytes in.
  new_from_slice: /^new (Uint8Array|Uint32Array|Float32Array)\(getArray(U8|U32|F32)FromWasm0\(arg0, arg1\)\)$/,
  new_with_length: /^new Float32Array\(arg0 >>> 0\)$/,
  // Bytes in (restore, the model) and, for rerankColumns and recordColumns, typed-array columns copied in.
  prototypesetcall: /^(Uint8Array|Uint32Array|Float32Array|Float64Array)\.prototype\.set\.call\(getArray(U8|U32|F32|F64)FromWasm0\(arg0, arg1\), arg2\)$/,
  // wasm-bindgen intrinsics: type tests and conversions of JS values, the externref table.
  __wbindgen_in: /^arg0 in arg1$/,
  __wbindgen_is_bigint: /^typeof\(arg0\) === 'bigint'$/,
  __wbindgen_is_function: /^typeof\(arg0\) === 'function'$/,
  __wbindgen_is_null: /^arg0 === null$/,
  __wbindgen_is_object: /^typeof\(arg0\) === 'object' && arg0 !== null$/,
  __wbindgen_is_string: /^typeof\(arg0\) === 'string'$/,
  __wbindgen_is_undefined: /^arg0 === undefined$/,
  __wbindgen_jsval_eq: /^arg0 === arg1$/,
  __wbindgen_jsval_loose_eq: /^arg0 == arg1$/,
  __wbindgen_boolean_get: /^const ret = typeof\(arg0\) === 'boolean' \? arg0 : undefined; return isLikeNone\(ret\) \? 0xFFFFFF : ret \? 1 : 0$/,
  __wbindgen_number_get: /^typeof\(arg1\) === 'number' \? arg1 : undefined$/,
  __wbindgen_string_get: /^typeof\(arg1\) === 'string' \? arg1 : undefined$/,
  __wbindgen_bigint_get_as_i64: /^typeof\(arg1\) === 'bigint' \? arg1 : undefined$/,
  __wbindgen_generic: /^(arg0|getStringFromWasm0\(arg0, arg1\)|BigInt\.asUintN\(64, arg0\))$/,
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

/** The Ranker methods the module exports (`ranker_<method>`), besides its constructor and free. */
const RANKER_METHODS = ["rerank", "rerankColumns", "record", "recordColumns", "snapshot", "restore", "clear", "exportSignals", "modelInfo", "keyCount", "scoreFeatures"];
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
  const imports = ["__wbg_fetch_0123456789abcdef", "__wbg_get_0123456789abcdef", "__wbg_now_0123456789abcdef"]
    .map((name) => ({ module: GLUE_NAMESPACE, name, kind: "function" }));
  const glue = {
    __wbg_fetch_0123456789abcdef: function (arg0) { const ret = fetch(arg0); return ret; },
    // An allowed name whose glue reads IndexedDB instead.
    __wbg_get_0123456789abcdef: function () { const ret = globalThis.indexedDB; return ret; },
    __wbg_now_0123456789abcdef: function () { const ret = Date.now(); return ret; },
  };
  const result = audit(imports, glue);
  assert.deepEqual(result.unexpected, ["__wbg_fetch_0123456789abcdef"]);
  assert.deepEqual(result.reaching.map((r) => r.split(":")[0]), ["__wbg_fetch_0123456789abcdef", "__wbg_get_0123456789abcdef"]);
  assert.deepEqual(result.wrong, ["__wbg_get_0123456789abcdef: globalThis.indexedDB"]);
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

    test("exports: the Ranker API and wasm-bindgen's runtime, nothing else", async () => {
      const exports = WebAssembly.Module.exports(module).map((e) => e.name);
      const api = ["ranker_new", "__wbg_ranker_free", ...RANKER_METHODS.map((m) => `ranker_${m}`)];
      assert.deepEqual(exports.filter((name) => !api.includes(name) && !RUNTIME_EXPORTS.includes(name)), [], "unexpected exports");
      assert.deepEqual(api.filter((name) => !exports.includes(name)), [], "the whole Ranker API is exported");

      // The JS side: the Ranker class with exactly these methods (free and dispose aside).
      const { glue } = await pkg.imports();
      const { Ranker } = glue;
      const methods = Object.getOwnPropertyNames(Ranker.prototype).filter((m) => !["constructor", "free", "__destroy_into_raw"].includes(m));
      assert.deepEqual(methods.sort(), [...RANKER_METHODS].sort(), "Ranker's methods");
      assert.deepEqual(Object.keys(glue).sort(), ["Ranker", "init"], "the bindings hand out the Ranker and their instantiation");
      console.log(`${pkg.label}: ${exports.length} exports (${api.length} Ranker API, ${exports.length - api.length} runtime)`);
    });
  });
}
