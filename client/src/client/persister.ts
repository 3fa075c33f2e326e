// When and how the signal snapshot reaches storage: a debounced persist after each recorded
// batch (bounded by a maximum wait while batches keep coming), retries with back-off after a
// failed write, storage operations one at a time in call order, and a suspended mode that
// keeps a newer version's snapshot untouched. Timing uses a monotonic clock: a wall clock that
// steps back must not postpone a persist.

import { monotonicNow } from "../core/clock.js";
import { LocalrankClientError, messageOf, type ClientWarningCode } from "../errors.js";
import type { SnapshotStorage, StoredSnapshot } from "../storage/types.js";
import type { PersistInfo } from "./types.js";

/** A debounced persist waits at most this many flush delays while events keep coming. */
const MAX_WAIT_FACTOR = 5;
/** Longest wait between retries of a failing write. */
const MAX_RETRY_MS = 60_000;

/** What the persister needs from the client. */
export interface PersistHooks {
  /** Whether anything recorded is not yet in a persisted snapshot. */
  pending(): boolean;
  /** The current snapshot and a mark of what it holds. */
  snapshot(): Promise<{ bytes: Uint8Array; mark: number }>;
  /** The snapshot taken with `mark` is now the persisted state. */
  persisted(bytes: Uint8Array, mark: number): void;
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
  /** Bumped by `clear()`, so a persist that started before it does not resurrect old state. */
  private epoch = 0;
  private closed = false;
  /** True while storage holds a newer-format snapshot that this version must not overwrite. */
  suspended = false;
  lastPersistedAt: number | null = null;

  constructor(
    private readonly storage: SnapshotStorage,
    private readonly flushDelayMs: number,
    private readonly hooks: PersistHooks,
  ) {}

  load(): Promise<StoredSnapshot[]> {
    return this.storage.load();
  }

  /** After a recorded batch: persist once the burst settles (at most 5 × the delay later). */
  schedule(): void {
    if (!Number.isFinite(this.flushDelayMs) || this.closed) return;
    const now = monotonicNow();
    this.firstPendingAt ??= now;
    const latest = this.firstPendingAt + MAX_WAIT_FACTOR * this.flushDelayMs;
    this.setTimer(Math.max(0, Math.min(this.flushDelayMs, latest - now)));
  }

  /** Persists now (after any storage operation already running); rejects with `STORAGE_FAILED`. */
  flush(): Promise<void> {
    this.cancelTimer();
    return this.enqueue(() => this.persist());
  }

  /** Deletes the persisted copy; a persist already running is discarded when it ends. */
  async clear(): Promise<void> {
    this.epoch += 1;
    this.cancelTimer();
    await this.enqueue(async () => {
      try {
        await this.storage.clear();
      } catch (error) {
        this.hooks.warn("STORAGE_FAILED", `could not delete the persisted signals: ${messageOf(error)}`, error);
        throw new LocalrankClientError("STORAGE_FAILED", `could not delete the persisted signals: ${messageOf(error)}`, error);
      }
      this.suspended = false;
    });
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
    if (!this.hooks.pending()) return;
    const epoch = this.epoch;
    const { bytes, mark } = await this.hooks.snapshot();
    if (!this.suspended) {
      try {
        await this.storage.save(bytes);
      } catch (error) {
        const retryMs = this.scheduleRetry();
        const when = retryMs === null ? "on the next record or flush" : `in ${Math.round(retryMs / 1000)} s`;
        this.hooks.warn("STORAGE_FAILED", `could not persist the signals: ${messageOf(error)}; the events stay journaled, retrying ${when}`, error);
        throw new LocalrankClientError("STORAGE_FAILED", `could not persist the signals: ${messageOf(error)}`, error);
      }
    }
    this.retryDelayMs = 0;
    if (epoch !== this.epoch) return; // cleared meanwhile: this snapshot is history
    this.hooks.persisted(bytes, mark);
    this.lastPersistedAt = Date.now();
    try {
      this.hooks.onPersist?.({ byteLength: bytes.byteLength, pendingBatches: this.hooks.pendingBatches(), storage: !this.suspended });
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
   * After a failed write: persist again later, waiting twice as long after each failure (at
   * most a minute). Returns the delay, or null when only `flush()` persists.
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
