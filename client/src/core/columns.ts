// Columns a caller hands to `rerankColumns` / `recordColumns`: each field must be a genuine
// typed array of its kind (or a string), read as an own property through the intrinsics
// (../core/input.ts), and the whole must fit the memory budget — checked before anything is
// copied, and then copied, so nothing the caller still holds can change under the module.

import type { CandidateColumns, EventColumns, ItemColumns } from "../wasm/types.js";
import { InputError, Reader, copyTyped, typedArrayKind, typedLength, type TypedArrayKind } from "./input.js";

const ITEM_COLUMNS = {
  lengths: "Uint32Array",
  ids: "Uint32Array",
  authors: "Uint32Array",
  containerOffsets: "Uint32Array",
  containerKeys: "Uint32Array",
  topicOffsets: "Uint32Array",
  topicKeys: "Uint32Array",
  embeddingOffsets: "Uint32Array",
  embeddings: "Float32Array",
} as const satisfies Record<Exclude<keyof ItemColumns, "text">, TypedArrayKind>;

const CANDIDATE_COLUMNS = {
  ...ITEM_COLUMNS,
  serverScores: "Float32Array",
  popularity: "Float32Array",
  createdAt: "Float64Array",
  durationMs: "Float64Array",
  pinned: "Uint8Array",
} as const satisfies Record<Exclude<keyof CandidateColumns, "text">, TypedArrayKind>;

const EVENT_COLUMNS = {
  ...ITEM_COLUMNS,
  kinds: "Uint8Array",
  at: "Float64Array",
  dwellMs: "Float64Array",
} as const satisfies Record<Exclude<keyof EventColumns, "text">, TypedArrayKind>;

const BYTES_PER_ELEMENT: Record<TypedArrayKind, number> = { Uint8Array: 1, Uint32Array: 4, Float32Array: 4, Float64Array: 8 };

/**
 * The bytes columns take once copied into the module: the typed arrays, and the text as UTF-8
 * (at most 3 bytes per UTF-16 unit).
 */
export function columnBytes(columns: ItemColumns): number {
  let bytes = columns.text.length * 3;
  for (const value of Object.values(columns)) if (typeof value !== "string") bytes += (value as ArrayBufferView).byteLength;
  return bytes;
}

/**
 * Columns this package's packers made, with the lengths of their arrays then. They are frozen
 * and their arrays cannot be extended (no own property, no other prototype), so as long as no
 * buffer was detached (a length would then read 0) they are taken as they are, uncopied.
 */
const PACKED = new WeakMap<object, number[]>();

/** Marks columns a packer just made as safe to take uncopied (see `PACKED`); returns them frozen. */
export function sealColumns<T extends ItemColumns>(columns: T): T {
  const lengths: number[] = [];
  for (const value of Object.values(columns)) {
    if (typeof value === "string") continue;
    Object.preventExtensions(value);
    lengths.push(typedLength(value));
  }
  PACKED.set(columns, lengths);
  return Object.freeze(columns);
}

/** Whether `value` is sealed columns whose arrays all still have their lengths. */
function intact(value: object): boolean {
  const lengths = PACKED.get(value);
  if (!lengths) return false;
  let k = 0;
  for (const array of Object.values(value)) {
    if (typeof array !== "string" && typedLength(array) !== lengths[k++]) return false;
  }
  return true;
}

/** Checked columns: the caller's, not yet copied, with their item count and size. */
export interface CheckedColumns<T> {
  count: number;
  bytes: number;
  copy(): T;
}

function checkColumns<T extends ItemColumns>(value: unknown, kinds: Record<string, TypedArrayKind>, what: string): CheckedColumns<T> {
  if (typeof value !== "object" || value === null) throw new InputError(`${what}: not an object`);
  const reader = new Reader(["text", ...Object.keys(kinds)]);
  const text = reader.field(value, "text");
  if (typeof text !== "string") throw new InputError(`${what}: \`text\` is missing or not a string`);
  const arrays = Object.entries(kinds).map(([name, kind]) => {
    const array = reader.field(value, name);
    if (typedArrayKind(array) !== kind) throw new InputError(`${what}: \`${name}\` is missing or not a ${kind}`);
    return { name, kind, array };
  });
  const count = typedLength(reader.field(value, "ids"));
  const bytes = arrays.reduce((sum, { kind, array }) => sum + typedLength(array) * BYTES_PER_ELEMENT[kind], text.length * 3);
  if (intact(value)) return { count, bytes, copy: () => value as T };
  return {
    count,
    bytes,
    copy: () => {
      const columns: Record<string, unknown> = { text };
      for (const { name, kind, array } of arrays) columns[name] = copyTyped(array, kind, `${what}: \`${name}\``);
      return columns as unknown as T;
    },
  };
}

export function checkCandidateColumns(value: unknown): CheckedColumns<CandidateColumns> {
  return checkColumns(value, CANDIDATE_COLUMNS, "candidate columns");
}

export function checkEventColumns(value: unknown): CheckedColumns<EventColumns> {
  return checkColumns(value, EVENT_COLUMNS, "event columns");
}
