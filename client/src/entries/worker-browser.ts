// `localrank/worker` in browsers: the client's API with the module, the model and the store
// in a dedicated module worker (the full flavour), off the page's main thread.

import { startWorkerRanker, type WorkerLocalRanker, type WorkerLocalRankerOptions } from "../worker/remote-ranker.js";

export * from "../worker/api.js";

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
