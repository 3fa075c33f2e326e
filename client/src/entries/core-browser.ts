// `localrank/core` in browsers and workers: the raw `Ranker` of the full flavour (ONNX and NNEF models),
// without the client (no persistence, no recovery). `await init()` before the first `new Ranker`.

import { coreEntry } from "../entry.js";
import { compileUrl } from "../runtime/browser.js";
import type { Ranker as RankerInstance, RankerClass } from "../core/ranker.js";
import { createBindings } from "../wasm/full/bindings.js";

export type * from "../wasm/types.js";

const core = coreEntry({ createBindings, wasm: new URL("../wasm/full/localrank_bg.wasm", import.meta.url), compileUrl });
export const Ranker: RankerClass = core.Ranker;
export type Ranker = RankerInstance;
export const init = core.init;
