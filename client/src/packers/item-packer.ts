// Packs the item attributes candidates and events share (`ItemColumns`): ids and keys into one
// string table, each distinct string stored once, embeddings into one typed array.

import type { ItemColumns } from "../wasm/types.js";

/** "No author" in the columns' `authors`. */
export const NO_KEY = 0xffffffff;

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
  ) {
    this.ids = new Uint32Array(n);
    this.authors = new Uint32Array(n);
    this.containerOffsets = new Uint32Array(n + 1);
    this.topicOffsets = new Uint32Array(n + 1);
    this.embeddingOffsets = new Uint32Array(n + 1);
  }

  /**
   * The string's index in the table, or -1 if the table cannot carry it: not a string, or
   * one ending in half a surrogate pair (the table is one concatenated text, where it could
   * pair up with the next string's first unit).
   */
  private intern(key: unknown): number {
    if (typeof key !== "string") return -1;
    let index = this.interned.get(key);
    if (index === undefined) {
      index = this.push(key);
      if (index >= 0) this.interned.set(key, index);
    }
    return index;
  }

  /** Adds a string to the table without interning it; -1 as for `intern`. */
  private push(key: unknown): number {
    if (typeof key !== "string") return -1;
    const last = key.charCodeAt(key.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) return -1;
    return this.strings.push(key) - 1;
  }

  private keys(list: unknown, out: number[]): boolean {
    if (list === undefined || list === null) return true;
    if (!Array.isArray(list)) return false;
    for (let k = 0; k < list.length; k++) {
      const index = this.intern(list[k]);
      if (index < 0) return false;
      out.push(index);
    }
    return true;
  }

  /**
   * Adds item `i` (an object with the item fields). False if it holds something the columns
   * cannot carry exactly: a field of the wrong type, an empty embedding.
   */
  add(i: number, value: unknown): boolean {
    if (typeof value !== "object" || value === null) return false;
    const item = value as { id?: unknown; author?: unknown; containers?: unknown; topics?: unknown; embedding?: unknown };
    const id = this.internIds ? this.intern(item.id) : this.push(item.id);
    if (id < 0) return false;
    this.ids[i] = id;
    const author = item.author;
    if (author === undefined || author === null) {
      this.authors[i] = NO_KEY;
    } else {
      const index = this.intern(author);
      if (index < 0) return false;
      this.authors[i] = index;
    }
    if (!this.keys(item.containers, this.containerKeys) || !this.keys(item.topics, this.topicKeys)) return false;
    this.containerOffsets[i + 1] = this.containerKeys.length;
    this.topicOffsets[i + 1] = this.topicKeys.length;
    const embedding = item.embedding;
    const start = this.embeddingOffsets[i] as number;
    if (embedding === undefined || embedding === null) {
      this.embeddingOffsets[i + 1] = start;
      return true;
    }
    if (!Array.isArray(embedding) || embedding.length === 0) return false;
    const length = embedding.length;
    if (start + length > this.embeddings.length) {
      // Room for this length for every item left (one allocation when all have one length).
      const grown = new Float32Array(Math.max(2 * this.embeddings.length, start + length * (this.ids.length - i)));
      grown.set(this.embeddings);
      this.embeddings = grown;
    }
    for (let d = 0; d < length; d++) {
      const v: unknown = embedding[d];
      if (typeof v !== "number") return false;
      this.embeddings[start + d] = v;
    }
    this.embeddingOffsets[i + 1] = start + length;
    return true;
  }

  finish(): ItemColumns {
    const n = this.ids.length;
    return {
      text: this.strings.join(""),
      lengths: Uint32Array.from(this.strings, (s) => s.length),
      ids: this.ids,
      authors: this.authors,
      containerOffsets: this.containerOffsets,
      containerKeys: Uint32Array.from(this.containerKeys),
      topicOffsets: this.topicOffsets,
      topicKeys: Uint32Array.from(this.topicKeys),
      embeddingOffsets: this.embeddingOffsets,
      embeddings: this.embeddings.subarray(0, this.embeddingOffsets[n]),
    };
  }
}

/**
 * A number column's value: NaN for absent, false if it cannot be carried (NaN means absent).
 * @param finite whether only finite numbers can be carried
 */
export function optionalNumber(value: unknown, finite: boolean): number | false {
  if (value === undefined || value === null) return NaN;
  if (typeof value !== "number" || Number.isNaN(value) || (finite && !Number.isFinite(value))) return false;
  return value;
}
