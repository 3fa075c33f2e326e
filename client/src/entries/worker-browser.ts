// `localrank/worker` in browsers: the client's API with the module, the model and the store
// in a dedicated module worker (the full flavour), off the page's main thread.

import { startWorkerRanker, type WorkerLocalRanker, type WorkerLocalRankerOptions } from "../worker/remote-ranker.js";

export { packCandidates } from "../packers/candidates.js";
export { packEvents } from "../packers/events.js";
export { CLIENT_ERROR_CODES, CLIENT_FALLBACK_REASONS, CLIENT_WARNING_CODES, LocalrankClientError, isLocalrankError } from "../errors.js";
export * from "../vocabulary.js";
export { WORKER_OPTION_KEYS, WorkerLocalRanker, type WorkerLocalRankerOptions } from "../worker/remote-ranker.js";
export type { ClientRerankResult, ClientStatus, ClientWarning, PersistInfo, RerankInput } from "../client/types.js";
export type { ClientErrorCode, ClientFallbackReason, ClientWarningCode } from "../errors.js";
export type { ModelRef, ModelSource } from "../client/models.js";
export type * from "../wasm/types.js";

/**
 * Starts a LocalRanker in a new dedicated module worker and resolves once it is ready. The
 * worker is created as `new Worker(new URL(…, import.meta.url), { type: "module" })`, which
 * Vite and webpack 5 bundle; `workerUrl` names a worker script of your own instead.
 */
export function createLocalRanker(options: WorkerLocalRankerOptions): Promise<WorkerLocalRanker> {
  const worker = options?.workerUrl
    ? new Worker(options.workerUrl, { type: "module" })
    : new Worker(new URL("../worker/full.js", import.meta.url), { type: "module" });
  return startWorkerRanker(worker, options);
}
