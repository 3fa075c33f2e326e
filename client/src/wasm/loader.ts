// How the client gets a WebAssembly instance: the .wasm is compiled once per loader, and every
// call instantiates it anew through fresh bindings (see client/scripts/wrap-glue.mjs), so two
// LocalRankers never share an instance and a trapped instance is replaced, not reused.

import { rankerClass, type RankerClass } from "../core/ranker.js";
import { LocalrankClientError, messageOf } from "../errors.js";
import type { Bindings } from "./full/bindings.js";

/** What the client needs of a module: its `Ranker` class. */
export interface LocalrankModule {
  Ranker: RankerClass;
}

export interface LoaderContext {
  /** How many instances this LocalRanker created before: 0 at start, 1 at the first recovery… */
  instance: number;
  /** "start" for the first call; "recover" after a trap or an unexpected exception; "model" to load a model update beside the serving one. */
  reason: "start" | "recover" | "model";
}

/**
 * How the client gets the wasm module. It is called once at start and again whenever the
 * current instance must be replaced; every call must return a module backed by a NEW
 * WebAssembly instance (a trapped instance's memory cannot be trusted). The package's own
 * loader (`wasmLoader()`) does; if a custom loader returns the same module again, the client
 * warns (`STALE_INSTANCE`) and goes on with it.
 */
export type WasmLoader = (context: LoaderContext) => LocalrankModule | Promise<LocalrankModule>;

/** Where the .wasm comes from: a URL, its bytes, or an already compiled module. */
export type WasmSource = string | URL | BufferSource | WebAssembly.Module;

/** Compiles what a URL points at (the runtime's own way: fetch in browsers, a file in Node). */
export type UrlCompiler = (url: URL) => Promise<WebAssembly.Module>;

/**
 * A loader for one flavour's bindings: `source` (default: the flavour's own .wasm) is compiled
 * on the first call, and each call makes a fresh instance from that one compiled module.
 */
export function moduleLoader(createBindings: () => Bindings, source: WasmSource, compileUrl: UrlCompiler): WasmLoader {
  let compiled: Promise<WebAssembly.Module> | null = null;
  return async () => {
    compiled ??= compileSource(source, compileUrl).catch((error: unknown) => {
      compiled = null; // a failed fetch is retried by the next call
      throw error;
    });
    const bindings = createBindings();
    await bindings.init({ module_or_path: await compiled });
    return { Ranker: rankerClass(bindings.WasmRanker) };
  };
}

function compileSource(source: WasmSource, compileUrl: UrlCompiler): Promise<WebAssembly.Module> {
  if (source instanceof WebAssembly.Module) return Promise.resolve(source);
  if (source instanceof ArrayBuffer || ArrayBuffer.isView(source)) return WebAssembly.compile(source);
  return compileUrl(new URL(String(source), globalThis.location?.href));
}

/**
 * Compiles the module at `url` with `fetch`, streaming when the server says `application/wasm`.
 * A page served where the .wasm should be (a dev server's index.html fallback, a 404 page) is
 * named as such, rather than surfacing as a compile error.
 */
export async function fetchAndCompile(url: URL): Promise<WebAssembly.Module> {
  let response: Response;
  try {
    response = await fetch(url);
  } catch (error) {
    throw new LocalrankClientError("UNAVAILABLE", `could not fetch the localrank WebAssembly module ${url.href}: ${messageOf(error)}`, error);
  }
  if (!response.ok) {
    throw new LocalrankClientError("UNAVAILABLE", `could not fetch the localrank WebAssembly module ${url.href}: HTTP ${response.status}`);
  }
  const type = response.headers.get("content-type") ?? "";
  if (/^text\/html\b/i.test(type)) {
    throw new LocalrankClientError(
      "UNAVAILABLE",
      `could not fetch the localrank WebAssembly module ${url.href} (got text/html: the server answered with a page, so the .wasm is not served at that URL; see the README on serving it)`,
    );
  }
  if (typeof WebAssembly.compileStreaming === "function" && /^application\/wasm\b/i.test(type)) {
    return WebAssembly.compileStreaming(response);
  }
  return WebAssembly.compile(await response.arrayBuffer());
}
