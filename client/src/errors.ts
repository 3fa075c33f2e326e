// The client's own error and warning vocabulary, and how errors are told apart. The module's
// codes (`ErrorCode`, `ERROR_CODES` in ./vocabulary.ts) come from the Rust core; these are the
// ones only the JavaScript side can raise.

import type { ErrorCode, LocalrankError } from "./wasm/types.js";

/** Codes of errors the client itself throws (`LocalrankClientError.code`). */
export const CLIENT_ERROR_CODES = ["CLOSED", "UNAVAILABLE", "STORAGE_FAILED", "INVALID_ARGUMENT"] as const;
export type ClientErrorCode = (typeof CLIENT_ERROR_CODES)[number];

/** `fallback.reason` values only the client gives (besides the module's `ErrorCode`s). */
export const CLIENT_FALLBACK_REASONS = ["WASM_TRAP", "SHIM_ERROR"] as const;
export type ClientFallbackReason = ErrorCode | (typeof CLIENT_FALLBACK_REASONS)[number];

/** Codes of the warnings the client reports through `onWarning` and `warnings`. */
export const CLIENT_WARNING_CODES = [
  /** A stored snapshot failed its checks; it was skipped (and is overwritten by the next persist). */
  "CORRUPT_SNAPSHOT",
  /** A stored snapshot is from a newer format; it is kept untouched and nothing is persisted until `clear()`. */
  "SNAPSHOT_VERSION",
  /** The storage had lost its data (the browser deleted the database) and restored it from its own copy. */
  "STORE_RECOVERED",
  /** Reading, writing or deleting the persisted snapshot failed. */
  "STORAGE_FAILED",
  /** The module trapped (`WebAssembly.RuntimeError`). */
  "WASM_TRAP",
  /** Any other unexpected exception from the module or its glue. */
  "SHIM_ERROR",
  /** A fresh module instance took over, with the persisted snapshot and the journal. */
  "RECOVERED",
  /** Creating a fresh module instance failed; the next call tries again. */
  "RECOVERY_FAILED",
  /** A journaled batch (or the last snapshot) could not be replayed into the fresh instance. */
  "REPLAY_FAILED",
  /** The loader returned the same module instance as before. */
  "STALE_INSTANCE",
  /** The `now` option gave something that is not a time (NaN, a throw…); `Date.now()` was used (reported once). */
  "BAD_CLOCK",
  /** The model could not be fetched; the last good model kept on this device serves instead. */
  "MODEL_FROM_STORAGE",
  /** Another context's model update did not load here; the serving model stays. */
  "MODEL_REFUSED",
] as const;
export type ClientWarningCode = (typeof CLIENT_WARNING_CODES)[number];

/**
 * An error thrown by the client itself (not by the wasm module): `CLOSED`, `UNAVAILABLE`,
 * `STORAGE_FAILED`, `INVALID_ARGUMENT`. Errors of the module (`name === "LocalrankError"`)
 * pass through unchanged.
 */
export class LocalrankClientError extends Error {
  override readonly name = "LocalrankClientError";
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.code = code;
  }
}

/**
 * Whether `error` is an error of the wasm module with a stable `code` (the module itself is
 * healthy after one of these).
 */
export function isLocalrankError(error: unknown): error is LocalrankError {
  return error instanceof Error && error.name === "LocalrankError" && typeof (error as { code?: unknown }).code === "string";
}

/** `WASM_TRAP` for a trap of the module, `SHIM_ERROR` for any other unexpected exception. */
export function trapCode(error: unknown): "WASM_TRAP" | "SHIM_ERROR" {
  return error instanceof WebAssembly.RuntimeError ? "WASM_TRAP" : "SHIM_ERROR";
}

/** "Name: message" of an error, or the value as text; never throws. */
export function messageOf(error: unknown): string {
  try {
    if (error instanceof Error) return `${error.name}: ${error.message}`;
    return String(error);
  } catch {
    return "an error that cannot be printed";
  }
}

/**
 * Formats an error's stack (and its causes') to text now. NOTE: until its `stack` is read, V8
 * keeps an error's frames as the functions it was thrown through; for a trap those are the
 * module instance's own (its glue, its wasm functions), so a kept warning whose cause is the
 * trap would keep the replaced instance — its whole linear memory — alive.
 */
export function releaseFrames(error: unknown): void {
  for (let depth = 0; depth < 8 && error instanceof Error; depth++) {
    try {
      void error.stack;
      error = error.cause;
    } catch {
      return;
    }
  }
}
