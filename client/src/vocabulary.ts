// Generated from the Rust core by tests/vocabulary.rs; `LOCALRANK_BLESS=1 cargo test --test
// vocabulary` rewrites it, and that test fails whenever this file and the core drift apart.
// Do not edit by hand.

/** Stable error codes: `error.code` of thrown errors and `fallback.reason` (src/error.rs). */
export const ERROR_CODES = [
  "INVALID_REQUEST",
  "TOO_MANY_CANDIDATES",
  "INVALID_EVENT",
  "INVALID_MODEL",
  "MODEL_UNSIGNED",
  "MODEL_TAMPERED",
  "MODEL_UNTRUSTED_KEY",
  "CONTRACT_MISMATCH",
  "UNKNOWN_FEATURE",
  "CORRUPT_SNAPSHOT",
  "SNAPSHOT_VERSION",
  "INFERENCE_FAILED",
  "INVALID_MODEL_OUTPUT",
  "TIME_BUDGET_EXCEEDED",
  "MEMORY_BUDGET_EXCEEDED",
  "INVALID_OPTIONS",
  "FREED",
  "PANIC",
] as const;

/** Event kinds; a kind's index is its code in `EventColumns.kinds` (src/item.rs). */
export const EVENT_KINDS = ["impression", "click", "dwell", "like", "share", "dismiss", "hide"] as const;

/** The feature groups explanations report (src/features/feature.rs). */
export const FEATURE_GROUPS = ["server", "affinity", "recency", "fatigue", "similarity", "context"] as const;

/** The keys `new Ranker(model, options)` accepts; any other is `INVALID_OPTIONS` (src/vocabulary.rs). */
export const RANKER_OPTION_KEYS = [
  "keyCap",
  "retentionDays",
  "maxCandidates",
  "timeBudgetMs",
  "memoryBudgetBytes",
  "onError",
  "trustedKeys",
  "learning",
] as const;

/** The keys of a rerank request; any other is `INVALID_REQUEST` (src/vocabulary.rs). */
export const REQUEST_KEYS = ["candidates", "now", "utcOffsetMinutes", "constraints", "explain", "onError"] as const;

/** The keys of `request.constraints` (src/vocabulary.rs). */
export const CONSTRAINT_KEYS = ["maxDisplacement", "diversity"] as const;

/** The keys of `request.constraints.diversity` (src/vocabulary.rs). */
export const DIVERSITY_KEYS = ["by", "maxRun"] as const;

/** The values of `onError` (src/ranker.rs). */
export const ON_ERROR_MODES = ["fallback", "throw"] as const;

/** The core's size limits, checked on the TypeScript side before anything is read or copied in. */
export const LIMITS = {
  /** Longest id or key, in UTF-8 bytes (src/item.rs). */
  maxStringBytes: 256,
  /** Most keys of one family on an item (src/item.rs). */
  maxKeysPerFamily: 32,
  /** Longest embedding (src/item.rs). */
  maxEmbeddingLength: 512,
  /** Highest `maxCandidates` (src/ranker.rs). */
  maxCandidatesLimit: 100000,
  /** Most events in one `record` (src/signals/mod.rs). */
  maxEventsPerBatch: 100000,
  /** Largest model file or bundle, in bytes (src/model.rs). */
  maxModelBytes: 33554432,
  /** Largest snapshot, in bytes (src/signals/snapshot.rs). */
  maxSnapshotBytes: 413799500,
} as const;
