import type { SnapshotStorage, StoredSnapshot } from "./types.js";

export interface IndexedDbStorageOptions {
  /** Default "localrank". */
  databaseName?: string;
  /** Default "signals". */
  storeName?: string;
  /** Default `globalThis.indexedDB`. */
  indexedDB?: IDBFactory;
}

interface SlotRecord {
  generation: number;
  bytes: Uint8Array;
}

const SLOTS = ["slot-0", "slot-1"] as const;

/**
 * Keeps the snapshot in IndexedDB, in two alternating slots of one object store. A save is
 * one readwrite transaction: it reads both slots' generation numbers and overwrites the older
 * slot with the new snapshot under the next generation. `load()` returns both, newest first,
 * so if the newest does not restore (corrupt at rest, or written by a newer version) the
 * client falls back to the other. `clear()` empties both slots.
 */
export function indexedDbStorage(options: IndexedDbStorageOptions = {}): SnapshotStorage {
  const name = options.databaseName ?? "localrank";
  const storeName = options.storeName ?? "signals";
  const factory = options.indexedDB ?? globalThis.indexedDB;
  let opening: Promise<IDBDatabase> | null = null;

  const open = (): Promise<IDBDatabase> =>
    (opening ??= new Promise<IDBDatabase>((resolve, reject) => {
      if (!factory) {
        reject(new Error("IndexedDB is not available here"));
        return;
      }
      const request = factory.open(name, 1);
      request.onupgradeneeded = () => {
        if (!request.result.objectStoreNames.contains(storeName)) request.result.createObjectStore(storeName);
      };
      request.onsuccess = () => {
        const db = request.result;
        // Another tab upgrading the database: let it, and reopen on the next use.
        db.onversionchange = () => {
          db.close();
          opening = null;
        };
        // The browser closed the connection (storage cleared, the disk gone): reopen next time
        // rather than failing every later write on the dead handle.
        db.onclose = () => {
          opening = null;
        };
        resolve(db);
      };
      request.onerror = () => reject(request.error ?? new Error(`IndexedDB "${name}" could not be opened`));
      request.onblocked = () => reject(new Error(`IndexedDB "${name}" is blocked by another connection`));
    }).catch((error: unknown) => {
      opening = null;
      throw error;
    }));

  /** Runs `body` in one transaction; resolves with its result when the transaction commits. */
  const transact = async <T>(mode: IDBTransactionMode, body: (store: IDBObjectStore, done: (value: T) => void) => void): Promise<T> => {
    const db = await open();
    return new Promise<T>((resolve, reject) => {
      const tx = db.transaction(storeName, mode);
      let result: { value: T } | null = null;
      tx.oncomplete = () => (result ? resolve(result.value) : reject(new Error("transaction ended without a result")));
      tx.onerror = () => reject(tx.error ?? new Error("the transaction failed"));
      tx.onabort = () => reject(tx.error ?? new Error("the transaction was aborted"));
      body(tx.objectStore(storeName), (value) => {
        result = { value };
      });
    });
  };

  /** Reads both slots inside `store`'s transaction. */
  const readSlots = (store: IDBObjectStore, then: (records: unknown[]) => void): void => {
    const records: unknown[] = [];
    let pending = SLOTS.length;
    SLOTS.forEach((slot, i) => {
      const request = store.get(slot);
      request.onsuccess = () => {
        records[i] = request.result;
        if (--pending === 0) then(records);
      };
    });
  };

  return {
    kind: "indexeddb",
    async load() {
      const records = await transact<unknown[]>("readonly", (store, done) => readSlots(store, done));
      const stored: StoredSnapshot[] = [];
      records.forEach((value, i) => {
        const record = asSlotRecord(value);
        if (record) {
          const source = `indexeddb:${name}/${storeName}/${SLOTS[i]} (generation ${record.generation})`;
          stored.push({ bytes: record.bytes, source, generation: record.generation });
        }
      });
      return stored.sort((a, b) => (b.generation ?? 0) - (a.generation ?? 0));
    },
    async save(snapshot) {
      const copy = snapshot.slice();
      await transact<undefined>("readwrite", (store, done) =>
        readSlots(store, (records) => {
          const [first, second] = records.map((record) => asSlotRecord(record)?.generation ?? -1) as [number, number];
          const target = first <= second ? 0 : 1;
          store.put({ generation: Math.max(first, second) + 1, savedAt: Date.now(), bytes: copy }, SLOTS[target]);
          done(undefined);
        }),
      );
    },
    async clear() {
      await transact<undefined>("readwrite", (store, done) => {
        store.clear();
        done(undefined);
      });
    },
    async close() {
      const db = await opening?.catch(() => null);
      db?.close();
      opening = null;
    },
  };
}

/**
 * A slot's record, or null if it holds nothing usable as one. Bytes of the wrong type become
 * empty bytes, so the client reports them as a corrupt snapshot.
 */
function asSlotRecord(record: unknown): SlotRecord | null {
  if (!record || typeof record !== "object") return null;
  const { generation, bytes } = record as { generation?: unknown; bytes?: unknown };
  if (typeof generation !== "number" || !Number.isFinite(generation)) return null;
  if (bytes instanceof Uint8Array) return { generation, bytes };
  if (bytes instanceof ArrayBuffer) return { generation, bytes: new Uint8Array(bytes) };
  return { generation, bytes: new Uint8Array(0) };
}
