// The worker side of worker mode: one LocalRanker inside a dedicated worker, answering the
// page's requests (./protocol.ts). It is the same client as on a page — trap recovery, the
// journal, the fallback contract, the storage shared with the origin's other contexts — so
// this file only translates messages.

import type { LocalRanker } from "../client/local-ranker.js";
import type { LocalRankerOptions } from "../client/options.js";
import { messageOf } from "../errors.js";
import { indexedDbStorage } from "../storage/indexeddb.js";
import { memoryStorage } from "../storage/memory.js";
import type { WasmLoader, WasmSource } from "../wasm/loader.js";
import { packIds, transferables, type WorkerError, type WorkerMessage, type WorkerRequest, type WorkerSerializedResult, type WorkerStartOptions, type WorkerState } from "./protocol.js";

/** What the worker script provides: its flavour's client entry point. */
export interface WorkerFlavour {
  createLocalRanker(options: LocalRankerOptions): Promise<LocalRanker>;
  wasmLoader(options?: { wasm?: WasmSource }): WasmLoader;
}

interface Scope {
  postMessage(message: WorkerMessage, transfer?: Transferable[]): void;
  addEventListener(type: "message", listener: (event: MessageEvent<WorkerRequest>) => void): void;
  close(): void;
}

/**
 * Serves a LocalRanker over `scope`'s messages. `initWasm` replaces the flavour's loader (the
 * tests observe instances with it).
 */
export function serve(scope: Scope, flavour: WorkerFlavour, initWasm?: WasmLoader): void {
  let ranker: LocalRanker | null = null;
  /** The SHA-256 of the model info last sent (null: "no model" was); undefined before any. */
  let sentModel: string | null | undefined;
  const state = (): WorkerState | null => {
    if (!ranker) return null;
    const status = ranker.status;
    const model = status.state === "closed" ? null : ranker.modelRef;
    const changed = (model?.sha256 ?? null) !== sentModel;
    sentModel = model?.sha256 ?? null;
    return { status, keyCount: ranker.keyCount, ...(changed ? { modelInfo: model && ranker.modelInfo() } : {}) };
  };

  const start = async (options: WorkerStartOptions): Promise<null> => {
    const storage =
      options.storage.kind === "indexeddb"
        ? indexedDbStorage({ ...(options.storage.databaseName ? { databaseName: options.storage.databaseName } : {}), ...(options.storage.storeName ? { storeName: options.storage.storeName } : {}) })
        : memoryStorage();
    const model = "bytes" in options.model ? { modelBytes: options.model.bytes } : { modelUrl: options.model.url };
    ranker = await flavour.createLocalRanker({
      ...model,
      storage,
      ...(options.flushDelayMs !== undefined ? { flushDelayMs: options.flushDelayMs } : {}),
      ...(options.rankerOptions ? { rankerOptions: options.rankerOptions } : {}),
      initWasm: initWasm ?? flavour.wasmLoader(options.wasm ? { wasm: options.wasm } : {}),
      onWarning: (warning) =>
        scope.postMessage({ type: "warning", warning: { code: warning.code, message: warning.message, at: warning.at, ...(warning.cause === undefined ? {} : { cause: messageOf(warning.cause) }) } }),
      onPersist: (info) => {
        const current = state();
        if (current) scope.postMessage({ type: "persist", info, state: current });
      },
    });
    return null;
  };

  const handle = async (request: WorkerRequest): Promise<{ value: unknown; transfer?: ArrayBuffer[] }> => {
    if (request.method === "start") return { value: await start(request.options) };
    if (!ranker) throw Object.assign(new Error("the worker's ranker has not started"), { name: "LocalrankClientError", code: "UNAVAILABLE" });
    switch (request.method) {
      case "rerankColumns":
      case "rerankObjects": {
        if (request.method === "rerankObjects") return { value: ranker.rerank(request.request as never) };
        const result = ranker.rerankPacked(request.columns, request.settings);
        return { value: result, transfer: transferables(result) };
      }
      case "rerankSerialized": {
        const { json, now } = request;
        const result = ranker.rerankSerialized(typeof json === "string" ? json : new Uint8Array(json.buffer, 0, json.length), now);
        const buffer = typeof json === "string" ? null : json.buffer;
        const { ids, ...rest } = result;
        const value: WorkerSerializedResult = { result: rest, ids: packIds(ids), buffer };
        return { value, transfer: [...transferables(rest), value.ids.lengths.buffer as ArrayBuffer, ...(buffer ? [buffer] : [])] };
      }
      case "record":
        return { value: await ranker.record(request.events as never, request.now) };
      case "flush":
        return { value: await ranker.flush() };
      case "clear":
        return { value: await ranker.clear() };
      case "ready":
        return { value: await ranker.ready() };
      case "exportSignals":
        return { value: await ranker.exportSignals(request.now) };
      case "updateModel":
        return { value: await ranker.updateModel(request.source) };
      case "close":
        await ranker.close();
        return { value: null };
    }
  };

  scope.addEventListener("message", (event) => {
    const request = event.data;
    if (!request || typeof request !== "object" || typeof request.id !== "number") return;
    handle(request).then(
      ({ value, transfer }) => {
        const current = state() ?? { status: closedStatus(), keyCount: 0, modelInfo: null };
        scope.postMessage({ type: "response", id: request.id, ok: true, value, state: current }, transfer ?? []);
        if (request.method === "close") scope.close();
      },
      (error: unknown) => scope.postMessage({ type: "response", id: request.id, ok: false, error: asWorkerError(error), state: state() }),
    );
  });
}

function asWorkerError(error: unknown): WorkerError {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return { name: error.name, message: error.message, ...(typeof code === "string" ? { code } : {}) };
  }
  return { name: "Error", message: messageOf(error) };
}

function closedStatus(): WorkerState["status"] {
  return { instances: 0, state: "closed", pendingBatches: 0, pendingEvents: 0, persistence: "storage", leader: false, lastPersistedAt: null };
}
