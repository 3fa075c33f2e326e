// Signals kept in memory only: for tests, and for hosts that persist nothing. `connect()` makes
// another view of the same store, which behaves towards the first like another tab of the same
// origin (its own notifications, its own turn at leadership), so multi-context behaviour can be
// tested in one process.

import type { LogEntry, SignalStorage, StorageChange, StoredModel, StoredSnapshot, StoredState } from "./types.js";
import { encodeBatch, type StoredBatch } from "./batch-codec.js";

export interface MemoryStorage extends SignalStorage {
  readonly kind: "memory";
  /** Another view of the same store (as another tab would have). */
  connect(): MemoryStorage;
  /** The newest checkpoint's bytes, or null. */
  readonly snapshotBytes: Uint8Array | null;
  /** Log entries not yet folded into a checkpoint. */
  readonly logLength: number;
}

interface Backend {
  epoch: number;
  nextKey: number;
  snapshots: StoredSnapshot[];
  log: LogEntry[];
  model: StoredModel | null;
  views: Set<View>;
  /** Views waiting for leadership, the leader first. */
  leaders: View[];
}

interface View {
  notify(change: StorageChange): void;
  becomeLeader: (() => void) | null;
}

/**
 * @param initial snapshot bytes to start with, as if an earlier session had persisted them
 */
export function memoryStorage(initial?: Uint8Array): MemoryStorage {
  const snapshots: StoredSnapshot[] = initial ? [{ bytes: initial.slice(), source: "memory", upTo: 0, generation: 0 }] : [];
  return view({ epoch: 0, nextKey: 1, snapshots, log: [], model: null, views: new Set(), leaders: [] });
}

function view(backend: Backend): MemoryStorage {
  let listener: ((change: StorageChange) => void) | null = null;
  const self: View = {
    notify: (change) => listener?.(change),
    becomeLeader: null,
  };
  backend.views.add(self);
  const tellOthers = (change: StorageChange) => {
    for (const other of backend.views) if (other !== self) queueMicrotask(() => other.notify(change));
  };
  const handOver = () => {
    const next = backend.leaders[0];
    if (next?.becomeLeader) {
      const call = next.becomeLeader;
      queueMicrotask(call);
    }
  };
  const entriesAfter = (after: number) => backend.log.filter((entry) => entry.key > after).map(copyEntry);
  return {
    kind: "memory",
    connect: () => view(backend),
    async load(): Promise<StoredState> {
      // Everything the last fallback needs: the older checkpoint, or (with one) none at all.
      const fallback = backend.snapshots[1]?.upTo ?? 0;
      return { epoch: backend.epoch, snapshots: backend.snapshots.map(copySnapshot), log: entriesAfter(fallback), corruptEntries: 0 };
    },
    async append(batches: StoredBatch[]) {
      const entries = batches.map((batch) => ({ key: backend.nextKey++, batch: structuredClone(batch) }));
      backend.log.push(...entries);
      tellOthers({ type: "appended", entries: entries.map(copyEntry) });
      return { keys: entries.map((entry) => entry.key), byteLength: batches.reduce((n, batch) => n + encodeBatch(batch).length, 0) };
    },
    async readLog(after) {
      return { epoch: backend.epoch, entries: entriesAfter(after), corruptEntries: 0 };
    },
    async compact(snapshot, upTo, epoch) {
      const newest = backend.snapshots[0];
      if (epoch !== backend.epoch || (newest && newest.upTo >= upTo)) return false;
      const generation = (newest?.generation ?? -1) + 1;
      backend.snapshots = [{ bytes: snapshot.slice(), source: "memory", upTo, generation }, ...backend.snapshots].slice(0, 2);
      // Keep what the older checkpoint still needs, should the newest ever fail to restore.
      const keepAfter = backend.snapshots[1]?.upTo ?? 0;
      backend.log = backend.log.filter((entry) => entry.key > keepAfter);
      tellOthers({ type: "compacted", upTo });
      return true;
    },
    async clear() {
      backend.epoch += 1;
      backend.snapshots = [];
      backend.log = [];
      tellOthers({ type: "cleared", epoch: backend.epoch });
      return backend.epoch;
    },
    watch(onChange) {
      listener = onChange;
      return () => {
        listener = null;
      };
    },
    lead(onLeader) {
      self.becomeLeader = onLeader;
      backend.leaders.push(self);
      if (backend.leaders[0] === self) queueMicrotask(onLeader);
      return () => {
        const wasLeader = backend.leaders[0] === self;
        backend.leaders = backend.leaders.filter((v) => v !== self);
        self.becomeLeader = null;
        if (wasLeader) handOver();
      };
    },
    async saveModel(model) {
      backend.model = { ...model, bytes: model.bytes.slice() };
      tellOthers({ type: "model", sha256: model.sha256 });
    },
    async loadModel() {
      return backend.model ? { ...backend.model, bytes: backend.model.bytes.slice() } : null;
    },
    close() {
      backend.views.delete(self);
      listener = null;
      const wasLeader = backend.leaders[0] === self;
      backend.leaders = backend.leaders.filter((v) => v !== self);
      if (wasLeader) handOver();
    },
    get snapshotBytes() {
      return backend.snapshots[0]?.bytes.slice() ?? null;
    },
    get logLength() {
      return backend.log.length;
    },
  };
}

const copySnapshot = (snapshot: StoredSnapshot): StoredSnapshot => ({ ...snapshot, bytes: snapshot.bytes.slice() });
const copyEntry = (entry: LogEntry): LogEntry => ({ key: entry.key, batch: structuredClone(entry.batch) });
