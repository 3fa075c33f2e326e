// Packs the item attributes candidates and events share (`ItemColumns`): ids and keys into one
// string table, each distinct string stored once (and encoded so that a lone surrogate
// survives, ../core/strings.ts), embeddings into one typed array. Reads hostile values
// safely (../core/input.ts): it throws `InputError` for anything the module cannot take.

import { InputError, absent, own, typedArrayKind, typedLength, type Reader } from "../core/input.js";
import { encodeString } from "../core/strings.js";
import { LIMITS } from "../vocabulary.js";
import type { ItemColumns } from "../wasm/types.js";

/** "No author" in the columns' `authors`. */
export const NO_KEY = 0xffffffff;

/** The item fields every reader of items reads. */
export const ITEM_KEYS = ["id", "author", "containers", "topics", "embedding"] as const;

type ItemFields = { [K in (typeof ITEM_KEYS)[number]]?: unknown };

/** An item's own fields, of an object whose fields cannot all be read directly. */
function ownItemFields(object: object): ItemFields {
  return { id: own(object, "id"), author: own(object, "author"), containers: own(object, "containers"), topics: own(object, "topics"), embedding: own(object, "embedding") };
}

/** Typed arrays an embedding may be given as (besides an array of numbers). */
const NUMERIC_TYPED_ARRAYS = new Set([
  "Float32Array", "Float64Array", "Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array",
]);

export class ItemPacker {
  private readonly strings: string[] = [];
  private readonly interned = new Map<string, number>();
  private readonly containerKeys: number[] = [];
  private readonly topicKeys: number[] = [];
  private readonly ids: Uint32Array;
  private readonly authors: Uint32Array;
  private readonly containerOffsets: Uint32Array;
  private readonly topicOffsets: Uint32Array;
  private readonly embeddingOffsets: Uint32Array;
  private embeddings = new Float32Array(0);

  /**
   * @param n how many items
   * @param internIds whether ids repeat (events) and are worth interning; a list whose ids
   *   are unique (candidates) skips the lookups
   */
  constructor(
    n: number,
    private readonly internIds: boolean,
    private readonly reader: Reader,
  ) {
    this.ids = new Uint32Array(n);
    this.authors = new Uint32Array(n);
    this.containerOffsets = new Uint32Array(n + 1);
    this.topicOffsets = new Uint32Array(n + 1);
    this.embeddingOffsets = new Uint32Array(n + 1);
  }

  /** The string's index in the table (stored once); `what` names it in an error. */
  private intern(key: unknown, what: string): number {
    if (typeof key !== "string") throw new InputError(`${what} must be a string`);
    let index = this.interned.get(key);
    if (index === undefined) {
      index = this.strings.push(encodeString(key)) - 1;
      this.interned.set(key, index);
    }
    return index;
  }

  private keys(list: unknown, family: "container" | "topic", out: number[]): void {
    if (absent(list)) return;
    if (!Array.isArray(list)) throw new InputError(`${family}s must be an array of strings`);
    const length = list.length;
    if (length > LIMITS.maxKeysPerFamily) throw new InputError(`${length} ${family} keys (limit ${LIMITS.maxKeysPerFamily})`);
    for (let k = 0; k < length; k++) {
      const key: unknown = list[k];
      out.push(typeof key === "string" ? this.intern(key, "") : this.intern(key, `${family}s[${k}]`));
    }
  }

  /**
   * Adds item `i` (an object with the item fields) and returns its id as given. Throws
   * `InputError` for a field of the wrong type or size.
   * @param plain what `Reader.plain` says of it (its fields are read directly)
   */
  add(i: number, value: unknown, plain = typeof value === "object" && value !== null && this.reader.plain(value)): string {
    if (typeof value !== "object" || value === null) throw new InputError("not an object");
    const item = (plain ? value : ownItemFields(value)) as ItemFields;
    const { id, author } = item;
    if (typeof id !== "string") throw new InputError("id must be a string");
    this.ids[i] = this.internIds ? this.intern(id, "id") : this.strings.push(encodeString(id)) - 1;
    this.authors[i] = absent(author) ? NO_KEY : this.intern(author, "author");
    this.keys(item.containers, "container", this.containerKeys);
    this.keys(item.topics, "topic", this.topicKeys);
    this.containerOffsets[i + 1] = this.containerKeys.length;
    this.topicOffsets[i + 1] = this.topicKeys.length;
    this.addEmbedding(i, item.embedding);
    return id;
  }

  private addEmbedding(i: number, embedding: unknown): void {
    const start = this.embeddingOffsets[i] as number;
    this.embeddingOffsets[i + 1] = start;
    if (absent(embedding)) return;
    const typed = !Array.isArray(embedding) && NUMERIC_TYPED_ARRAYS.has(typedArrayKind(embedding) as string);
    if (!typed && !Array.isArray(embedding)) throw new InputError("embedding must be an array of numbers");
    const length = typed ? typedLength(embedding) : (embedding as unknown[]).length;
    if (length === 0 || length > LIMITS.maxEmbeddingLength) {
      throw new InputError(`embedding of length ${length} (allowed 1..=${LIMITS.maxEmbeddingLength})`);
    }
    if (start + length > this.embeddings.length) {
      // Room for this length for every item left (one allocation when all have one length).
      const grown = new Float32Array(Math.max(2 * this.embeddings.length, start + length * (this.ids.length - i)));
      grown.set(this.embeddings);
      this.embeddings = grown;
    }
    const values = embedding as ArrayLike<unknown>;
    for (let d = 0; d < length; d++) {
      const v = values[d];
      if (typeof v !== "number") throw new InputError(`embedding[${d}] must be a number`);
      this.embeddings[start + d] = v;
    }
    this.embeddingOffsets[i + 1] = start + length;
  }

  finish(): ItemColumns {
    const n = this.ids.length;
    // A loop and the array-copying constructor, not `Uint32Array.from`: V8 runs `from`
    // through the iteration protocol, a fifth of a 500-candidate list's packing.
    const lengths = new Uint32Array(this.strings.length);
    for (let s = 0; s < lengths.length; s++) lengths[s] = (this.strings[s] as string).length;
    return {
      text: this.strings.join(""),
      lengths,
      ids: this.ids,
      authors: this.authors,
      containerOffsets: this.containerOffsets,
      containerKeys: new Uint32Array(this.containerKeys),
      topicOffsets: this.topicOffsets,
      topicKeys: new Uint32Array(this.topicKeys),
      embeddingOffsets: this.embeddingOffsets,
      embeddings: this.embeddings.subarray(0, this.embeddingOffsets[n]),
    };
  }
}

/**
 * A number column's value: NaN for absent. A present NaN cannot be carried (NaN means absent)
 * and is refused, as the core refuses one.
 */
export function optionalNumber(value: unknown, name: string): number {
  if (absent(value)) return NaN;
  if (typeof value !== "number") throw new InputError(`${name} must be a number`);
  if (Number.isNaN(value)) throw new InputError(`${name} is NaN`);
  return value;
}
