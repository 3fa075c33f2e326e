// A smoke run of the JS-boundary fuzzer (tests/js/fuzz/): a few hundred hostile cases per
// method of the raw Ranker and of the client, in Node and in Chromium, from a fresh seed each
// run (printed, to replay with `node tests/js/fuzz/run.mjs --seed S`). `./build.sh fuzz` runs
// 100 000 per method.

import assert from "node:assert/strict";
import { test } from "node:test";

import { fuzzChromium, fuzzNode, summary } from "./fuzz/run.mjs";

const RUNS = Number(process.env.LOCALRANK_JS_FUZZ_RUNS ?? 300);
const seed = Number(process.env.LOCALRANK_JS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));

for (const [label, run] of [["Node", fuzzNode], ["Chromium", fuzzChromium]]) {
  test(`${label}: ${RUNS} hostile cases per method end in a coded error or the server order, and change nothing else`, async () => {
    const result = await run({ numRuns: RUNS, seed, log: () => {} });
    console.log(summary(`JS-boundary fuzz smoke run, ${label}`, result));
    assert.deepEqual(result.problems, [], `seed ${seed}`);
  });
}
