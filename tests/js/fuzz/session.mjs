// One fuzzing session on one module instance (whose linear memory is watched): the raw
// Ranker's properties, then the client's on the same instance. The caller (Node: ./run.mjs and
// the smoke test; Chromium: a page) hands in fast-check and the package's pieces.

import { clientProperties, properties, runAll } from "./properties.mjs";

/** Past this the module's memory is not "bounded" (the default memory budget is 64 MiB). */
export const MEMORY_LIMIT_BYTES = 256 * 2 ** 20;

/**
 * @param {object} fc fast-check
 * @param {{ createBindings: Function, rankerClass: Function, wasm: WebAssembly.Module, model: Uint8Array,
 *   client: { createLocalRanker: Function, memoryStorage: Function, packCandidates: Function, packEvents: Function },
 *   codes: string[], numRuns: number, seed: number, only?: string[], log?: (line: string) => void }} setup
 * @returns {Promise<{ seed: number, report: Record<string, object>, problems: string[] }>}
 */
export async function fuzzSession(fc, { createBindings, rankerClass, wasm, model, client, codes, numRuns, seed, only, log = () => {} }) {
  const bindings = createBindings();
  const { memory } = await bindings.init({ module_or_path: wasm });
  const instance = { Ranker: rankerClass(bindings.WasmRanker) };
  const pkg = { ...client, Ranker: instance.Ranker, initWasm: () => instance };
  const memoryBytes = () => memory.buffer.byteLength;
  const pick = (named) => Object.fromEntries(Object.entries(named).filter(([name]) => !only || only.includes(name)));
  /** How the calls of the property being run ended, by kind ("ranked", "fell back INVALID_REQUEST"…). */
  const outcomes = { current: {} };
  const tally = (outcome) => (outcomes.current[outcome] = (outcomes.current[outcome] ?? 0) + 1);
  const run = { numRuns, seed, memoryBytes, outcomes, log };
  const report = await runAll(fc, pick(properties(fc, { pkg, model, codes, tally })), run);
  const { properties: ofClient, finish } = await clientProperties(fc, { pkg, model, codes, tally });
  Object.assign(report, await runAll(fc, pick(ofClient), run));
  const problems = Object.entries(report)
    .filter(([, entry]) => entry.failure)
    .map(([name, entry]) => `${name}: ${entry.failure}\n  counterexample: ${entry.counterexample}`);
  try {
    await finish();
  } catch (error) {
    problems.push(`client, after the run: ${error?.stack ?? error}`);
  }
  if (memoryBytes() > MEMORY_LIMIT_BYTES) problems.push(`linear memory grew to ${memoryBytes()} bytes`);
  return { seed, report, problems };
}
