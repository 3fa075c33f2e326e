// What every entry point is made of: the flavour's bindings and .wasm, and the runtime's way
// of reading URLs, bound into `createLocalRanker` / `wasmLoader` (client entries) or `Ranker` /
// `init` (core entries).

import { startLocalRanker, type LocalRanker } from "./client/local-ranker.js";
import type { LocalRankerOptions } from "./client/options.js";
import { rankerClass, type RankerClass } from "./core/ranker.js";
import type { Bindings } from "./wasm/full/bindings.js";
import { moduleLoader, type UrlCompiler, type WasmLoader, type WasmSource } from "./wasm/loader.js";

export interface Flavour {
  createBindings: () => Bindings;
  /** The flavour's own .wasm (a `new URL("…_bg.wasm", import.meta.url)` in the entry point). */
  wasm: URL;
  compileUrl: UrlCompiler;
}

export interface ClientEntry {
  /**
   * Loads the module with its model, restores the persisted signals and returns a ready
   * `LocalRanker`. Rejects with the module's `LocalrankError` when the model or the options
   * are unusable (`INVALID_MODEL`, `CONTRACT_MISMATCH`, `UNKNOWN_FEATURE`, `INVALID_OPTIONS`),
   * `INVALID_ARGUMENT` for bad client options, or `UNAVAILABLE` when the module or the model
   * cannot be fetched or compiled. Unreadable or newer-format persisted signals do not
   * reject: they are reported through `onWarning` and skipped.
   */
  createLocalRanker(options: LocalRankerOptions): Promise<LocalRanker>;
  /**
   * This flavour's loader: each call instantiates the module anew (the .wasm is compiled once
   * per loader). `wasm` serves the .wasm from elsewhere: a URL, its bytes or a compiled module.
   */
  wasmLoader(options?: { wasm?: WasmSource }): WasmLoader;
}

export function clientEntry(flavour: Flavour, readUrl: (url: URL, fetchImpl: typeof fetch | undefined) => Promise<Uint8Array>): ClientEntry {
  const wasmLoader = (options: { wasm?: WasmSource } = {}) =>
    moduleLoader(flavour.createBindings, options.wasm ?? flavour.wasm, flavour.compileUrl);
  return {
    createLocalRanker: (options) => startLocalRanker(options, { defaultLoader: () => wasmLoader(), readUrl }),
    wasmLoader,
  };
}

export interface CoreEntry {
  /** The module's `Ranker`; `await init()` once before constructing one. */
  Ranker: RankerClass;
  /**
   * Compiles and instantiates the module (once; later calls return the same promise). `wasm`
   * serves the .wasm from elsewhere: a URL, its bytes or a compiled module.
   */
  init(wasm?: WasmSource): Promise<void>;
}

export function coreEntry(flavour: Flavour): CoreEntry {
  const bindings = flavour.createBindings();
  let ready: Promise<void> | null = null;
  const instantiate = async (wasm: WasmSource) => {
    await moduleLoader(() => bindings, wasm, flavour.compileUrl)({ instance: 0, reason: "start" });
  };
  return {
    Ranker: rankerClass(bindings.WasmRanker),
    init(wasm?: WasmSource) {
      const started = (ready ??= instantiate(wasm ?? flavour.wasm).catch((error: unknown) => {
        ready = null; // a failed fetch is retried by the next call
        throw error;
      }));
      return started;
    },
  };
}
