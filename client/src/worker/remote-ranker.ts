// The page side of worker mode: the LocalRanker API, with the module, the model and the signal
// store in a dedicated module worker, so the page's main thread only packs the candidates and
// posts them (the typed arrays are transferred, not copied). Results come back the same way;
// `rerank` resolves, never rejects: whatever goes wrong gives the server's order.

import { checkedClock, type Clock } from "../core/clock.js";
import { packCandidates } from "../packers/candidates.js";
import { LocalrankClientError, messageOf, type ClientWarningCode } from "../errors.js";
import type { ModelRef, ModelSource } from "../client/models.js";
import { isSerialized, parseSerialized, type SerializedInput } from "../client/serialized.js";
import { BytePool } from "./byte-pool.js";
import { inputMessage } from "../core/input.js";
import { toBytes } from "../client/options.js";
import { serverOrder } from "../client/server-order.js";
import { monotonicNow } from "../client/persister.js";
import type { ClientRerankResult, ClientStatus, ClientWarning, PersistInfo, RerankInput } from "../client/types.js";
import type { ModelInfo, RankerOptions, RecordSummary, RerankRequest, RerankSettings, SignalEvent, SignalExport } from "../wasm/types.js";
import { transferables, unpackIds, type WorkerMessage, type WorkerRequest, type WorkerRerankResult, type WorkerSerializedResult, type WorkerStartOptions, type WorkerState } from "./protocol.js";

interface WorkerRankerBaseOptions {
  /** Where the worker keeps the signals: "indexeddb" (shared with the origin's other tabs and workers) or "memory" (default). */
  storage?: "indexeddb" | "memory";
  /** IndexedDB database and object store names (defaults "localrank", "signals"). */
  databaseName?: string;
  storeName?: string;
  flushDelayMs?: number;
  rankerOptions?: RankerOptions;
  /** The clock for `record` and `rerank` when they get no time (default `Date.now`, read on the page). */
  now?: () => number;
  onWarning?: (warning: ClientWarning) => void;
  onPersist?: (info: PersistInfo) => void;
  /** Where the worker fetches the .wasm (default: the package's own, which bundlers copy). */
  wasm?: string | URL;
  /** A worker script of your own that calls the package's worker entry (default: the package's). */
  workerUrl?: string | URL;
}

export type WorkerLocalRankerOptions =
  | (WorkerRankerBaseOptions & { modelBytes: Uint8Array | ArrayBuffer | ArrayBufferView; modelUrl?: undefined })
  | (WorkerRankerBaseOptions & { modelUrl: string | URL; modelBytes?: undefined });

/** The option keys worker mode accepts; any other is `INVALID_ARGUMENT`. */
export const WORKER_OPTION_KEYS = [
  "modelBytes",
  "modelUrl",
  "storage",
  "databaseName",
  "storeName",
  "flushDelayMs",
  "rankerOptions",
  "now",
  "onWarning",
  "onPersist",
  "wasm",
  "workerUrl",
] as const satisfies readonly (keyof WorkerRankerBaseOptions | "modelBytes" | "modelUrl")[];

interface Pending {
  resolve(value: unknown): void;
  reject(error: unknown): void;
}

/** Starts a LocalRanker in `worker` and resolves once it is ready (the worker module, the model and the signals loaded). */
export async function startWorkerRanker(worker: Worker, options: WorkerLocalRankerOptions): Promise<WorkerLocalRanker> {
  const ranker = new WorkerLocalRanker(worker, options);
  try {
    await ranker.start(startOptions(options));
  } catch (error) {
    worker.terminate();
    throw error;
  }
  return ranker;
}

/** An options object's own property `key` (one inherited from `Object.prototype` is not read). */
function ownOption(options: unknown, key: string): unknown {
  return options && typeof options === "object" && Object.prototype.hasOwnProperty.call(options, key) ? (options as Record<string, unknown>)[key] : undefined;
}

/** The page-side callback `key`, if given: a function, or `INVALID_ARGUMENT`. */
function callbackOption<T>(options: unknown, key: "now" | "onWarning" | "onPersist"): T | undefined {
  const value = ownOption(options, key);
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "function") throw new LocalrankClientError("INVALID_ARGUMENT", `options.${key} must be a function`);
  return value as T;
}

function startOptions(options: WorkerLocalRankerOptions): WorkerStartOptions {
  const own = (key: string) => ownOption(options, key);
  for (const key of ["now", "onWarning", "onPersist"] as const) callbackOption(options, key);
  const unknownKey = Object.keys(options ?? {}).find((key) => !(WORKER_OPTION_KEYS as readonly string[]).includes(key));
  if (unknownKey !== undefined) throw new LocalrankClientError("INVALID_ARGUMENT", `options: unknown key \`${unknownKey}\`, expected one of ${WORKER_OPTION_KEYS.join(", ")}`);
  const [bytes, url] = [own("modelBytes"), own("modelUrl")];
  if ((bytes === undefined) === (url === undefined)) throw new LocalrankClientError("INVALID_ARGUMENT", "give exactly one of options.modelBytes and options.modelUrl");
  const storage = own("storage") ?? "memory";
  if (storage !== "indexeddb" && storage !== "memory") throw new LocalrankClientError("INVALID_ARGUMENT", 'options.storage is "indexeddb" or "memory" in worker mode');
  const databaseName = own("databaseName") as string | undefined;
  const storeName = own("storeName") as string | undefined;
  const wasm = own("wasm");
  return {
    // URLs resolve against the page, not the worker script.
    model: bytes !== undefined ? { bytes: toBytes(bytes, "options.modelBytes") } : { url: new URL(String(url), globalThis.location?.href).href },
    storage: storage === "indexeddb" ? { kind: "indexeddb", ...(databaseName ? { databaseName } : {}), ...(storeName ? { storeName } : {}) } : { kind: "memory" },
    ...(own("flushDelayMs") !== undefined ? { flushDelayMs: own("flushDelayMs") as number } : {}),
    ...(own("rankerOptions") !== undefined ? { rankerOptions: own("rankerOptions") as RankerOptions } : {}),
    ...(wasm !== undefined ? { wasm: new URL(String(wasm), globalThis.location?.href).href } : {}),
  };
}

export class WorkerLocalRanker {
  readonly #worker: Worker;
  /** The page-side options, read once as own properties; `now` checked like the client's. */
  readonly #now: Clock | undefined;
  readonly #onWarning: ((warning: ClientWarning) => void) | undefined;
  readonly #onPersist: ((info: PersistInfo) => void) | undefined;
  readonly #pending = new Map<number, Pending>();
  readonly #bytePool = new BytePool();
  #nextId = 1;
  #state: WorkerState | null = null;
  #failed: unknown = null;
  #warnings: ClientWarning[] = [];

  /** @internal Use `createLocalRanker` from `localrank/worker`. */
  constructor(worker: Worker, options: WorkerLocalRankerOptions) {
    this.#worker = worker;
    this.#onWarning = callbackOption(options, "onWarning");
    this.#onPersist = callbackOption(options, "onPersist");
    const now = callbackOption<Clock>(options, "now");
    this.#now = now
      ? checkedClock(now, (reading) => this.#pageWarning("BAD_CLOCK", `options.now() gave ${messageOf(reading)}, not a time; Date.now() is used instead`))
      : undefined;
    worker.addEventListener("message", (event: MessageEvent<WorkerMessage>) => this.#receive(event.data));
    worker.addEventListener("error", (event) => this.#fail(new Error(event.message || "the worker failed to load or threw")));
    worker.addEventListener("messageerror", () => this.#fail(new Error("a message from the worker could not be read")));
  }

  /** @internal */
  async start(options: WorkerStartOptions): Promise<void> {
    const transfer = "bytes" in options.model ? [options.model.bytes.buffer as ArrayBuffer] : [];
    await this.#call({ id: 0, method: "start", options }, transfer);
  }

  /**
   * Reorders `input` in the worker. Resolves with the server order and a `fallback` reason on
   * any problem (`SHIM_ERROR` if the worker itself failed); never rejects. The page's own work
   * is packing the candidates and posting them; for a serialized request (the server's JSON, a
   * string or its bytes), only copying and posting it.
   */
  rerank(input: RerankInput): Promise<ClientRerankResult> {
    const started = monotonicNow();
    const model = this.#state?.modelInfo ? { name: this.#state.modelInfo.name, sha256: this.#state.modelInfo.sha256 } : null;
    if (isSerialized(input)) return this.#rerankSerialized(input, started, model);
    let request: RerankRequest;
    let candidates: unknown;
    let pending: Promise<unknown>;
    try {
      request = (Array.isArray(input) ? { candidates: input } : input) as RerankRequest;
      // Own properties only (a spread copies just those; `candidates` and `now` are read the
      // same way), so a field inherited from `Object.prototype` changes nothing.
      const settings = { ...request } as Record<string, unknown>;
      delete settings.candidates;
      candidates = ownOption(request, "candidates");
      const now = ownOption(settings, "now") ?? this.#now?.();
      const columns = packCandidates(candidates);
      pending = columns
        ? this.#call({ id: 0, method: "rerankColumns", columns, settings: (now === undefined ? settings : { ...settings, now }) as RerankSettings }, transferables(columns))
        : this.#call({ id: 0, method: "rerankObjects", request: now === undefined ? request : { ...request, now } });
    } catch (error) {
      return Promise.resolve(serverOrder(input, "SHIM_ERROR", messageOf(error), started, model));
    }
    return pending.then(
      (value) => {
        const result = value as WorkerRerankResult & { ids?: string[] };
        if (result.ids) return { ...result, ids: result.ids };
        const list = candidates as RerankRequest["candidates"];
        return { ...result, ids: Array.from(result.order, (i) => (list[i] as { id: string }).id) };
      },
      (error: unknown) => serverOrder(request, "SHIM_ERROR", messageOf(error), started, model),
    );
  }

  /**
   * A serialized request goes to the worker unread (bytes copied into a pooled buffer, which is
   * transferred and comes back with the result; a string as it is): the worker parses and packs
   * it, and sends the ids. Only if the worker fails does the page parse it, for the server order.
   */
  #rerankSerialized(input: SerializedInput, started: number, model: ModelRef | null): Promise<ClientRerankResult> {
    let pending: Promise<unknown>;
    try {
      if (typeof input === "string") {
        pending = this.#call({ id: 0, method: "rerankSerialized", json: input, now: this.#now?.() });
      } else {
        const copy = this.#bytePool.copy(input);
        pending = this.#call({ id: 0, method: "rerankSerialized", json: copy, now: this.#now?.() }, [copy.buffer]);
      }
    } catch (error) {
      return Promise.resolve(serverOrder(null, "INVALID_REQUEST", `request: ${inputMessage(error)}`, started, model));
    }
    return pending.then(
      (value) => {
        const { result, ids, buffer } = value as WorkerSerializedResult;
        this.#bytePool.release(buffer);
        return { ...result, ids: unpackIds(ids) };
      },
      (error: unknown) => {
        let request: unknown = null;
        try {
          request = parseSerialized(input);
        } catch {
          // unreadable: the worker would have said so; no ids to give
        }
        return serverOrder(request, "SHIM_ERROR", messageOf(error), started, model);
      },
    );
  }

  /** Records UI events (in the worker); rejects as `LocalRanker.record` does. */
  record(events: SignalEvent[], now?: number): Promise<RecordSummary> {
    return this.#call({ id: 0, method: "record", events, now: now ?? this.#now?.() }) as Promise<RecordSummary>;
  }

  flush(): Promise<void> {
    return this.#call({ id: 0, method: "flush" }) as Promise<void>;
  }

  clear(): Promise<void> {
    return this.#call({ id: 0, method: "clear" }) as Promise<void>;
  }

  exportSignals(now?: number): Promise<SignalExport> {
    return this.#call({ id: 0, method: "exportSignals", now: now ?? this.#now?.() }) as Promise<SignalExport>;
  }

  /** As `LocalRanker.updateModel`, in the worker. */
  updateModel(source: ModelSource): Promise<ModelInfo> {
    let message: WorkerRequest;
    let transfer: ArrayBuffer[] = [];
    if (source && typeof source === "object" && "url" in source) {
      message = { id: 0, method: "updateModel", source: { url: new URL(String(source.url), globalThis.location?.href).href, sha256: source.sha256 } };
    } else {
      const bytes = toBytes(source, "updateModel's model");
      message = { id: 0, method: "updateModel", source: bytes };
      transfer = [bytes.buffer as ArrayBuffer];
    }
    return this.#call(message, transfer) as Promise<ModelInfo>;
  }

  /** Resolves once the worker's module is not being replaced. */
  ready(): Promise<void> {
    return this.#call({ id: 0, method: "ready" }) as Promise<void>;
  }

  /** Closes the ranker in the worker (persisting what is pending), then ends the worker. */
  async close(): Promise<void> {
    if (this.#failed) return;
    try {
      await this.#call({ id: 0, method: "close" });
    } finally {
      this.#worker.terminate();
      this.#fail(new LocalrankClientError("CLOSED", "the ranker is closed"));
    }
  }

  /** The serving model, as of the worker's last message. */
  modelInfo(): ModelInfo {
    return structuredClone(this.#state?.modelInfo as ModelInfo);
  }

  /** As of the worker's last message. */
  get keyCount(): number {
    return this.#state?.keyCount ?? 0;
  }

  /** As of the worker's last message. */
  get status(): ClientStatus {
    return this.#state?.status ?? { instances: 0, state: this.#failed ? "broken" : "recovering", pendingBatches: 0, pendingEvents: 0, persistence: "storage", leader: false, lastPersistedAt: null };
  }

  get warnings(): ClientWarning[] {
    return this.#warnings.slice();
  }

  #call(message: WorkerRequest, transfer: ArrayBuffer[] = []): Promise<unknown> {
    if (this.#failed) return Promise.reject(this.#failed instanceof LocalrankClientError ? this.#failed : new LocalrankClientError("UNAVAILABLE", `the worker failed: ${messageOf(this.#failed)}`, this.#failed));
    const id = this.#nextId++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      try {
        this.#worker.postMessage({ ...message, id }, transfer);
      } catch (error) {
        this.#pending.delete(id);
        reject(new LocalrankClientError("INVALID_ARGUMENT", `could not send this to the worker (it must be structured-cloneable): ${messageOf(error)}`, error));
      }
    });
  }

  #receive(message: WorkerMessage): void {
    switch (message.type) {
      case "response": {
        if (message.state) this.#updateState(message.state);
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (!pending) return;
        if (message.ok) pending.resolve(message.value);
        else pending.reject(Object.assign(new Error(message.error.message), { name: message.error.name, ...(message.error.code ? { code: message.error.code } : {}) }));
        return;
      }
      case "warning":
        this.#addWarning({ ...message.warning });
        return;
      case "persist":
        this.#updateState(message.state);
        try {
          this.#onPersist?.(message.info);
        } catch {
          // a throwing callback must not break the ranker
        }
    }
  }

  /** The worker's state, keeping the model info a state leaves out (unchanged since sent). */
  #updateState(state: WorkerState): void {
    this.#state = "modelInfo" in state ? state : { ...state, modelInfo: this.#state?.modelInfo ?? null };
  }

  /** A warning raised on the page (the clock), kept and reported like the worker's. */
  #pageWarning(code: ClientWarningCode, message: string): void {
    this.#addWarning({ code, message, at: Date.now() });
  }

  #addWarning(warning: ClientWarning): void {
    this.#warnings.push(warning);
    if (this.#warnings.length > 100) this.#warnings.shift();
    try {
      this.#onWarning?.(warning);
    } catch {
      // a throwing callback must not break the ranker
    }
  }

  #fail(error: unknown): void {
    this.#failed ??= error;
    for (const pending of this.#pending.values()) pending.reject(new LocalrankClientError("UNAVAILABLE", `the worker failed: ${messageOf(error)}`, error));
    this.#pending.clear();
  }
}
