// The module's errors as JS sees them: real `Error`s named "LocalrankError" with a stable
// `code`, whether the core raised them (they cross as "CODE\nmessage", src/bindings.rs) or
// this side did, before calling in (a value it could not read, a size past a limit).

import type { ErrorCode, LocalrankError } from "../wasm/types.js";

/** How the core words the errors this side raises too (src/error.rs), so both read alike. */
const PREFIXES = {
  INVALID_REQUEST: "invalid request: ",
  INVALID_EVENT: "invalid event: ",
  INVALID_OPTIONS: "invalid options: ",
  INVALID_MODEL: "invalid model: ",
  CORRUPT_SNAPSHOT: "corrupt snapshot: ",
} as const satisfies Partial<Record<ErrorCode, string>>;

class ModuleError extends Error implements LocalrankError {
  override readonly name = "LocalrankError";

  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A `LocalrankError` with `code`, worded as the core words that code. */
export function codedError(code: keyof typeof PREFIXES, detail: string): LocalrankError {
  return new ModuleError(code, PREFIXES[code] + detail);
}

export function tooManyCandidates(count: number, limit: number): LocalrankError {
  return new ModuleError("TOO_MANY_CANDIDATES", `too many candidates: ${count} exceeds the limit of ${limit}`);
}

export function overMemoryBudget(needed: number, budget: number): LocalrankError {
  return new ModuleError(
    "MEMORY_BUDGET_EXCEEDED",
    `the request needs ~${needed} bytes copied into the module, over the budget of ${budget}`,
  );
}

export function freed(): LocalrankError {
  return new ModuleError("FREED", "this Ranker was freed (free() was called); make a new one");
}

/** The error a core error text stands for, or undefined if `thrown` is not one. */
export function fromWire(thrown: unknown): LocalrankError | undefined {
  if (typeof thrown !== "string") return undefined;
  const newline = thrown.indexOf("\n");
  return new ModuleError(thrown.slice(0, newline) as ErrorCode, thrown.slice(newline + 1));
}

/** Whether `error` is a coded error of the module (raised by the core or by this side). */
export function isCoded(error: unknown): error is LocalrankError {
  return error instanceof ModuleError;
}

/** A coded error's code and message, for a fallback. */
export function fallbackOf(error: LocalrankError): { reason: ErrorCode; message: string } {
  return { reason: error.code, message: error.message };
}
