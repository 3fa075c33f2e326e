import type { SnapshotStorage } from "./types.js";

export interface MemoryStorage extends SnapshotStorage {
  readonly kind: "memory";
  /** A copy of the stored bytes, or null. */
  readonly bytes: Uint8Array | null;
  /** How many saves it received. */
  readonly saveCount: number;
}

/**
 * Keeps the snapshot in memory (tests, or a host that persists nothing).
 * @param initial bytes to start with, as if persisted by an earlier session
 */
export function memoryStorage(initial?: Uint8Array): MemoryStorage {
  let bytes: Uint8Array | null = initial ? initial.slice() : null;
  let saves = 0;
  return {
    kind: "memory",
    async load() {
      return bytes ? [{ bytes: bytes.slice(), source: "memory" }] : [];
    },
    async save(snapshot) {
      bytes = snapshot.slice();
      saves += 1;
    },
    async clear() {
      bytes = null;
    },
    get bytes() {
      return bytes ? bytes.slice() : null;
    },
    get saveCount() {
      return saves;
    },
  };
}
