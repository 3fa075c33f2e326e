// The messages between a page and the dedicated worker that runs its LocalRanker: every call is
// a request with an id, answered by exactly one response; the worker also sends its state after
// each call, and the warnings and persists as they happen. Everything here is structured-
// cloneable; typed arrays travel as transfers.

import type { ClientErrorCode } from "../errors.js";
import type { ClientRerankResult, ClientStatus, ClientWarning, PersistInfo } from "../client/types.js";
import type { CandidateColumns, ModelInfo, RankerOptions, RerankSettings } from "../wasm/types.js";

/** What `createLocalRanker` in worker mode hands the worker (the parts of its options that can cross). */
export interface WorkerStartOptions {
  model: { bytes: Uint8Array } | { url: string };
  storage: { kind: "indexeddb"; databaseName?: string; storeName?: string } | { kind: "memory" };
  flushDelayMs?: number;
  rankerOptions?: RankerOptions;
  /** Where the worker loads the .wasm from (default: the package's, next to the worker). */
  wasm?: string;
}

export type WorkerRequest =
  | { id: number; method: "start"; options: WorkerStartOptions }
  | { id: number; method: "rerankColumns"; columns: CandidateColumns; settings: RerankSettings }
  | { id: number; method: "rerankObjects"; request: unknown }
  | { id: number; method: "rerankSerialized"; json: string | { buffer: ArrayBuffer; length: number }; now?: number | undefined }
  | { id: number; method: "record"; events: unknown; now?: number | undefined }
  | { id: number; method: "flush" | "clear" | "ready" | "close" }
  | { id: number; method: "exportSignals"; now?: number | undefined }
  | { id: number; method: "updateModel"; source: Uint8Array | { url: string; sha256?: string | undefined } };

/** A result without `ids`: the page has the candidates and maps `order` onto them. */
export type WorkerRerankResult = Omit<ClientRerankResult, "ids">;

/**
 * A serialized request's result: its ids as one string and their lengths (one string and one
 * typed array to read on the page, instead of a string per candidate), and the buffer the
 * request's bytes came in (back to the page's pool).
 */
export interface WorkerSerializedResult {
  result: Omit<ClientRerankResult, "ids">;
  ids: PackedIds;
  buffer: ArrayBuffer | null;
}

export interface PackedIds {
  text: string;
  lengths: Uint32Array;
}

export function packIds(ids: readonly string[]): PackedIds {
  return { text: ids.join(""), lengths: Uint32Array.from(ids, (id) => id.length) };
}

/** The ids `packIds` packed, exactly (lengths count UTF-16 code units, lone surrogates too). */
export function unpackIds({ text, lengths }: PackedIds): string[] {
  const ids = new Array<string>(lengths.length);
  let start = 0;
  for (let i = 0; i < lengths.length; i++) {
    const end = start + (lengths[i] as number);
    ids[i] = text.slice(start, end);
    start = end;
  }
  return ids;
}

/** An error as it crosses: enough to rebuild it with its name and code on the page. */
export interface WorkerError {
  name: string;
  message: string;
  code?: string | ClientErrorCode;
}

export interface WorkerState {
  status: ClientStatus;
  keyCount: number;
  /**
   * The serving model's info; left out while it is the one the worker last sent (every response
   * carries a state, and this is most of its bytes for the page to read).
   */
  modelInfo?: ModelInfo | null;
}

export type WorkerMessage =
  | { type: "response"; id: number; ok: true; value: unknown; state: WorkerState }
  | { type: "response"; id: number; ok: false; error: WorkerError; state: WorkerState | null }
  | { type: "warning"; warning: Omit<ClientWarning, "cause"> & { cause?: string } }
  | { type: "persist"; info: PersistInfo; state: WorkerState };

/** The buffers of every typed array in `value`'s own fields (each once), to transfer them. */
export function transferables(value: object): ArrayBuffer[] {
  const buffers = new Set<ArrayBuffer>();
  for (const field of Object.values(value)) {
    if (ArrayBuffer.isView(field) && field.buffer instanceof ArrayBuffer) buffers.add(field.buffer);
  }
  return [...buffers];
}
