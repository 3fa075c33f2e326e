// What every client entry point exports besides its flavour-bound `createLocalRanker` and
// `wasmLoader`: the client class and its types, the packers, the storages that work in every
// runtime, the error helpers and the boundary vocabulary.

export { LocalRanker } from "./client/local-ranker.js";
export type { LocalRankerOptions } from "./client/options.js";
export { CLIENT_OPTION_KEYS } from "./client/options.js";
export type { ClientRerankResult, ClientStatus, ClientWarning, PersistInfo, RerankInput } from "./client/types.js";
export type { SerializedInput } from "./client/serialized.js";
export {
  CLIENT_ERROR_CODES,
  CLIENT_FALLBACK_REASONS,
  CLIENT_WARNING_CODES,
  LocalrankClientError,
  isLocalrankError,
  type ClientErrorCode,
  type ClientFallbackReason,
  type ClientWarningCode,
} from "./errors.js";
export { packCandidates } from "./packers/candidates.js";
export { packEvents } from "./packers/events.js";
export { indexedDbStorage, type IndexedDbStorageOptions } from "./storage/indexeddb.js";
export { memoryStorage, type MemoryStorage } from "./storage/memory.js";
export type { LogEntry, SignalStorage, StorageChange, StoredBatch, StoredModel, StoredSnapshot, StoredState } from "./storage/types.js";
export type { ModelRef, ModelSource } from "./client/models.js";
export * from "./vocabulary.js";
export type { LoaderContext, LocalrankModule, WasmLoader, WasmSource } from "./wasm/loader.js";
export type * from "./wasm/types.js";
