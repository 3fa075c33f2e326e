// What the client needs of the place where this device's signals persist: a checkpoint of the
// whole signal store plus an append-only log of the batches recorded since. Every context that
// shares the storage (tabs and workers of one origin, processes on one file) appends its own
// batches; one of them at a time — the leader — folds the log into a new checkpoint. Restoring
// is: the newest checkpoint, then the log entries after it.

import type { StoredBatch } from "./batch-codec.js";

export type { StoredBatch } from "./batch-codec.js";

/** A log entry: a recorded batch under its position in the log (increasing, never reused). */
export interface LogEntry {
  key: number;
  batch: StoredBatch;
}

/** A checkpoint of the signal store as read back from storage. */
export interface StoredSnapshot {
  /** The store's snapshot bytes (`Ranker.snapshot()`; they carry their own CRC-32). */
  bytes: Uint8Array;
  /** Where it came from, for warnings (a path, a slot name). */
  source: string;
  /** It holds every log entry with a key up to this one (0: none). */
  upTo: number;
  /** Write generation: the newest checkpoint has the highest. */
  generation: number;
}

export interface StoredState {
  /** Bumped by every `clear()`: a context that sees it change starts over from storage. */
  epoch: number;
  /** Newest first. A storage keeps the previous one too where it can, for a corrupt newest. */
  snapshots: StoredSnapshot[];
  /** The log after what the last fallback holds (the older checkpoint's `upTo`; with one checkpoint or none: all of it), in key order. */
  log: LogEntry[];
  /** Log entries that failed their checksum (skipped). */
  corruptEntries: number;
  /** Set when the storage had lost its data and restored it from a copy of its own: what happened. */
  recovered?: string;
}

/** What another context did to the storage. */
export type StorageChange =
  | { type: "appended"; entries: LogEntry[] }
  | { type: "compacted"; upTo: number }
  | { type: "cleared"; epoch: number }
  | { type: "model"; sha256: string };

/**
 * The model kept on the device: the last one installed by `updateModel` (`updated`: every
 * context serves it, and later starts too), or else the one the last start was given (kept so a
 * start without network can serve it).
 */
export interface StoredModel {
  bytes: Uint8Array;
  sha256: string;
  updated: boolean;
}

export interface SignalStorage {
  readonly kind: string;
  /** Everything needed to restore: the checkpoints and the log after them. */
  load(): Promise<StoredState>;
  /**
   * Appends batches durably, in order, in one write (all or none); resolves with their keys
   * (increasing, in the same order) and the bytes written. After it resolves the batches
   * survive a crash (they are acknowledged). Other contexts are told (`watch`).
   */
  append(batches: StoredBatch[]): Promise<{ keys: number[]; byteLength: number }>;
  /** The log entries after `after`, in key order, and the storage's epoch. */
  readLog(after: number): Promise<{ epoch: number; entries: LogEntry[]; corruptEntries: number }>;
  /**
   * Stores `snapshot` as the checkpoint holding every entry up to `upTo` and drops the entries
   * no checkpoint needs any more. Atomic; false (nothing written) if a checkpoint holding as
   * much is already stored, or the epoch is not `epoch` any more (cleared meanwhile).
   */
  compact(snapshot: Uint8Array, upTo: number, epoch: number): Promise<boolean>;
  /**
   * Deletes every checkpoint and log entry (not the stored model: it is the app's, not the
   * user's), bumps the epoch and resolves with the new one.
   */
  clear(): Promise<number>;
  /** Calls `onChange` for what other contexts do; returns the unsubscribe function. */
  watch(onChange: (change: StorageChange) => void): () => void;
  /**
   * Asks to be the leader (the one context that compacts). `onLeader` is called once this
   * context is, which may be never (another holds it) or later (when it closes or crashes).
   * Returns the function that gives the leadership up (or stops waiting for it).
   */
  lead(onLeader: () => void): () => Promise<void> | void;
  /** Keeps the serving model's bytes; the other contexts are told (`watch`). */
  saveModel(model: StoredModel): Promise<void>;
  loadModel(): Promise<StoredModel | null>;
  close?(): Promise<void> | void;
}
