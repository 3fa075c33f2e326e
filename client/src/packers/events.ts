import { sealColumns } from "../core/columns.js";
import { codedError } from "../core/errors.js";
import { InputError, Reader, inputMessage, own } from "../core/input.js";
import { EVENT_KINDS, LIMITS } from "../vocabulary.js";
import type { EventColumns } from "../wasm/types.js";
import { ITEM_KEYS, ItemPacker, optionalNumber } from "./item-packer.js";

/** The code of each event kind in `EventColumns.kinds`: its index in the core's list. */
const EVENT_KIND_CODES: ReadonlyMap<unknown, number> = new Map(EVENT_KINDS.map((kind, code) => [kind, code]));

/** Every event field the packer reads, its item's included. */
export const EVENT_KEYS = ["kind", "item", "at", "dwellMs", ...ITEM_KEYS] as const;

type EventFields = { kind?: unknown; at?: unknown; dwellMs?: unknown; item?: unknown };

/** An event's own fields, of an object whose fields cannot all be read directly. */
function ownEventFields(object: object): EventFields {
  return { kind: own(object, "kind"), at: own(object, "at"), dwellMs: own(object, "dwellMs"), item: own(object, "item") };
}

/**
 * Reads a batch of events into columns. Throws `InputError` naming the event and the field
 * the module cannot take; values the columns carry (an empty id, a negative time…) are
 * checked by the module.
 */
export function readEvents(events: unknown, reader: Reader): EventColumns {
  if (!Array.isArray(events)) throw new InputError("events must be an array");
  const n = events.length;
  if (n > LIMITS.maxEventsPerBatch) throw new InputError(`a batch of ${n} events (limit ${LIMITS.maxEventsPerBatch}): record it in parts`);
  const items = new ItemPacker(n, true, reader);
  const kinds = new Uint8Array(n);
  const at = new Float64Array(n);
  const dwellMs = new Float64Array(n);
  let i = 0;
  let inItem = false;
  try {
    for (; i < n; i++) {
      const event: unknown = events[i];
      if (typeof event !== "object" || event === null) throw new InputError("not an object");
      const { kind, at: time, dwellMs: dwell, item } = (reader.plain(event) ? event : ownEventFields(event)) as EventFields;
      const code = EVENT_KIND_CODES.get(kind);
      if (code === undefined) {
        const shown = typeof kind === "string" ? `\`${kind}\`` : typeof kind;
        throw new InputError(`unknown kind ${shown}, expected one of ${EVENT_KINDS.join(", ")}`);
      }
      kinds[i] = code;
      if (typeof time !== "number") throw new InputError("at must be a number (ms since the Unix epoch)");
      at[i] = time;
      dwellMs[i] = optionalNumber(dwell, "dwellMs");
      inItem = true;
      items.add(i, item);
      inItem = false;
    }
  } catch (error) {
    throw new InputError(`event ${i}: ${inItem ? "item: " : ""}${inputMessage(error)}`);
  }
  return sealColumns({ ...items.finish(), kinds, at, dwellMs });
}

/**
 * Packs a batch of events column by column for `Ranker.recordColumns` (what `Ranker.record`
 * and `LocalRanker.record` do): item ids and keys into one string table (each stored once),
 * kinds, times, dwells and embeddings into typed arrays. Returns null when the batch holds
 * something the module cannot take (an unknown kind, a field of the wrong type, a NaN dwell,
 * a value that throws when read); `record` names the problem.
 */
export function packEvents(events: unknown): EventColumns | null {
  try {
    return readEvents(events, new Reader(EVENT_KEYS));
  } catch {
    return null;
  }
}

/** `readEvents` with its error as the module's coded `INVALID_EVENT`. */
export function eventColumns(events: unknown): EventColumns {
  try {
    return readEvents(events, new Reader(EVENT_KEYS));
  } catch (error) {
    throw codedError("INVALID_EVENT", inputMessage(error));
  }
}
