// `localrank/core` (the raw Ranker) through CommonJS `require`, as Electron's main process
// loads it, then the same behaviour as every build (package-suite.mjs).

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { test } from "node:test";

import { MODEL_PATH, NOW, catalogue, modelBytes } from "./helpers.mjs";
import { packageSuite } from "./package-suite.mjs";

const require = createRequire(import.meta.url);
const pkg = require("localrank/core");
await pkg.init();

test("require() resolves the CommonJS build of each entry point", () => {
  for (const entry of ["localrank", "localrank/slim", "localrank/core", "localrank/slim/core"]) {
    assert.match(require.resolve(entry), /dist\/entries\/[\w-]+\.cjs$/, entry);
  }
  assert.equal(typeof require("localrank").createLocalRanker, "function");
  const ranker = new pkg.Ranker(modelBytes());
  assert.equal(ranker.rerank({ candidates: catalogue(), now: NOW }).fallback, null);
  ranker.free();
});

test("the model can also be passed as a plain number array", () => {
  const ranker = new pkg.Ranker([...modelBytes()]);
  assert.ok(ranker.modelInfo().features.length > 0);
  ranker.free();
});

packageSuite("localrank/core (CommonJS)", pkg);

// In a child process: the overflow leaves that process's module instance unusable.
test("a deeply nested extra field in a candidate neither throws nor breaks the ranker", () => {
  const script = `
    const { Ranker, init } = require("localrank/core");
    init().then(() => {
      const ranker = new Ranker(require("fs").readFileSync(${JSON.stringify(MODEL_PATH)}));
      let deep = [];
      for (let i = 0; i < 20000; i++) deep = [deep];
      const out = {};
      try { out.first = ranker.rerank({ candidates: [{ id: "a", title: deep }, { id: "b" }] }).ids; }
      catch (e) { out.first = e.constructor.name + ": " + e.message; }
      try { out.after = ranker.rerank({ candidates: [{ id: "a" }, { id: "b" }] }).fallback; }
      catch (e) { out.after = e.constructor.name + ": " + e.message; }
      process.stdout.write(JSON.stringify(out));
    });`;
  const out = JSON.parse(execFileSync(process.execPath, ["-e", script], { encoding: "utf8", cwd: new URL(".", import.meta.url) }));
  assert.deepEqual(out, { first: ["a", "b"], after: null });
});
