// `fileStorage` as the Node entry points export it: `./file.ts` with `node:fs/promises`.

import * as nodeFs from "node:fs/promises";

import type { SnapshotStorage } from "./types.js";
import { createFileStorage, type FileStorageOptions, type FileSystem } from "./file.js";

export type { FileHandleLike, FileStorageOptions, FileSystem } from "./file.js";

/**
 * Keeps the snapshot in one file (Node, Electron's main process). A save writes a temporary
 * file next to it, fsyncs it, renames it over the file and fsyncs the directory, so the file
 * always holds a complete snapshot: the old one or the new one. The file is created with mode
 * 0600. `clear()` deletes it.
 */
export function fileStorage(path: string, options: FileStorageOptions = {}): SnapshotStorage {
  return createFileStorage(path, options.fs ?? (nodeFs as unknown as FileSystem));
}
