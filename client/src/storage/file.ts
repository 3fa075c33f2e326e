// The snapshot in one file, for Node and Electron's main process. This module never imports a
// Node built-in itself: the node entry point hands it `node:fs/promises`, so nothing here can
// pull Node code into a browser bundle.

import { LocalrankClientError } from "../errors.js";
import type { SnapshotStorage } from "./types.js";

/** The part of `node:fs/promises` that `fileStorage` uses (inject one to test failures). */
export interface FileSystem {
  readFile(path: string): Promise<Uint8Array>;
  open(path: string, flags: string, mode?: number): Promise<FileHandleLike>;
  rename(oldPath: string, newPath: string): Promise<void>;
  rm(path: string, options: { force: boolean }): Promise<void>;
  mkdir(path: string, options: { recursive: boolean }): Promise<unknown>;
}

export interface FileHandleLike {
  writeFile(data: Uint8Array): Promise<void>;
  sync(): Promise<void>;
  close(): Promise<void>;
}

export interface FileStorageOptions {
  /** Default: `node:fs/promises`. */
  fs?: FileSystem;
}

/**
 * Keeps the snapshot in one file. A save writes a temporary file next to it, fsyncs it,
 * renames it over the file and fsyncs the directory, so the file always holds a complete
 * snapshot: the old one or the new one. The file is created with mode 0600. `clear()` deletes
 * it.
 */
export function createFileStorage(path: string, fs: FileSystem): SnapshotStorage {
  if (typeof path !== "string" || path === "") {
    throw new LocalrankClientError("INVALID_ARGUMENT", "fileStorage needs a file path");
  }
  const directory = parentDirectory(path);
  let counter = 0;
  return {
    kind: "file",
    async load() {
      let data: Uint8Array;
      try {
        data = await fs.readFile(path);
      } catch (error) {
        if (errorCode(error) === "ENOENT") return [];
        throw error;
      }
      if (data.byteLength === 0) return [];
      return [{ bytes: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), source: path }];
    },
    async save(snapshot) {
      await fs.mkdir(directory, { recursive: true });
      const pid = (globalThis as { process?: { pid?: number } }).process?.pid ?? 0;
      const temporary = `${path}.${pid}.${Date.now().toString(36)}.${(counter += 1)}.tmp`;
      try {
        const handle = await fs.open(temporary, "w", 0o600);
        try {
          await handle.writeFile(snapshot);
          await handle.sync();
        } finally {
          await handle.close();
        }
        await fs.rename(temporary, path);
      } catch (error) {
        await fs.rm(temporary, { force: true }).catch(() => {});
        throw error;
      }
      await syncDirectory(fs, directory);
    },
    async clear() {
      await fs.rm(path, { force: true });
      await syncDirectory(fs, directory);
    },
  };
}

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

function parentDirectory(path: string): string {
  const cut = Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\"));
  if (cut < 0) return ".";
  return cut === 0 ? path.slice(0, 1) : path.slice(0, cut);
}

function errorCode(error: unknown): unknown {
  return error && typeof error === "object" && "code" in error ? error.code : undefined;
}
