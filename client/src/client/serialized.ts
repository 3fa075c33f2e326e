// A rerank input as the server sent it: the JSON text of a candidate list or of a whole
// request, as a string or as its UTF-8 bytes. In worker mode the page posts it unread (bytes as
// a copy, ../worker/byte-pool.ts), so the main thread neither parses nor packs the candidates:
// the worker does both. On the page, the client parses it and reranks as if it had been given
// the objects.

import { InputError, isArrayBuffer, typedArrayKind } from "../core/input.js";

/** The JSON of a candidate list or a request: a string, or its UTF-8 bytes. */
export type SerializedInput = string | Uint8Array | ArrayBuffer;

/**
 * Whether `input` is serialized: a string, a genuine `Uint8Array` or `ArrayBuffer` (told by
 * their internal slots, so a Proxy or a look-alike is not, and `rerank` reports what it is).
 */
export function isSerialized(input: unknown): input is SerializedInput {
  return typeof input === "string" || typedArrayKind(input) === "Uint8Array" || isArrayBuffer(input);
}

/** Strict: bytes that are not UTF-8 are refused, not read with replacement characters. */
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The candidate list or request `input` holds, with `now` (when given) as the request's time
 * unless it has its own. Throws `InputError` when it cannot be read (a detached buffer, bytes
 * that are not UTF-8, text that is not JSON); what it holds is checked by `rerank` itself.
 */
export function parseSerialized(input: SerializedInput, now?: number): unknown {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof input === "string" ? input : utf8.decode(input));
  } catch (error) {
    throw new InputError(`a serialized request must be the UTF-8 JSON of a candidate list or a request (${error instanceof Error ? error.message : String(error)})`);
  }
  if (now === undefined) return parsed;
  if (Array.isArray(parsed)) return { candidates: parsed, now };
  if (parsed !== null && typeof parsed === "object" && !Object.prototype.hasOwnProperty.call(parsed, "now")) return { ...parsed, now };
  return parsed;
}
