// Where a model's bytes come from, and the errors the client reports about a model in the
// module's own vocabulary (a trap while loading is an INVALID_MODEL like any other bad model).

import { LocalrankClientError, messageOf } from "../errors.js";
import type { ErrorCode, LocalrankError } from "../wasm/types.js";

/** A model to load: its bytes, or a URL with the SHA-256 it must have (hex, optional). */
export type ModelSource = Uint8Array | ArrayBuffer | ArrayBufferView | { url: string | URL; sha256?: string };

/** Which model produced a result: the name in its contract and the SHA-256 of its bytes. */
export interface ModelRef {
  name: string;
  sha256: string;
}

/** An error with the module's shape and code, raised by the client about a model. */
export function modelError(code: ErrorCode, message: string, cause?: unknown): LocalrankError {
  const error = new Error(message, cause === undefined ? undefined : { cause }) as Error & { code: ErrorCode };
  error.name = "LocalrankError";
  error.code = code;
  return error as LocalrankError;
}

/** The SHA-256 of `bytes`, as lowercase hex. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = globalThis.crypto?.subtle;
  if (!subtle) throw new LocalrankClientError("UNAVAILABLE", "this runtime has no crypto.subtle to check the model's SHA-256");
  const digest = new Uint8Array(await subtle.digest("SHA-256", bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

/** Checks `bytes` against an expected SHA-256 (hex, any case); throws `MODEL_TAMPERED` when they differ. */
export async function checkSha256(bytes: Uint8Array, expected: string | undefined, where: string): Promise<void> {
  if (expected === undefined) return;
  const actual = await sha256Hex(bytes);
  if (actual !== expected.toLowerCase()) {
    throw modelError("MODEL_TAMPERED", `${where}: its SHA-256 is ${actual}, not the expected ${expected}`);
  }
}

/** Reads a URL as bytes; a failure is `UNAVAILABLE`. */
export async function readModelUrl(url: string | URL, read: (url: URL) => Promise<Uint8Array>): Promise<Uint8Array> {
  const resolved = new URL(String(url), globalThis.location?.href);
  try {
    return await read(resolved);
  } catch (error) {
    if (error instanceof LocalrankClientError) throw error;
    throw new LocalrankClientError("UNAVAILABLE", `could not read the model ${resolved.href}: ${messageOf(error)}`, error);
  }
}
