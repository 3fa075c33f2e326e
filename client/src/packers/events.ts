import { EVENT_KINDS } from "../vocabulary.js";
import type { EventColumns } from "../wasm/types.js";
import { ItemPacker, optionalNumber } from "./item-packer.js";

/** The code of each event kind in `EventColumns.kinds`: its index in the core's list. */
const EVENT_KIND_CODES: ReadonlyMap<unknown, number> = new Map(EVENT_KINDS.map((kind, code) => [kind, code]));

/**
 * Packs a batch of events column by column for `Ranker.recordColumns` (what
 * `LocalRanker.record` does): item ids and keys into one string table (each stored once),
 * kinds, times, dwells and embeddings into typed arrays. Returns null when an event holds
 * something the columns cannot carry exactly — a field of the wrong type, an unknown kind, a
 * NaN dwell — so the caller can pass the batch to `record` instead, which reports the problem.
 * Values the columns carry (an empty id, a negative time…) are checked by the module exactly
 * as for objects.
 */
export function packEvents(events: unknown): EventColumns | null {
  if (!Array.isArray(events)) return null;
  const n = events.length;
  const items = new ItemPacker(n, true);
  const kinds = new Uint8Array(n);
  const at = new Float64Array(n);
  const dwellMs = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const event: unknown = events[i];
    if (typeof event !== "object" || event === null) return null;
    const { kind: name, at: time, dwellMs: dwellValue, item } = event as { kind?: unknown; at?: unknown; dwellMs?: unknown; item?: unknown };
    const kind = EVENT_KIND_CODES.get(name);
    const dwell = optionalNumber(dwellValue, false);
    if (kind === undefined || typeof time !== "number" || dwell === false || !items.add(i, item)) return null;
    kinds[i] = kind;
    at[i] = time;
    dwellMs[i] = dwell;
  }
  return { ...items.finish(), kinds, at, dwellMs };
}
