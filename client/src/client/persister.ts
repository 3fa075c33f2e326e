// When recorded batches reach storage: appended to the log (a write the size of the batches,
// not of the store) a debounce after they were recorded — bounded by a maximum wait while
// batches keep coming — all those pending in one write, in recording order, retried with
// back-off when the storage refuses; and, in the leader, the log is folded into a new checkpoint
// once it grows past a bound. Timing uses a monotonic clock: a wall clock that steps back must
// not postpone a write.

import { monotonicNow } from "../core/clock.js";
import { LocalrankClientError, messageOf, type ClientWarningCode } from "../errors.js";
import type { SignalStorage } from "../storage/types.js";
import type { JournalEntry } from "./journal.js";
import type { PersistInfo } from "./types.js";

/** A debounced append waits at most this many flush delays while events keep coming. */
const MAX_WAIT_FACTOR = 5;
/** Longest wait between retries of a failing write. */
const MAX_RETRY_MS = 60_000;
/**
 * Most batches in one append. All the pending ones go in one write, so an event waits for at
 * most the write running when it is due and its own (README, "Flush window"); one at a time, a
 * backlog under a steady stream of batches took as many writes as it had batches. The bound
 * keeps a write's size in check after storage failed for a while.
 */
const MAX_BATCHES_PER_APPEND = 500;

/** What the persister needs from the client. */
export interface PersistHooks {
  /** Own batches not yet appended, oldest first. */
  unappended(): JournalEntry[];
  /** `entry` is now in the log under `key` (acknowledged). */
  appended(entry: JournalEntry, key: number): void;
  /** Whether the log since the last checkpoint is past the bound where the leader compacts. */
  wantsCheckpoint(): boolean;
  /** Folds the log into a new checkpoint; resolves with its size, or null if not possible now. */
  checkpoint(): Promise<number | null>;
  warn(code: ClientWarningCode, message: string, cause?: unknown): void;
  onPersist: ((info: PersistInfo) => void) | undefined;
  pendingBatches(): number;
}

export { monotonicNow };

export class Persister {
  /** Storage operations run one at a time, in call order. */
  private chain: Promise<unknown> = Promise.resolve();
  private timer: ReturnType<typeof setTimeout> | null = null;
  private firstPendingAt: number | null = null;
  /** Delay of the next retry after failed writes (0: none failed). */
  private retryDelayMs = 0;
  private closed = false;
  /** True while storage holds a newer-format checkpoint that this version must not overwrite. */
  suspended = false;
  /** Whether this context is the one that compacts. */
  leader = false;
  lastPersistedAt: number | null = null;

  constructor(
    private readonly storage: SignalStorage,
    private readonly flushDelayMs: number,
    private readonly hooks: PersistHooks,
  ) {}

  /** After a recorded batch: append it once the burst settles (at most 5 × the delay later). */
  schedule(): void {
    if (!Number.isFinite(this.flushDelayMs) || this.closed) return;
    const now = monotonicNow();
    this.firstPendingAt ??= now;
    const latest = this.firstPendingAt + MAX_WAIT_FACTOR * this.flushDelayMs;
    this.setTimer(Math.max(0, Math.min(this.flushDelayMs, latest - now)));
  }

  /** Appends everything pending now (after any storage operation already running); rejects with `STORAGE_FAILED`. */
  flush(): Promise<void> {
    this.cancelTimer();
    return this.enqueue(() => this.persist());
  }

  /** Runs `task` once no storage operation is running, before any later one starts. */
  exclusive<T>(task: () => Promise<T>): Promise<T> {
    return this.enqueue(task);
  }

  /** Waits for the running storage operations, then closes the storage. */
  async close(): Promise<void> {
    this.closed = true;
    this.cancelTimer();
    await this.chain;
    try {
      await this.storage.close?.();
    } catch (error) {
      this.hooks.warn("STORAGE_FAILED", `closing the storage: ${messageOf(error)}`, error);
    }
  }

  private async persist(): Promise<void> {
    if (this.suspended) return;
    // Until none is left: batches recorded while earlier ones were being appended go too, so a
    // checkpoint can follow in the same step, with no own batch outside the log. Each pass is
    // reported as soon as it is written: while events keep coming, the passes may not end soon.
    for (let pending = this.hooks.unappended(); pending.length > 0; pending = this.hooks.unappended()) {
      const entries = pending.slice(0, MAX_BATCHES_PER_APPEND);
      let written;
      try {
        written = await this.storage.append(entries.map((entry) => entry.batch));
      } catch (error) {
        const retryMs = this.scheduleRetry();
        const when = retryMs === null ? "on the next record or flush" : `in ${Math.round(retryMs / 1000)} s`;
        this.hooks.warn("STORAGE_FAILED", `could not persist the signals: ${messageOf(error)}; the events stay journaled, retrying ${when}`, error);
        throw new LocalrankClientError("STORAGE_FAILED", `could not persist the signals: ${messageOf(error)}`, error);
      }
      const { keys, byteLength } = written;
      entries.forEach((entry, i) => this.hooks.appended(entry, keys[i] as number));
      this.retryDelayMs = 0;
      this.lastPersistedAt = Date.now();
      const events = entries.reduce((n, entry) => n + entry.batch.count, 0);
      this.report({ kind: "append", byteLength, events, pendingBatches: this.hooks.pendingBatches(), storage: true });
    }
    if (this.leader && this.hooks.wantsCheckpoint()) {
      let written: number | null = null;
      try {
        written = await this.hooks.checkpoint();
      } catch (error) {
        this.hooks.warn("STORAGE_FAILED", `could not write a checkpoint: ${messageOf(error)}; the log keeps every event, retrying later`, error);
      }
      if (written !== null) this.report({ kind: "checkpoint", byteLength: written, events: 0, pendingBatches: this.hooks.pendingBatches(), storage: true });
    }
  }

  private report(info: PersistInfo): void {
    try {
      this.hooks.onPersist?.(info);
    } catch {
      // a throwing callback must not fail the persist
    }
  }

  private enqueue<T>(task: () => Promise<T>): Promise<T> {
    const run = this.chain.then(task);
    this.chain = run.catch(() => {});
    return run;
  }

  /**
   * After a failed write: try again later, waiting twice as long after each failure (at most a
   * minute). Returns the delay, or null when only `flush()` persists.
   */
  private scheduleRetry(): number | null {
    if (!Number.isFinite(this.flushDelayMs) || this.closed) return null;
    this.retryDelayMs = Math.min(MAX_RETRY_MS, Math.max(this.flushDelayMs, 1000, this.retryDelayMs * 2));
    this.setTimer(this.retryDelayMs);
    return this.retryDelayMs;
  }

  private setTimer(wait: number): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.firstPendingAt = null;
      this.flush().catch(() => {}); // reported through onWarning
    }, wait);
  }

  private cancelTimer(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.firstPendingAt = null;
  }
}
