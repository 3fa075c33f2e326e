// `localrank/slim` in Node and Electron's main process: the client with the slim flavour (NNEF models only: a smaller module),
// and the file storage.

import { clientEntry } from "../entry.js";
import { compileUrl, readUrl } from "../runtime/node.js";
import { createBindings } from "../wasm/slim/bindings.js";

export * from "../common.js";
export { fileStorage, type FileStorageOptions, type FileSystem, type FileHandleLike } from "../storage/node-file.js";

export const { createLocalRanker, wasmLoader } = clientEntry(
  { createBindings, wasm: new URL("../wasm/slim/localrank_bg.wasm", import.meta.url), compileUrl },
  readUrl,
);
