// `localrank` in Node and Electron's main process: the client with the full flavour (ONNX and NNEF models),
// and the file storage.

import { clientEntry } from "../entry.js";
import { compileUrl, readUrl } from "../runtime/node.js";
import { createBindings } from "../wasm/full/bindings.js";

export * from "../common.js";
export { fileStorage, type FileStorageOptions, type FileSystem, type FileHandleLike } from "../storage/node-file.js";

export const { createLocalRanker, wasmLoader } = clientEntry(
  { createBindings, wasm: new URL("../wasm/full/localrank_bg.wasm", import.meta.url), compileUrl },
  readUrl,
);
