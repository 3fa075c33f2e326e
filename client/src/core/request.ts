// Reading a rerank request's settings (everything but its candidates) and an options bag:
// only own properties, every field checked for its JS type (the core checks the values),
// unknown keys refused. Throws `InputError`.

import { CONSTRAINT_KEYS, DIVERSITY_KEYS, ON_ERROR_MODES, RANKER_OPTION_KEYS, REQUEST_KEYS } from "../vocabulary.js";
import type { OnError } from "../wasm/types.js";
import type { Clock } from "./clock.js";
import { InputError, Reader, absent, arrayLength, checkKeys } from "./input.js";

/** A request's settings as the module takes them (undefined: none). */
export interface Settings {
  now: number;
  utcOffsetMinutes: number;
  maxDisplacement: number | undefined;
  diversityBy: string | undefined;
  maxRun: number | undefined;
  explain: boolean;
}

const requestReader = () => new Reader([...REQUEST_KEYS, ...CONSTRAINT_KEYS, ...DIVERSITY_KEYS]);

/** More trusted keys than anyone deploys; a longer list is not read. */
const MAX_TRUSTED_KEYS = 1024;

function isMode(value: unknown): value is OnError {
  return (ON_ERROR_MODES as readonly unknown[]).includes(value);
}

function optionalNumber(value: unknown, what: string): number | undefined {
  if (absent(value)) return undefined;
  if (typeof value !== "number") throw new InputError(`${what} must be a number`);
  return value;
}

function object(value: unknown, what: string): object {
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new InputError(`${what} must be an object`);
  return value;
}

/**
 * How a request's errors are handled: its own valid `onError`, read even when nothing else in
 * it can be, else `defaultMode` (the ranker's).
 */
export function readMode(request: unknown, defaultMode: OnError): OnError {
  try {
    if (typeof request !== "object" || request === null) return defaultMode;
    const mode = requestReader().field(request, "onError");
    return isMode(mode) ? mode : defaultMode;
  } catch {
    return defaultMode;
  }
}

/** A request's (or `rerankColumns`' settings') fields besides its candidates. */
export function readSettings(request: unknown, clock: Clock): Settings {
  const settings: Settings = {
    now: NaN,
    utcOffsetMinutes: NaN,
    maxDisplacement: undefined,
    diversityBy: undefined,
    maxRun: undefined,
    explain: false,
  };
  let now: unknown;
  let offset: unknown;
  if (!absent(request)) {
    const fields = object(request, "request");
    checkKeys(fields, REQUEST_KEYS, "request");
    const reader = requestReader();
    const read = (key: (typeof REQUEST_KEYS)[number]) => reader.field(fields, key);
    now = read("now");
    offset = read("utcOffsetMinutes");
    const constraints = read("constraints");
    if (!absent(constraints)) {
      const rules = object(constraints, "request.constraints");
      checkKeys(rules, CONSTRAINT_KEYS, "constraints");
      settings.maxDisplacement = optionalNumber(reader.field(rules, "maxDisplacement"), "constraints.maxDisplacement");
      const diversity = reader.field(rules, "diversity");
      if (!absent(diversity)) {
        const rule = object(diversity, "constraints.diversity");
        checkKeys(rule, DIVERSITY_KEYS, "constraints.diversity");
        const by = reader.field(rule, "by");
        if (typeof by !== "string") throw new InputError('constraints.diversity.by must be "author" or "container"');
        settings.diversityBy = by;
        const maxRun = optionalNumber(reader.field(rule, "maxRun"), "constraints.diversity.maxRun");
        if (maxRun === undefined) throw new InputError("constraints.diversity.maxRun must be a number");
        settings.maxRun = maxRun;
      }
    }
    const explain = read("explain");
    if (!absent(explain) && typeof explain !== "boolean") throw new InputError("request.explain must be a boolean");
    settings.explain = explain === true;
    const mode = read("onError");
    if (!absent(mode) && !isMode(mode)) throw new InputError(`request.onError must be one of ${ON_ERROR_MODES.join(", ")}`);
  }
  settings.now = optionalNumber(now, "request.now (ms since the Unix epoch)") ?? clock();
  settings.utcOffsetMinutes = optionalNumber(offset, "request.utcOffsetMinutes") ?? -new Date().getTimezoneOffset();
  return settings;
}

/** `new Ranker`'s options as the module takes them (undefined: the default). */
export interface Options {
  keyCap: number | undefined;
  retentionDays: number | undefined;
  maxCandidates: number | undefined;
  timeBudgetMs: number | undefined;
  memoryBudgetBytes: number | undefined;
  onError: OnError;
  /** Hex public keys, one per line; undefined: none. */
  trustedKeys: string | undefined;
  /** Whether the personal head learns and counts; undefined: the default (on). */
  learning: boolean | undefined;
}

export function readOptions(options: unknown): Options {
  const read: Options = {
    keyCap: undefined,
    retentionDays: undefined,
    maxCandidates: undefined,
    timeBudgetMs: undefined,
    memoryBudgetBytes: undefined,
    onError: "fallback",
    trustedKeys: undefined,
    learning: undefined,
  };
  if (absent(options)) return read;
  const fields = object(options, "options");
  checkKeys(fields, RANKER_OPTION_KEYS, "options");
  const reader = new Reader(RANKER_OPTION_KEYS);
  const field = (key: (typeof RANKER_OPTION_KEYS)[number]) => reader.field(fields, key);
  for (const key of ["keyCap", "retentionDays", "maxCandidates", "timeBudgetMs", "memoryBudgetBytes"] as const) {
    read[key] = optionalNumber(field(key), `options.${key}`);
  }
  const mode = field("onError");
  if (!absent(mode) && !isMode(mode)) throw new InputError(`options.onError must be one of ${ON_ERROR_MODES.join(", ")}`);
  read.onError = mode ?? "fallback";
  const keys = field("trustedKeys");
  if (!absent(keys)) {
    const count = arrayLength(keys, MAX_TRUSTED_KEYS, () => "options.trustedKeys");
    const hex: string[] = [];
    for (let k = 0; k < count; k++) {
      const key: unknown = (keys as unknown[])[k];
      if (typeof key !== "string" || key.includes("\n")) throw new InputError(`options.trustedKeys[${k}] must be a hex string`);
      hex.push(key);
    }
    read.trustedKeys = hex.length > 0 ? hex.join("\n") : undefined;
  }
  const learning = field("learning");
  if (!absent(learning) && typeof learning !== "boolean") throw new InputError("options.learning must be a boolean");
  read.learning = absent(learning) ? undefined : learning;
  return read;
}
