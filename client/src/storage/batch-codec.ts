// A recorded batch as the bytes a log entry holds: the packed event columns (or, for a batch
// the columns cannot carry, its events as JSON), with who recorded it and when, checksummed so
// a torn or corrupt entry is recognised and skipped instead of being replayed.
//
//   "LRBATCH1" | payload length u32 | payload | CRC-32 of everything before it (u32)
//   payload = now f64 | count u32 | origin (u32 length, UTF-16 units) | seq u32 | shape u8
//             | shape 0: every EventColumns field in COLUMNS order (u32 element count, elements)
//             | shape 1: the events as JSON (u32 length, UTF-16 units)
//
// Strings are kept as UTF-16 code units so every JavaScript string (a lone surrogate
// included) comes back exactly.

import type { EventColumns, SignalEvent } from "../wasm/types.js";
import { crc32 } from "./crc32.js";

/** A batch as the log keeps it. */
export interface StoredBatch {
  /** The context that recorded it (each LocalRanker has its own random id). */
  origin: string;
  /** Its number among that context's batches: with `origin`, the batch's identity (a write retried after a failure that was not one cannot make it count twice). */
  seq: number;
  /** The time it was recorded at (ms since the Unix epoch). */
  now: number;
  /** How many events. */
  count: number;
  /** The packed columns, or the events of a batch the columns cannot carry. */
  columns?: EventColumns | undefined;
  events?: SignalEvent[] | undefined;
}

const MAGIC = "LRBATCH1";
const HEADER_BYTES = MAGIC.length + 4;

type ArrayKind = "u8" | "u32" | "f32" | "f64" | "text";
/** Every field of EventColumns and how it is stored (the compiler checks none is missing). */
const COLUMNS = {
  text: "text",
  lengths: "u32",
  ids: "u32",
  authors: "u32",
  containerOffsets: "u32",
  containerKeys: "u32",
  topicOffsets: "u32",
  topicKeys: "u32",
  embeddingOffsets: "u32",
  embeddings: "f32",
  kinds: "u8",
  at: "f64",
  dwellMs: "f64",
} as const satisfies Record<keyof EventColumns, ArrayKind>;

const ELEMENT_BYTES: Record<Exclude<ArrayKind, "text">, number> = { u8: 1, u32: 4, f32: 4, f64: 8 };

class Writer {
  private bytes = new Uint8Array(256);
  private view = new DataView(this.bytes.buffer);
  length = 0;

  private room(extra: number): void {
    if (this.length + extra <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(2 * this.bytes.length, this.length + extra));
    grown.set(this.bytes.subarray(0, this.length));
    this.bytes = grown;
    this.view = new DataView(grown.buffer);
  }

  u8(value: number): void {
    this.room(1);
    this.view.setUint8(this.length, value);
    this.length += 1;
  }

  u32(value: number): void {
    this.room(4);
    this.view.setUint32(this.length, value, true);
    this.length += 4;
  }

  f64(value: number): void {
    this.room(8);
    this.view.setFloat64(this.length, value, true);
    this.length += 8;
  }

  text(value: string): void {
    this.u32(value.length);
    this.room(2 * value.length);
    for (let i = 0; i < value.length; i++) this.view.setUint16(this.length + 2 * i, value.charCodeAt(i), true);
    this.length += 2 * value.length;
  }

  array(kind: Exclude<ArrayKind, "text">, values: ArrayLike<number>): void {
    this.u32(values.length);
    const size = ELEMENT_BYTES[kind];
    this.room(size * values.length);
    for (let i = 0; i < values.length; i++) {
      const at = this.length + size * i;
      const value = values[i] as number;
      if (kind === "u8") this.view.setUint8(at, value);
      else if (kind === "u32") this.view.setUint32(at, value, true);
      else if (kind === "f32") this.view.setFloat32(at, value, true);
      else this.view.setFloat64(at, value, true);
    }
    this.length += size * values.length;
  }

  finish(): Uint8Array {
    return this.bytes.slice(0, this.length);
  }
}

/** Reads what Writer wrote; every read is bounds-checked (throws RangeError past the end). */
class Reader {
  private offset = 0;
  private readonly view: DataView;

  constructor(bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  get done(): boolean {
    return this.offset === this.view.byteLength;
  }

  private take(bytes: number): number {
    const at = this.offset;
    if (at + bytes > this.view.byteLength) throw new RangeError("truncated batch");
    this.offset += bytes;
    return at;
  }

  u8(): number {
    return this.view.getUint8(this.take(1));
  }

  u32(): number {
    return this.view.getUint32(this.take(4), true);
  }

  f64(): number {
    return this.view.getFloat64(this.take(8), true);
  }

  text(): string {
    const length = this.u32();
    const at = this.take(2 * length);
    const units = new Array<number>(length);
    for (let i = 0; i < length; i++) units[i] = this.view.getUint16(at + 2 * i, true);
    let text = "";
    // In slices: String.fromCharCode's argument count is bounded by the engine's stack.
    for (let i = 0; i < length; i += 8192) text += String.fromCharCode(...units.slice(i, i + 8192));
    return text;
  }

  array(kind: Exclude<ArrayKind, "text">): Uint8Array | Uint32Array | Float32Array | Float64Array {
    const length = this.u32();
    const size = ELEMENT_BYTES[kind];
    const at = this.take(size * length);
    const out =
      kind === "u8" ? new Uint8Array(length) : kind === "u32" ? new Uint32Array(length) : kind === "f32" ? new Float32Array(length) : new Float64Array(length);
    for (let i = 0; i < length; i++) {
      const p = at + size * i;
      out[i] = kind === "u8" ? this.view.getUint8(p) : kind === "u32" ? this.view.getUint32(p, true) : kind === "f32" ? this.view.getFloat32(p, true) : this.view.getFloat64(p, true);
    }
    return out;
  }
}

export function encodeBatch(batch: StoredBatch): Uint8Array {
  const body = new Writer();
  body.f64(batch.now);
  body.u32(batch.count);
  body.text(batch.origin);
  body.u32(batch.seq);
  if (batch.columns) {
    body.u8(0);
    for (const [field, kind] of Object.entries(COLUMNS) as [keyof EventColumns, ArrayKind][]) {
      const value = batch.columns[field];
      if (kind === "text") body.text(value as string);
      else body.array(kind, value as ArrayLike<number>);
    }
  } else {
    body.u8(1);
    body.text(JSON.stringify(batch.events ?? []));
  }
  const payload = body.finish();
  const out = new Uint8Array(HEADER_BYTES + payload.length + 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < MAGIC.length; i++) out[i] = MAGIC.charCodeAt(i);
  view.setUint32(MAGIC.length, payload.length, true);
  out.set(payload, HEADER_BYTES);
  view.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)), true);
  return out;
}

/** The batch, or null if the bytes are not one whole, intact batch. */
export function decodeBatch(bytes: Uint8Array): StoredBatch | null {
  if (!(bytes instanceof Uint8Array) || bytes.length < HEADER_BYTES + 4) return null;
  for (let i = 0; i < MAGIC.length; i++) if (bytes[i] !== MAGIC.charCodeAt(i)) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloadLength = view.getUint32(MAGIC.length, true);
  if (HEADER_BYTES + payloadLength + 4 !== bytes.length) return null;
  if (view.getUint32(bytes.length - 4, true) !== crc32(bytes.subarray(0, bytes.length - 4))) return null;
  try {
    const reader = new Reader(bytes.subarray(HEADER_BYTES, HEADER_BYTES + payloadLength));
    const now = reader.f64();
    const count = reader.u32();
    const origin = reader.text();
    const seq = reader.u32();
    const shape = reader.u8();
    let batch: StoredBatch;
    if (shape === 0) {
      const columns: Record<string, unknown> = {};
      for (const [field, kind] of Object.entries(COLUMNS) as [keyof EventColumns, ArrayKind][]) {
        columns[field] = kind === "text" ? reader.text() : reader.array(kind);
      }
      batch = { origin, seq, now, count, columns: columns as unknown as EventColumns };
    } else if (shape === 1) {
      const events: unknown = JSON.parse(reader.text());
      if (!Array.isArray(events)) return null;
      batch = { origin, seq, now, count, events: events as SignalEvent[] };
    } else {
      return null;
    }
    return reader.done ? batch : null;
  } catch {
    return null;
  }
}

/** A length-prefixed frame, for storages that keep the whole log in one file. */
export function frame(batch: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + batch.length);
  new DataView(out.buffer).setUint32(0, batch.length, true);
  out.set(batch, 4);
  return out;
}
