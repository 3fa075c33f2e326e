// A second copy of an IndexedDB store's checkpoint and log in the Origin Private File System.
// Why: Chromium keeps all of an origin's IndexedDB in one LevelDB, writes each of its log
// records as two system calls (header, then body), and reuses that log when it reopens. A
// SIGKILL between the two leaves a torn record; the reopened database appends after it, and
// the next open reads the torn record as corruption and deletes the origin's whole database
// (tests/js/durable.test.mjs saw it in 2 of 6 runs of 24 kills). OPFS files are not in that
// LevelDB, so the copy survives; `indexedDbStorage` restores from it when it finds its
// database gone. Every file is written through `createWritable()`, which swaps the finished
// file in on `close()`: a crash leaves the old file or the new one, never half of one.
//
// Layout, in the directory `localrank-mirror/<database>/<store>`:
//   checkpoint          MAGIC, epoch, generation, upTo (four u32, little-endian), then the
//                       snapshot bytes (which carry their own CRC-32)
//   log-<epoch>-<key>   one encoded batch (batch-codec: checksummed), the IndexedDB log entry
//                       `key` appended while the store's epoch was `epoch`

const MAGIC = 0x4d524c4c; // "LLRM"
const HEADER_BYTES = 16;

export interface MirroredCheckpoint {
  epoch: number;
  generation: number;
  upTo: number;
  bytes: Uint8Array;
}

export interface MirroredState {
  /** The epoch the copy is of: the checkpoint's, or a newer one of log entries written after a `clear()`. */
  epoch: number;
  checkpoint: MirroredCheckpoint | null;
  /** The log entries of `epoch` after the checkpoint, in key order (still encoded). */
  entries: { key: number; bytes: Uint8Array }[];
}

export interface OpfsMirror {
  writeEntry(epoch: number, key: number, bytes: Uint8Array): Promise<void>;
  /**
   * Replaces the checkpoint, then deletes the log entries it holds (and any of older epochs).
   * Checkpoints and `clear()` run one after the other, in the order they were asked for.
   */
  writeCheckpoint(checkpoint: MirroredCheckpoint): Promise<void>;
  /** Null if the copy holds nothing. */
  read(): Promise<MirroredState | null>;
  clear(): Promise<void>;
}

/** The mirror of `database`/`store`, or null where this context has no OPFS. */
export function opfsMirror(database: string, store: string): OpfsMirror | null {
  const storageManager = (globalThis.navigator as Navigator | undefined)?.storage;
  if (typeof storageManager?.getDirectory !== "function") return null;
  let directory: Promise<FileSystemDirectoryHandle> | null = null;
  const folder = () =>
    (directory ??= (async () => {
      let handle = await storageManager.getDirectory();
      for (const name of ["localrank-mirror", database, store]) handle = await handle.getDirectoryHandle(encodeURIComponent(name), { create: true });
      return handle;
    })().catch((error: unknown) => {
      directory = null; // try again next time
      throw error;
    }));

  const writeFile = async (name: string, parts: Uint8Array[]) => {
    const file = await (await folder()).getFileHandle(name, { create: true });
    const writable = await file.createWritable();
    try {
      for (const part of parts) await writable.write(part as Uint8Array<ArrayBuffer>);
      await writable.close();
    } catch (error) {
      await writable.abort().catch(() => {});
      throw error;
    }
  };
  /** The checkpoints and clears, in order (each one's failure is its caller's, not the next one's). */
  let queue: Promise<unknown> = Promise.resolve();
  const inOrder = <T>(task: () => Promise<T>): Promise<T> => {
    const run = queue.then(task, task);
    queue = run.catch(() => {});
    return run;
  };
  const names = async () => {
    const found: string[] = [];
    for await (const name of (await folder()).keys()) found.push(name);
    return found;
  };
  const remove = async (name: string) => {
    await (await folder()).removeEntry(name).catch(() => {}); // already gone
  };
  const readCheckpoint = async (): Promise<MirroredCheckpoint | null> => {
    let bytes: Uint8Array;
    try {
      bytes = new Uint8Array(await (await (await (await folder()).getFileHandle("checkpoint")).getFile()).arrayBuffer());
    } catch {
      return null;
    }
    if (bytes.length < HEADER_BYTES) return null;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (view.getUint32(0, true) !== MAGIC) return null;
    return { epoch: view.getUint32(4, true), generation: view.getUint32(8, true), upTo: view.getUint32(12, true), bytes: bytes.subarray(HEADER_BYTES) };
  };

  return {
    writeEntry: (epoch, key, bytes) => writeFile(`log-${epoch}-${key}`, [bytes]),
    writeCheckpoint: (checkpoint) => inOrder(async () => {
      const header = new Uint8Array(HEADER_BYTES);
      const view = new DataView(header.buffer);
      [MAGIC, checkpoint.epoch, checkpoint.generation, checkpoint.upTo].forEach((value, i) => view.setUint32(i * 4, value, true));
      await writeFile("checkpoint", [header, checkpoint.bytes]);
      const held = (await names()).filter((name) => {
        const entry = parseEntryName(name);
        return entry && (entry.epoch < checkpoint.epoch || (entry.epoch === checkpoint.epoch && entry.key <= checkpoint.upTo));
      });
      await Promise.all(held.map(remove));
    }),
    async read() {
      const checkpoint = await readCheckpoint();
      const files = (await names()).map((name) => ({ name, entry: parseEntryName(name) }));
      const epoch = Math.max(checkpoint?.epoch ?? 0, ...files.map(({ entry }) => entry?.epoch ?? 0));
      const base = checkpoint?.epoch === epoch ? checkpoint : null;
      const entries: { key: number; bytes: Uint8Array }[] = [];
      for (const { name, entry } of files) {
        if (!entry || entry.epoch !== epoch || entry.key <= (base?.upTo ?? 0)) continue;
        const file = await (await (await folder()).getFileHandle(name)).getFile();
        entries.push({ key: entry.key, bytes: new Uint8Array(await file.arrayBuffer()) });
      }
      entries.sort((a, b) => a.key - b.key);
      return base || entries.length > 0 ? { epoch, checkpoint: base, entries } : null;
    },
    clear: () => inOrder(async () => {
      await Promise.all((await names()).map(remove));
    }),
  };
}

function parseEntryName(name: string): { epoch: number; key: number } | null {
  const match = /^log-(\d+)-(\d+)$/.exec(name);
  return match ? { epoch: Number(match[1]), key: Number(match[2]) } : null;
}
