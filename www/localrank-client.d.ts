// Types of localrank-client.mjs, the JavaScript shim around the localrank wasm module.
// The module's own types (requests, results, events, exports) come from the wasm package.

import type {
  CandidateColumns,
  ColumnsRerankResult,
  EventColumns,
  RerankSettings,
  ErrorCode,
  ModelInfo,
  RankerOptions,
  RecordSummary,
  RerankRequest,
  RerankResult,
  Candidate,
  SignalEvent,
  SignalExport,
} from "../pkg/web/localrank.js";

export type {
  Candidate,
  CandidateColumns,
  ColumnsRerankResult,
  EventColumns,
  RerankSettings,
  ErrorCode,
  ModelInfo,
  RankerOptions,
  RecordSummary,
  RerankRequest,
  RerankResult,
  SignalEvent,
  SignalExport,
};

/** What the shim needs of a ranker instance: the wasm package's `Ranker`. */
export interface WasmRanker {
  rerank(request: RerankRequest): RerankResult;
  rerankColumns(columns: CandidateColumns, request?: RerankSettings): ColumnsRerankResult;
  record(events: SignalEvent[], now?: number | null): RecordSummary;
  recordColumns(columns: EventColumns, now?: number | null): RecordSummary;
  snapshot(): Uint8Array;
  restore(bytes: Uint8Array, now?: number | null): void;
  clear(): void;
  exportSignals(now?: number | null): SignalExport;
  modelInfo(): ModelInfo;
  readonly keyCount: number;
  free(): void;
}

/** What the shim needs of the wasm package: its `Ranker` class. Both pkg/web and pkg/nodejs fit. */
export interface LocalrankModule {
  Ranker: new (model: Uint8Array, options: RankerOptions) => WasmRanker;
}

export interface LoaderContext {
  /** How many instances this LocalRanker created before: 0 at start, 1 at the first recovery… */
  instance: number;
  /** "start" for the first call; "recover" after a trap or an unexpected exception. */
  reason: "start" | "recover";
}

/**
 * How the shim gets the wasm module. It is called once at start and again whenever the
 * current instance must be replaced; every call after the first must return a module backed by
 * a NEW WebAssembly instance (a trapped instance's memory cannot be trusted). wasm-bindgen's
 * glue initialises its instance only once per glue module, so a new instance needs a new copy
 * of the glue: `webPackageLoader` (pkg/web, browsers and Node) and `commonJsLoader`
 * (pkg/nodejs) do that. If a loader returns the same module again, the shim warns
 * (`STALE_INSTANCE`) and goes on with it.
 */
export type WasmLoader = (context: LoaderContext) => LocalrankModule | Promise<LocalrankModule>;

/** One persisted snapshot as read back from storage. */
export interface StoredSnapshot {
  bytes: Uint8Array;
  /** Where it came from, for warnings (a path, a slot name). */
  source: string;
  /** IndexedDB slots: the write generation. */
  generation?: number;
}

/** Where the shim persists the signal snapshot. The snapshot bytes carry their own CRC-32. */
export interface SnapshotStorage {
  readonly kind: string;
  /** Every stored snapshot, newest first (none: an empty list). */
  load(): Promise<StoredSnapshot[]>;
  /** Replaces the stored snapshot atomically: afterwards the storage holds the new one or, on failure, the old one. */
  save(bytes: Uint8Array): Promise<void>;
  /** Deletes every stored snapshot. */
  clear(): Promise<void>;
  close?(): Promise<void> | void;
}

export interface MemoryStorage extends SnapshotStorage {
  readonly kind: "memory";
  /** A copy of the stored bytes, or null. */
  readonly bytes: Uint8Array | null;
  /** How many saves it received. */
  readonly saveCount: number;
}

/** The part of `node:fs/promises` that `fileStorage` uses (inject one to test failures). */
export interface FileSystem {
  readFile(path: string | URL): Promise<Uint8Array>;
  open(path: string, flags: string, mode?: number): Promise<FileHandleLike>;
  rename(oldPath: string, newPath: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<unknown>;
}

export interface FileHandleLike {
  writeFile(data: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileStorageOptions {
  /** Default: `node:fs/promises`, imported on first use. */
  fs?: FileSystem;
}

export interface IndexedDbStorageOptions {
  /** Default "localrank". */
  databaseName?: string;
  /** Default "signals". */
  storeName?: string;
  /** Default `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
}

/** Node's `require` (from `createRequire`), as `commonJsLoader` uses it. */
export interface RequireFunction {
  (id: string): unknown;
  resolve(id: string): string;
  cache: Record<string, unknown>;
}

export type ClientWarningCode =
  /** A stored snapshot failed its checks; it was skipped (and is overwritten by the next persist). */
  | "CORRUPT_SNAPSHOT"
  /** A stored snapshot is from a newer format; it is kept untouched and nothing is persisted until `clear()`. */
  | "SNAPSHOT_VERSION"
  /** Reading, writing or deleting the persisted snapshot failed. */
  | "STORAGE_FAILED"
  /** The module trapped (`WebAssembly.RuntimeError`). */
  | "WASM_TRAP"
  /** Any other unexpected exception from the module or its glue. */
  | "SHIM_ERROR"
  /** A fresh module instance took over, with the persisted snapshot and the journal. */
  | "RECOVERED"
  /** Creating a fresh module instance failed; the next call tries again. */
  | "RECOVERY_FAILED"
  /** A journaled batch (or the last snapshot) could not be replayed into the fresh instance. */
  | "REPLAY_FAILED"
  /** The loader returned the same module instance as before. */
  | "STALE_INSTANCE";

export interface ClientWarning {
  code: ClientWarningCode;
  message: string;
  /** ms since the Unix epoch. */
  at: number;
  cause?: unknown;
}

export type ClientErrorCode = "CLOSED" | "UNAVAILABLE" | "STORAGE_FAILED" | "INVALID_ARGUMENT";

/** Errors thrown by the shim itself. The module's errors (`LocalrankError`) pass through. */
export declare class LocalrankClientError extends Error {
  constructor(code: ClientErrorCode, message: string, cause?: unknown);
  readonly name: "LocalrankClientError";
  readonly code: ClientErrorCode;
}

export type ClientFallbackReason = ErrorCode | "WASM_TRAP" | "SHIM_ERROR";

/** A `RerankResult` whose fallback may also come from the shim. */
export interface ClientRerankResult extends Omit<RerankResult, "fallback"> {
  fallback: { reason: ClientFallbackReason; message: string } | null;
}

/** A candidate list (the server's order) or a whole request. */
export type RerankInput = readonly Candidate[] | RerankRequest;

export interface PersistInfo {
  byteLength: number;
  /** Batches recorded while the write ran, still journaled. */
  pendingBatches: number;
  /** false while persistence is suspended (a newer-format snapshot is kept in storage). */
  storage: boolean;
}

export interface ClientStatus {
  /** Module instances created so far (1 after start; more after recoveries). */
  instances: number;
  state: "ready" | "recovering" | "broken" | "closed";
  /** Journaled batches / events not yet in a persisted snapshot. */
  pendingBatches: number;
  pendingEvents: number;
  persistence: "storage" | "suspended";
  /** ms since the Unix epoch of the last successful persist, or null. */
  lastPersistedAt: number | null;
}

interface LocalRankerBaseOptions {
  /** Loads the wasm module; see `WasmLoader`. */
  initWasm: WasmLoader;
  /** Where signals persist. Default: `memoryStorage()` (nothing survives the process). */
  storage?: SnapshotStorage;
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
}

export type LocalRankerOptions =
  | (LocalRankerBaseOptions & { modelBytes: Uint8Array | ArrayBuffer | ArrayBufferView; modelUrl?: undefined })
  | (LocalRankerBaseOptions & { modelUrl: string | URL; modelBytes?: undefined });

export declare class LocalRanker {
  private constructor();
  /** Never throws: problems give the server order with a `fallback` reason. */
  rerank(input: RerankInput): ClientRerankResult;
  /**
   * Applied synchronously when the module is ready (packed with `packEvents` when the columns
   * carry the batch exactly); rejects with `INVALID_EVENT` on a bad batch, `INVALID_ARGUMENT`
   * if a batch the columns cannot carry is not plain data either.
   */
  record(events: SignalEvent[], now?: number): Promise<RecordSummary>;
  /** Persists now; rejects with `STORAGE_FAILED` if the storage refused. */
  flush(): Promise<void>;
  /** Forgets every signal, in memory and in storage. */
  clear(): Promise<void>;
  exportSignals(now?: number): Promise<SignalExport>;
  modelInfo(): ModelInfo;
  readonly keyCount: number;
  readonly warnings: ClientWarning[];
  readonly status: ClientStatus;
  /** Resolves once no module replacement is running. */
  ready(): Promise<void>;
  /** Flushes, frees the module and closes the storage. */
  close(): Promise<void>;
}

export declare function createLocalRanker(options: LocalRankerOptions): Promise<LocalRanker>;

export declare function isLocalrankError(error: unknown): error is Error & { name: "LocalrankError"; code: ErrorCode };

export declare function webPackageLoader(options: {
  /** Absolute URL of pkg/web/localrank.js. */
  glue: string | URL;
  /** The .wasm as a URL, bytes or compiled module (default: localrank_bg.wasm next to the glue). */
  wasm?: string | URL | BufferSource | WebAssembly.Module;
}): WasmLoader;

export declare function commonJsLoader(require: RequireFunction, id: string): WasmLoader;

/**
 * Packs candidates column by column for `Ranker.rerankColumns` (what `LocalRanker.rerank`
 * does). null when a candidate holds something the columns cannot carry exactly (a field of
 * the wrong type, a non-finite number): pass the list to
 * `rerank` instead, which reports the problem.
 */
export declare function packCandidates(candidates: unknown): CandidateColumns | null;

/**
 * Packs a batch of events column by column for `Ranker.recordColumns` (what
 * `LocalRanker.record` does). null when an event holds something the columns cannot carry
 * exactly (a field of the wrong type, an unknown kind, a NaN dwell): pass the batch to
 * `record` instead, which reports the problem.
 */
export declare function packEvents(events: unknown): EventColumns | null;

export declare function memoryStorage(initial?: Uint8Array): MemoryStorage;

export declare function fileStorage(path: string, options?: FileStorageOptions): SnapshotStorage;

export declare function indexedDbStorage(options?: IndexedDbStorageOptions): SnapshotStorage;
