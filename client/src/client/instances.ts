// Getting module instances from the loader: each one checked for shape, counted, and compared
// with the previous one (a loader that hands back the same instance cannot repair a trap).

import { LocalrankClientError, messageOf, type ClientWarningCode } from "../errors.js";
import type { LoaderContext, LocalrankModule, WasmLoader } from "../wasm/loader.js";

export class Instances {
  /** How many module instances were created (1 after start). */
  count = 0;
  private last: LocalrankModule | null = null;
  private warnedStale = false;

  constructor(
    private readonly loader: WasmLoader,
    private readonly warn: (code: ClientWarningCode, message: string) => void,
  ) {}

  async create(reason: LoaderContext["reason"]): Promise<LocalrankModule> {
    let module: LocalrankModule;
    try {
      module = await this.loader({ instance: this.count, reason });
    } catch (error) {
      // The module needs wasm SIMD (and bulk memory, …): an engine without them cannot even
      // compile it. Say so with a code, so the app knows to keep the server's order.
      if (error instanceof WebAssembly.CompileError) {
        throw new LocalrankClientError(
          "UNAVAILABLE",
          `this engine cannot compile the localrank WebAssembly module (it needs wasm SIMD): ${messageOf(error)}`,
          error,
        );
      }
      throw error;
    }
    if (!module || typeof module.Ranker !== "function") {
      throw new LocalrankClientError("INVALID_ARGUMENT", "initWasm must return the localrank module (an object with a Ranker class)");
    }
    if (this.last && module.Ranker === this.last.Ranker && !this.warnedStale) {
      this.warnedStale = true;
      this.warn("STALE_INSTANCE", "initWasm returned the same module instance again; a broken instance cannot be repaired that way (see WasmLoader)");
    }
    this.last = module;
    this.count += 1;
    return module;
  }
}
