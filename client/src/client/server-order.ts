import type { ClientFallbackReason } from "../errors.js";
import type { ModelRef } from "./models.js";
import { monotonicNow } from "./persister.js";
import type { ClientRerankResult } from "./types.js";

/**
 * The server order of a request: as many ids as can be read, in order. Reads defensively
 * (any getter may throw, any value may be of the wrong type), so it never throws itself.
 */
export function serverOrder(request: unknown, reason: ClientFallbackReason, message: string, started: number, model: ModelRef | null): ClientRerankResult {
  let list: unknown[] = [];
  try {
    const candidates: unknown = Array.isArray(request) ? request : (request as { candidates?: unknown } | null | undefined)?.candidates;
    if (Array.isArray(candidates)) list = candidates;
  } catch {
    list = [];
  }
  const ids: string[] = [];
  try {
    for (let i = 0; i < list.length; i++) {
      let id: unknown;
      try {
        id = (list[i] as { id?: unknown } | null | undefined)?.id;
      } catch {
        id = undefined;
      }
      ids.push(typeof id === "string" ? id : "");
    }
  } catch {
    // a revoked Proxy or a throwing length: as many ids as were read
  }
  return { ids, ...serverOrderOf(ids.length, reason, message, started, model) };
}

/** The server order of `count` candidates, without their ids (the caller maps `order`). */
export function serverOrderOf(count: number, reason: ClientFallbackReason, message: string, started: number, model: ModelRef | null): Omit<ClientRerankResult, "ids"> {
  return {
    order: Uint32Array.from({ length: count }, (_, i) => i),
    scores: new Float32Array(0),
    fallback: { reason, message },
    elapsedMs: monotonicNow() - started,
    model,
  };
}
