// The client's public types besides its options (./options.ts).

import type { ClientFallbackReason, ClientWarningCode } from "../errors.js";
import type { Candidate, RerankRequest, RerankResult } from "../wasm/types.js";

export interface ClientWarning {
  code: ClientWarningCode;
  message: string;
  /** ms since the Unix epoch. */
  at: number;
  cause?: unknown;
}

/** A `RerankResult` whose fallback may also come from the client. */
export interface ClientRerankResult extends Omit<RerankResult, "fallback"> {
  fallback: { reason: ClientFallbackReason; message: string } | null;
}

/** A candidate list (the server's order) or a whole request. */
export type RerankInput = readonly Candidate[] | RerankRequest;

export interface PersistInfo {
  byteLength: number;
  /** Batches recorded while the write ran, still journaled. */
  pendingBatches: number;
  /** false while persistence is suspended (a newer-format snapshot is kept in storage). */
  storage: boolean;
}

export interface ClientStatus {
  /** Module instances created so far (1 after start; more after recoveries). */
  instances: number;
  state: "ready" | "recovering" | "broken" | "closed";
  /** Journaled batches / events not yet in a persisted snapshot. */
  pendingBatches: number;
  pendingEvents: number;
  persistence: "storage" | "suspended";
  /** ms since the Unix epoch of the last successful persist, or null. */
  lastPersistedAt: number | null;
}
