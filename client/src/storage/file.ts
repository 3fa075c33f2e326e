// The signals in files, for Node and Electron's main process, shared by every process given the
// same path:
//
//   PATH          the checkpoint: "LRSTORE1" | epoch u32 | generation u32 | upTo f64 | snapshot
//                 (written to a temporary file, fsynced, renamed over, directory fsynced)
//   PATH.log      the log: "LRLOG001" | epoch u32 | first key f64 | frames (u32 length | batch)
//                 (appended and fsynced; a torn tail from a crash is cut off by the next writer)
//   PATH.lock     held (created exclusively) while one process appends, compacts or clears
//   PATH.leader   the pid of the process that compacts; taken over when that process is gone
//   PATH.model    the kept model: SHA length u32 | CRC-32 of the rest u32 | updated u8 | SHA-256 (hex) | model
//
// Other processes' appends are noticed by polling the log's size. This module never imports a
// Node built-in: the Node entry point hands it `node:fs/promises` (see ./node-file.ts), so
// nothing here can pull Node code into a browser bundle.

import { LocalrankClientError } from "../errors.js";
import { decodeBatch, encodeBatch, frame, type StoredBatch } from "./batch-codec.js";
import { crc32 } from "./crc32.js";
import type { LogEntry, SignalStorage, StorageChange, StoredModel, StoredState } from "./types.js";

/** The part of `node:fs/promises` that `fileStorage` uses (inject one to test failures). */
export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  open(path: string, flags: string, mode?: number): Promise<FileHandleLike>;
  rename(oldPath: string, newPath: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<unknown>;
  stat(path: string): Promise<{ size: number; mtimeMs: number }>;
}

export interface FileHandleLike {
  writeFile(data: Uint8Array | string): Promise<void>;
  write(data: Uint8Array, offset: number, length: number, position: number): Promise<unknown>;
  truncate(length: number): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileStorageOptions {
  /** Default: `node:fs/promises`. */
  fs?: FileSystem;
  /** How often other processes' writes are looked for, in ms (default 500). */
  pollMs?: number;
}

/** What the Node entry point provides besides the file system. */
export interface ProcessInfo {
  pid: number;
  /** Whether the process `pid` still runs (a lock or leadership it held is otherwise stale). */
  isAlive(pid: number): boolean;
}

const STORE_MAGIC = "LRSTORE1";
const LOG_MAGIC = "LRLOG001";
const STORE_HEADER = STORE_MAGIC.length + 4 + 4 + 8;
const LOG_HEADER = LOG_MAGIC.length + 4 + 8;
const MODEL_HEADER = 4 + 4 + 1;
/** A lock older than this is taken over even if its process seems alive (a recycled pid). */
const STALE_LOCK_MS = 30_000;
const LOCK_RETRY_MS = 5;

/** The log's header and where its whole frames end: all an append needs. */
interface LogLayout {
  epoch: number;
  firstKey: number;
  /** The key the next append gets. */
  nextKey: number;
  /** Bytes up to the end of the last whole frame. */
  validLength: number;
}

interface LogFile extends LogLayout {
  entries: LogEntry[];
  corruptEntries: number;
}

interface Checkpoint {
  epoch: number;
  generation: number;
  upTo: number;
  bytes: Uint8Array;
}

export function createFileStorage(path: string, fs: FileSystem, process: ProcessInfo, options: FileStorageOptions = {}): SignalStorage {
  if (typeof path !== "string" || path === "") {
    throw new LocalrankClientError("INVALID_ARGUMENT", "fileStorage needs a file path");
  }
  const directory = parentDirectory(path);
  const logPath = `${path}.log`;
  const lockPath = `${path}.lock`;
  const leaderPath = `${path}.leader`;
  const modelPath = `${path}.model`;
  const pollMs = options.pollMs ?? 500;
  let counter = 0;

  const readOptional = async (file: string): Promise<Uint8Array | null> => {
    try {
      const data = await fs.readFile(file);
      return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    } catch (error) {
      if (errorCode(error) === "ENOENT") return null;
      throw error;
    }
  };

  /** Writes `data` to `file` atomically: temporary file, fsync, rename, directory fsync. */
  const replace = async (file: string, data: Uint8Array): Promise<void> => {
    await fs.mkdir(directory, { recursive: true });
    const temporary = `${file}.${process.pid}.${Date.now().toString(36)}.${(counter += 1)}.tmp`;
    try {
      const handle = await fs.open(temporary, "w", 0o600);
      try {
        await handle.writeFile(data);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await fs.rename(temporary, file);
    } catch (error) {
      await fs.rm(temporary, { force: true }).catch(() => {});
      throw error;
    }
    await syncDirectory(fs, directory);
  };

  const readCheckpoint = async (): Promise<Checkpoint | null> => {
    const data = await readOptional(path);
    if (!data || data.length === 0) return null;
    if (data.length < STORE_HEADER || !hasMagic(data, STORE_MAGIC)) {
      // Not a checkpoint of this format: the whole file is the snapshot (an older client's).
      return { epoch: 0, generation: 0, upTo: 0, bytes: data };
    }
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const at = STORE_MAGIC.length;
    return { epoch: view.getUint32(at, true), generation: view.getUint32(at + 4, true), upTo: view.getFloat64(at + 8, true), bytes: data.subarray(STORE_HEADER) };
  };

  const readLogLayout = async (): Promise<LogLayout> => walkLog(await readOptional(logPath), () => {});

  /**
   * What each whole frame held when it was last decoded, by key: its batch's identity, or null
   * for a corrupt one, with the frame's length and last 4 bytes (its batch's CRC-32) to tell
   * it is still the same frame. A frame keeps its key for its whole life (appends go after the
   * last whole frame, a compaction keeps the later frames as they are, a clear starts another
   * epoch), so a poll that follows another process's append decodes only the new frames.
   */
  const decoded = new Map<number, { length: number; checksum: number; identity: string | null }>();

  /**
   * The log's entries after key `after`, each decoded from the file; the frames up to it only
   * give their identities (a batch written twice — its first append failed after the bytes
   * reached the file, and was retried — counts once, at its first key).
   */
  const readLogFile = async (after: number): Promise<LogFile> => {
    const entries: LogEntry[] = [];
    const seen = new Set<string>();
    let corruptEntries = 0;
    const layout = walkLog(await readOptional(logPath), (body, key) => {
      const checksum = body.length >= 4 ? new DataView(body.buffer, body.byteOffset + body.length - 4).getUint32(0, true) : -1;
      let known = decoded.get(key);
      let batch: StoredBatch | null = null;
      if (key > after || !known || known.length !== body.length || known.checksum !== checksum) {
        batch = decodeBatch(body);
        known = { length: body.length, checksum, identity: batch ? `${batch.origin}/${batch.seq}` : null };
        decoded.set(key, known);
      }
      if (known.identity === null) corruptEntries += 1;
      else if (!seen.has(known.identity)) {
        seen.add(known.identity);
        if (batch && key > after) entries.push({ key, batch });
      }
    });
    for (const key of decoded.keys()) if (key < layout.firstKey || key >= layout.nextKey) decoded.delete(key);
    return { ...layout, entries, corruptEntries };
  };

  const logHeader = (epoch: number, firstKey: number): Uint8Array => {
    const header = new Uint8Array(LOG_HEADER);
    const view = new DataView(header.buffer);
    writeMagic(header, LOG_MAGIC);
    view.setUint32(LOG_MAGIC.length, epoch, true);
    view.setFloat64(LOG_MAGIC.length + 4, firstKey, true);
    return header;
  };

  /** Runs `body` holding PATH.lock (every write goes through it). */
  const locked = async <T>(body: () => Promise<T>): Promise<T> => {
    await fs.mkdir(directory, { recursive: true });
    for (;;) {
      try {
        const handle = await fs.open(lockPath, "wx", 0o600);
        try {
          await handle.writeFile(`${process.pid} ${Date.now()}`);
        } finally {
          await handle.close();
        }
        break;
      } catch (error) {
        if (errorCode(error) !== "EEXIST") throw error;
        if (await isStale(lockPath)) await fs.rm(lockPath, { force: true });
        else await sleep(LOCK_RETRY_MS);
      }
    }
    try {
      return await body();
    } finally {
      await fs.rm(lockPath, { force: true });
    }
  };

  /**
   * Whether the pid-and-time file `file` belongs to a process that is gone (or, for the lock,
   * is older than any write takes). A file not yet written by its creator (an instant between
   * its exclusive creation and the write) is only stale once it is that old.
   */
  const isStale = async (file: string): Promise<boolean> => {
    const data = await readOptional(file);
    if (!data) return false;
    const [pid, since] = new TextDecoder().decode(data).split(" ").map(Number);
    const age = Number.isFinite(since) ? Date.now() - (since as number) : Date.now() - (await stat(fs, file)).mtimeMs;
    if (!Number.isInteger(pid) || (pid as number) <= 0 || !Number.isFinite(since)) return age > STALE_LOCK_MS;
    return !process.isAlive(pid as number) || (file === lockPath && age > STALE_LOCK_MS);
  };

  const epochOf = async (): Promise<number> => storeEpoch(await readCheckpoint(), await readLogLayout());

  const storage: SignalStorage = {
    kind: "file",
    async load(): Promise<StoredState> {
      const checkpoint = await readCheckpoint();
      const upTo = checkpoint?.upTo ?? 0;
      const log = await readLogFile(upTo);
      return {
        epoch: storeEpoch(checkpoint, log),
        snapshots: checkpoint ? [{ bytes: checkpoint.bytes, source: path, upTo, generation: checkpoint.generation }] : [],
        log: log.entries,
        corruptEntries: log.corruptEntries,
      };
    },
    append(batches: StoredBatch[]) {
      const bytes = concat(...batches.map((batch) => frame(encodeBatch(batch))));
      const keysFrom = (first: number) => batches.map((_, i) => first + i);
      return locked(async () => {
        // Only where the log ends: decoding its batches would make each append cost the log.
        const log = await readLogLayout();
        if (log.validLength === 0) {
          // No log yet (or none of this format): start one after the checkpoint.
          const firstKey = ((await readCheckpoint())?.upTo ?? 0) + 1;
          await replace(logPath, concat(logHeader(await epochOf(), firstKey), bytes));
          return { keys: keysFrom(firstKey), byteLength: bytes.length };
        }
        const handle = await fs.open(logPath, "r+", 0o600);
        try {
          // A torn tail (a crash mid-append, never acknowledged) is cut off first.
          await handle.truncate(log.validLength);
          await handle.write(bytes, 0, bytes.length, log.validLength);
          await handle.sync();
        } finally {
          await handle.close();
        }
        return { keys: keysFrom(log.nextKey), byteLength: bytes.length };
      });
    },
    async readLog(after) {
      const log = await readLogFile(after);
      return { epoch: storeEpoch(await readCheckpoint(), log), entries: log.entries, corruptEntries: log.corruptEntries };
    },
    compact(snapshot, upTo, epoch) {
      return locked(async () => {
        const checkpoint = await readCheckpoint();
        // The frames after `upTo` as they are, corrupt and repeated ones too: a frame's key is
        // its place in the log, so dropping one would renumber every later entry under the
        // other processes, which track entries by key.
        const kept: Uint8Array[] = [];
        const log = walkLog(await readOptional(logPath), (body, key) => {
          if (key > upTo) kept.push(frame(body));
        });
        if (storeEpoch(checkpoint, log) !== epoch || (checkpoint && checkpoint.upTo >= upTo)) return false;
        const header = new Uint8Array(STORE_HEADER);
        const view = new DataView(header.buffer);
        writeMagic(header, STORE_MAGIC);
        view.setUint32(STORE_MAGIC.length, epoch, true);
        view.setUint32(STORE_MAGIC.length + 4, (checkpoint?.generation ?? 0) + 1, true);
        view.setFloat64(STORE_MAGIC.length + 8, upTo, true);
        await replace(path, concat(header, snapshot));
        // Then the log without what the checkpoint holds (a crash in between leaves entries
        // the checkpoint already has; restoring skips every entry up to its upTo).
        await replace(logPath, concat(logHeader(epoch, Math.max(upTo + 1, log.firstKey)), ...kept));
        return true;
      });
    },
    clear() {
      return locked(async () => {
        const epoch = (await epochOf()) + 1;
        await fs.rm(path, { force: true });
        await replace(logPath, logHeader(epoch, 1));
        return epoch;
      });
    },
    watch(onChange) {
      let last = { logSize: -1, storeTime: -1, modelTime: -1, epoch: -1, key: 0 };
      let running = false;
      const poll = async () => {
        if (running) return;
        running = true;
        try {
          const [log, store, model] = await Promise.all([stat(fs, logPath), stat(fs, path), stat(fs, modelPath)]);
          if (last.logSize < 0) {
            const state = await readLogLayout();
            last = { logSize: log.size, storeTime: store.mtimeMs, modelTime: model.mtimeMs, epoch: await epochOf(), key: state.nextKey - 1 };
            return;
          }
          const changes: StorageChange[] = [];
          if (log.size !== last.logSize || store.mtimeMs !== last.storeTime) {
            const epoch = await epochOf();
            if (epoch !== last.epoch) changes.push({ type: "cleared", epoch });
            else if (store.mtimeMs !== last.storeTime) changes.push({ type: "compacted", upTo: (await readCheckpoint())?.upTo ?? 0 });
            const { entries } = await storage.readLog(last.key);
            if (entries.length > 0) changes.push({ type: "appended", entries });
            last = { ...last, logSize: log.size, storeTime: store.mtimeMs, epoch, key: entries.at(-1)?.key ?? last.key };
          }
          if (model.mtimeMs !== last.modelTime) {
            last.modelTime = model.mtimeMs;
            const stored = await storage.loadModel();
            if (stored) changes.push({ type: "model", sha256: stored.sha256 });
          }
          for (const change of changes) onChange(change);
        } catch {
          // a file mid-replacement: the next poll sees it
        } finally {
          running = false;
        }
      };
      const timer = setInterval(() => void poll(), pollMs);
      (timer as { unref?: () => void }).unref?.();
      void poll();
      return () => clearInterval(timer);
    },
    lead(onLeader) {
      let stopped = false;
      let leading = false;
      const claim = async () => {
        if (stopped || leading) return;
        try {
          await fs.mkdir(directory, { recursive: true });
          const handle = await fs.open(leaderPath, "wx", 0o600);
          try {
            await handle.writeFile(`${process.pid} ${Date.now()}`);
          } finally {
            await handle.close();
          }
          leading = true;
          if (!stopped) onLeader();
        } catch (error) {
          if (errorCode(error) === "EEXIST" && (await isStale(leaderPath).catch(() => false))) await fs.rm(leaderPath, { force: true });
        }
      };
      const timer = setInterval(() => void claim(), pollMs);
      (timer as { unref?: () => void }).unref?.();
      void claim();
      return async () => {
        stopped = true;
        clearInterval(timer);
        if (leading) await fs.rm(leaderPath, { force: true }).catch(() => {});
      };
    },
    async saveModel(model: StoredModel) {
      const sha = new TextEncoder().encode(model.sha256);
      const header = new Uint8Array(MODEL_HEADER);
      new DataView(header.buffer).setUint32(0, sha.length, true);
      header[8] = model.updated ? 1 : 0;
      const body = concat(header, sha, model.bytes);
      new DataView(body.buffer).setUint32(4, crc32(body.subarray(8)), true);
      await replace(modelPath, body);
    },
    async loadModel() {
      const data = await readOptional(modelPath);
      if (!data || data.length < MODEL_HEADER) return null;
      const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
      const shaLength = view.getUint32(0, true);
      if (MODEL_HEADER + shaLength > data.length || view.getUint32(4, true) !== crc32(data.subarray(8))) return null;
      const sha256 = new TextDecoder().decode(data.subarray(MODEL_HEADER, MODEL_HEADER + shaLength));
      return { sha256, updated: data[8] === 1, bytes: data.slice(MODEL_HEADER + shaLength) };
    },
  };
  return storage;
}

async function stat(fs: FileSystem, file: string): Promise<{ size: number; mtimeMs: number }> {
  try {
    return await fs.stat(file);
  } catch (error) {
    if (errorCode(error) === "ENOENT") return { size: 0, mtimeMs: 0 };
    throw error;
  }
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, part) => n + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

function hasMagic(data: Uint8Array, magic: string): boolean {
  for (let i = 0; i < magic.length; i++) if (data[i] !== magic.charCodeAt(i)) return false;
  return true;
}

function writeMagic(out: Uint8Array, magic: string): void {
  for (let i = 0; i < magic.length; i++) out[i] = magic.charCodeAt(i);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function syncDirectory(fs: FileSystem, directory: string): Promise<void> {
  try {
    const handle = await fs.open(directory, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Not every platform can fsync a directory (Windows); the rename is still atomic there.
  }
}

/** The store's epoch: the later of its checkpoint's and its log's (either may be missing, or an older client's without one). */
function storeEpoch(checkpoint: Checkpoint | null, log: LogLayout): number {
  return Math.max(checkpoint?.epoch ?? 0, log.epoch);
}

/**
 * Walks a log file's whole frames, calling `visit` with each one's batch bytes and key (a torn
 * tail, a crash mid-append that was never acknowledged, ends the walk). A missing log or one
 * of another format is empty.
 */
function walkLog(data: Uint8Array | null, visit: (body: Uint8Array, key: number) => void): LogLayout {
  if (!data || data.length < LOG_HEADER || !hasMagic(data, LOG_MAGIC)) return { epoch: 0, firstKey: 1, nextKey: 1, validLength: 0 };
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const epoch = view.getUint32(LOG_MAGIC.length, true);
  const firstKey = view.getFloat64(LOG_MAGIC.length + 4, true);
  let offset = LOG_HEADER;
  let key = firstKey;
  while (offset + 4 <= data.length) {
    const end = offset + 4 + view.getUint32(offset, true);
    if (end > data.length) break;
    visit(data.subarray(offset + 4, end), key);
    key += 1;
    offset = end;
  }
  return { epoch, firstKey, nextKey: key, validLength: offset };
}

function parentDirectory(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return ".";
  return cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}

function errorCode(error: unknown): unknown {
  return error && typeof error === "object" && "code" in error ? error.code : undefined;
}
