// What `localrank/worker` and `localrank/slim/worker` export besides `createLocalRanker`, which
// each entry writes itself: bundlers find the worker script only in a literal
// `new Worker(new URL("…", import.meta.url))` in the entry's own file.

export { packCandidates } from "../packers/candidates.js";
export { packEvents } from "../packers/events.js";
export { CLIENT_ERROR_CODES, CLIENT_FALLBACK_REASONS, CLIENT_WARNING_CODES, LocalrankClientError, isLocalrankError } from "../errors.js";
export * from "../vocabulary.js";
export { WORKER_OPTION_KEYS, WorkerLocalRanker, type WorkerLocalRankerOptions } from "./remote-ranker.js";
export type { ClientRerankResult, ClientStatus, ClientWarning, PersistInfo, RerankInput } from "../client/types.js";
export type { SerializedInput } from "../client/serialized.js";
export type { ClientErrorCode, ClientFallbackReason, ClientWarningCode } from "../errors.js";
export type { ModelRef, ModelSource } from "../client/models.js";
export type * from "../wasm/types.js";
