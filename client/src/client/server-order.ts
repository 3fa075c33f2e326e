// The client's fallback: the core's server order (../core/server-order.ts), naming the model
// that would have served.

import { serverOrder as coreServerOrder } from "../core/server-order.js";
import type { ClientFallbackReason } from "../errors.js";
import type { ModelRef } from "./models.js";
import { monotonicNow } from "./persister.js";
import type { ClientRerankResult } from "./types.js";

/** The server order of a request: as many ids as can be read, in order. Never throws. */
export function serverOrder(request: unknown, reason: ClientFallbackReason, message: string, started: number, model: ModelRef | null): ClientRerankResult {
  return { ...coreServerOrder(request, reason, message, started), model };
}

/** The server order of `count` candidates, without their ids (the caller maps `order`). */
export function serverOrderOf(count: number, reason: ClientFallbackReason, message: string, started: number, model: ModelRef | null): Omit<ClientRerankResult, "ids"> {
  return {
    order: Uint32Array.from({ length: Math.min(count, 1_000_000) }, (_, i) => i),
    scores: new Float32Array(0),
    fallback: { reason, message },
    elapsedMs: monotonicNow() - started,
    model,
  };
}
