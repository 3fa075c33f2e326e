// The journal: every batch applied to the module's store since the checkpoint it was restored
// from, in the order applied — this context's own batches (until the log holds them, also the
// ones still to append) and the ones other contexts appended. With the checkpoint it rebuilds
// the store exactly, which is what a fresh module instance needs after a trap. A batch is kept
// as the packed columns it was recorded from (which nothing else holds), so later mutation of
// the caller's objects cannot change a replay.

import type { StoredBatch } from "../storage/batch-codec.js";
import type { EventColumns, Ranker } from "../wasm/types.js";

export interface JournalEntry {
  batch: StoredBatch;
  /** Its key in the storage's log; null while it is this context's own and not yet appended. */
  key: number | null;
  /** Whether this context recorded it. */
  own: boolean;
}

export class Journal {
  private entries: JournalEntry[] = [];

  /** The batch as the journal and the log keep it. */
  static batchOf(columns: EventColumns, origin: string, seq: number, now: number): StoredBatch {
    return { origin, seq, now, count: columns.kinds.length, columns };
  }

  /** A batch this context recorded and applied; it waits for its append. */
  pushOwn(batch: StoredBatch): JournalEntry {
    const entry: JournalEntry = { batch, key: null, own: true };
    this.entries.push(entry);
    return entry;
  }

  /** A batch another context appended, applied here under its key. */
  pushRemote(key: number, batch: StoredBatch): void {
    this.entries.push({ batch, key, own: false });
  }

  /** Own batches not yet in the log, oldest first. */
  unappended(): JournalEntry[] {
    return this.entries.filter((entry) => entry.key === null);
  }

  /** Drops what a checkpoint holding every log entry up to `upTo` has. */
  dropUpTo(upTo: number): void {
    this.entries = this.entries.filter((entry) => entry.key === null || entry.key > upTo);
  }

  clear(): void {
    this.entries = [];
  }

  /** Batches applied since the checkpoint (own and other contexts'). */
  get batches(): number {
    return this.entries.length;
  }

  /** Own batches not yet acknowledged (not in the log). */
  get pendingBatches(): number {
    return this.unappended().length;
  }

  /** Events of the batches that are in the log (applied under a key). */
  get loggedEvents(): number {
    return this.entries.reduce((n, entry) => n + (entry.key === null ? 0 : entry.batch.count), 0);
  }

  /** Own events not yet acknowledged (not in the log). */
  get pendingEvents(): number {
    return this.unappended().reduce((n, entry) => n + entry.batch.count, 0);
  }

  /**
   * Records every batch into `ranker` (a fresh instance), in the order they were applied; a
   * batch it refuses is dropped and reported through `onDropped`. Returns how many events were
   * replayed.
   */
  replayInto(ranker: Ranker, onDropped: (count: number, error: unknown) => void): number {
    let replayed = 0;
    const kept: JournalEntry[] = [];
    for (const entry of this.entries) {
      try {
        applyBatch(ranker, entry.batch);
        kept.push(entry);
        replayed += entry.batch.count;
      } catch (error) {
        onDropped(entry.batch.count, error);
      }
    }
    this.entries = kept;
    return replayed;
  }
}

/**
 * Records a stored batch into `ranker` at the time it was recorded. A batch of events (the log's
 * shape 1, which this version no longer writes) goes through the Ranker's defensive reader.
 */
export function applyBatch(ranker: Ranker, batch: StoredBatch): void {
  if (batch.columns) ranker.recordColumns(batch.columns, batch.now);
  else ranker.record(batch.events ?? [], batch.now);
}
