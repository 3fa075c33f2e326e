// localrank-client: the JavaScript shim around the localrank WebAssembly module.
//
// It runs in browsers, workers, Node and Electron, and adds what the raw `Ranker` leaves to
// the host:
//   * persistence of the signal store (IndexedDB, a file, or memory) with atomic writes;
//   * a journal of the events recorded since the last persisted snapshot, so nothing is lost
//     when the module has to be replaced;
//   * a `rerank` that never throws: a trap or any other exception gives the server's order
//     with a `fallback` reason, and the module is re-instantiated, restored from the last
//     persisted snapshot and brought up to date by replaying the journal.
//
// How the wasm module is loaded is the caller's choice, through `initWasm` (see `WasmLoader`
// in localrank-client.d.ts). `webPackageLoader` covers the wasm-pack `--target web` package
// in browsers and in Node; `commonJsLoader` covers the `--target nodejs` package.
//
// Types: localrank-client.d.ts (hand-written, and the reference for this file's JSDoc).

/** @typedef {import("./localrank-client.d.ts").LocalRankerOptions} LocalRankerOptions */
/** @typedef {import("./localrank-client.d.ts").LocalrankModule} LocalrankModule */
/** @typedef {import("./localrank-client.d.ts").WasmRanker} WasmRanker */
/** @typedef {import("./localrank-client.d.ts").WasmLoader} WasmLoader */
/** @typedef {import("./localrank-client.d.ts").LoaderContext} LoaderContext */
/** @typedef {import("./localrank-client.d.ts").SnapshotStorage} SnapshotStorage */
/** @typedef {import("./localrank-client.d.ts").StoredSnapshot} StoredSnapshot */
/** @typedef {import("./localrank-client.d.ts").MemoryStorage} MemoryStorage */
/** @typedef {import("./localrank-client.d.ts").FileStorageOptions} FileStorageOptions */
/** @typedef {import("./localrank-client.d.ts").IndexedDbStorageOptions} IndexedDbStorageOptions */
/** @typedef {import("./localrank-client.d.ts").ClientWarning} ClientWarning */
/** @typedef {import("./localrank-client.d.ts").ClientWarningCode} ClientWarningCode */
/** @typedef {import("./localrank-client.d.ts").ClientStatus} ClientStatus */
/** @typedef {import("./localrank-client.d.ts").PersistInfo} PersistInfo */
/** @typedef {import("./localrank-client.d.ts").ClientRerankResult} ClientRerankResult */
/** @typedef {import("./localrank-client.d.ts").RerankInput} RerankInput */
/** @typedef {import("../pkg/web/localrank.js").RankerOptions} RankerOptions */
/** @typedef {import("../pkg/web/localrank.js").RerankRequest} RerankRequest */
/** @typedef {import("../pkg/web/localrank.js").Candidate} Candidate */
/** @typedef {import("../pkg/web/localrank.js").CandidateColumns} CandidateColumns */
/** @typedef {import("../pkg/web/localrank.js").EventColumns} EventColumns */
/** @typedef {import("../pkg/web/localrank.js").SignalEvent} SignalEvent */
/** @typedef {import("../pkg/web/localrank.js").RecordSummary} RecordSummary */
/** @typedef {import("../pkg/web/localrank.js").SignalExport} SignalExport */
/** @typedef {import("../pkg/web/localrank.js").ModelInfo} ModelInfo */

/**
 * A recorded batch as the journal keeps it: the packed columns, or a deep copy of the objects.
 * @typedef {{ columns: EventColumns, events?: undefined, count: number } | { events: SignalEvent[], columns?: undefined, count: number }} JournalBatch
 */
/** @typedef {JournalBatch & { seq: number, now: number }} JournalEntry */

/** Warnings kept in `LocalRanker.warnings` (oldest dropped first). */
const MAX_WARNINGS = 100;
/** A debounced persist waits at most this many flush delays while events keep coming. */
const MAX_WAIT_FACTOR = 5;
/** After a failed re-instantiation, the next attempt waits at least this long. */
const RECOVERY_RETRY_MS = 1000;
/** Longest wait between retries of a failing write. */
const MAX_RETRY_MS = 60_000;

/**
 * An error thrown by the shim itself (not by the wasm module): `CLOSED`, `UNAVAILABLE`,
 * `STORAGE_FAILED`, `INVALID_ARGUMENT`. Errors of the wasm module (`name === "LocalrankError"`)
 * pass through unchanged.
 */
export class LocalrankClientError extends Error {
  /**
   * @param {import("./localrank-client.d.ts").ClientErrorCode} code
   * @param {string} message
   * @param {unknown} [cause]
   */
  constructor(code, message, cause) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "LocalrankClientError";
    this.code = code;
  }
}

/**
 * Whether `error` is an error of the wasm module with a stable `code` (the module itself is
 * healthy after one of these).
 * @param {unknown} error
 * @returns {error is import("../pkg/web/localrank.js").LocalrankError}
 */
export function isLocalrankError(error) {
  return error instanceof Error && error.name === "LocalrankError" && typeof (/** @type {{code?: unknown}} */ (error).code) === "string";
}

/**
 * Loads the ranker with its model, restores the persisted signals and returns a ready
 * `LocalRanker`. Rejects with the module's `LocalrankError` when the model or the options are
 * unusable (`INVALID_MODEL`, `CONTRACT_MISMATCH`, `UNKNOWN_FEATURE`, `INVALID_OPTIONS`), or
 * with the loader's error. Unreadable or newer-format persisted signals do not reject: they
 * are reported through `onWarning` and skipped.
 * @param {LocalRankerOptions} options
 * @returns {Promise<LocalRanker>}
 */
export async function createLocalRanker(options) {
  const ranker = new LocalRanker(options);
  await ranker[START]();
  return ranker;
}

/** The start method's key: not part of the public API. */
const START = Symbol("localrank.start");

export class LocalRanker {
  /** @type {WasmLoader} */ #initWasm;
  /** @type {SnapshotStorage} */ #storage;
  /** @type {RankerOptions | undefined} */ #rankerOptions;
  /** @type {number} */ #flushDelayMs;
  /** @type {() => number} */ #now;
  /** @type {((warning: ClientWarning) => void) | undefined} */ #onWarning;
  /** @type {((info: PersistInfo) => void) | undefined} */ #onPersist;
  /** @type {Uint8Array | undefined} */ #modelBytes;
  /** @type {string | undefined} */ #modelUrl;
  /** @type {typeof fetch | undefined} */ #fetch;
  /** @type {ModelInfo | undefined} */ #modelInfo;

  /** @type {LocalrankModule | null} */ #module = null;
  /** @type {WasmRanker | null} */ #ranker = null;
  /** How many module instances were created (1 after start). */
  #instances = 0;
  /** @type {Promise<void> | null} */ #recovery = null;
  /** @type {unknown} */ #brokenBy = null;
  #lastRecoveryFailureAt = -Infinity;

  /** Bytes of the last snapshot known to be persisted (or, while suspended, taken). */
  /** @type {Uint8Array | null} */ #persisted = null;
  /**
   * Batches recorded since `#persisted`, in order: packed columns, or (for a batch the columns
   * cannot carry) a deep copy of the event objects.
   * @type {JournalEntry[]}
   */
  #journal = [];
  #seq = 0;
  /** Bumped by `clear()`, so a persist that started before it does not resurrect old state. */
  #epoch = 0;
  /** True while storage holds a newer-format snapshot that this version must not overwrite. */
  #preserveStored = false;
  /** Storage operations run one at a time, in call order. */
  /** @type {Promise<unknown>} */ #storageChain = Promise.resolve();
  /** @type {ReturnType<typeof setTimeout> | null} */ #timer = null;
  /** @type {number | null} */ #firstPendingAt = null;
  /** @type {number | null} */ #lastPersistedAt = null;
  /** Delay of the next retry after failed writes (0: none failed). */
  #retryDelayMs = 0;
  #closed = false;
  /** @type {ClientWarning[]} */ #warnings = [];
  #warnedStale = false;

  /**
   * Use `createLocalRanker`, which also loads the module and the persisted signals.
   * @param {LocalRankerOptions} options
   */
  constructor(options) {
    if (!options || typeof options !== "object") {
      throw new LocalrankClientError("INVALID_ARGUMENT", "createLocalRanker needs an options object");
    }
    if (typeof options.initWasm !== "function") {
      throw new LocalrankClientError("INVALID_ARGUMENT", "options.initWasm must be a function that returns the wasm module");
    }
    const hasBytes = options.modelBytes !== undefined;
    const hasUrl = options.modelUrl !== undefined;
    if (hasBytes === hasUrl) {
      throw new LocalrankClientError("INVALID_ARGUMENT", "give exactly one of options.modelBytes and options.modelUrl");
    }
    if (hasBytes) {
      this.#modelBytes = toBytes(options.modelBytes, "options.modelBytes");
    } else {
      this.#modelUrl = String(options.modelUrl);
    }
    const delay = options.flushDelayMs ?? 1000;
    if (typeof delay !== "number" || !(delay >= 0)) {
      throw new LocalrankClientError("INVALID_ARGUMENT", "options.flushDelayMs must be a number >= 0 (Infinity: only flush() persists)");
    }
    this.#initWasm = options.initWasm;
    this.#storage = options.storage ?? memoryStorage();
    this.#rankerOptions = options.rankerOptions;
    this.#flushDelayMs = delay;
    this.#now = options.now ?? Date.now;
    this.#onWarning = options.onWarning;
    this.#onPersist = options.onPersist;
    this.#fetch = options.fetch;
  }

  /**
   * Loads model and module and restores the persisted signals. Called once by `createLocalRanker`.
   * @returns {Promise<void>}
   */
  async [START]() {
    if (this.#instances > 0) throw new LocalrankClientError("INVALID_ARGUMENT", "already started");
    if (!this.#modelBytes) this.#modelBytes = await fetchBytes(/** @type {string} */ (this.#modelUrl), this.#fetch);
    const module = await this.#instantiate("start");
    const ranker = new module.Ranker(this.#modelBytes, this.#rankerOptions);
    this.#module = module;
    this.#ranker = ranker;
    this.#modelInfo = ranker.modelInfo();
    await this.#restoreFromStorage();
  }

  /** Restores the newest persisted snapshot that the module accepts. */
  async #restoreFromStorage() {
    /** @type {StoredSnapshot[]} */
    let stored = [];
    try {
      stored = await this.#storage.load();
    } catch (error) {
      this.#warn("STORAGE_FAILED", `could not read the persisted signals: ${messageOf(error)}`, error);
      return;
    }
    for (const snapshot of stored) {
      const ranker = /** @type {WasmRanker} */ (this.#ranker);
      try {
        ranker.restore(snapshot.bytes, this.#now());
        this.#persisted = snapshot.bytes.slice();
        return;
      } catch (error) {
        if (isLocalrankError(error) && error.code === "SNAPSHOT_VERSION") {
          // A newer version of the app wrote it: keep its bytes for that version.
          this.#preserveStored = true;
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

  /**
   * Asks the loader for a module and checks its shape. The loader must return a module backed
   * by a new WebAssembly instance each time it is called (see `WasmLoader`).
   * @param {"start" | "recover"} reason
   * @returns {Promise<LocalrankModule>}
   */
  async #instantiate(reason) {
    let module;
    try {
      module = await this.#initWasm({ instance: this.#instances, reason });
    } catch (error) {
      // The module needs wasm SIMD (and bulk memory, …): an engine without them cannot even
      // compile it. Say so with a code, so the app knows to keep the server's order.
      if (error instanceof WebAssembly.CompileError) {
        throw new LocalrankClientError(
          "UNAVAILABLE",
          `this engine cannot compile the localrank WebAssembly module (it needs wasm SIMD): ${messageOf(error)}`,
          error,
        );
      }
      throw error;
    }
    if (!module || typeof module.Ranker !== "function") {
      throw new LocalrankClientError("INVALID_ARGUMENT", "initWasm must return the localrank module (an object with a Ranker class)");
    }
    if (this.#module && module.Ranker === this.#module.Ranker && !this.#warnedStale) {
      this.#warnedStale = true;
      this.#warn(
        "STALE_INSTANCE",
        "initWasm returned the same module instance again; a broken instance cannot be repaired that way (see WasmLoader)",
      );
    }
    this.#instances += 1;
    return module;
  }

  /**
   * Reorders `input` (a candidate list or a whole request). Never throws: on any problem it
   * returns the server order with `fallback.reason` set to the module's error code,
   * `"WASM_TRAP"` (the module trapped, or is being replaced after a trap) or `"SHIM_ERROR"`
   * (any other exception, or a closed ranker). After a trap or an unexpected exception the
   * module is replaced in the background (see `ready()`).
   * @param {RerankInput} input
   * @returns {ClientRerankResult}
   */
  rerank(input) {
    const started = nowMs();
    /** @type {RerankRequest} */
    let request;
    try {
      request = Array.isArray(input) ? { candidates: input } : input;
      if (request && typeof request === "object" && request.now === undefined) request = { ...request, now: this.#now() };
    } catch (error) {
      return serverOrder(input, "SHIM_ERROR", messageOf(error), started);
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
      // The fast path: candidates packed into typed arrays cross into wasm as a few copies.
      // A list the columns cannot carry exactly (a wrong type, a NaN) takes the object path,
      // whose error names the problem.
      const candidates = typeof request === "object" && request !== null ? request.candidates : undefined;
      const columns = packCandidates(candidates);
      if (!columns) return ranker.rerank(request);
      const result = ranker.rerankColumns(columns, request);
      const ids = Array.from(result.order, (i) => /** @type {Candidate[]} */ (candidates)[i].id);
      return { ids, ...result, elapsedMs: nowMs() - started };
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
   * Rejects with the module's `INVALID_EVENT` error (nothing stored) on a bad batch, and with
   * `INVALID_ARGUMENT` (nothing stored) if a batch the columns cannot carry cannot be copied
   * for the journal either. The batch is journaled until a snapshot containing it is persisted
   * (debounced by `flushDelayMs`).
   * @param {SignalEvent[]} events
   * @param {number} [now] the time to record at (default: the `now` option's clock)
   * @returns {Promise<RecordSummary>}
   */
  async record(events, now) {
    this.#assertOpen();
    const at = now ?? this.#now();
    // The fast path: events packed into typed arrays cross into wasm as a few copies, and the
    // packed columns (which nothing else holds) are also the journal's copy. A batch the
    // columns cannot carry exactly takes the object path, whose error names the problem, and
    // is journaled as a deep copy, so later mutation cannot change a replay.
    const columns = packEvents(events);
    /** @type {JournalBatch} */
    const batch = columns ? { columns, count: columns.kinds.length } : { events: copyEvents(events), count: Array.isArray(events) ? events.length : 0 };
    const summary = await this.#invoke((ranker) => {
      const result = columns ? ranker.recordColumns(columns, at) : ranker.record(events, at);
      // Only a batch the module accepted is journaled, in the same synchronous step that
      // applied it: a persist taking its snapshot in between would otherwise hold the batch
      // while leaving it journaled, and a recovery would replay it a second time.
      if (result.recorded > 0) this.#journal.push({ ...batch, seq: ++this.#seq, now: at });
      return result;
    });
    if (summary.recorded > 0) this.#schedulePersist();
    return summary;
  }

  /**
   * Persists a snapshot now (after any storage operation already running) and resolves when
   * it is written. Rejects with a `STORAGE_FAILED` error if the storage refused it (the events
   * stay journaled, and the next persist tries again).
   * @returns {Promise<void>}
   */
  flush() {
    this.#cancelTimer();
    return this.#enqueueStorage(() => this.#persist());
  }

  async #persist() {
    if (this.#journal.length === 0 || (!this.#ranker && this.#closed)) return;
    const epoch = this.#epoch;
    const { bytes, upTo } = await this.#invoke((ranker) => ({ bytes: ranker.snapshot(), upTo: this.#seq }));
    if (!this.#preserveStored) {
      try {
        await this.#storage.save(bytes);
      } catch (error) {
        const retryMs = this.#scheduleRetry();
        const when = retryMs === null ? "on the next record or flush" : `in ${Math.round(retryMs / 1000)} s`;
        this.#warn("STORAGE_FAILED", `could not persist the signals: ${messageOf(error)}; the events stay journaled, retrying ${when}`, error);
        throw new LocalrankClientError("STORAGE_FAILED", `could not persist the signals: ${messageOf(error)}`, error);
      }
    }
    this.#retryDelayMs = 0;
    if (epoch !== this.#epoch) return; // cleared meanwhile: this snapshot is history
    this.#persisted = bytes;
    this.#journal = this.#journal.filter((entry) => entry.seq > upTo);
    this.#lastPersistedAt = Date.now();
    try {
      this.#onPersist?.({ byteLength: bytes.byteLength, pendingBatches: this.#journal.length, storage: !this.#preserveStored });
    } catch {
      // a throwing callback must not fail the persist
    }
  }

  /**
   * Forgets every signal, in memory and in storage (including a newer-format snapshot kept
   * from a newer version). Resolves when the persisted copy is gone.
   * @returns {Promise<void>}
   */
  async clear() {
    this.#assertOpen();
    this.#epoch += 1;
    this.#journal = [];
    this.#persisted = null;
    this.#cancelTimer();
    await this.#invoke((ranker) => ranker.clear());
    await this.#enqueueStorage(async () => {
      try {
        await this.#storage.clear();
      } catch (error) {
        this.#warn("STORAGE_FAILED", `could not delete the persisted signals: ${messageOf(error)}`, error);
        throw new LocalrankClientError("STORAGE_FAILED", `could not delete the persisted signals: ${messageOf(error)}`, error);
      }
      this.#preserveStored = false;
    });
  }

  /**
   * Everything this device knows, decayed to `now` (default: the `now` option's clock).
   * @param {number} [now]
   * @returns {Promise<SignalExport>}
   */
  async exportSignals(now) {
    this.#assertOpen();
    const at = now ?? this.#now();
    return this.#invoke((ranker) => ranker.exportSignals(at));
  }

  /**
   * The loaded model's name, contract and size (read once at start).
   * @returns {ModelInfo}
   */
  modelInfo() {
    return structuredClone(/** @type {ModelInfo} */ (this.#modelInfo));
  }

  /** Keys in the signal store (0 while the module is being replaced). */
  get keyCount() {
    try {
      return this.#ranker && !this.#recovery ? this.#ranker.keyCount : 0;
    } catch {
      return 0;
    }
  }

  /** Warnings so far, oldest first (at most the last 100). */
  get warnings() {
    return this.#warnings.slice();
  }

  /** @returns {ClientStatus} */
  get status() {
    return {
      instances: this.#instances,
      state: this.#closed ? "closed" : this.#recovery ? "recovering" : this.#ranker ? "ready" : "broken",
      pendingBatches: this.#journal.length,
      pendingEvents: this.#journal.reduce((n, entry) => n + entry.count, 0),
      persistence: this.#preserveStored ? "suspended" : "storage",
      lastPersistedAt: this.#lastPersistedAt,
    };
  }

  /**
   * Resolves once no re-instantiation is running (immediately in the usual case). Rejects if
   * the last one failed and a retry fails too.
   * @returns {Promise<void>}
   */
  async ready() {
    if (this.#recovery) await this.#recovery;
    if (!this.#ranker && !this.#closed) await this.#startRecovery(this.#brokenBy);
  }

  /**
   * Persists what is pending, frees the module and closes the storage. Further calls reject
   * with `CLOSED` (`rerank` returns the server order).
   * @returns {Promise<void>}
   */
  async close() {
    if (this.#closed) return;
    try {
      await this.flush();
    } catch {
      // already reported as a warning; closing goes on
    }
    this.#closed = true;
    this.#cancelTimer();
    await this.#storageChain;
    if (this.#recovery) await this.#recovery.catch(() => {});
    try {
      this.#ranker?.free();
    } catch {
      // a broken instance may refuse; it is dropped all the same
    }
    this.#ranker = null;
    try {
      await this.#storage.close?.();
    } catch (error) {
      this.#warn("STORAGE_FAILED", `closing the storage: ${messageOf(error)}`, error);
    }
  }

  // ---- internals ------------------------------------------------------------------------

  #assertOpen() {
    if (this.#closed) throw new LocalrankClientError("CLOSED", "the ranker is closed");
  }

  /**
   * Runs `fn` on the ranker: synchronously when it is ready; after the running recovery
   * otherwise. A module error passes through; a trap or other exception replaces the module
   * and runs `fn` once more on the new one.
   * @template T
   * @param {(ranker: WasmRanker) => T} fn
   * @returns {Promise<T>}
   */
  async #invoke(fn) {
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

  /**
   * Starts replacing the module (or joins the replacement already running).
   * @param {unknown} cause
   * @returns {Promise<void>}
   */
  #startRecovery(cause) {
    if (!this.#recovery) {
      const recovery = this.#recover(cause).finally(() => {
        if (this.#recovery === recovery) this.#recovery = null;
      });
      this.#recovery = recovery;
      recovery.catch(() => {});
    }
    return this.#recovery;
  }

  #retryRecovery() {
    if (this.#closed || nowMs() - this.#lastRecoveryFailureAt < RECOVERY_RETRY_MS) return;
    this.#startRecovery(this.#brokenBy).catch(() => {});
  }

  /**
   * A new module instance and ranker, restored from the last persisted snapshot, with the
   * journal replayed on top: the same signals as before the trap.
   * @param {unknown} cause
   */
  async #recover(cause) {
    const old = this.#ranker;
    this.#ranker = null;
    try {
      old?.free();
    } catch {
      // the broken instance's memory is dropped with it
    }
    try {
      const module = await this.#instantiate("recover");
      const ranker = new module.Ranker(/** @type {Uint8Array} */ (this.#modelBytes), this.#rankerOptions);
      if (this.#persisted) {
        try {
          ranker.restore(this.#persisted, this.#now());
        } catch (error) {
          this.#warn("REPLAY_FAILED", `the last persisted snapshot did not restore: ${messageOf(error)}`, error);
        }
      }
      let replayed = 0;
      const kept = [];
      for (const entry of this.#journal) {
        try {
          if (entry.columns) ranker.recordColumns(entry.columns, entry.now);
          else ranker.record(entry.events, entry.now);
          kept.push(entry);
          replayed += entry.count;
        } catch (error) {
          this.#warn("REPLAY_FAILED", `a journaled batch of ${entry.count} events was dropped: ${messageOf(error)}`, error);
        }
      }
      this.#journal = kept;
      this.#module = module;
      this.#ranker = ranker;
      this.#brokenBy = null;
      this.#warn("RECOVERED", `module instance ${this.#instances} restored the last snapshot and replayed ${replayed} journaled events (after: ${messageOf(cause)})`);
    } catch (error) {
      this.#brokenBy = error;
      this.#lastRecoveryFailureAt = nowMs();
      this.#warn("RECOVERY_FAILED", `re-instantiating the module failed: ${messageOf(error)}`, error);
      throw error;
    }
  }

  /**
   * @template T
   * @param {() => Promise<T>} task
   * @returns {Promise<T>}
   */
  #enqueueStorage(task) {
    const run = this.#storageChain.then(task);
    this.#storageChain = run.catch(() => {});
    return run;
  }

  #schedulePersist() {
    if (!Number.isFinite(this.#flushDelayMs)) return;
    const now = Date.now();
    this.#firstPendingAt ??= now;
    if (this.#timer !== null) clearTimeout(this.#timer);
    const latest = this.#firstPendingAt + MAX_WAIT_FACTOR * this.#flushDelayMs;
    const wait = Math.max(0, Math.min(this.#flushDelayMs, latest - now));
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#firstPendingAt = null;
      this.flush().catch(() => {}); // reported through onWarning
    }, wait);
  }

  /**
   * After a failed write: persist again later, waiting twice as long after each failure (at
   * most a minute). Returns the delay, or null when only `flush()` persists.
   * @returns {number | null}
   */
  #scheduleRetry() {
    if (!Number.isFinite(this.#flushDelayMs) || this.#closed) return null;
    this.#retryDelayMs = Math.min(MAX_RETRY_MS, Math.max(this.#flushDelayMs, 1000, this.#retryDelayMs * 2));
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = null;
      this.#firstPendingAt = null;
      this.flush().catch(() => {}); // reported through onWarning
    }, this.#retryDelayMs);
    return this.#retryDelayMs;
  }

  #cancelTimer() {
    if (this.#timer !== null) clearTimeout(this.#timer);
    this.#timer = null;
    this.#firstPendingAt = null;
  }

  /**
   * @param {ClientWarningCode} code
   * @param {string} message
   * @param {unknown} [cause]
   */
  #warn(code, message, cause) {
    /** @type {ClientWarning} */
    const warning = { code, message, at: Date.now() };
    if (cause !== undefined) warning.cause = cause;
    this.#warnings.push(warning);
    if (this.#warnings.length > MAX_WARNINGS) this.#warnings.shift();
    try {
      this.#onWarning?.(warning);
    } catch {
      // a throwing callback must not break the ranker
    }
  }
}

// ---- columns -----------------------------------------------------------------------------

/** "No author" in the columns' `authors`. */
const NO_KEY = 0xffffffff;
/** The code of each event kind in `EventColumns.kinds` (the core's `EventKind` order). */
const EVENT_KIND_CODES = new Map(["impression", "click", "dwell", "like", "share", "dismiss", "hide"].map((kind, code) => [kind, code]));

/**
 * Packs the item attributes candidates and events share (`ItemColumns`): ids and keys into
 * one string table, each distinct string stored once, embeddings into one typed array.
 */
class ItemPacker {
  /** @type {string[]} */ strings = [];
  /** @type {Map<string, number>} */ interned = new Map();
  /** @type {number[]} */ containerKeys = [];
  /** @type {number[]} */ topicKeys = [];
  embeddings = new Float32Array(0);

  /**
   * @param {number} n how many items
   * @param {boolean} internIds whether ids repeat (events) and are worth interning; a list
   *   whose ids are unique (candidates) skips the lookups
   */
  constructor(n, internIds) {
    this.internIds = internIds;
    this.ids = new Uint32Array(n);
    this.authors = new Uint32Array(n);
    this.containerOffsets = new Uint32Array(n + 1);
    this.topicOffsets = new Uint32Array(n + 1);
    this.embeddingOffsets = new Uint32Array(n + 1);
  }

  /**
   * The string's index in the table, or -1 if the table cannot carry it: not a string, or
   * one ending in half a surrogate pair (the table is one concatenated text, where it could
   * pair up with the next string's first unit).
   * @param {unknown} key
   */
  intern(key) {
    if (typeof key !== "string") return -1;
    let index = this.interned.get(key);
    if (index === undefined) {
      index = this.push(key);
      if (index >= 0) this.interned.set(key, index);
    }
    return index;
  }

  /**
   * Adds a string to the table without interning it; -1 as for `intern`.
   * @param {unknown} key
   */
  push(key) {
    if (typeof key !== "string") return -1;
    const last = key.charCodeAt(key.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) return -1;
    return this.strings.push(key) - 1;
  }

  /**
   * @param {unknown} list
   * @param {number[]} out
   */
  keys(list, out) {
    if (list === undefined || list === null) return true;
    if (!Array.isArray(list)) return false;
    for (let k = 0; k < list.length; k++) {
      const index = this.intern(list[k]);
      if (index < 0) return false;
      out.push(index);
    }
    return true;
  }

  /**
   * Adds item `i` (an object with the item fields). False if it holds something the columns
   * cannot carry exactly: a field of the wrong type, an empty embedding.
   * @param {number} i
   * @param {unknown} value
   */
  add(i, value) {
    if (typeof value !== "object" || value === null) return false;
    const item = /** @type {{ id?: unknown, author?: unknown, containers?: unknown, topics?: unknown, embedding?: unknown }} */ (value);
    const id = this.internIds ? this.intern(item.id) : this.push(item.id);
    if (id < 0) return false;
    this.ids[i] = id;
    const author = item.author;
    if (author === undefined || author === null) {
      this.authors[i] = NO_KEY;
    } else {
      const index = this.intern(author);
      if (index < 0) return false;
      this.authors[i] = index;
    }
    if (!this.keys(item.containers, this.containerKeys) || !this.keys(item.topics, this.topicKeys)) return false;
    this.containerOffsets[i + 1] = this.containerKeys.length;
    this.topicOffsets[i + 1] = this.topicKeys.length;
    const embedding = item.embedding;
    const start = this.embeddingOffsets[i];
    if (embedding === undefined || embedding === null) {
      this.embeddingOffsets[i + 1] = start;
      return true;
    }
    if (!Array.isArray(embedding) || embedding.length === 0) return false;
    const length = embedding.length;
    if (start + length > this.embeddings.length) {
      // Room for this length for every item left (one allocation when all have one length).
      const grown = new Float32Array(Math.max(2 * this.embeddings.length, start + length * (this.ids.length - i)));
      grown.set(this.embeddings);
      this.embeddings = grown;
    }
    for (let d = 0; d < length; d++) {
      const v = embedding[d];
      if (typeof v !== "number") return false;
      this.embeddings[start + d] = v;
    }
    this.embeddingOffsets[i + 1] = start + length;
    return true;
  }

  /** @returns {import("../pkg/web/localrank.js").ItemColumns} */
  finish() {
    const n = this.ids.length;
    return {
      text: this.strings.join(""),
      lengths: Uint32Array.from(this.strings, (s) => s.length),
      ids: this.ids,
      authors: this.authors,
      containerOffsets: this.containerOffsets,
      containerKeys: Uint32Array.from(this.containerKeys),
      topicOffsets: this.topicOffsets,
      topicKeys: Uint32Array.from(this.topicKeys),
      embeddingOffsets: this.embeddingOffsets,
      embeddings: this.embeddings.subarray(0, this.embeddingOffsets[n]),
    };
  }
}

/**
 * A number column's value: NaN for absent, false if it cannot be carried (NaN is "absent").
 * @param {unknown} value
 * @param {boolean} finite whether only finite numbers can be carried
 */
function optionalNumber(value, finite) {
  if (value === undefined || value === null) return NaN;
  if (typeof value !== "number" || Number.isNaN(value) || (finite && !Number.isFinite(value))) return false;
  return value;
}

/**
 * Packs candidates column by column for `Ranker.rerankColumns`: ids and keys into one string
 * table (keys shared by several candidates stored once), numbers and embeddings into typed
 * arrays. Returns null when a candidate holds something the columns cannot carry exactly — a
 * field of the wrong type, a non-finite number — so the caller can pass the list to `rerank`
 * instead, which reports the problem.
 * @param {unknown} candidates
 * @returns {CandidateColumns | null}
 */
export function packCandidates(candidates) {
  if (!Array.isArray(candidates)) return null;
  const n = candidates.length;
  const items = new ItemPacker(n, false);
  const serverScores = new Float32Array(n);
  const popularity = new Float32Array(n);
  const createdAt = new Float64Array(n);
  const pinned = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c = candidates[i];
    if (!items.add(i, c)) return null;
    const score = optionalNumber(c.serverScore, true);
    const views = optionalNumber(c.popularity, true);
    const created = optionalNumber(c.createdAt, true);
    if (score === false || views === false || created === false) return null;
    serverScores[i] = score;
    popularity[i] = views;
    createdAt[i] = created;
    const pin = c.pinned;
    if (pin === true) pinned[i] = 1;
    else if (pin !== undefined && pin !== null && pin !== false) return null;
  }
  return { ...items.finish(), serverScores, popularity, createdAt, pinned };
}

/**
 * Packs a batch of events column by column for `Ranker.recordColumns` (what
 * `LocalRanker.record` does): item ids and keys into one string table (each stored once),
 * kinds, times, dwells and embeddings into typed arrays. Returns null when an event holds
 * something the columns cannot carry exactly — a field of the wrong type, an unknown kind, a
 * NaN dwell — so the caller can pass the batch to `record` instead, which reports the problem.
 * Values the columns carry (an empty id, a negative time…) are checked by the module exactly
 * as for objects.
 * @param {unknown} events
 * @returns {EventColumns | null}
 */
export function packEvents(events) {
  if (!Array.isArray(events)) return null;
  const n = events.length;
  const items = new ItemPacker(n, true);
  const kinds = new Uint8Array(n);
  const at = new Float64Array(n);
  const dwellMs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const event = events[i];
    if (typeof event !== "object" || event === null) return null;
    const kind = EVENT_KIND_CODES.get(event.kind);
    const time = event.at;
    const dwell = optionalNumber(event.dwellMs, false);
    if (kind === undefined || typeof time !== "number" || dwell === false || !items.add(i, event.item)) return null;
    kinds[i] = kind;
    at[i] = time;
    dwellMs[i] = dwell;
  }
  return { ...items.finish(), kinds, at, dwellMs };
}

// ---- module loaders ---------------------------------------------------------------------

/** Glue copies imported by `webPackageLoader`s so far (the first one is the plain URL). */
let glueCopies = 0;

/**
 * A `WasmLoader` for the wasm-pack `--target web` package, in browsers and in Node.
 *
 * The glue module keeps its wasm instance in a module-level variable and initialises only
 * once, so a fresh instance needs a fresh copy of the glue: the first
 * call (of any loader) imports `glue` as is, later calls import `glue?instance=n` (a distinct
 * module for the ES module loader). The
 * .wasm is compiled once and every instance is created from that `WebAssembly.Module`.
 * Each replaced copy stays in the loader's module map (a few tens of kB of JS; its wasm
 * memory is freed): replacement only happens after a trap.
 *
 * @param {{ glue: string | URL, wasm?: string | URL | BufferSource | WebAssembly.Module }} options
 *   `glue`: absolute URL of `localrank.js` (e.g. `new URL("../pkg/web/localrank.js", import.meta.url)`);
 *   `wasm`: the .wasm as a URL, bytes or compiled module (default: `localrank_bg.wasm` next to the glue).
 * @returns {WasmLoader}
 */
export function webPackageLoader(options) {
  if (!options || options.glue === undefined) {
    throw new LocalrankClientError("INVALID_ARGUMENT", "webPackageLoader needs { glue: URL of pkg/web/localrank.js }");
  }
  const glueUrl = new URL(String(options.glue), globalThis.location?.href);
  const wasmSource = options.wasm ?? new URL("localrank_bg.wasm", glueUrl);
  /** @type {Promise<WebAssembly.Module> | null} */
  let compiled = null;
  return async () => {
    // Counted across all loaders rather than taken from the context, so that two LocalRankers
    // (or two loaders) never share an instance: a trap in one cannot break the other.
    const instance = glueCopies++;
    compiled ??= compileWasm(wasmSource).catch((error) => {
      compiled = null;
      throw error;
    });
    const wasmModule = await compiled;
    const url = new URL(glueUrl);
    if (instance > 0) url.searchParams.set("instance", String(instance));
    /** @type {LocalrankModule & { default: (init: { module_or_path: WebAssembly.Module }) => Promise<unknown> }} */
    const glue = await import(/* webpackIgnore: true */ /* @vite-ignore */ url.href);
    await glue.default({ module_or_path: wasmModule });
    return glue;
  };
}

/**
 * A `WasmLoader` for the wasm-pack `--target nodejs` (CommonJS) package: every call drops
 * the package from `require`'s cache and requires it again, which instantiates it anew.
 * @param {import("./localrank-client.d.ts").RequireFunction} require e.g. `createRequire(import.meta.url)`
 * @param {string} id e.g. `"../pkg/nodejs/localrank.js"`
 * @returns {WasmLoader}
 */
export function commonJsLoader(require, id) {
  return () => {
    const resolved = require.resolve(id);
    delete require.cache[resolved];
    return /** @type {LocalrankModule} */ (require(resolved));
  };
}

/**
 * @param {string | URL | BufferSource | WebAssembly.Module} source
 * @returns {Promise<WebAssembly.Module>}
 */
async function compileWasm(source) {
  if (source instanceof WebAssembly.Module) return source;
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  const url = new URL(String(source), globalThis.location?.href);
  if (url.protocol === "file:") {
    const fs = await importNodeFs();
    return WebAssembly.compile(await fs.readFile(url));
  }
  const response = await fetch(url);
  if (!response.ok) throw new Error(`fetching ${url.href}: HTTP ${response.status}`);
  if (typeof WebAssembly.compileStreaming === "function" && response.headers.get("content-type") === "application/wasm") {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}

// ---- storage adapters -------------------------------------------------------------------

/**
 * Keeps the snapshot in memory (tests, or a host that persists nothing).
 * @param {Uint8Array} [initial] bytes to start with, as if persisted by an earlier session
 * @returns {MemoryStorage}
 */
export function memoryStorage(initial) {
  /** @type {Uint8Array | null} */
  let bytes = initial ? initial.slice() : null;
  let saves = 0;
  return {
    kind: "memory",
    async load() {
      return bytes ? [{ bytes: bytes.slice(), source: "memory" }] : [];
    },
    async save(snapshot) {
      bytes = snapshot.slice();
      saves += 1;
    },
    async clear() {
      bytes = null;
    },
    get bytes() {
      return bytes ? bytes.slice() : null;
    },
    get saveCount() {
      return saves;
    },
  };
}

/**
 * Keeps the snapshot in one file (Node, Electron's main process). A save writes a temporary
 * file next to it, fsyncs it, renames it over the file and fsyncs the directory, so the file
 * always holds a complete snapshot: the old one or the new one. The file is created with mode
 * 0600. `clear()` deletes it.
 * @param {string} path
 * @param {FileStorageOptions} [options]
 * @returns {SnapshotStorage}
 */
export function fileStorage(path, options = {}) {
  if (typeof path !== "string" || path === "") {
    throw new LocalrankClientError("INVALID_ARGUMENT", "fileStorage needs a file path");
  }
  const directory = parentDirectory(path);
  /** @type {Promise<import("./localrank-client.d.ts").FileSystem> | null} */
  let fsPromise = options.fs ? Promise.resolve(options.fs) : null;
  const fs = () => (fsPromise ??= importNodeFs());
  let counter = 0;
  return {
    kind: "file",
    async load() {
      let data;
      try {
        data = await (await fs()).readFile(path);
      } catch (error) {
        if (errorCode(error) === "ENOENT") return [];
        throw error;
      }
      if (data.byteLength === 0) return [];
      return [{ bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), source: path }];
    },
    async save(snapshot) {
      const fsp = await fs();
      await fsp.mkdir(directory, { recursive: true });
      const pid = globalThis.process?.pid ?? 0;
      const temporary = `${path}.${pid}.${Date.now().toString(36)}.${(counter += 1)}.tmp`;
      try {
        const handle = await fsp.open(temporary, "w", 0o600);
        try {
          await handle.writeFile(snapshot);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fsp.rename(temporary, path);
      } catch (error) {
        await fsp.rm(temporary, { force: true }).catch(() => {});
        throw error;
      }
      await syncDirectory(fsp, directory);
    },
    async clear() {
      const fsp = await fs();
      await fsp.rm(path, { force: true });
      await syncDirectory(fsp, directory);
    },
  };
}

/**
 * Keeps the snapshot in IndexedDB, in two alternating slots of one object store. A save is
 * one readwrite transaction: it reads both slots' generation numbers and overwrites the older
 * slot with the new snapshot under the next generation. `load()` returns both, newest first,
 * so if the newest does not restore (corrupt at rest, or written by a newer version) the shim
 * falls back to the other. `clear()` empties both slots.
 * @param {IndexedDbStorageOptions} [options]
 * @returns {SnapshotStorage}
 */
export function indexedDbStorage(options = {}) {
  const name = options.databaseName ?? "localrank";
  const storeName = options.storeName ?? "signals";
  const factory = options.indexedDB ?? globalThis.indexedDB;
  const slots = ["slot-0", "slot-1"];
  /** @type {Promise<IDBDatabase> | null} */
  let opening = null;
  const open = () =>
    (opening ??= new Promise((resolve, reject) => {
      if (!factory) {
        reject(new Error("IndexedDB is not available here"));
        return;
      }
      const request = factory.open(name, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(storeName)) request.result.createObjectStore(storeName);
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the database: let it, and reopen on the next use.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error);
      request.onblocked = () => reject(new Error(`IndexedDB "${name}" is blocked by another connection`));
    }).catch((error) => {
      opening = null;
      throw error;
    }));

  /**
   * Runs `body` in one transaction; resolves with its result when the transaction commits.
   * @template T
   * @param {IDBTransactionMode} mode
   * @param {(store: IDBObjectStore, done: (value: T) => void) => void} body
   * @returns {Promise<T>}
   */
  const transact = async (mode, body) => {
    const db = await open();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      /** @type {{ value: T } | null} */
      let result = null;
      tx.oncomplete = () => (result ? resolve(result.value) : reject(new Error("transaction ended without a result")));
      tx.onerror = () => reject(tx.error);
      tx.onabort = () => reject(tx.error ?? new Error("transaction aborted"));
      body(tx.objectStore(storeName), (value) => {
        result = { value };
      });
    });
  };

  /**
   * Reads both slots inside `store`'s transaction.
   * @param {IDBObjectStore} store
   * @param {(records: unknown[]) => void} then
   */
  const readSlots = (store, then) => {
    /** @type {unknown[]} */
    const records = [];
    let pending = slots.length;
    slots.forEach((slot, i) => {
      const request = store.get(slot);
      request.onsuccess = () => {
        records[i] = request.result;
        if (--pending === 0) then(records);
      };
    });
  };

  return {
    kind: "indexeddb",
    async load() {
      const records = await transact("readonly", (store, done) => readSlots(store, done));
      return records
        .map((record, i) => ({ record: asSlotRecord(record), slot: slots[i] }))
        .filter(({ record }) => record !== null)
        .sort((a, b) => /** @type {SlotRecord} */ (b.record).generation - /** @type {SlotRecord} */ (a.record).generation)
        .map(({ record, slot }) => ({
          bytes: /** @type {SlotRecord} */ (record).bytes,
          source: `indexeddb:${name}/${storeName}/${slot} (generation ${/** @type {SlotRecord} */ (record).generation})`,
          generation: /** @type {SlotRecord} */ (record).generation,
        }));
    },
    async save(snapshot) {
      const copy = snapshot.slice();
      await transact("readwrite", (store, done) =>
        readSlots(store, (records) => {
          const generations = records.map((record) => asSlotRecord(record)?.generation ?? -1);
          const target = generations[0] <= generations[1] ? 0 : 1;
          const generation = Math.max(...generations) + 1;
          store.put({ generation, savedAt: Date.now(), bytes: copy }, slots[target]);
          done(undefined);
        }),
      );
    },
    async clear() {
      await transact("readwrite", (store, done) => {
        store.clear();
        done(undefined);
      });
    },
    async close() {
      const db = await opening?.catch(() => null);
      db?.close();
      opening = null;
    },
  };
}

/** @typedef {{ generation: number, bytes: Uint8Array }} SlotRecord */

/**
 * A slot's record, or null if it holds nothing usable as one. Bytes of the wrong type become
 * empty bytes, so the shim reports them as a corrupt snapshot.
 * @param {unknown} record
 * @returns {SlotRecord | null}
 */
function asSlotRecord(record) {
  if (!record || typeof record !== "object") return null;
  const { generation, bytes } = /** @type {{ generation?: unknown, bytes?: unknown }} */ (record);
  if (typeof generation !== "number" || !Number.isFinite(generation)) return null;
  if (bytes instanceof Uint8Array) return { generation, bytes };
  if (bytes instanceof ArrayBuffer) return { generation, bytes: new Uint8Array(bytes) };
  return { generation, bytes: new Uint8Array(0) };
}

// ---- helpers ----------------------------------------------------------------------------

/** @returns {Promise<import("./localrank-client.d.ts").FileSystem>} */
async function importNodeFs() {
  // A variable specifier keeps bundlers from resolving a Node built-in for browser builds.
  const specifier = "node:fs/promises";
  return import(/* webpackIgnore: true */ /* @vite-ignore */ specifier);
}

/**
 * @param {import("./localrank-client.d.ts").FileSystem} fsp
 * @param {string} directory
 */
async function syncDirectory(fsp, directory) {
  try {
    const handle = await fsp.open(directory, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not every platform can fsync a directory (Windows); the rename is still atomic there.
  }
}

/** @param {string} path */
function parentDirectory(path) {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return ".";
  return cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}

/**
 * @param {string} url
 * @param {typeof fetch | undefined} fetchImpl
 * @returns {Promise<Uint8Array>}
 */
async function fetchBytes(url, fetchImpl) {
  const resolved = new URL(url, globalThis.location?.href);
  if (resolved.protocol === "file:") {
    const fs = await importNodeFs();
    const data = await fs.readFile(resolved);
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  const response = await (fetchImpl ?? fetch)(resolved);
  if (!response.ok) throw new LocalrankClientError("UNAVAILABLE", `fetching the model ${resolved.href}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}

/**
 * @param {unknown} value
 * @param {string} what
 * @returns {Uint8Array}
 */
function toBytes(value, what) {
  if (value instanceof Uint8Array) return value.slice();
  if (value instanceof ArrayBuffer) return new Uint8Array(value.slice(0));
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength).slice();
  throw new LocalrankClientError("INVALID_ARGUMENT", `${what} must be a Uint8Array, an ArrayBuffer or a typed array`);
}

/**
 * @param {SignalEvent[]} events
 * @returns {SignalEvent[]}
 */
function copyEvents(events) {
  try {
    return structuredClone(events);
  } catch {
    try {
      return JSON.parse(JSON.stringify(events));
    } catch (error) {
      throw new LocalrankClientError("INVALID_ARGUMENT", `events must be plain data (structured-cloneable or JSON): ${messageOf(error)}`, error);
    }
  }
}

/**
 * The server order of a request: as many ids as can be read, in order.
 * @param {unknown} request
 * @param {import("./localrank-client.d.ts").ClientFallbackReason} reason
 * @param {string} message
 * @param {number} started
 * @returns {ClientRerankResult}
 */
function serverOrder(request, reason, message, started) {
  /** @type {unknown} */
  let candidates = [];
  try {
    candidates = Array.isArray(request) ? request : /** @type {{ candidates?: unknown }} */ (request)?.candidates;
  } catch {
    candidates = [];
  }
  const list = Array.isArray(candidates) ? candidates : [];
  const ids = list.map((candidate) => {
    try {
      const id = /** @type {{ id?: unknown }} */ (candidate)?.id;
      return typeof id === "string" ? id : "";
    } catch {
      return "";
    }
  });
  return {
    ids,
    order: Uint32Array.from(ids, (_, i) => i),
    scores: new Float32Array(0),
    fallback: { reason, message },
    elapsedMs: nowMs() - started,
  };
}

/**
 * @param {unknown} error
 * @returns {"WASM_TRAP" | "SHIM_ERROR"}
 */
function trapCode(error) {
  return error instanceof WebAssembly.RuntimeError ? "WASM_TRAP" : "SHIM_ERROR";
}

/** @param {unknown} error */
function messageOf(error) {
  if (error instanceof Error) return `${error.name}: ${error.message}`;
  return String(error);
}

/** @param {unknown} error */
function errorCode(error) {
  return error && typeof error === "object" && "code" in error ? error.code : undefined;
}

function nowMs() {
  return typeof performance !== "undefined" ? performance.now() : Date.now();
}
