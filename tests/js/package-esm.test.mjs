// The pkg/web build (wasm-pack --target web) as an ES module in Node: `initSync` with the
// .wasm bytes, then the same behaviour as every build (package-suite.mjs).

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";

import init, { initSync, Ranker } from "../../pkg/web/localrank.js";
import { NOW, PKG_WEB_GLUE, PKG_WEB_WASM, catalogue, modelBytes } from "./helpers.mjs";
import { packageSuite } from "./package-suite.mjs";

const exports = initSync({ module: readFileSync(PKG_WEB_WASM) });

test("initSync instantiates once; init() afterwards returns the same instance", async () => {
  assert.ok(exports.memory instanceof WebAssembly.Memory);
  assert.equal(initSync({ module: new Uint8Array(0) }), exports, "a second initSync is a no-op");
  assert.equal(await init(), exports);
  assert.equal(typeof Ranker, "function");
});

test("a second copy of the glue (another module URL) is an independent instance", async () => {
  const url = new URL(PKG_WEB_GLUE);
  url.searchParams.set("copy", "independent");
  const copy = await import(url.href);
  const copyExports = await copy.default({ module_or_path: await WebAssembly.compile(readFileSync(PKG_WEB_WASM)) });
  assert.notEqual(copyExports.memory, exports.memory);
  assert.notEqual(copy.Ranker, Ranker);
  const items = catalogue();
  const [a, b] = [new Ranker(modelBytes()), new copy.Ranker(modelBytes())];
  a.record([{ kind: "like", item: { id: items[30].id, topics: items[30].topics }, at: NOW - 1000 }], NOW);
  assert.equal(b.keyCount, 0, "signals recorded in one instance are not in the other");
  b.restore(a.snapshot(), NOW);
  assert.deepEqual(b.rerank({ candidates: items, now: NOW }).ids, a.rerank({ candidates: items, now: NOW }).ids);
  a.free();
  b.free();
});

packageSuite("pkg/web (ESM)", { Ranker });
