// The pkg/nodejs build (wasm-pack --target nodejs) through CommonJS `require`, then the same
// behaviour as every build (package-suite.mjs).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";

import { NOW, PKG_NODEJS, catalogue, modelBytes } from "./helpers.mjs";
import { packageSuite } from "./package-suite.mjs";

const require = createRequire(import.meta.url);
const pkg = require("../../pkg/nodejs/localrank.js");

test("the CommonJS package exports the Ranker class and instantiates on require", () => {
  assert.equal(typeof pkg.Ranker, "function");
  assert.equal(typeof pkg.start, "function");
  assert.equal(JSON.parse(readFileSync(new URL("../../pkg/nodejs/package.json", import.meta.url), "utf8")).type, undefined,
    "no \"type\": \"module\", so localrank.js is CommonJS");
  assert.equal(require.resolve("../../pkg/nodejs/localrank.js"), PKG_NODEJS);
  const ranker = new pkg.Ranker(modelBytes());
  assert.equal(ranker.rerank({ candidates: catalogue(), now: NOW }).fallback, null);
  ranker.free();
});

test("ES modules can import the CommonJS package's named exports", async () => {
  const esm = await import("../../pkg/nodejs/localrank.js");
  assert.equal(esm.Ranker, pkg.Ranker);
  assert.equal(esm.default.Ranker, pkg.Ranker);
});

test("the model can also be passed as a plain number array", () => {
  const ranker = new pkg.Ranker([...modelBytes()]);
  assert.ok(ranker.modelInfo().features.length > 0);
  ranker.free();
});

packageSuite("pkg/nodejs (CommonJS)", pkg);

// In a child process: the overflow leaves that process's module instance unusable.
test(
  "a deeply nested extra field in a candidate neither throws nor breaks the ranker",
  () => {
    const script = `
      const { Ranker } = require(${JSON.stringify(PKG_NODEJS)});
      const ranker = new Ranker(require("fs").readFileSync(${JSON.stringify(new URL("../../models/ranker.onnx", import.meta.url).pathname)}));
      let deep = [];
      for (let i = 0; i < 20000; i++) deep = [deep];
      const out = {};
      try { out.first = ranker.rerank({ candidates: [{ id: "a", title: deep }, { id: "b" }] }).ids; }
      catch (e) { out.first = e.constructor.name + ": " + e.message; }
      try { out.after = ranker.rerank({ candidates: [{ id: "a" }, { id: "b" }] }).fallback; }
      catch (e) { out.after = e.constructor.name + ": " + e.message; }
      process.stdout.write(JSON.stringify(out));`;
    const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8" }));
    assert.deepEqual(out, { first: ["a", "b"], after: null });
  },
);
