// Reading a caller's values without trusting them. Anything the caller passes may be hostile
// or broken: a getter that throws, a (revoked) Proxy whose every trap throws, a typed array
// with a detached buffer, a cycle, a huge sparse array, a key polluting `Object.prototype`.
// Everything here runs in JS, before any call into wasm: a caller's exception must never
// unwind through wasm frames (it would leave the instance's borrow flags and allocator in the
// middle of an operation). Readers throw `InputError` with a message; the caller of a reader
// catches everything (the caller's own exceptions included) and turns it into a coded error.

/** A value that cannot be used, and why (the message names where, as the core's do). */
export class InputError extends Error {
  override readonly name = "InputError";
}

/** The message of whatever a reader threw: its own, or the caller's exception it met. */
export function inputMessage(error: unknown): string {
  if (error instanceof InputError) return error.message;
  let text: string;
  try {
    text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  } catch {
    text = "an exception that cannot be printed";
  }
  return `reading it threw ${text}`;
}

/**
 * Per call: whether `Object.prototype` holds any of the keys this package reads (a careless or
 * hostile script may have put one there). When it does not, a plain object's property can
 * only be its own, and is read directly; otherwise only own properties are read.
 */
export class Reader {
  private readonly polluted: boolean;

  constructor(keys: readonly string[]) {
    this.polluted = keys.some((key) => key in Object.prototype);
  }

  /**
   * Whether every property this reader reads of `object` is its own when read directly: a
   * plain object (of an unpolluted `Object.prototype`) or one without a prototype.
   */
  plain(object: object): boolean {
    const prototype: unknown = Object.getPrototypeOf(object);
    return prototype === null || (prototype === Object.prototype && !this.polluted);
  }

  /** `object[key]` if it is the object's own property, else undefined. */
  field(object: object, key: string): unknown {
    return this.plain(object) ? (object as Record<string, unknown>)[key] : own(object, key);
  }
}

/** `object[key]` if it is the object's own property, else undefined. */
export function own(object: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(object, key) ? (object as Record<string, unknown>)[key] : undefined;
}

/** Whether a field is absent: undefined or null, as JS callers spread objects with empty fields. */
export function absent(value: unknown): value is undefined | null {
  return value === undefined || value === null;
}

/** Keys of `value` not in `allowed` (own enumerable string keys, as `Object.keys` lists them). */
export function checkKeys(value: object, allowed: readonly string[], what: string): void {
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) throw new InputError(`${what}: unknown field \`${key}\`, expected one of ${allowed.join(", ")}`);
  }
}

/** An array's length, refused past `limit` before anything in it is read. */
export function arrayLength(value: unknown, limit: number, what: () => string): number {
  if (!Array.isArray(value)) throw new InputError(`${what()} must be an array`);
  const length = value.length;
  if (length > limit) throw new InputError(`${what()} has ${length} entries (limit ${limit})`);
  return length;
}

// The typed-array intrinsics, captured once: read through them, a typed array's kind, length
// and buffer cannot be faked by an own property, a changed prototype or a Proxy (which has
// none of a typed array's internal slots, so they throw), and they never run caller code.
const TypedArrayPrototype = Object.getPrototypeOf(Uint8Array.prototype) as object;
const intrinsic = (key: PropertyKey) => Object.getOwnPropertyDescriptor(TypedArrayPrototype, key)?.get as (this: unknown) => unknown;
const typedArrayTag = intrinsic(Symbol.toStringTag);
const typedArrayLength = intrinsic("length") as (this: unknown) => number;
const arrayBufferByteLength = Object.getOwnPropertyDescriptor(ArrayBuffer.prototype, "byteLength")?.get as (this: unknown) => number;

export type TypedArrayKind = "Uint8Array" | "Uint32Array" | "Float32Array" | "Float64Array";
type TypedArrayOf<K extends TypedArrayKind> = K extends "Uint8Array"
  ? Uint8Array
  : K extends "Uint32Array"
    ? Uint32Array
    : K extends "Float32Array"
      ? Float32Array
      : Float64Array;
const CONSTRUCTORS = { Uint8Array, Uint32Array, Float32Array, Float64Array } as const;

/** The kind of a genuine typed array ("Float32Array"…), or undefined for anything else. */
export function typedArrayKind(value: unknown): string | undefined {
  return typedArrayTag.call(value) as string | undefined;
}

/** Whether `value` is a genuine `ArrayBuffer` (by its internal slots; no caller code runs). */
export function isArrayBuffer(value: unknown): value is ArrayBuffer {
  try {
    arrayBufferByteLength.call(value);
    return true;
  } catch {
    return false;
  }
}

/** A genuine typed array's length (0 once its buffer is detached). */
export function typedLength(value: unknown): number {
  return typedArrayLength.call(value);
}

/**
 * A fresh copy of a typed array of kind `kind` (the copy reads the source's internal slots
 * only), refused if it is anything else or its buffer was detached.
 */
export function copyTyped<K extends TypedArrayKind>(value: unknown, kind: K, what: string): TypedArrayOf<K> {
  if (typedArrayKind(value) !== kind) throw new InputError(`${what} must be a ${kind}`);
  try {
    return new CONSTRUCTORS[kind](value as ArrayLike<number>) as TypedArrayOf<K>;
  } catch {
    throw new InputError(`${what}: its buffer is detached`);
  }
}

/**
 * A private copy of binary data given as a `Uint8Array` (or any typed array, `DataView`,
 * `ArrayBuffer`, or an array of byte values), refused past `limit` bytes before it is copied.
 */
export function copyBytes(value: unknown, limit: number, what: string): Uint8Array {
  let view: Uint8Array;
  if (Array.isArray(value)) {
    const length = arrayLength(value, limit, () => what);
    const bytes = new Uint8Array(length);
    for (let i = 0; i < length; i++) {
      const byte: unknown = value[i];
      if (typeof byte !== "number") throw new InputError(`${what}[${i}] must be a byte`);
      bytes[i] = byte;
    }
    return bytes;
  }
  if (typedArrayKind(value) !== undefined || value instanceof DataView) {
    const { buffer, byteOffset, byteLength } = viewBounds(value);
    view = new Uint8Array(buffer, byteOffset, byteLength);
  } else {
    let byteLength: number;
    try {
      byteLength = arrayBufferByteLength.call(value);
    } catch {
      throw new InputError(`${what} must be a Uint8Array, an ArrayBuffer or a typed array`);
    }
    view = new Uint8Array(value as ArrayBuffer, 0, byteLength);
  }
  if (view.byteLength > limit) throw new InputError(`${what}: ${view.byteLength} bytes, over the limit of ${limit}`);
  return new Uint8Array(view);
}

const viewGetters = (prototype: object) =>
  ["buffer", "byteOffset", "byteLength"].map((key) => Object.getOwnPropertyDescriptor(prototype, key)?.get as (this: unknown) => unknown);
const TYPED_VIEW = viewGetters(TypedArrayPrototype);
const DATA_VIEW = viewGetters(DataView.prototype);

function viewBounds(value: unknown): { buffer: ArrayBuffer; byteOffset: number; byteLength: number } {
  const [buffer, byteOffset, byteLength] = (typedArrayKind(value) !== undefined ? TYPED_VIEW : DATA_VIEW).map((get) => get?.call(value));
  return { buffer: buffer as ArrayBuffer, byteOffset: byteOffset as number, byteLength: byteLength as number };
}
