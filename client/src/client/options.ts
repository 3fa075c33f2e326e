// `createLocalRanker`'s options: their types, their one list of keys, and their checks. Only
// an options object's own properties are read, so a key inherited from `Object.prototype`
// (where a careless or hostile script may have put one) changes nothing.

import { LocalrankClientError } from "../errors.js";
import type { SignalStorage } from "../storage/types.js";
import type { RankerOptions } from "../wasm/types.js";
import type { WasmLoader } from "../wasm/loader.js";
import type { ClientWarning, PersistInfo } from "./types.js";

interface LocalRankerBaseOptions {
  /** Where signals persist. Default: `memoryStorage()` (nothing survives the process). */
  storage?: SignalStorage;
  /** Debounce of the persist after `record`, in ms (default 1000; a burst waits at most 5×). `Infinity`: only `flush()` persists. */
  flushDelayMs?: number;
  /** Passed to `new Ranker(model, rankerOptions)`. */
  rankerOptions?: RankerOptions;
  /** The clock for `record`, `rerank` and `exportSignals` when they get no time (default `Date.now`). */
  now?: () => number;
  onWarning?: (warning: ClientWarning) => void;
  /** Called after each successful persist. */
  onPersist?: (info: PersistInfo) => void;
  /** Used to fetch `modelUrl` (default: the global `fetch`). */
  fetch?: typeof fetch;
  /**
   * How the module is instantiated; default: this entry point's `wasmLoader()`. Replace it to
   * serve the .wasm from elsewhere (`wasmLoader({ wasm: url })`) or to observe instances.
   */
  initWasm?: WasmLoader;
}

export type LocalRankerOptions =
  | (LocalRankerBaseOptions & { modelBytes: Uint8Array | ArrayBuffer | ArrayBufferView; modelUrl?: undefined })
  | (LocalRankerBaseOptions & { modelUrl: string | URL; modelBytes?: undefined });

/** Every option key `createLocalRanker` accepts; any other is `INVALID_ARGUMENT`. */
export const CLIENT_OPTION_KEYS = [
  "modelBytes",
  "modelUrl",
  "storage",
  "flushDelayMs",
  "rankerOptions",
  "now",
  "onWarning",
  "onPersist",
  "fetch",
  "initWasm",
] as const satisfies readonly (keyof LocalRankerBaseOptions | "modelBytes" | "modelUrl")[];

/** The options as the client uses them: checked, defaults filled in. */
export interface ResolvedOptions {
  model: { bytes: Uint8Array } | { url: string };
  storage: SignalStorage | undefined;
  flushDelayMs: number;
  rankerOptions: RankerOptions | undefined;
  now: () => number;
  onWarning: ((warning: ClientWarning) => void) | undefined;
  onPersist: ((info: PersistInfo) => void) | undefined;
  fetch: typeof fetch | undefined;
  initWasm: WasmLoader | undefined;
}

const invalid = (message: string) => new LocalrankClientError("INVALID_ARGUMENT", message);

function ownValue(options: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(options, key) ? (options as Record<string, unknown>)[key] : undefined;
}

function optionalFunction<T>(value: unknown, key: string): T | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "function") throw invalid(`options.${key} must be a function`);
  return value as T;
}

export function resolveOptions(options: unknown): ResolvedOptions {
  if (!options || typeof options !== "object") throw invalid("createLocalRanker needs an options object");
  const unknownKey = Object.keys(options).find((key) => !(CLIENT_OPTION_KEYS as readonly string[]).includes(key));
  if (unknownKey !== undefined) {
    throw invalid(`options: unknown key \`${unknownKey}\`, expected one of ${CLIENT_OPTION_KEYS.join(", ")}`);
  }
  const get = (key: (typeof CLIENT_OPTION_KEYS)[number]) => ownValue(options, key);
  const modelBytes = get("modelBytes");
  const modelUrl = get("modelUrl");
  if ((modelBytes === undefined) === (modelUrl === undefined)) throw invalid("give exactly one of options.modelBytes and options.modelUrl");
  const delay = get("flushDelayMs") ?? 1000;
  if (typeof delay !== "number" || !(delay >= 0)) {
    throw invalid("options.flushDelayMs must be a number >= 0 (Infinity: only flush() persists)");
  }
  const storage = get("storage");
  if (storage !== undefined && storage !== null && (typeof storage !== "object" || typeof (storage as SignalStorage).append !== "function")) {
    throw invalid("options.storage must be a SignalStorage (memoryStorage(), indexedDbStorage(), fileStorage(path)…)");
  }
  const rankerOptions = get("rankerOptions");
  if (rankerOptions !== undefined && rankerOptions !== null && typeof rankerOptions !== "object") {
    throw invalid("options.rankerOptions must be an object");
  }
  return {
    model: modelBytes !== undefined ? { bytes: toBytes(modelBytes, "options.modelBytes") } : { url: String(modelUrl) },
    storage: (storage ?? undefined) as SignalStorage | undefined,
    flushDelayMs: delay,
    rankerOptions: (rankerOptions ?? undefined) as RankerOptions | undefined,
    now: optionalFunction<() => number>(get("now"), "now") ?? Date.now,
    onWarning: optionalFunction(get("onWarning"), "onWarning"),
    onPersist: optionalFunction(get("onPersist"), "onPersist"),
    fetch: optionalFunction(get("fetch"), "fetch"),
    initWasm: optionalFunction(get("initWasm"), "initWasm"),
  };
}

/** A private copy of model bytes given as any kind of binary data. */
export function toBytes(value: unknown, what: string): Uint8Array {
  if (value instanceof Uint8Array) return value.slice();
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
  throw invalid(`${what} must be a Uint8Array, an ArrayBuffer or a typed array`);
}
