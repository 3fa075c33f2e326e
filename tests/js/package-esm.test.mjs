// `localrank/core` (the raw Ranker) as an ES module in Node, then the same behaviour as every
// build (package-suite.mjs).

import assert from "node:assert/strict";
import { test } from "node:test";

import { Ranker, init } from "localrank/core";
import { packageSuite } from "./package-suite.mjs";

const started = init();

test("init() instantiates once: later calls return the same promise", async () => {
  assert.equal(init(), started);
  await started;
  assert.equal(typeof Ranker, "function");
});

await started;
packageSuite("localrank/core (ESM)", { Ranker });
