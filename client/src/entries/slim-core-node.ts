// `localrank/slim/core` in Node and Electron's main process: the raw `Ranker` of the slim flavour (NNEF models only: a smaller module),
// without the client (no persistence, no recovery). `await init()` before the first `new Ranker`.

import { coreEntry } from "../entry.js";
import { compileUrl } from "../runtime/node.js";
import type { Ranker as RankerInstance, RankerClass } from "../core/ranker.js";
import { createBindings } from "../wasm/slim/bindings.js";

export type * from "../wasm/types.js";

const core = coreEntry({ createBindings, wasm: new URL("../wasm/slim/localrank_bg.wasm", import.meta.url), compileUrl });
export const Ranker: RankerClass = core.Ranker;
export type Ranker = RankerInstance;
export const init = core.init;
