// The client: one module instance with its model and signal store, persisted through a
// `SnapshotStorage`, with a `rerank` that never throws. A trap or any other unexpected
// exception gives the server's order with a `fallback` reason, and the instance is replaced in
// the background: a fresh one is restored from the last persisted snapshot and brought up to
// date by replaying the journal.

import { checkedClock, type Clock } from "../core/clock.js";
import { codedError } from "../core/errors.js";
import { inputMessage } from "../core/input.js";
import { useClock } from "../core/ranker.js";
import { serverOrder } from "../core/server-order.js";
import { LocalrankClientError, isLocalrankError, messageOf, releaseFrames, trapCode, type ClientWarningCode } from "../errors.js";
import { eventColumns } from "../packers/events.js";
import { memoryStorage } from "../storage/memory.js";
import type { LocalrankModule, WasmLoader } from "../wasm/loader.js";
import type { ModelInfo, Ranker, RecordSummary, RerankRequest, SignalEvent, SignalExport } from "../wasm/types.js";
import { Instances } from "./instances.js";
import { Journal } from "./journal.js";
import { resolveOptions, type LocalRankerOptions, type ResolvedOptions } from "./options.js";
import { monotonicNow, Persister } from "./persister.js";
import type { ClientRerankResult, ClientStatus, ClientWarning, RerankInput } from "./types.js";

/** Warnings kept in `LocalRanker.warnings` (oldest dropped first). */
const MAX_WARNINGS = 100;
/** After a failed re-instantiation, the next attempt waits at least this long. */
const RECOVERY_RETRY_MS = 1000;

/** What an entry point supplies: its module loader and how it reads a model URL. */
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
  const resolved = resolveOptions(options);
  const model = "bytes" in resolved.model ? resolved.model.bytes : await readModel(resolved.model.url, resolved.fetch, runtime);
  const ranker = LocalRanker.create(resolved, model, resolved.initWasm ?? runtime.defaultLoader());
  await ranker.start();
  return ranker;
}

async function readModel(url: string, fetchImpl: typeof fetch | undefined, runtime: Runtime): Promise<Uint8Array> {
  const resolved = new URL(url, globalThis.location?.href);
  try {
    return await runtime.readUrl(resolved, fetchImpl);
  } catch (error) {
    if (error instanceof LocalrankClientError) throw error;
    throw new LocalrankClientError("UNAVAILABLE", `could not read the model ${resolved.href}: ${messageOf(error)}`, error);
  }
}

export class LocalRanker {
  readonly #options: ResolvedOptions;
  readonly #modelBytes: Uint8Array;
  readonly #instances: Instances;
  readonly #journal = new Journal();
  readonly #persister: Persister;
  /** The `now` option, checked: a reading that is not a time is replaced by `Date.now()`. */
  readonly #now: Clock;
  #modelInfo: ModelInfo | undefined;
  #ranker: Ranker | null = null;
  #recovery: Promise<void> | null = null;
  #brokenBy: unknown = null;
  #lastRecoveryFailureAt = -Infinity;
  /** Bytes of the last snapshot known to be persisted (or, while suspended, taken). */
  #persisted: Uint8Array | null = null;
  #closed = false;
  #warnings: ClientWarning[] = [];

  /** @internal Use `createLocalRanker`. */
  static create(options: ResolvedOptions, modelBytes: Uint8Array, loader: WasmLoader): LocalRanker {
    return new LocalRanker(options, modelBytes, loader);
  }

  private constructor(options: ResolvedOptions, modelBytes: Uint8Array, loader: WasmLoader) {
    this.#options = options;
    this.#modelBytes = modelBytes;
    const warn = (code: ClientWarningCode, message: string, cause?: unknown) => this.#warn(code, message, cause);
    this.#now = checkedClock(options.now, (reading) =>
      warn("BAD_CLOCK", `options.now() gave ${messageOf(reading)}, not a time; Date.now() is used instead`, reading),
    );
    this.#instances = new Instances(loader, warn);
    this.#persister = new Persister(options.storage ?? memoryStorage(), options.flushDelayMs, {
      pending: () => this.#journal.batches > 0 && (this.#ranker !== null || !this.#closed),
      snapshot: () => this.#invoke((ranker) => ({ bytes: ranker.snapshot(), mark: this.#journal.mark })),
      persisted: (bytes, mark) => {
        this.#persisted = bytes;
        this.#journal.dropUpTo(mark);
      },
      warn,
      onPersist: options.onPersist,
      pendingBatches: () => this.#journal.batches,
    });
  }

  /** @internal Loads model and module and restores the persisted signals. */
  async start(): Promise<void> {
    if (this.#instances.count > 0) throw new LocalrankClientError("INVALID_ARGUMENT", "already started");
    const module = await this.#instances.create("start");
    this.#ranker = this.#newRanker(module);
    this.#modelInfo = this.#ranker.modelInfo();
    await this.#restoreFromStorage();
  }

  /**
   * Reorders `input` (a candidate list or a whole request). Never throws: on any problem it
   * returns the server order with `fallback.reason` set to the module's error code,
   * `"WASM_TRAP"` (the module trapped, or is being replaced after a trap) or `"SHIM_ERROR"`
   * (any other exception, or a closed ranker). After a trap or an unexpected exception the
   * module is replaced in the background (see `ready()`).
   */
  rerank(input: RerankInput): ClientRerankResult {
    const started = monotonicNow();
    let request: RerankRequest;
    try {
      request = (Array.isArray(input) ? { candidates: input } : input) as RerankRequest;
    } catch (error) {
      const invalid = codedError("INVALID_REQUEST", `request: ${inputMessage(error)}`);
      return serverOrder(input, invalid.code, invalid.message, started);
    }
    if (this.#closed) return serverOrder(request, "SHIM_ERROR", "the ranker is closed", started);
    const ranker = this.#ranker;
    if (!ranker || this.#recovery) {
      if (!this.#recovery) this.#retryRecovery();
      const message = this.#recovery
        ? "the WebAssembly module is being re-instantiated after a trap"
        : `the WebAssembly module is unavailable: ${messageOf(this.#brokenBy)}`;
      return serverOrder(request, this.#recovery ? "WASM_TRAP" : "SHIM_ERROR", message, started);
    }
    try {
      // The module's Ranker reads the request defensively: only a trap (or the request's own
      // `onError: "throw"`) throws here.
      return ranker.rerank(request);
    } catch (error) {
      if (isLocalrankError(error)) return serverOrder(request, error.code, error.message, started);
      const reason = trapCode(error);
      this.#warn(reason, `rerank: ${messageOf(error)}; returned the server order and re-instantiating the module`, error);
      this.#startRecovery(error).catch(() => {});
      return serverOrder(request, reason, messageOf(error), started);
    }
  }

  /**
   * Records UI events. When the module is ready (the usual case) they are applied before this
   * method returns, so a `rerank` right after sees them; the promise gives the module's summary.
   * Rejects with the module's `INVALID_EVENT` error (nothing stored) on a bad batch (or
   * `MEMORY_BUDGET_EXCEEDED` for one too large to copy in). The batch is journaled until a
   * snapshot containing it is persisted (debounced by `flushDelayMs`).
   * @param now the time to record at (default: the `now` option's clock)
   */
  async record(events: SignalEvent[], now?: number): Promise<RecordSummary> {
    this.#assertOpen();
    const at = now ?? this.#now();
    // The batch is read (defensively) and packed once: the packed columns are what the module
    // records and the journal's copy, which nothing else holds.
    const columns = eventColumns(events);
    const batch = Journal.batchOf(columns);
    const summary = await this.#invoke((ranker) => {
      const result = ranker.recordColumns(columns, at);
      // Only a batch the module accepted is journaled, in the same synchronous step that
      // applied it: a persist taking its snapshot in between would otherwise hold the batch
      // while leaving it journaled, and a recovery would replay it a second time.
      if (result.recorded > 0) this.#journal.push(batch, at);
      return result;
    });
    if (summary.recorded > 0) this.#persister.schedule();
    return summary;
  }

  /**
   * Persists a snapshot now (after any storage operation already running) and resolves when
   * it is written. Rejects with a `STORAGE_FAILED` error if the storage refused it (the events
   * stay journaled, and the next persist tries again).
   */
  flush(): Promise<void> {
    return this.#persister.flush();
  }

  /**
   * Forgets every signal, in memory and in storage (including a newer-format snapshot kept
   * from a newer version). Resolves when the persisted copy is gone.
   */
  async clear(): Promise<void> {
    this.#assertOpen();
    this.#journal.clear();
    this.#persisted = null;
    const cleared = this.#persister.clear();
    cleared.catch(() => {}); // awaited below, after the module's own store is cleared
    await this.#invoke((ranker) => ranker.clear());
    await cleared;
  }

  /** Everything this device knows, decayed to `now` (default: the `now` option's clock). */
  async exportSignals(now?: number): Promise<SignalExport> {
    this.#assertOpen();
    const at = now ?? this.#now();
    return this.#invoke((ranker) => ranker.exportSignals(at));
  }

  /** The loaded model's name, contract and size (read once at start). */
  modelInfo(): ModelInfo {
    return structuredClone(this.#modelInfo as ModelInfo);
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
      pendingBatches: this.#journal.batches,
      pendingEvents: this.#journal.events,
      persistence: this.#persister.suspended ? "suspended" : "storage",
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
   * Persists what is pending, frees the module and closes the storage. Further calls reject
   * with `CLOSED` (`rerank` returns the server order).
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    try {
      await this.flush();
    } catch {
      // already reported as a warning; closing goes on
    }
    this.#closed = true;
    if (this.#recovery) await this.#recovery.catch(() => {});
    await this.#persister.close();
    try {
      this.#ranker?.free();
    } catch {
      // a broken instance may refuse; it is dropped all the same
    }
    this.#ranker = null;
  }

  // ---- internals ------------------------------------------------------------------------

  #newRanker(module: LocalrankModule): Ranker {
    const ranker = new module.Ranker(this.#modelBytes, this.#options.rankerOptions);
    useClock(ranker, this.#now);
    return ranker;
  }

  /** Restores the newest persisted snapshot that the module accepts. */
  async #restoreFromStorage(): Promise<void> {
    let stored;
    try {
      stored = await this.#persister.load();
    } catch (error) {
      this.#warn("STORAGE_FAILED", `could not read the persisted signals: ${messageOf(error)}`, error);
      return;
    }
    for (const snapshot of stored) {
      const ranker = this.#ranker as Ranker;
      try {
        ranker.restore(snapshot.bytes, this.#now());
        this.#persisted = snapshot.bytes.slice();
        return;
      } catch (error) {
        if (isLocalrankError(error) && error.code === "SNAPSHOT_VERSION") {
          // A newer version of the app wrote it: keep its bytes for that version.
          this.#persister.suspended = true;
          this.#warn(
            "SNAPSHOT_VERSION",
            `${snapshot.source}: ${error.message}; it is kept in storage untouched, and this session's signals stay in memory only (clear() removes it)`,
            error,
          );
        } else if (isLocalrankError(error)) {
          this.#warn("CORRUPT_SNAPSHOT", `${snapshot.source}: ${error.message}; skipped`, error);
        } else {
          this.#warn(trapCode(error), `${snapshot.source}: restoring broke the module (${messageOf(error)}); skipped`, error);
          await this.#startRecovery(error);
        }
      }
    }
  }

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
   * A new module instance and ranker, restored from the last persisted snapshot, with the
   * journal replayed on top: the same signals as before the trap.
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
      const ranker = this.#newRanker(await this.#instances.create("recover"));
      if (this.#persisted) {
        try {
          ranker.restore(this.#persisted, this.#now());
        } catch (error) {
          this.#warn("REPLAY_FAILED", `the last persisted snapshot did not restore: ${messageOf(error)}`, error);
        }
      }
      const replayed = this.#journal.replayInto(ranker, (count, error) =>
        this.#warn("REPLAY_FAILED", `a journaled batch of ${count} events was dropped: ${messageOf(error)}`, error),
      );
      this.#ranker = ranker;
      this.#brokenBy = null;
      this.#warn(
        "RECOVERED",
        `module instance ${this.#instances.count} restored the last snapshot and replayed ${replayed} journaled events (after: ${messageOf(cause)})`,
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
