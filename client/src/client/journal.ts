// The journal: every batch recorded since the last persisted snapshot, in order, so that a
// fresh module instance (after a trap) or the next persist can account for it. A batch is kept
// as the packed columns it was recorded from (which nothing else holds), so later mutation of
// the caller's objects cannot change a replay.

import type { EventColumns, Ranker } from "../wasm/types.js";

export type JournalBatch = { columns: EventColumns; count: number };

type JournalEntry = JournalBatch & { seq: number; now: number };

export class Journal {
  private entries: JournalEntry[] = [];
  private seq = 0;

  /** The batch as the journal keeps it. */
  static batchOf(columns: EventColumns): JournalBatch {
    return { columns, count: columns.kinds.length };
  }

  /** Appends a batch the module accepted, recorded at `now`. */
  push(batch: JournalBatch, now: number): void {
    this.entries.push({ ...batch, seq: ++this.seq, now });
  }

  /** A mark of everything journaled so far, for `dropUpTo` once a snapshot holding it is safe. */
  get mark(): number {
    return this.seq;
  }

  dropUpTo(mark: number): void {
    this.entries = this.entries.filter((entry) => entry.seq > mark);
  }

  clear(): void {
    this.entries = [];
  }

  get batches(): number {
    return this.entries.length;
  }

  get events(): number {
    return this.entries.reduce((n, entry) => n + entry.count, 0);
  }

  /**
   * Records every batch into `ranker` (a fresh instance); a batch it refuses is dropped and
   * reported through `onDropped`. Returns how many events were replayed.
   */
  replayInto(ranker: Ranker, onDropped: (count: number, error: unknown) => void): number {
    let replayed = 0;
    const kept: JournalEntry[] = [];
    for (const entry of this.entries) {
      try {
        ranker.recordColumns(entry.columns, entry.now);
        kept.push(entry);
        replayed += entry.count;
      } catch (error) {
        onDropped(entry.count, error);
      }
    }
    this.entries = kept;
    return replayed;
  }
}
