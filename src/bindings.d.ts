/** Options for `new Ranker(model, options)`. */
export interface RankerOptions {
  /** Most keys (items, authors, containers, topics) the signal store keeps. Default 20000. */
  keyCap?: number;
  /** Signals untouched for this many days are dropped. Default 90. */
  retentionDays?: number;
  /** Longer candidate lists are refused (server order, reason TOO_MANY_CANDIDATES). Default 5000, at most 100000. */
  maxCandidates?: number;
  /** A rerank taking longer returns the server order (reason TIME_BUDGET_EXCEEDED). Default: none. */
  timeBudgetMs?: number;
  /**
   * A request whose estimated working memory (feature matrices + the model's intermediate
   * values) is larger returns the server order (reason MEMORY_BUDGET_EXCEEDED) instead of
   * growing the module's memory. Default 67108864 (64 MiB); the shipped model needs ~1.4 KB per
   * candidate, 6 times that with `explain`.
   */
  memoryBudgetBytes?: number;
  /** "fallback" (default): problems return the server order with a reason. "throw": they throw. */
  onError?: OnError;
  /**
   * Ed25519 public keys (64 hex digits each). When given, only model bundles signed by one of
   * them load (`localrank-pipeline bundle --sign-key …` makes them); a bare ONNX file or an
   * unsigned bundle throws MODEL_UNSIGNED, another signer MODEL_UNTRUSTED_KEY, changed bytes
   * MODEL_TAMPERED.
   */
  trustedKeys?: string[];
  /**
   * On-device learning (default true): the personal head learns from the top of each shown
   * list and the engagement recorded on it, and is added to reranks only while its own
   * progressive validation beats the model alone (README, "On-device learning"). false: the
   * head is kept as it is and not used.
   */
  learning?: boolean;
}

export type OnError = "fallback" | "throw";

/** One candidate of a server response; its server rank is its position. Other fields are ignored. */
export interface Candidate {
  id: string;
  author?: string;
  /** Where it lives, outermost first (guild, channel). */
  containers?: string[];
  topics?: string[];
  /** A small server-computed embedding; every candidate of a request has the same length (≤ 512), values within ±1e6. */
  embedding?: number[];
  serverScore?: number;
  popularity?: number;
  /** ms since the Unix epoch. */
  createdAt?: number;
  /** How long the item takes to watch or read through (a video's length), in ms: what dwell on similar items is compared with. */
  durationMs?: number;
  /** Pinned candidates keep their server position. */
  pinned?: boolean;
}

export interface Constraints {
  /** Most positions a candidate may move from its server rank. */
  maxDisplacement?: number;
  /** At most `maxRun` candidates in a row with the same author / outermost container. */
  diversity?: { by: "author" | "container"; maxRun: number };
}

export interface RerankRequest {
  candidates: Candidate[];
  /** ms since the Unix epoch; default `Date.now()`. */
  now?: number;
  /** Default: the runtime's time zone. */
  utcOffsetMinutes?: number;
  constraints?: Constraints;
  /** Also return per-feature-group score contributions. */
  explain?: boolean;
  onError?: OnError;
}

/** A `RerankRequest` without its candidates: the second argument of `rerankColumns`. */
export type RerankSettings = Omit<RerankRequest, "candidates">;

/**
 * Items packed column by column: what `CandidateColumns` and `EventColumns` share. Item `i` is
 * at index `i` of every per-item column. Strings (ids and keys) live in one table: string `s`
 * is the `lengths[s]` UTF-16 code units of `text` after strings `0..s`; a string used by many
 * items is best stored once. Each string must be well-formed UTF-16 (`packCandidates` and
 * `packEvents` encode one with a lone surrogate so that it is, and stays distinct).
 */
export interface ItemColumns {
  text: string;
  /** Per string, its `.length`. */
  lengths: Uint32Array;
  /** Per item, the string index of its id. */
  ids: Uint32Array;
  /** Per item, the string index of its author, or 0xFFFFFFFF for none. */
  authors: Uint32Array;
  /** Item `i`'s containers are `containerKeys[containerOffsets[i] .. containerOffsets[i + 1]]` (string indices). */
  containerOffsets: Uint32Array;
  containerKeys: Uint32Array;
  /** Item `i`'s topics, as for containers. */
  topicOffsets: Uint32Array;
  topicKeys: Uint32Array;
  /** Item `i`'s embedding is `embeddings[embeddingOffsets[i] .. embeddingOffsets[i + 1]]`; empty: none. */
  embeddingOffsets: Uint32Array;
  embeddings: Float32Array;
}

/**
 * Candidates packed column by column for `rerankColumns` (`packCandidates` in the client
 * builds it from a `Candidate[]`): their items, and per candidate the server's fields.
 */
export interface CandidateColumns extends ItemColumns {
  /** Per candidate; NaN: absent. */
  serverScores: Float32Array;
  /** Per candidate; NaN: absent. */
  popularity: Float32Array;
  /** Per candidate, ms since the Unix epoch; NaN: absent. */
  createdAt: Float64Array;
  /** Per candidate, in ms; NaN: absent. */
  durationMs: Float64Array;
  /** Per candidate, 1 if pinned. */
  pinned: Uint8Array;
}

/**
 * A batch of events packed column by column for `recordColumns` (`packEvents` in the client
 * builds it from a `SignalEvent[]`): their items, and per event its kind, time and dwell.
 */
export interface EventColumns extends ItemColumns {
  /** Per event, its kind as a number: impression 0, click 1, dwell 2, like 3, share 4, dismiss 5, hide 6. */
  kinds: Uint8Array;
  /** Per event, ms since the Unix epoch. */
  at: Float64Array;
  /** Per event, the dwell in ms; NaN: absent. */
  dwellMs: Float64Array;
}

/** Stable error codes: `error.code` of thrown errors and `fallback.reason`. */
export type ErrorCode =
  | "INVALID_REQUEST"
  | "TOO_MANY_CANDIDATES"
  | "INVALID_EVENT"
  | "INVALID_MODEL"
  | "MODEL_UNSIGNED"
  | "MODEL_TAMPERED"
  | "MODEL_UNTRUSTED_KEY"
  | "CONTRACT_MISMATCH"
  | "UNKNOWN_FEATURE"
  | "CORRUPT_SNAPSHOT"
  | "SNAPSHOT_VERSION"
  | "INFERENCE_FAILED"
  | "INVALID_MODEL_OUTPUT"
  | "TIME_BUDGET_EXCEEDED"
  | "MEMORY_BUDGET_EXCEEDED"
  | "INVALID_OPTIONS"
  | "FREED"
  | "PANIC";

/** What every thrown localrank error is. */
export interface LocalrankError extends Error {
  name: "LocalrankError";
  code: ErrorCode;
}

export interface Fallback {
  reason: ErrorCode;
  message: string;
}

export type FeatureGroup = "server" | "affinity" | "recency" | "fatigue" | "similarity" | "context";

export interface Explanation {
  serverRank: number;
  rank: number;
  /** How much each group moved the model score (score minus score without that group's information). */
  contributions: Partial<Record<FeatureGroup, number>>;
}

export interface RerankResult {
  /** Candidate ids, best first. */
  ids: string[];
  /** Indices into `request.candidates`, best first. */
  order: Uint32Array;
  /** Final score per candidate in request order; empty on fallback. */
  scores: Float32Array;
  /** Set when the server order was returned instead of a ranking. */
  fallback: Fallback | null;
  /** Per candidate in request order, when `explain` was set and there was no fallback. */
  explanations?: Explanation[];
  elapsedMs: number;
}

/** What `rerankColumns` returns: a `RerankResult` without `ids` (map `order` onto the candidates). */
export type ColumnsRerankResult = Omit<RerankResult, "ids">;

export type EventKind = "impression" | "click" | "dwell" | "like" | "share" | "dismiss" | "hide";

/** The attributes signals are kept under; the same shape as a candidate's. */
export interface ItemRef {
  id: string;
  author?: string;
  containers?: string[];
  topics?: string[];
  embedding?: number[];
}

export interface SignalEvent {
  kind: EventKind;
  item: ItemRef;
  /** ms since the Unix epoch. */
  at: number;
  /** Required for "dwell": how long, in ms (counted up to 30 minutes). */
  dwellMs?: number;
}

export interface RecordSummary {
  recorded: number;
  /** Events already older than the retention limit, not stored. */
  expired: number;
  /** Of the recorded events, those dated more than an hour after `now`: recorded at `now`. */
  clamped: number;
}

export interface ExportedCount {
  kind: EventKind;
  halfLife: "1h" | "1d" | "7d" | "30d";
  value: number;
}

export interface ExportedKey {
  family: "item" | "author" | "container" | "topic" | "user";
  key: string;
  lastSeenAt: number;
  lastPositiveAt: number | null;
  lastNegativeAt: number | null;
  fatigue: number;
  counts: ExportedCount[];
}

export interface ExportedVector {
  dimension: number;
  weight: number;
  values: number[];
}

export interface ExportedRecent {
  at: number;
  values: number[];
}

export interface SignalExport {
  asOf: number;
  keyCap: number;
  retentionDays: number;
  totals: ExportedKey | null;
  /** Decayed (30-day) mean embedding of positively engaged items. */
  userVector: ExportedVector | null;
  /** The same with a one-hour half-life: what the current session is about. */
  sessionVector: ExportedVector | null;
  /** The newest positively engaged embeddings (unit length, at most 32), oldest first. */
  recent: ExportedRecent[];
  keys: ExportedKey[];
  /** What the personal head has learnt on this device (README, "On-device learning"). */
  learning: ExportedLearning;
}

export interface ExportedLearning {
  /** Whether the head counts in reranks now: its progressive validation beats the model alone. */
  active: boolean;
  /** Update steps taken (one per shown list that had outcomes to learn from). */
  updates: number;
  /** Lists on which the model alone and model + head were compared before a step. */
  validatedLists: number;
  /** Mean NDCG@10 of model + head minus the model alone over the gate's window; null before any list was validated. */
  meanGain: number | null;
  /** When the newest list it learnt from was shown (ms since the Unix epoch); null if never. */
  updatedAt: number | null;
  /** Shown lists waiting for their outcomes (their label window is still open). */
  pendingLists: number;
  /** Bytes of memory the head and the waiting lists take. */
  memoryBytes: number;
  /** The head's weight on each candidate signal feature of the model's contract, in contract order. */
  weights: { feature: string; weight: number }[];
}

export interface ModelInfo {
  name: string;
  /** 2: scores are the server order's prior plus the model's local term (see the README). */
  contractVersion: number;
  features: string[];
  producer: string;
  opset: number;
  /** Size of what was loaded: the bundle, or the bare ONNX file. */
  byteSize: number;
  /** SHA-256 of the ONNX bytes, hex. */
  sha256: string;
  /** Hex public key whose signature the bundle carries and which verified; null if unsigned. */
  signedBy: string | null;
}
