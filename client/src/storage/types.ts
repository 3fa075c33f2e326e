// What the client needs of a place to persist the signal snapshot.

/** One persisted snapshot as read back from storage. */
export interface StoredSnapshot {
  bytes: Uint8Array;
  /** Where it came from, for warnings (a path, a slot name). */
  source: string;
  /** IndexedDB slots: the write generation. */
  generation?: number;
}

/** Where the client persists the signal snapshot. The snapshot bytes carry their own CRC-32. */
export interface SnapshotStorage {
  readonly kind: string;
  /** Every stored snapshot, newest first (none: an empty list). */
  load(): Promise<StoredSnapshot[]>;
  /** Replaces the stored snapshot atomically: afterwards the storage holds the new one or, on failure, the old one. */
  save(bytes: Uint8Array): Promise<void>;
  /** Deletes every stored snapshot. */
  clear(): Promise<void>;
  close?(): Promise<void> | void;
}
