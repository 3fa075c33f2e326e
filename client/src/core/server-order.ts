// The fallback: the server's order of a request, with a reason. Reads defensively (any getter
// may throw, any value may be of the wrong type), so it never throws itself.

import type { RerankResult } from "../wasm/types.js";
import { monotonicNow } from "./clock.js";

/** The most ids a fallback reads: past it a list is not a server response but an attack. */
const MAX_FALLBACK_IDS = 1_000_000;

/** A `RerankResult` falling back for `reason` (the module's codes, or the client's own). */
export type FallbackResult<R extends string> = Omit<RerankResult, "fallback"> & { fallback: { reason: R; message: string } };

/** The candidate list of a request (or a list given as is), if one can be read. */
function candidateList(request: unknown): unknown[] {
  try {
    const list: unknown = Array.isArray(request) ? request : (request as { candidates?: unknown } | null | undefined)?.candidates;
    return Array.isArray(list) ? list : [];
  } catch {
    return [];
  }
}

/** As many ids of the request's candidates as can be read, in order ("" for one that cannot). */
export function serverOrderIds(request: unknown): string[] {
  const list = candidateList(request);
  const ids: string[] = [];
  try {
    const length = Math.min(list.length, MAX_FALLBACK_IDS);
    for (let i = 0; i < length; i++) {
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
  return ids;
}

/** The server order of `ids`, with `reason`. */
export function serverOrderOf<R extends string>(ids: string[], reason: R, message: string, started: number): FallbackResult<R> {
  return {
    ids,
    order: Uint32Array.from(ids, (_, i) => i),
    scores: new Float32Array(0),
    fallback: { reason, message },
    elapsedMs: monotonicNow() - started,
  };
}

/** The server order of a request: as many ids as can be read, in order. */
export function serverOrder<R extends string>(request: unknown, reason: R, message: string, started: number): FallbackResult<R> {
  return serverOrderOf(serverOrderIds(request), reason, message, started);
}
