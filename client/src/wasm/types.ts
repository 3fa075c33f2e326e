// The module's own types (requests, results, events, exports), as wasm-bindgen declares them
// from src/bindings.d.ts. Both flavours have the same API; the full one's declarations serve.

export type {
  Candidate,
  CandidateColumns,
  ColumnsRerankResult,
  Constraints,
  ErrorCode,
  EventColumns,
  EventKind,
  Explanation,
  ExportedCount,
  ExportedKey,
  ExportedRecent,
  ExportedVector,
  Fallback,
  FeatureGroup,
  ItemColumns,
  ItemRef,
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
} from "./full/bindings.js";
export type { ModelBytes, Ranker, RankerClass } from "../core/ranker.js";
