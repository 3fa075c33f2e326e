// The package's `Ranker` (`localrank/core`, and what the client runs): the module's
// `WasmRanker` behind a JS layer that reads every argument defensively and copies it, checks
// sizes against the limits, and only then calls into wasm with numbers, strings and typed
// arrays (../../src/bindings.rs). So a caller's getter, Proxy or detached buffer meets a coded
// error or the server-order fallback in JS and never a half-run wasm call; a re-entrant call
// from a getter runs before, not inside, the outer one; and the module stays usable.

import { CANDIDATE_KEYS, readCandidates } from "../packers/candidates.js";
import { eventColumns } from "../packers/events.js";
import { LIMITS } from "../vocabulary.js";
import type { WasmRanker } from "../wasm/full/bindings.js";
import type {
  CandidateColumns,
  ColumnsRerankResult,
  EventColumns,
  Explanation,
  FeatureGroup,
  LocalrankError,
  ModelInfo,
  OnError,
  RankerOptions,
  RecordSummary,
  RerankRequest,
  RerankResult,
  RerankSettings,
  SignalEvent,
  SignalExport,
} from "../wasm/types.js";
import { monotonicNow, type Clock } from "./clock.js";
import { checkCandidateColumns, checkEventColumns, columnBytes } from "./columns.js";
import { codedError, fallbackOf, freed, fromWire, isCoded, overMemoryBudget, tooManyCandidates } from "./errors.js";
import { InputError, Reader, absent, copyBytes, copyTyped, inputMessage, typedArrayKind, typedLength } from "./input.js";
import { readMode, readOptions, readSettings, type Settings } from "./request.js";
import { serverOrderIds, serverOrderOf } from "./server-order.js";
import { decodeString } from "./strings.js";

/** Model bytes, as any kind of binary data. */
export type ModelBytes = Uint8Array | ArrayBuffer | ArrayBufferView;

/** The `Ranker` class of one module instance (each instance has its own). */
export interface RankerClass {
  /**
   * Loads and optimises a model (ONNX or NNEF, or a localrank bundle of one) once; then call
   * it many times. Throws a `LocalrankError`: `INVALID_MODEL`, `CONTRACT_MISMATCH`,
   * `UNKNOWN_FEATURE`, `INVALID_OPTIONS`, or with `trustedKeys` `MODEL_UNSIGNED`,
   * `MODEL_UNTRUSTED_KEY`, `MODEL_TAMPERED`.
   */
  new (model: ModelBytes, options?: RankerOptions): Ranker;
  readonly prototype: Ranker;
}

/** The identity order of `count` candidates, as a fallback's `order` (bounded like its ids). */
const identity = (count: number) => Uint32Array.from({ length: Math.min(count, 1_000_000) }, (_, i) => i);

let setClock: (ranker: Ranker, clock: Clock) => void;

export class Ranker {
  #handle: WasmRanker | null;
  readonly #mode: OnError;
  readonly #maxCandidates: number;
  readonly #memoryBudget: number;
  #groups: FeatureGroup[] | undefined;
  #clock: Clock = Date.now;

  static {
    setClock = (ranker, clock) => {
      ranker.#clock = clock;
    };
  }

  protected constructor(Wasm: typeof WasmRanker, model: ModelBytes, options?: RankerOptions) {
    let bytes: Uint8Array;
    let read;
    try {
      bytes = copyBytes(model, LIMITS.maxModelBytes, "model");
    } catch (error) {
      throw codedError("INVALID_MODEL", inputMessage(error));
    }
    try {
      read = readOptions(options);
    } catch (error) {
      throw codedError("INVALID_OPTIONS", inputMessage(error));
    }
    try {
      const { keyCap, retentionDays, maxCandidates, timeBudgetMs, memoryBudgetBytes, trustedKeys, learning } = read;
      this.#handle = new Wasm(bytes, keyCap, retentionDays, maxCandidates, timeBudgetMs, memoryBudgetBytes, trustedKeys, learning);
    } catch (error) {
      throw fromWire(error) ?? error;
    }
    this.#mode = read.onError;
    this.#maxCandidates = this.#handle.maxCandidates;
    this.#memoryBudget = this.#handle.memoryBudgetBytes;
  }

  /**
   * Reorders a server response. On any problem it returns the server order with a `fallback`
   * reason, unless `onError: "throw"` was asked for (then it throws the `LocalrankError`).
   *
   * ```js
   * const { ids, fallback } = ranker.rerank({ candidates, constraints: { maxDisplacement: 5 } });
   * ```
   */
  rerank(request: RerankRequest): RerankResult {
    const started = monotonicNow();
    const mode = readMode(request, this.#mode);
    let ids: string[] | undefined;
    try {
      let settings: Settings;
      let list: unknown[];
      let length: number;
      try {
        settings = readSettings(request, this.#clock);
        const candidates = absent(request) ? undefined : new Reader(["candidates"]).field(request, "candidates");
        if (candidates === undefined) throw new InputError("request: missing field `candidates`");
        if (!Array.isArray(candidates)) throw new InputError("request.candidates must be an array");
        list = candidates;
        length = list.length;
      } catch (error) {
        throw codedError("INVALID_REQUEST", inputMessage(error));
      }
      if (length > this.#maxCandidates) throw tooManyCandidates(length, this.#maxCandidates);
      let packed;
      try {
        packed = readCandidates(list, length, new Reader(CANDIDATE_KEYS));
      } catch (error) {
        throw codedError("INVALID_REQUEST", inputMessage(error));
      }
      ids = packed.ids;
      const ranked = this.#rank(packed.columns, settings, started);
      return { ids: Array.from(ranked.order, (i) => packed.ids[i] as string), ...ranked };
    } catch (error) {
      const fallback = this.#fallback(error, mode);
      return serverOrderOf(ids ?? serverOrderIds(request), fallback.reason, fallback.message, started);
    }
  }

  /**
   * `rerank` for candidates already packed column-wise (`packCandidates`): `settings` holds
   * the other fields of a request. The result has no `ids` (map `order` onto your list).
   * Columns of the wrong type or shape are `INVALID_REQUEST` (server order, or thrown).
   */
  rerankColumns(columns: CandidateColumns, settings?: RerankSettings): ColumnsRerankResult {
    const started = monotonicNow();
    const mode = readMode(settings, this.#mode);
    let count = 0;
    try {
      let checked;
      let read: Settings;
      try {
        read = readSettings(settings, this.#clock);
        checked = checkCandidateColumns(columns);
      } catch (error) {
        throw codedError("INVALID_REQUEST", inputMessage(error));
      }
      count = checked.count;
      if (count > this.#maxCandidates) throw tooManyCandidates(count, this.#maxCandidates);
      if (checked.bytes > this.#memoryBudget) throw overMemoryBudget(checked.bytes, this.#memoryBudget);
      let copy;
      try {
        copy = checked.copy();
      } catch (error) {
        throw codedError("INVALID_REQUEST", inputMessage(error));
      }
      return this.#rank(copy, read, started);
    } catch (error) {
      const fallback = this.#fallback(error, mode);
      return { order: identity(count), scores: new Float32Array(0), fallback, elapsedMs: monotonicNow() - started };
    }
  }

  /**
   * Runs the model alone on a row-major `[rows, F]` matrix whose columns are
   * `modelInfo().features`, and returns its raw scores (no signals, no server prior, no reordering).
   * For benchmarks and parity checks. Throws `INVALID_REQUEST` if `features.length !== rows *
   * F`, `MEMORY_BUDGET_EXCEEDED`, `INFERENCE_FAILED` or `INVALID_MODEL_OUTPUT`.
   */
  scoreFeatures(features: Float32Array, rows: number): Float32Array {
    let matrix: Float32Array;
    try {
      if (!Number.isInteger(rows) || rows < 0 || rows > LIMITS.maxCandidatesLimit) {
        throw new InputError(`rows must be a whole number up to ${LIMITS.maxCandidatesLimit}`);
      }
      if (typedArrayKind(features) !== "Float32Array") throw new InputError("features must be a Float32Array");
      const bytes = typedLength(features) * 4;
      if (bytes > this.#memoryBudget) throw overMemoryBudget(bytes, this.#memoryBudget);
      matrix = copyTyped(features, "Float32Array", "features");
    } catch (error) {
      throw error instanceof InputError ? codedError("INVALID_REQUEST", error.message) : error;
    }
    return this.#call((handle) => new Float32Array(handle.scoreFeatures(matrix, rows)));
  }

  /**
   * Records UI events (the batch is validated whole: on `INVALID_EVENT` nothing is stored).
   * Returns how many were stored, how many were already past retention, and how many were
   * dated more than an hour after `now` (recorded at `now`).
   */
  record(events: SignalEvent[], now?: number): RecordSummary {
    const at = this.#now(now, "INVALID_EVENT");
    return this.#recordChecked(eventColumns(events), at);
  }

  /** `record` for events packed column-wise (`packEvents`): the same checks, errors and effects. */
  recordColumns(columns: EventColumns, now?: number): RecordSummary {
    const at = this.#now(now, "INVALID_EVENT");
    let checked;
    try {
      checked = checkEventColumns(columns);
      if (checked.count > LIMITS.maxEventsPerBatch) {
        throw new InputError(`a batch of ${checked.count} events (limit ${LIMITS.maxEventsPerBatch}): record it in parts`);
      }
    } catch (error) {
      throw codedError("INVALID_EVENT", inputMessage(error));
    }
    if (checked.bytes > this.#memoryBudget) throw overMemoryBudget(checked.bytes, this.#memoryBudget);
    let copy: EventColumns;
    try {
      copy = checked.copy();
    } catch (error) {
      throw codedError("INVALID_EVENT", inputMessage(error));
    }
    return this.#recordChecked(copy, at);
  }

  /** The signal store as versioned, checksummed bytes, to persist. */
  snapshot(): Uint8Array {
    return this.#call((handle) => handle.snapshot());
  }

  /**
   * `snapshot()` in two calls, so that neither holds the thread as long as it would: this one
   * encodes the store as it is now (reranks and records may follow before the second call);
   * `finishSnapshot()` checksums those bytes and returns them. `clear()` and `restore()` drop
   * a snapshot begun before them.
   */
  beginSnapshot(): void {
    this.#call((handle) => handle.beginSnapshot());
  }

  /** The snapshot `beginSnapshot()` began, exactly as `snapshot()` was then; null if none is pending. */
  finishSnapshot(): Uint8Array | null {
    return this.#call((handle) => handle.finishSnapshot()) ?? null;
  }

  /**
   * Replaces the signals with a snapshot's (this ranker's limits applied: retention at the
   * time the snapshot's store last applied it, the key cap with strengths as of `now`,
   * default the clock). Throws `CORRUPT_SNAPSHOT` or `SNAPSHOT_VERSION` and keeps the current signals if
   * the bytes cannot be used.
   */
  restore(bytes: Uint8Array, now?: number): void {
    const at = this.#now(now, "INVALID_REQUEST");
    let copy: Uint8Array;
    try {
      copy = copyBytes(bytes, LIMITS.maxSnapshotBytes, "snapshot");
    } catch (error) {
      throw codedError("CORRUPT_SNAPSHOT", inputMessage(error));
    }
    this.#call((handle) => handle.restore(copy, at));
  }

  /** Forgets every signal. */
  clear(): void {
    this.#call((handle) => handle.clear());
  }

  /** Everything the store knows, decayed to `now` (default: the clock), as plain data. */
  exportSignals(now?: number): SignalExport {
    const at = this.#now(now, "INVALID_REQUEST");
    const exported = JSON.parse(this.#call((handle) => handle.exportSignals(at))) as SignalExport;
    for (const key of exported.keys) key.key = decodeString(key.key);
    return exported;
  }

  /** The loaded model's name, feature contract and provenance. */
  modelInfo(): ModelInfo {
    return JSON.parse(this.#call((handle) => handle.modelInfo())) as ModelInfo;
  }

  /** Number of keys in the signal store. */
  get keyCount(): number {
    return this.#call((handle) => handle.keyCount);
  }

  /** Releases the module's memory for this ranker; later calls throw `FREED` (`rerank` falls back). */
  free(): void {
    const handle = this.#handle;
    this.#handle = null;
    handle?.free();
  }

  /**
   * A call into the module: its error texts become `LocalrankError`s; anything else it throws
   * (a trap) means the instance is broken, and passes through as it is.
   */
  #call<T>(fn: (handle: WasmRanker) => T): T {
    const handle = this.#handle;
    if (!handle) throw freed();
    try {
      return fn(handle);
    } catch (error) {
      throw fromWire(error) ?? error;
    }
  }

  /** Records checked columns, within the memory budget. */
  #recordChecked(columns: EventColumns, now: number): RecordSummary {
    const bytes = columnBytes(columns);
    if (bytes > this.#memoryBudget) throw overMemoryBudget(bytes, this.#memoryBudget);
    const summary = this.#call((handle) => {
      const c = columns;
      return handle.recordColumns(
        c.text, c.lengths, c.ids, c.authors, c.containerOffsets, c.containerKeys, c.topicOffsets, c.topicKeys,
        c.embeddingOffsets, c.embeddings, c.kinds, c.at, c.dwellMs, now,
      );
    });
    return { recorded: summary[0] as number, expired: summary[1] as number, clamped: summary[2] as number };
  }

  /** Ranks checked columns; throws the coded error (or what broke the instance). */
  #rank(columns: CandidateColumns, settings: Settings, started: number): Omit<RerankResult, "ids"> {
    const bytes = columnBytes(columns);
    if (bytes > this.#memoryBudget) throw overMemoryBudget(bytes, this.#memoryBudget);
    const { order, scores, contributions } = this.#call((handle) => {
      const c = columns;
      const s = settings;
      const error = handle.rerankColumns(
        c.text, c.lengths, c.ids, c.authors, c.containerOffsets, c.containerKeys, c.topicOffsets, c.topicKeys,
        c.embeddingOffsets, c.embeddings, c.serverScores, c.popularity, c.createdAt, c.durationMs, c.pinned,
        s.now, s.utcOffsetMinutes, s.maxDisplacement, s.diversityBy, s.maxRun, s.explain,
      );
      if (error !== undefined) throw error;
      return { order: handle.takeOrder(), scores: handle.takeScores(), contributions: handle.takeContributions() };
    });
    const result: Omit<RerankResult, "ids"> = { order, scores, fallback: null, elapsedMs: monotonicNow() - started };
    if (settings.explain) result.explanations = this.#explanations(order, contributions);
    return result;
  }

  #explanations(order: Uint32Array, contributions: Float32Array): Explanation[] {
    const groups = (this.#groups ??= this.#call((handle) => handle.explainedGroups().split(",") as FeatureGroup[]));
    const rank = new Uint32Array(order.length);
    order.forEach((candidate, position) => (rank[candidate] = position));
    return Array.from(rank, (position, candidate) => {
      const values: Partial<Record<FeatureGroup, number>> = {};
      groups.forEach((group, g) => (values[group] = contributions[candidate * groups.length + g] as number));
      return { serverRank: candidate, rank: position, contributions: values };
    });
  }

  /**
   * A failed rerank's fallback, or the error thrown: in `throw` mode, and always when it is not
   * a coded error (the instance broke).
   */
  #fallback(error: unknown, mode: OnError): { reason: LocalrankError["code"]; message: string } {
    if (!isCoded(error) || mode === "throw") throw error;
    return fallbackOf(error);
  }

  /** A call's `now`: given (a number; the core checks it is a time) or the clock's. */
  #now(now: unknown, code: "INVALID_EVENT" | "INVALID_REQUEST"): number {
    if (absent(now)) return this.#clock();
    if (typeof now !== "number") throw codedError(code, "now must be a number (ms since the Unix epoch)");
    return now;
  }
}

/** The `Ranker` class over one module instance's `WasmRanker`. */
export function rankerClass(Wasm: typeof WasmRanker): RankerClass {
  return class extends Ranker {
    constructor(model: ModelBytes, options?: RankerOptions) {
      super(Wasm, model, options);
    }
  };
}

/** Makes `ranker` take "now" from `clock` when a call gives none (the client's `now` option). */
export function useClock(ranker: Ranker, clock: Clock): void {
  if (ranker instanceof Ranker) setClock(ranker, clock);
}
