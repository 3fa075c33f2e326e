// `localrank/slim` in browsers and workers: the client with the slim flavour (NNEF models only: a smaller module).

import { clientEntry } from "../entry.js";
import { compileUrl, readUrl } from "../runtime/browser.js";
import { createBindings } from "../wasm/slim/bindings.js";

export * from "../common.js";

export const { createLocalRanker, wasmLoader } = clientEntry(
  { createBindings, wasm: new URL("../wasm/slim/localrank_bg.wasm", import.meta.url), compileUrl },
  readUrl,
);
