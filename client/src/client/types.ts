// The client's public types besides its options (./options.ts).

import type { ClientFallbackReason, ClientWarningCode } from "../errors.js";
import type { ModelRef } from "./models.js";
import type { SerializedInput } from "./serialized.js";
import type { Candidate, RerankRequest, RerankResult } from "../wasm/types.js";

export interface ClientWarning {
  code: ClientWarningCode;
  message: string;
  /** ms since the Unix epoch. */
  at: number;
  cause?: unknown;
}

/** A `RerankResult` whose fallback may also come from the client, and which says which model served it. */
export interface ClientRerankResult extends Omit<RerankResult, "fallback"> {
  fallback: { reason: ClientFallbackReason; message: string } | null;
  /** The serving model (on a fallback too: the one that would have ranked); null before any loaded. */
  model: ModelRef | null;
}

/**
 * A candidate list (the server's order) or a whole request: as objects, or serialized as the
 * server sent it (its JSON text, or that text's UTF-8 bytes).
 */
export type RerankInput = readonly Candidate[] | RerankRequest | SerializedInput;

export interface PersistInfo {
  /** "append": recorded batches reached the log (they are acknowledged); "checkpoint": the log was folded into a new checkpoint. */
  kind: "append" | "checkpoint";
  /** Bytes written. */
  byteLength: number;
  /** Events acknowledged by this write (0 for a checkpoint). */
  events: number;
  /** Batches in the journal (applied since the last checkpoint, own and other contexts'). */
  pendingBatches: number;
  /** false while persistence is suspended (a newer-format checkpoint is kept in storage). */
  storage: boolean;
}

export interface ClientStatus {
  /** Module instances created so far (1 after start; more after recoveries). */
  instances: number;
  state: "ready" | "recovering" | "broken" | "closed";
  /** Batches applied since the last checkpoint (this context's and other contexts'). */
  pendingBatches: number;
  /** This context's events not yet acknowledged (not yet in the storage's log). */
  pendingEvents: number;
  persistence: "storage" | "suspended";
  /** Whether this context is the leader: the one that folds the log into checkpoints. */
  leader: boolean;
  /** ms since the Unix epoch of the last successful write, or null. */
  lastPersistedAt: number | null;
}
