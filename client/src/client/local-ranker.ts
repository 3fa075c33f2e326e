// The client: one module instance with its model and signal store, kept in a `SignalStorage`
// that other tabs, workers or processes may share, with a `rerank` that never throws.
//
// The store is always the storage's newest checkpoint (`#base`) with the journal's batches
// applied on top: this context's own (appended to the storage's log a debounce after they are
// recorded) and the ones other contexts append (applied when they say so). That is what a fresh
// module instance is rebuilt from after a trap, and what a model update moves to the new model.
// The leader among the contexts folds the log into a new checkpoint now and then.

import { checkedClock, type Clock } from "../core/clock.js";
import { codedError } from "../core/errors.js";
import { inputMessage } from "../core/input.js";
import { useClock } from "../core/ranker.js";
import { LocalrankClientError, isLocalrankError, messageOf, releaseFrames, trapCode, type ClientFallbackReason, type ClientWarningCode } from "../errors.js";
import { eventColumns } from "../packers/events.js";
import { memoryStorage } from "../storage/memory.js";
import type { LogEntry, SignalStorage, StorageChange, StoredState } from "../storage/types.js";
import type { LocalrankModule, WasmLoader } from "../wasm/loader.js";
import type { CandidateColumns, ModelInfo, Ranker, RecordSummary, RerankRequest, RerankSettings, SignalEvent, SignalExport } from "../wasm/types.js";
import { Instances } from "./instances.js";
import { applyBatch, Journal } from "./journal.js";
import { checkSha256, modelError, readModelUrl, type ModelRef, type ModelSource } from "./models.js";
import { resolveOptions, toBytes, type LocalRankerOptions, type ResolvedOptions } from "./options.js";
import { monotonicNow, Persister } from "./persister.js";
import { isSerialized, parseSerialized, type SerializedInput } from "./serialized.js";
import { serverOrder, serverOrderOf } from "./server-order.js";
import type { ClientRerankResult, ClientStatus, ClientWarning, RerankInput } from "./types.js";

/** Warnings kept in `LocalRanker.warnings` (oldest dropped first). */
const MAX_WARNINGS = 100;
/** After a failed re-instantiation, the next attempt waits at least this long. */
const RECOVERY_RETRY_MS = 1000;
/** The leader folds the log into a new checkpoint once the journal holds this many logged batches… */
const CHECKPOINT_AFTER_BATCHES = 200;
/** …or this many logged events. */
const CHECKPOINT_AFTER_EVENTS = 20_000;

/** What an entry point supplies: its module loader and how it reads a URL. */
export interface Runtime {
  /** The entry point's own loader (a fresh instance of its flavour per call). */
  defaultLoader(): WasmLoader;
  readUrl(url: URL, fetchImpl: typeof fetch | undefined): Promise<Uint8Array>;
}

/**
 * Loads the module with its model, restores the persisted signals and returns a ready
 * `LocalRanker` (each entry point's `createLocalRanker` calls this with its own runtime).
 */
export async function startLocalRanker(options: LocalRankerOptions, runtime: Runtime): Promise<LocalRanker> {
  const ranker = LocalRanker.create(resolveOptions(options), runtime);
  try {
    await ranker.start();
  } catch (error) {
    await ranker.close().catch(() => {});
    throw error;
  }
  return ranker;
}

export class LocalRanker {
  readonly #options: ResolvedOptions;
  readonly #runtime: Runtime;
  readonly #storage: SignalStorage;
  readonly #instances: Instances;
  readonly #journal = new Journal();
  readonly #persister: Persister;
  /** The `now` option, checked: a reading that is not a time is replaced by `Date.now()`. */
  readonly #now: Clock;
  /** This context's id in the log (so its own entries are recognised when they come back). */
  readonly #origin = randomId();
  /** Numbers this context's batches. */
  #seq = 0;
  /** Set when a checkpoint in storage did not restore: the leader writes a good one soon. */
  #checkpointStale = false;
  #model: { bytes: Uint8Array; info: ModelInfo; ref: ModelRef } | null = null;
  #ranker: Ranker | null = null;
  #recovery: Promise<void> | null = null;
  #brokenBy: unknown = null;
  #lastRecoveryFailureAt = -Infinity;
  /** The checkpoint the store was built from (bytes null: an empty store) and the log keys applied on top. */
  #base: { bytes: Uint8Array | null; upTo: number } = { bytes: null, upTo: 0 };
  readonly #applied = new Set<number>();
  /** The storage's epoch the store reflects (a `clear()` anywhere bumps it). */
  #epoch = 0;
  #stopWatching: () => void = () => {};
  /** Writing the serving model's bytes to storage, in the background. */
  #keeping: Promise<void> = Promise.resolve();
  #stopLeading: () => Promise<void> | void = () => {};
  #closed = false;
  #warnings: ClientWarning[] = [];

  /** @internal Use `createLocalRanker`. */
  static create(options: ResolvedOptions, runtime: Runtime): LocalRanker {
    return new LocalRanker(options, runtime);
  }

  private constructor(options: ResolvedOptions, runtime: Runtime) {
    this.#options = options;
    this.#runtime = runtime;
    this.#storage = options.storage ?? memoryStorage();
    const warn = (code: ClientWarningCode, message: string, cause?: unknown) => this.#warn(code, message, cause);
    this.#now = checkedClock(options.now, (reading) =>
      warn("BAD_CLOCK", `options.now() gave ${messageOf(reading)}, not a time; Date.now() is used instead`, reading),
    );
    this.#instances = new Instances(options.initWasm ?? runtime.defaultLoader(), warn);
    this.#persister = new Persister(this.#storage, options.flushDelayMs, {
      unappended: () => this.#journal.unappended(),
      appended: (entry, key) => {
        entry.key = key;
        this.#applied.add(key);
      },
      wantsCheckpoint: () => this.#wantsCheckpoint(),
      checkpoint: () => this.#checkpoint(),
      warn,
      onPersist: options.onPersist,
      pendingBatches: () => this.#journal.pendingBatches,
    });
  }

  /** @internal Loads model and module and restores the persisted signals. */
  async start(): Promise<void> {
    if (this.#instances.count > 0) throw new LocalrankClientError("INVALID_ARGUMENT", "already started");
    const { bytes, sha256 } = await this.#initialModel();
    const module = await this.#instances.create("start");
    this.#ranker = this.#loadModel(module, bytes);
    const info = this.#setModel(bytes, this.#ranker);
    if (sha256 !== undefined && info.sha256 !== sha256) {
      throw modelError("MODEL_TAMPERED", `the model kept on this device has SHA-256 ${info.sha256}, not the ${sha256} it was kept under`);
    }
    await this.#resync();
    this.#stopWatching = this.#storage.watch((change) => void this.#onStorageChange(change));
    this.#stopLeading = this.#storage.lead(() => {
      this.#persister.leader = true;
      if (this.#wantsCheckpoint()) this.#persister.flush().catch(() => {});
    });
    this.#keeping = this.#keepModel(bytes, false);
  }

  /**
   * Reorders `input` (a candidate list or a whole request, as objects or as the JSON the server
   * sent: a string or its UTF-8 bytes, which are only read). Never throws: on any problem it
   * returns the server order with `fallback.reason` set to the module's error code,
   * `"WASM_TRAP"` (the module trapped, or is being replaced after a trap) or `"SHIM_ERROR"`
   * (any other exception, or a closed ranker). After a trap or an unexpected exception the
   * module is replaced in the background (see `ready()`). `model` names the serving model.
   */
  rerank(input: RerankInput): ClientRerankResult {
    return this.#rerank(input, undefined);
  }

  /**
   * @internal `rerank` of a serialized request with `now` as its time unless it has its own
   * (worker mode: the page's clock, for a request the page does not read). Never throws either.
   */
  rerankSerialized(input: SerializedInput, now: number | undefined): ClientRerankResult {
    return this.#rerank(input, now);
  }

  #rerank(input: RerankInput, now: number | undefined): ClientRerankResult {
    const started = monotonicNow();
    const model = this.#model?.ref ?? null;
    let request: RerankRequest;
    try {
      const value = isSerialized(input) ? parseSerialized(input, now) : input;
      request = (Array.isArray(value) ? { candidates: value } : value) as RerankRequest;
    } catch (error) {
      const invalid = codedError("INVALID_REQUEST", `request: ${inputMessage(error)}`);
      return serverOrder(input, invalid.code, invalid.message, started, model);
    }
    return this.#guarded(
      (reason, message) => serverOrder(request, reason, message, started, model),
      // The module's Ranker reads the request defensively: only a trap (or the request's own
      // `onError: "throw"`) throws here.
      (ranker) => ({ ...ranker.rerank(request), elapsedMs: monotonicNow() - started, model }),
    );
  }

  /**
   * @internal `rerank` for candidates a page packed already (worker mode): the result without
   * `ids`, which the page maps from `order`. Never throws either.
   */
  rerankPacked(columns: CandidateColumns, settings: RerankSettings): Omit<ClientRerankResult, "ids"> {
    const started = monotonicNow();
    const model = this.#model?.ref ?? null;
    const count = columns && columns.ids instanceof Uint32Array ? columns.ids.length : 0;
    return this.#guarded(
      (reason, message) => serverOrderOf(count, reason, message, started, model),
      (ranker) => ({ ...ranker.rerankColumns(columns, settings), elapsedMs: monotonicNow() - started, model }),
    );
  }

  /**
   * Runs a rerank on the ready module, or gives `fallback`'s server order: when closed, while
   * the module is being replaced, on a module error (its code), on a trap or any other
   * exception (which starts replacing the module).
   */
  #guarded<T>(fallback: (reason: ClientFallbackReason, message: string) => T, run: (ranker: Ranker) => T): T {
    if (this.#closed) return fallback("SHIM_ERROR", "the ranker is closed");
    const ranker = this.#ranker;
    if (!ranker || this.#recovery) {
      if (!this.#recovery) this.#retryRecovery();
      const message = this.#recovery
        ? "the WebAssembly module is being re-instantiated after a trap"
        : `the WebAssembly module is unavailable: ${messageOf(this.#brokenBy)}`;
      return fallback(this.#recovery ? "WASM_TRAP" : "SHIM_ERROR", message);
    }
    try {
      return run(ranker);
    } catch (error) {
      if (isLocalrankError(error)) return fallback(error.code, error.message);
      const reason = trapCode(error);
      this.#warn(reason, `rerank: ${messageOf(error)}; returned the server order and re-instantiating the module`, error);
      this.#startRecovery(error).catch(() => {});
      return fallback(reason, messageOf(error));
    }
  }

  /**
   * Records UI events. When the module is ready (the usual case) they are applied before this
   * method returns, so a `rerank` right after sees them; the promise gives the module's summary.
   * Rejects with the module's `INVALID_EVENT` error (nothing stored) on a bad batch (or
   * `MEMORY_BUDGET_EXCEEDED` for one too large to copy in). The batch is appended to the
   * storage's log a debounce (`flushDelayMs`) later; from then on it is acknowledged.
   * @param now the time to record at (default: the `now` option's clock)
   */
  async record(events: SignalEvent[], now?: number): Promise<RecordSummary> {
    this.#assertOpen();
    const at = now ?? this.#now();
    // The batch is read (defensively) and packed once: the packed columns are what the module
    // records and what the journal and the log keep, which nothing else holds.
    const columns = eventColumns(events);
    const batch = Journal.batchOf(columns, this.#origin, this.#seq + 1, at);
    const summary = await this.#invoke((ranker) => {
      const result = ranker.recordColumns(columns, at);
      // Journaled in the same synchronous step that applied it, so no checkpoint or rebuild
      // can see the batch applied but not journaled (or the other way round).
      if (result.recorded > 0) {
        this.#seq = batch.seq;
        this.#journal.pushOwn(batch);
      }
      return result;
    });
    if (summary.recorded > 0) this.#persister.schedule();
    return summary;
  }

  /**
   * Appends what is pending now (after any storage operation already running) and resolves
   * when it is written. Rejects with a `STORAGE_FAILED` error if the storage refused it (the
   * events stay journaled, and the next write tries again).
   */
  flush(): Promise<void> {
    return this.#persister.flush();
  }

  /**
   * Forgets every signal, in memory and in storage, in every context sharing the storage
   * (a checkpoint kept from a newer version included). Resolves when the persisted copy is gone.
   */
  async clear(): Promise<void> {
    this.#assertOpen();
    this.#journal.clear();
    this.#setBase(null, 0);
    await this.#invoke((ranker) => ranker.clear());
    const epoch = await this.#persister.exclusive(async () => {
      try {
        return await this.#storage.clear();
      } catch (error) {
        this.#warn("STORAGE_FAILED", `could not delete the persisted signals: ${messageOf(error)}`, error);
        throw new LocalrankClientError("STORAGE_FAILED", `could not delete the persisted signals: ${messageOf(error)}`, error);
      }
    });
    // Appends that were already running when clear() was called landed before the storage was
    // cleared; what they marked applied is gone with it.
    this.#setBase(null, 0);
    this.#epoch = epoch;
    this.#persister.suspended = false;
  }

  /** Everything this device knows, decayed to `now` (default: the `now` option's clock). */
  async exportSignals(now?: number): Promise<SignalExport> {
    this.#assertOpen();
    const at = now ?? this.#now();
    return this.#invoke((ranker) => ranker.exportSignals(at));
  }

  /** The serving model's name, contract, size and SHA-256. */
  modelInfo(): ModelInfo {
    return structuredClone(this.#model?.info as ModelInfo);
  }

  /** @internal The serving model's name and SHA-256 (no copy of its info), or null before one loaded. */
  get modelRef(): ModelRef | null {
    return this.#model?.ref ?? null;
  }

  /**
   * Replaces the model without touching the signals: the new model (bytes, or a URL with the
   * SHA-256 it must have) is loaded in a fresh module instance beside the serving one and
   * checked (its SHA-256, signature under `rankerOptions.trustedKeys`, contract against this
   * build's features), then takes over between two reranks; every context sharing the storage
   * switches to it too, and it is kept in storage for a start without network. A model that
   * fails any check rejects with its code (`MODEL_TAMPERED`, `MODEL_UNSIGNED`,
   * `MODEL_UNTRUSTED_KEY`, `INVALID_MODEL`, `CONTRACT_MISMATCH`, `UNKNOWN_FEATURE`; `UNAVAILABLE`
   * if it cannot be fetched) and the serving model stays.
   */
  async updateModel(source: ModelSource): Promise<ModelInfo> {
    this.#assertOpen();
    let bytes: Uint8Array;
    if (source && typeof source === "object" && "url" in source) {
      bytes = await readModelUrl(source.url, (url) => this.#runtime.readUrl(url, this.#options.fetch));
      await checkSha256(bytes, source.sha256, `the model at ${String(source.url)}`);
    } else {
      bytes = toBytes(source, "updateModel's model");
    }
    const info = await this.#swapModel(bytes);
    this.#keeping = this.#keeping.then(() => this.#keepModel(bytes, true));
    return info;
  }

  /** Keys in the signal store (0 while the module is being replaced). */
  get keyCount(): number {
    try {
      return this.#ranker && !this.#recovery ? this.#ranker.keyCount : 0;
    } catch {
      return 0;
    }
  }

  /** Warnings so far, oldest first (at most the last 100). */
  get warnings(): ClientWarning[] {
    return this.#warnings.slice();
  }

  get status(): ClientStatus {
    return {
      instances: this.#instances.count,
      state: this.#closed ? "closed" : this.#recovery ? "recovering" : this.#ranker ? "ready" : "broken",
      pendingBatches: this.#journal.pendingBatches,
      pendingEvents: this.#journal.pendingEvents,
      persistence: this.#persister.suspended ? "suspended" : "storage",
      leader: this.#persister.leader,
      lastPersistedAt: this.#persister.lastPersistedAt,
    };
  }

  /**
   * Resolves once no re-instantiation is running (immediately in the usual case). Rejects if
   * the last one failed and a retry fails too.
   */
  async ready(): Promise<void> {
    if (this.#recovery) await this.#recovery;
    if (!this.#ranker && !this.#closed) await this.#startRecovery(this.#brokenBy);
  }

  /**
   * Persists what is pending, frees the module, gives up the leadership and closes the
   * storage. Further calls reject with `CLOSED` (`rerank` returns the server order).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } catch {
      // already reported as a warning; closing goes on
    }
    this.#closed = true;
    await this.#keeping;
    this.#stopWatching();
    await this.#stopLeading();
    this.#persister.leader = false;
    if (this.#recovery) await this.#recovery.catch(() => {});
    await this.#persister.close();
    try {
      this.#ranker?.free();
    } catch {
      // a broken instance may refuse; it is dropped all the same
    }
    this.#ranker = null;
  }

  // ---- model --------------------------------------------------------------------------

  /**
   * The model to start with: the one an `updateModel` installed (in this or another context:
   * every context serves it), else the one given — or, if that cannot be fetched, the one the
   * last start was given. A kept model comes with the SHA-256 it was kept under, which the
   * module then confirms.
   */
  async #initialModel(): Promise<{ bytes: Uint8Array; sha256?: string }> {
    const stored = await this.#storage.loadModel().catch(() => null);
    if (stored?.updated) return stored;
    const model = this.#options.model;
    if ("bytes" in model) return { bytes: model.bytes };
    try {
      return { bytes: await readModelUrl(model.url, (url) => this.#runtime.readUrl(url, this.#options.fetch)) };
    } catch (error) {
      if (!stored) throw error;
      this.#warn("MODEL_FROM_STORAGE", `${messageOf(error)}; serving the last good model kept on this device instead`, error);
      return stored;
    }
  }

  /**
   * `bytes` loaded by a fresh module instance's Ranker. A model that traps the instance (a
   * panic inside tract) is an INVALID_MODEL like any other, and the instance is dropped with it.
   */
  #loadModel(module: LocalrankModule, bytes: Uint8Array): Ranker {
    try {
      const ranker = new module.Ranker(bytes, this.#options.rankerOptions);
      useClock(ranker, this.#now);
      return ranker;
    } catch (error) {
      if (isLocalrankError(error)) throw error;
      throw modelError("INVALID_MODEL", `loading the model broke the module (${messageOf(error)}); it was refused`, error);
    }
  }

  #setModel(bytes: Uint8Array, ranker: Ranker): ModelInfo {
    const info = ranker.modelInfo();
    this.#model = { bytes, info, ref: { name: info.name, sha256: info.sha256 } };
    return info;
  }

  /** Loads `bytes` beside the serving model and, once it has passed, moves the signals to it. */
  async #swapModel(bytes: Uint8Array, expectedSha256?: string): Promise<ModelInfo> {
    const candidate = this.#loadModel(await this.#instances.create("model"), bytes);
    const sha256 = candidate.modelInfo().sha256;
    if (expectedSha256 !== undefined && sha256 !== expectedSha256) {
      candidate.free();
      throw modelError("MODEL_TAMPERED", `the model kept in storage has SHA-256 ${sha256}, not the announced ${expectedSha256}`);
    }
    return this.#invoke((serving) => {
      // One synchronous step: no rerank or record can run between reading the signals and
      // switching, so the new instance holds exactly the store (= checkpoint + journal).
      candidate.restore(serving.snapshot(), this.#now());
      this.#ranker = candidate;
      try {
        serving.free();
      } catch {
        // dropped all the same
      }
      return this.#setModel(bytes, candidate);
    });
  }

  /**
   * Keeps the serving model's bytes in storage, under the SHA-256 the module computed of them
   * (`modelInfo().sha256`): an update for every context to serve (`updated`), or the model a
   * start was given, for a start without network — which never replaces an update's.
   */
  async #keepModel(bytes: Uint8Array, updated: boolean): Promise<void> {
    try {
      const sha256 = this.#model?.info.sha256 as string;
      const stored = await this.#storage.loadModel();
      if (stored?.sha256 === sha256 && stored.updated === updated) return;
      if (!updated && stored?.updated) return;
      await this.#storage.saveModel({ bytes, sha256, updated });
    } catch (error) {
      this.#warn("STORAGE_FAILED", `could not keep the model on this device: ${messageOf(error)}`, error);
    }
  }

  /** Another context switched models: switch to the one it kept in storage. */
  async #adoptStoredModel(sha256: string): Promise<void> {
    if (this.#model?.ref.sha256 === sha256) return;
    try {
      const stored = await this.#storage.loadModel();
      if (!stored?.updated || stored.sha256 !== sha256) return; // not an update, or superseded meanwhile
      await this.#swapModel(stored.bytes, sha256);
    } catch (error) {
      this.#warn("MODEL_REFUSED", `another tab's model update did not load here: ${messageOf(error)}; the serving model stays`, error);
    }
  }

  // ---- storage ------------------------------------------------------------------------

  #setBase(bytes: Uint8Array | null, upTo: number): void {
    this.#base = { bytes, upTo };
    this.#applied.clear();
  }

  /**
   * Rebuilds the store from storage: the newest checkpoint that restores, the log after it, and
   * this context's own batches not yet appended. Runs between storage operations, so no append
   * of this context can be half done (in the log, but not yet known to be).
   */
  async #resync(): Promise<void> {
    await this.#persister.exclusive(async () => {
      let state: StoredState;
      try {
        state = await this.#storage.load();
      } catch (error) {
        this.#warn("STORAGE_FAILED", `could not read the persisted signals: ${messageOf(error)}; keeping the signals in memory`, error);
        return;
      }
      if (state.recovered) this.#warn("STORE_RECOVERED", state.recovered);
      if (state.corruptEntries > 0) {
        this.#warn("CORRUPT_SNAPSHOT", `${state.corruptEntries} log entries failed their checksum and were skipped`);
      }
      await this.#invoke((ranker) => this.#rebuild(ranker, state));
    });
  }

  #rebuild(ranker: Ranker, state: StoredState): void {
    let base: { bytes: Uint8Array; upTo: number } | null = null;
    for (const snapshot of state.snapshots) {
      try {
        ranker.restore(snapshot.bytes, this.#now());
        base = { bytes: snapshot.bytes.slice(), upTo: snapshot.upTo };
        break;
      } catch (error) {
        if (isLocalrankError(error) && error.code === "SNAPSHOT_VERSION") {
          // A newer version of the app wrote it: keep everything for that version.
          this.#persister.suspended = true;
          this.#warn(
            "SNAPSHOT_VERSION",
            `${snapshot.source}: ${error.message}; it is kept in storage untouched, and this session's signals stay in memory only (clear() removes it)`,
            error,
          );
        } else if (isLocalrankError(error)) {
          this.#checkpointStale = true;
          this.#warn("CORRUPT_SNAPSHOT", `${snapshot.source}: ${error.message}; skipped`, error);
        } else {
          throw error; // a trap: the caller recovers
        }
      }
    }
    if (!base) ranker.clear();
    const unappended = this.#journal.unappended();
    this.#journal.clear();
    this.#setBase(base?.bytes ?? null, base?.upTo ?? 0);
    this.#epoch = state.epoch;
    for (const entry of state.log) this.#applyLogged(ranker, entry);
    for (const entry of unappended) {
      try {
        applyBatch(ranker, entry.batch);
        this.#journal.pushOwn(entry.batch);
      } catch (error) {
        this.#warn("REPLAY_FAILED", `a batch of ${entry.batch.count} events was dropped: ${messageOf(error)}`, error);
      }
    }
  }

  /** Applies a log entry unless the store has it already. */
  #applyLogged(ranker: Ranker, entry: LogEntry): void {
    if (entry.key <= this.#base.upTo || this.#applied.has(entry.key)) return;
    this.#applied.add(entry.key);
    try {
      applyBatch(ranker, entry.batch);
      this.#journal.pushRemote(entry.key, entry.batch);
    } catch (error) {
      if (!isLocalrankError(error)) throw error;
      this.#warn("REPLAY_FAILED", `a logged batch of ${entry.batch.count} events was dropped: ${messageOf(error)}`, error);
    }
  }

  async #onStorageChange(change: StorageChange): Promise<void> {
    if (this.#closed) return;
    try {
      switch (change.type) {
        case "appended": {
          const entries = change.entries.filter((entry) => entry.batch.origin !== this.#origin);
          if (entries.length > 0) await this.#invoke((ranker) => entries.forEach((entry) => this.#applyLogged(ranker, entry)));
          break;
        }
        case "compacted":
          // The log this context built on may be partly gone: rebuild on the new checkpoint.
          if (change.upTo > this.#base.upTo) await this.#resync();
          break;
        case "cleared":
          if (change.epoch !== this.#epoch) {
            this.#journal.clear();
            await this.#resync();
          }
          break;
        case "model":
          await this.#adoptStoredModel(change.sha256);
          break;
      }
    } catch (error) {
      this.#warn("SHIM_ERROR", `applying another context's change (${change.type}): ${messageOf(error)}`, error);
    }
  }

  #wantsCheckpoint(): boolean {
    if (this.#persister.suspended) return false;
    return this.#checkpointStale || this.#journal.batches >= CHECKPOINT_AFTER_BATCHES || this.#journal.loggedEvents >= CHECKPOINT_AFTER_EVENTS;
  }

  /**
   * Folds the log into a new checkpoint (the leader, inside the persister's queue right after
   * its appends). The snapshot is begun at once — synchronously, while no own batch waits for
   * its append — so it holds exactly the log entries applied so far, and finished (checksummed
   * and copied out) in a later task, so reranks can run between the two halves; the log is then
   * read to make sure none up to the newest of them is missing (another context's entry not yet
   * heard of), and only then does the checkpoint replace the older one.
   */
  async #checkpoint(): Promise<number | null> {
    const begun = await this.#invoke((ranker) => {
      if (this.#journal.unappended().length > 0 || this.#applied.size === 0) return null;
      ranker.beginSnapshot();
      return { applied: new Set(this.#applied), upTo: Math.max(...this.#applied) };
    });
    if (!begun) return null;
    await nextTask();
    // Null when what was begun is gone: the module was replaced (a trap, a model update) or
    // its store cleared or rebuilt in between.
    const bytes = await this.#invoke((ranker) => ranker.finishSnapshot());
    if (!bytes) return null;
    const taken = { bytes, ...begun };
    const { epoch, entries } = await this.#storage.readLog(this.#base.upTo);
    if (epoch !== this.#epoch) return null;
    const missing = entries.filter((entry) => entry.key <= taken.upTo && !taken.applied.has(entry.key));
    if (missing.length > 0) {
      // Apply them now; the next checkpoint will hold them.
      await this.#invoke((ranker) => missing.forEach((entry) => this.#applyLogged(ranker, entry)));
      return null;
    }
    if (!(await this.#storage.compact(taken.bytes, taken.upTo, epoch))) return null;
    this.#checkpointStale = false;
    this.#journal.dropUpTo(taken.upTo);
    const applied = [...this.#applied].filter((key) => key > taken.upTo);
    this.#setBase(taken.bytes, taken.upTo);
    applied.forEach((key) => this.#applied.add(key));
    return taken.bytes.length;
  }

  // ---- the module instance ----------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new LocalrankClientError("CLOSED", "the ranker is closed");
  }

  /**
   * Runs `fn` on the ranker: synchronously when it is ready; after the running recovery
   * otherwise. A module error passes through; a trap or other exception replaces the module
   * and runs `fn` once more on the new one.
   */
  async #invoke<T>(fn: (ranker: Ranker) => T): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      if (this.#recovery) await this.#recovery.catch(() => {});
      if (this.#closed && !this.#ranker) throw new LocalrankClientError("CLOSED", "the ranker is closed");
      const ranker = this.#ranker;
      if (!ranker) {
        if (attempt > 0) {
          throw new LocalrankClientError("UNAVAILABLE", `the WebAssembly module is unavailable: ${messageOf(this.#brokenBy)}`, this.#brokenBy);
        }
        await this.#startRecovery(this.#brokenBy).catch(() => {});
        continue;
      }
      try {
        return fn(ranker);
      } catch (error) {
        if (isLocalrankError(error)) throw error;
        if (attempt > 0) {
          // The same call broke a fresh module too: give up on it, but leave a working module.
          this.#warn(trapCode(error), `${messageOf(error)} (again, on a fresh module); re-instantiating`, error);
          this.#startRecovery(error).catch(() => {});
          throw error;
        }
        this.#warn(trapCode(error), `${messageOf(error)}; re-instantiating the module and trying again`, error);
        await this.#startRecovery(error).catch(() => {});
      }
    }
  }

  /** Starts replacing the module (or joins the replacement already running). */
  #startRecovery(cause: unknown): Promise<void> {
    if (!this.#recovery) {
      const recovery = this.#recover(cause).finally(() => {
        if (this.#recovery === recovery) this.#recovery = null;
      });
      this.#recovery = recovery;
      recovery.catch(() => {});
    }
    return this.#recovery;
  }

  #retryRecovery(): void {
    if (this.#closed || monotonicNow() - this.#lastRecoveryFailureAt < RECOVERY_RETRY_MS) return;
    this.#startRecovery(this.#brokenBy).catch(() => {});
  }

  /**
   * A new module instance and ranker, restored from the checkpoint the store was built from,
   * with the journal replayed on top: the same signals as before the trap.
   */
  async #recover(cause: unknown): Promise<void> {
    const old = this.#ranker;
    this.#ranker = null;
    try {
      old?.free();
    } catch {
      // the broken instance's memory is dropped with it
    }
    try {
      const ranker = this.#loadModel(await this.#instances.create("recover"), (this.#model as { bytes: Uint8Array }).bytes);
      if (this.#base.bytes) {
        try {
          ranker.restore(this.#base.bytes, this.#now());
        } catch (error) {
          this.#warn("REPLAY_FAILED", `the checkpoint did not restore: ${messageOf(error)}`, error);
        }
      }
      const replayed = this.#journal.replayInto(ranker, (count, error) =>
        this.#warn("REPLAY_FAILED", `a journaled batch of ${count} events was dropped: ${messageOf(error)}`, error),
      );
      this.#ranker = ranker;
      this.#brokenBy = null;
      this.#warn(
        "RECOVERED",
        `module instance ${this.#instances.count} restored the last checkpoint and replayed ${replayed} journaled events (after: ${messageOf(cause)})`,
      );
    } catch (error) {
      this.#brokenBy = error;
      this.#lastRecoveryFailureAt = monotonicNow();
      this.#warn("RECOVERY_FAILED", `re-instantiating the module failed: ${messageOf(error)}`, error);
      throw error;
    }
  }

  #warn(code: ClientWarningCode, message: string, cause?: unknown): void {
    const warning: ClientWarning = { code, message, at: Date.now() };
    if (cause !== undefined) {
      releaseFrames(cause);
      warning.cause = cause;
    }
    this.#warnings.push(warning);
    if (this.#warnings.length > MAX_WARNINGS) this.#warnings.shift();
    try {
      this.#options.onWarning?.(warning);
    } catch {
      // a throwing callback must not break the ranker
    }
  }
}

/** Resolves in a later task (not a microtask), so the event loop can run what waits. */
function nextTask(): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, 0));
}

/** A random id for this context's log entries. */
function randomId(): string {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}
