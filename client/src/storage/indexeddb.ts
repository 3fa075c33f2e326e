// The signals in IndexedDB, shared by every tab and worker of the origin that opens the same
// database: two alternating checkpoint slots and an epoch in `signals`, the append-only log in
// `log` (one checksummed batch per entry, keys from IndexedDB's key generator), the last good
// model in `models`. Contexts tell each other what they did over a BroadcastChannel, and
// elect the leader (the one that compacts) with the Web Locks API. Checkpoints and log entries
// are copied to an OPFS mirror (opfs-mirror.ts says why), which restores a database the browser
// deleted.

import { decodeBatch, encodeBatch, type StoredBatch } from "./batch-codec.js";
import { opfsMirror } from "./opfs-mirror.js";
import type { LogEntry, SignalStorage, StorageChange, StoredModel, StoredSnapshot, StoredState } from "./types.js";

export interface IndexedDbStorageOptions {
  /** Default "localrank". */
  databaseName?: string;
  /** Default "signals". */
  storeName?: string;
  /** Default `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
  /**
   * Default true: keep a copy in the Origin Private File System where the context has one, and
   * restore from it when the browser has deleted the database (README, "Durability").
   */
  mirror?: boolean;
}

/** Version 1 had the checkpoint slots only; version 2 adds the log and the model. */
const VERSION = 2;
const SLOTS = ["slot-0", "slot-1"] as const;
const META = "meta";
const MODEL = "serving";
/** An open request with no event for this long is presumed stuck (see sendOpenRequest). */
const OPEN_STALL_MS = 5_000;
/**
 * Tries of one transaction while the browser closes connections under it. Clearing site data
 * can abort the open request of the retry too (the database is still being deleted), so one
 * retry is not always enough; a third failure is a real one.
 */
const CLOSING_ATTEMPTS = 3;

interface SlotRecord {
  generation: number;
  upTo: number;
  bytes: Uint8Array;
}

export function indexedDbStorage(options: IndexedDbStorageOptions = {}): SignalStorage {
  const name = options.databaseName ?? "localrank";
  const signals = options.storeName ?? "signals";
  const logStore = `${signals}-log`;
  const modelStore = `${signals}-models`;
  // Looked up at each open, not once: a runtime that had none (or a page that hid it) may have
  // one by the next retry.
  const factory = () => options.indexedDB ?? globalThis.indexedDB;
  const channelName = `localrank:${name}/${signals}`;
  const mirror = options.mirror === false ? null : opfsMirror(name, signals);
  let channel: BroadcastChannel | null = null;
  /** The open connection, or null. */
  let connection: IDBDatabase | null = null;
  /** The open request in flight, and whether an older connection blocks its upgrade. */
  let opening: { request: IDBOpenDBRequest; blocked: boolean } | null = null;
  let waiting: { resolve: (db: IDBDatabase) => void; reject: (error: unknown) => void }[] = [];
  const settle = (outcome: { db: IDBDatabase } | { error: unknown }) => {
    for (const waiter of waiting.splice(0)) "db" in outcome ? waiter.resolve(outcome.db) : waiter.reject(outcome.error);
  };
  const blockedError = () => new Error(`IndexedDB "${name}" is blocked: an older version of the app holds it open in another tab`);

  /**
   * The connection, opened (and upgraded) once and kept. While an upgrade is blocked by an
   * older tab, callers are refused at once (they retry later) and the one request waits for
   * the older connection to close; a second request would only queue behind it.
   */
  const open = (): Promise<IDBDatabase> =>
    new Promise<IDBDatabase>((resolve, reject) => {
      if (connection) return resolve(connection);
      if (opening?.blocked) return reject(blockedError());
      waiting.push({ resolve, reject });
      if (!opening) sendOpenRequest();
    });

  /**
   * Sends an open request. Chromium sometimes leaves one pending for good when it force-closes
   * the database meanwhile (seen under repeated "clear site data"), so one that has had no
   * event for OPEN_STALL_MS gets another sent beside it: the first to succeed is kept, a later
   * success closed.
   */
  const sendOpenRequest = () => {
    const idb = factory();
    if (!idb) return settle({ error: new Error("IndexedDB is not available here") });
    const request = idb.open(name, VERSION);
    opening = { request, blocked: false };
    const isCurrent = () => opening?.request === request;
    const stall = setTimeout(() => {
      if (isCurrent() && !opening?.blocked) sendOpenRequest();
    }, OPEN_STALL_MS);
    request.onupgradeneeded = () => {
      const db = request.result;
      for (const store of [signals, modelStore]) if (!db.objectStoreNames.contains(store)) db.createObjectStore(store);
      if (!db.objectStoreNames.contains(logStore)) db.createObjectStore(logStore, { autoIncrement: true });
    };
    request.onsuccess = () => {
      clearTimeout(stall);
      const db = request.result;
      if (connection) return db.close();
      opening = null;
      connection = db;
      // A newer version of the app upgrading the database: let it, and reopen on the next use.
      db.onversionchange = () => {
        db.close();
        if (connection === db) connection = null;
      };
      // The browser closed the connection (storage cleared, the disk gone): reopen next time
      // rather than failing every later write on the dead handle.
      db.onclose = () => {
        if (connection === db) connection = null;
      };
      settle({ db });
    };
    request.onerror = () => {
      clearTimeout(stall);
      if (!isCurrent()) return;
      opening = null;
      const error = request.error ?? new Error(`IndexedDB "${name}" could not be opened`);
      // An open (or its upgrade) aborted because the browser is deleting the database — site
      // data being cleared — is retried like a transaction the closing aborted.
      settle({ error: isClosingAbort(error) ? new ConnectionClosing(error) : error });
    };
    request.onblocked = () => {
      clearTimeout(stall);
      if (!isCurrent() || !opening) return;
      opening.blocked = true;
      settle({ error: blockedError() });
    };
  };

  /**
   * Runs `body` in one transaction; resolves with its result once the transaction commits. A
   * transaction the browser aborted because it is closing the connection (site data cleared,
   * the database deleted) runs once more on a new connection: the close event that would have
   * dropped the dead handle can arrive after the abort, and an aborted transaction wrote nothing.
   */
  const transact = async <T>(stores: string[], mode: IDBTransactionMode, body: (tx: IDBTransaction, done: (value: T) => void) => void): Promise<T> => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await transactOnce(await open(), stores, mode, body);
      } catch (error) {
        if (!(error instanceof ConnectionClosing)) throw error;
        if (attempt === CLOSING_ATTEMPTS) throw error.cause;
      }
    }
  };

  const transactOnce = <T>(db: IDBDatabase, stores: string[], mode: IDBTransactionMode, body: (tx: IDBTransaction, done: (value: T) => void) => void): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const closing = (cause: unknown) => {
        if (connection === db) connection = null;
        return new ConnectionClosing(cause);
      };
      let tx: IDBTransaction;
      try {
        tx = db.transaction(stores, mode);
      } catch (error) {
        // InvalidStateError: the connection is closed or closing.
        return reject(isDomError(error, "InvalidStateError") ? closing(error) : error);
      }
      let result: { value: T } | null = null;
      let failedRequest: unknown = null;
      // A forced close aborts the connection's transactions before its close event, but
      // Chromium sometimes leaves one neither completed nor aborted (seen under repeated
      // "clear site data"): one still open at the close event never ends.
      const orphaned = () => reject(closing(new Error("the browser closed the IndexedDB connection during the transaction")));
      db.addEventListener("close", orphaned);
      const settled = () => db.removeEventListener("close", orphaned);
      tx.addEventListener("complete", settled);
      tx.addEventListener("abort", settled);
      tx.oncomplete = () => (result ? resolve(result.value) : reject(new Error("the transaction ended without a result")));
      // The failing request's own error says why (QuotaExceededError, …); the abort that
      // follows it is where the transaction's outcome is known.
      tx.onerror = (event) => {
        failedRequest ??= (event.target as IDBRequest | null)?.error ?? null;
      };
      tx.onabort = () => {
        const error = tx.error ?? failedRequest ?? new Error("the transaction was aborted");
        // The browser's own aborts of a closing connection: UnknownError "Connection is
        // closing…" or AbortError "The connection was closed", on the transaction or only on
        // its requests. (No code here aborts a transaction; a failed request's own error —
        // QuotaExceededError, ConstraintError — is not retried.)
        reject(isClosingAbort(error) ? closing(error) : error);
      };
      body(tx, (value) => {
        result = { value };
      });
    });

  const broadcast = (change: StorageChange) => {
    try {
      (channel ??= typeof BroadcastChannel === "function" ? new BroadcastChannel(channelName) : null)?.postMessage(change);
    } catch {
      // the others pick the change up when they next read the log
    }
  };

  /** Reads the slots and the epoch, then calls `then` (inside the same transaction). */
  const readSignals = (tx: IDBTransaction, then: (slots: (SlotRecord | null)[], epoch: number, pristine: boolean) => void): void => {
    const store = tx.objectStore(signals);
    const records: unknown[] = [];
    let pending = SLOTS.length + 1;
    const keys = [...SLOTS, META];
    keys.forEach((key, i) => {
      const request = store.get(key);
      request.onsuccess = () => {
        records[i] = request.result;
        if (--pending === 0) then(records.slice(0, SLOTS.length).map(asSlotRecord), asEpoch(records[SLOTS.length]), records.every((record) => record === undefined));
      };
    });
  };

  const readEntries = (tx: IDBTransaction, after: number, then: (entries: LogEntry[], corrupt: number) => void): void => {
    const store = tx.objectStore(logStore);
    const range = IDBKeyRange.lowerBound(after, true);
    const keysRequest = store.getAllKeys(range);
    const valuesRequest = store.getAll(range);
    valuesRequest.onsuccess = () => {
      const entries: LogEntry[] = [];
      let corrupt = 0;
      (valuesRequest.result as unknown[]).forEach((value, i) => {
        const batch = value instanceof Uint8Array ? decodeBatch(value) : null;
        if (batch) entries.push({ key: keysRequest.result[i] as number, batch });
        else corrupt += 1;
      });
      then(entries, corrupt);
    };
  };

  const readState = () =>
    transact<{ stored: StoredState; pristine: boolean }>([signals, logStore], "readonly", (tx, done) =>
      readSignals(tx, (slots, epoch, noRecords) => {
        const snapshots: StoredSnapshot[] = slots
          .map((record, i) => (record ? { bytes: record.bytes, upTo: record.upTo, generation: record.generation, source: `indexeddb:${name}/${signals}/${SLOTS[i]} (generation ${record.generation})` } : null))
          .filter((snapshot): snapshot is StoredSnapshot => snapshot !== null)
          .sort((a, b) => b.generation - a.generation);
        // Everything the last fallback needs: the older checkpoint, or (with one) none at all.
        readEntries(tx, snapshots[1]?.upTo ?? 0, (log, corruptEntries) =>
          done({ stored: { epoch, snapshots, log, corruptEntries }, pristine: noRecords && log.length === 0 && corruptEntries === 0 }),
        );
      }),
    );

  return {
    kind: "indexeddb",
    async load() {
      const state = await readState();
      if (!state.pristine || !mirror) return state.stored;
      // A database with nothing in it, not even an epoch: new, or deleted by the browser.
      const copy = await mirror.read().catch(() => null);
      if (!copy) return state.stored;
      await transact<undefined>([signals, logStore], "readwrite", (tx, done) => {
        const store = tx.objectStore(signals);
        store.put({ epoch: copy.epoch }, META);
        if (copy.checkpoint) {
          const { generation, upTo, bytes } = copy.checkpoint;
          store.put({ generation, upTo, savedAt: Date.now(), bytes }, SLOTS[0]);
        }
        // Under their own keys, which also moves the key generator past them.
        for (const entry of copy.entries) tx.objectStore(logStore).put(entry.bytes, entry.key);
        done(undefined);
      });
      const restored = await readState();
      const what = `${copy.checkpoint ? "a checkpoint" : "no checkpoint"} and ${copy.entries.length} log entries`;
      return { ...restored.stored, recovered: `the browser had deleted IndexedDB "${name}" (it does so when it finds its files corrupt after a crash); restored ${what} from the OPFS mirror` };
    },
    async append(batches: StoredBatch[]) {
      const encoded = batches.map(encodeBatch);
      if (encoded.length === 0) return { keys: [], byteLength: 0 };
      const { keys, epoch } = await transact<{ keys: number[]; epoch: number }>([signals, logStore], "readwrite", (tx, done) => {
        const store = tx.objectStore(logStore);
        const requests: IDBRequest[] = [];
        for (const bytes of encoded) {
          try {
            requests.push(store.add(bytes));
          } catch (error) {
            // Aborted by an earlier add (its quota, say): the abort rejects, with the reason.
            if (isDomError(error, "TransactionInactiveError")) return;
            throw error;
          }
        }
        // Requests of one transaction succeed in the order they were made.
        requests.at(-1)!.onsuccess = () => readSignals(tx, (_, epoch) => done({ keys: requests.map((r) => r.result as number), epoch }));
      });
      // Acknowledged once both copies hold them; a mirror that fails leaves the database's copy.
      await Promise.all(encoded.map((bytes, i) => mirror?.writeEntry(epoch, keys[i] as number, bytes).catch(() => {})));
      broadcast({ type: "appended", entries: batches.map((batch, i) => ({ key: keys[i] as number, batch })) });
      return { keys, byteLength: encoded.reduce((n, bytes) => n + bytes.length, 0) };
    },
    readLog(after) {
      return transact<{ epoch: number; entries: LogEntry[]; corruptEntries: number }>([signals, logStore], "readonly", (tx, done) =>
        readSignals(tx, (_, epoch) => readEntries(tx, after, (entries, corruptEntries) => done({ epoch, entries, corruptEntries }))),
      );
    },
    async compact(snapshot, upTo, epoch) {
      const copy = snapshot.slice();
      const generation = await transact<number | null>([signals, logStore], "readwrite", (tx, done) =>
        readSignals(tx, (slots, storedEpoch) => {
          const [first, second] = slots as [SlotRecord | null, SlotRecord | null];
          const newest = (first?.generation ?? -1) >= (second?.generation ?? -1) ? first : second;
          if (storedEpoch !== epoch || (newest && newest.upTo >= upTo)) return done(null);
          const target = newest !== null && newest === first ? 1 : 0;
          const generation = (newest?.generation ?? -1) + 1;
          tx.objectStore(signals).put({ generation, upTo, savedAt: Date.now(), bytes: copy }, SLOTS[target]);
          // The previous checkpoint stays as the fallback: keep the log it needs.
          const keepAfter = newest?.upTo ?? 0;
          if (keepAfter > 0) tx.objectStore(logStore).delete(IDBKeyRange.upperBound(keepAfter));
          done(generation);
        }),
      );
      if (generation === null) return false;
      // In the background: until it is in place the mirror keeps its older checkpoint and the log after it.
      mirror?.writeCheckpoint({ epoch, generation, upTo, bytes: copy }).catch(() => {});
      broadcast({ type: "compacted", upTo });
      return true;
    },
    async clear() {
      // The mirror first: a crash in between must not leave a copy that brings cleared signals back.
      await mirror?.clear();
      const epoch = await transact<number>([signals, logStore], "readwrite", (tx, done) =>
        readSignals(tx, (_, stored) => {
          const store = tx.objectStore(signals);
          for (const slot of SLOTS) store.delete(slot);
          store.put({ epoch: stored + 1 }, META);
          tx.objectStore(logStore).clear();
          done(stored + 1);
        }),
      );
      broadcast({ type: "cleared", epoch });
      return epoch;
    },
    watch(onChange) {
      if (typeof BroadcastChannel !== "function") return () => {};
      const listening = new BroadcastChannel(channelName);
      listening.onmessage = (event: MessageEvent) => onChange(event.data as StorageChange);
      return () => listening.close();
    },
    lead(onLeader) {
      const locks = (globalThis.navigator as Navigator | undefined)?.locks;
      if (!locks) {
        // No Web Locks: every context compacts on its own; `compact` checks and writes in one
        // transaction, so a stale checkpoint never replaces a newer one (see the README).
        queueMicrotask(onLeader);
        return () => {};
      }
      let release: () => void = () => {};
      const held = new Promise<void>((resolve) => {
        release = resolve;
      });
      const controller = new AbortController();
      locks
        .request(channelName, { signal: controller.signal }, () => {
          onLeader();
          return held;
        })
        .catch(() => {}); // aborted while waiting
      return () => {
        controller.abort();
        release();
      };
    },
    async saveModel(model: StoredModel) {
      const copy = { bytes: model.bytes.slice(), sha256: model.sha256, updated: model.updated };
      await transact<undefined>([modelStore], "readwrite", (tx, done) => {
        tx.objectStore(modelStore).put(copy, MODEL);
        done(undefined);
      });
      broadcast({ type: "model", sha256: model.sha256 });
    },
    loadModel() {
      return transact<StoredModel | null>([modelStore], "readonly", (tx, done) => {
        const request = tx.objectStore(modelStore).get(MODEL);
        request.onsuccess = () => done(asModel(request.result));
      });
    },
    close() {
      channel?.close();
      channel = null;
      connection?.close();
      connection = null;
    },
  };
}

/** A transaction or open the browser aborted because it closes the connection: worth another try. */
class ConnectionClosing extends Error {
  constructor(cause: unknown) {
    super("the IndexedDB connection is closing", { cause });
  }
}

/** The browser's own aborts of a closing connection (see transactOnce's `onabort`). */
function isClosingAbort(error: unknown): boolean {
  return isDomError(error, "UnknownError") || isDomError(error, "AbortError");
}

function isDomError(error: unknown, name: string): boolean {
  return typeof error === "object" && error !== null && (error as { name?: unknown }).name === name;
}

/**
 * A slot's record, or null if it holds nothing usable as one. Bytes of the wrong type become
 * empty bytes, so the client reports them as a corrupt snapshot. Version 1 slots (no `upTo`)
 * hold no log entries.
 */
function asSlotRecord(record: unknown): SlotRecord | null {
  if (!record || typeof record !== "object") return null;
  const { generation, upTo, bytes } = record as { generation?: unknown; upTo?: unknown; bytes?: unknown };
  if (typeof generation !== "number" || !Number.isFinite(generation)) return null;
  const covered = typeof upTo === "number" && Number.isFinite(upTo) ? upTo : 0;
  if (bytes instanceof Uint8Array) return { generation, upTo: covered, bytes };
  if (bytes instanceof ArrayBuffer) return { generation, upTo: covered, bytes: new Uint8Array(bytes) };
  return { generation, upTo: covered, bytes: new Uint8Array(0) };
}

function asEpoch(record: unknown): number {
  const epoch = (record as { epoch?: unknown } | undefined)?.epoch;
  return typeof epoch === "number" && Number.isFinite(epoch) ? epoch : 0;
}

function asModel(record: unknown): StoredModel | null {
  const { bytes, sha256, updated } = (record ?? {}) as { bytes?: unknown; sha256?: unknown; updated?: unknown };
  return bytes instanceof Uint8Array && typeof sha256 === "string" ? { bytes, sha256, updated: updated === true } : null;
}
