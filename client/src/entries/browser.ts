// `localrank` in browsers and workers: the client with the full flavour (ONNX and NNEF models).

import { clientEntry } from "../entry.js";
import { compileUrl, readUrl } from "../runtime/browser.js";
import { createBindings } from "../wasm/full/bindings.js";

export * from "../common.js";

export const { createLocalRanker, wasmLoader } = clientEntry(
  { createBindings, wasm: new URL("../wasm/full/localrank_bg.wasm", import.meta.url), compileUrl },
  readUrl,
);
