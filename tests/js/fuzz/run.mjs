// The JS-boundary fuzzer (fast-check) against the built package, in Node and in headless
// Chromium: hostile values into every method of the raw Ranker and of the client (see
// ./properties.mjs for what must hold). `./build.sh fuzz` runs it long; the test suite runs a
// smoke run (tests/js/boundary-fuzz.test.mjs).
//
//   node tests/js/fuzz/run.mjs [--runs N] [--seed S] [--only name,name] [--runtime node|chromium|both]

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

import * as esbuild from "esbuild";
import * as fc from "fast-check";

import { CLIENT_ERROR_CODES, CLIENT_FALLBACK_REASONS, ERROR_CODES, createLocalRanker, memoryStorage, packCandidates, packEvents } from "localrank";
import { DEMO_MOUNTS, TEST_PAGES, startServer } from "../../../www/serve.mjs";
import { launchChromium } from "../helpers.mjs";
import { fuzzSession } from "./session.mjs";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const PACKAGE = `${ROOT}pkg/localrank/`;
/** Every code a coded error or a fallback may carry. */
export const CODES = [...ERROR_CODES, ...CLIENT_ERROR_CODES, ...CLIENT_FALLBACK_REASONS];

/** One session in this Node process. */
export async function fuzzNode({ numRuns, seed, only, log }) {
  const { createBindings } = await import(`${PACKAGE}dist/wasm/full/bindings.js`);
  const { rankerClass } = await import(`${PACKAGE}dist/core/ranker.js`);
  const wasm = await WebAssembly.compile(readFileSync(`${PACKAGE}dist/wasm/full/localrank_bg.wasm`));
  const model = new Uint8Array(readFileSync(`${ROOT}models/ranker.onnx`));
  const client = { createLocalRanker, memoryStorage, packCandidates, packEvents };
  return fuzzSession(fc, { createBindings, rankerClass, wasm, model, client, codes: CODES, numRuns, seed, only, log });
}

/** One session in a headless Chromium page (fast-check bundled for it with esbuild). */
export async function fuzzChromium({ numRuns, seed, only, log }) {
  const bundleDir = mkdtempSync(join(tmpdir(), "localrank-fast-check-"));
  await esbuild.build({ entryPoints: ["fast-check"], bundle: true, format: "esm", outfile: join(bundleDir, "fast-check.js"), logLevel: "warning" });
  const server = await startServer({ port: 0, mounts: [...DEMO_MOUNTS, TEST_PAGES, ["/fast-check/", bundleDir], ["/tests/js/fuzz/", fileURLToPath(new URL("./", import.meta.url))]] });
  const browser = await launchChromium();
  try {
    const page = await browser.newPage();
    page.on("console", (message) => log(`[Chromium] ${message.text()}`));
    page.on("pageerror", (error) => log(`[Chromium] page error: ${error.message}`));
    await page.goto(`${server.url}tests/js/fixtures/blank.html`);
    return await page.evaluate(
      async ({ numRuns, seed, only, codes }) => {
        const fc = await import("/fast-check/fast-check.js");
        const { fuzzSession } = await import("/tests/js/fuzz/session.mjs");
        const { createBindings } = await import("/pkg/localrank/dist/wasm/full/bindings.js");
        const { rankerClass } = await import("/pkg/localrank/dist/core/ranker.js");
        const client = await import("localrank");
        const wasm = await WebAssembly.compileStreaming(fetch("/pkg/localrank/dist/wasm/full/localrank_bg.wasm"));
        const model = new Uint8Array(await (await fetch("/models/ranker.onnx")).arrayBuffer());
        return fuzzSession(fc, { createBindings, rankerClass, wasm, model, client, codes, numRuns, seed, only, log: (line) => console.log(line) });
      },
      { numRuns, seed, only, codes: CODES },
    );
  } finally {
    await browser.close();
    await server.close();
    rmSync(bundleDir, { recursive: true, force: true });
  }
}

/** The per-method table of a session's report, with how the calls ended (the commonest first). */
export function summary(label, { seed, report }) {
  const rows = Object.entries(report).map(([name, e]) => {
    const outcomes = Object.entries(e.outcomes ?? {})
      .sort((a, b) => b[1] - a[1])
      .map(([outcome, count]) => `${outcome} ${count}`)
      .join(", ");
    const memory = `${(e.memoryBytes / 2 ** 20).toFixed(1)} MiB`;
    return `  ${name.padEnd(22)} ${String(e.runs).padStart(7)} runs ${String(e.ms).padStart(7)} ms ${memory.padStart(9)}${e.failure ? "  FAILED" : ""}  ${outcomes}`;
  });
  return [`${label} (seed ${seed}; linear memory after each):`, ...rows].join("\n");
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const arg = (name, fallback) => {
    const at = process.argv.indexOf(`--${name}`);
    return at > 0 ? process.argv[at + 1] : fallback;
  };
  const numRuns = Number(arg("runs", 100_000));
  const seed = Number(arg("seed", Math.floor(Math.random() * 2 ** 31)));
  const only = arg("only", undefined)?.split(",");
  const runtime = arg("runtime", "both");
  const log = (line) => console.log(line);
  let failed = false;
  for (const [label, run] of [["Node", fuzzNode], ["Chromium", fuzzChromium]]) {
    if (runtime !== "both" && runtime !== label.toLowerCase()) continue;
    const result = await run({ numRuns, seed, only, log });
    console.log(`\n${summary(`JS-boundary fuzzing, ${label}`, result)}`);
    for (const problem of result.problems) console.error(problem);
    failed ||= result.problems.length > 0;
  }
  process.exit(failed ? 1 : 0);
}
