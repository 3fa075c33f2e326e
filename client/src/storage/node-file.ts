// `fileStorage` as the Node entry points export it: ./file.ts with `node:fs/promises` and this
// process's pid.

import * as nodeFs from "node:fs/promises";
import nodeProcess from "node:process";

import type { SignalStorage } from "./types.js";
import { createFileStorage, type FileStorageOptions, type FileSystem } from "./file.js";

export type { FileHandleLike, FileStorageOptions, FileSystem } from "./file.js";

/**
 * Keeps the signals in files next to `path` (Node, Electron's main process): a checkpoint
 * replaced atomically (temporary file, fsync, rename) and an append-only log, shared safely by
 * every process given the same path (a lock file serialises their writes; one of them at a time
 * folds the log into the checkpoint). Files are created with mode 0600; `clear()` empties them.
 */
export function fileStorage(path: string, options: FileStorageOptions = {}): SignalStorage {
  const isAlive = (pid: number) => {
    try {
      nodeProcess.kill(pid, 0);
      return true;
    } catch (error) {
      return (error as { code?: unknown }).code === "EPERM"; // alive, owned by someone else
    }
  };
  return createFileStorage(path, options.fs ?? (nodeFs as unknown as FileSystem), { pid: nodeProcess.pid, isAlive }, options);
}
