// How Node entry points (Node, Electron's main process) read model bytes and compile the .wasm:
// `file:` URLs from disk, anything else through `fetch`.

import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

import { fetchAndCompile } from "../wasm/loader.js";
import { readUrl as fetchBytes } from "./browser.js";

export async function readUrl(url: URL, fetchImpl: typeof fetch | undefined): Promise<Uint8Array> {
  if (url.protocol !== "file:") return fetchBytes(url, fetchImpl);
  const data = await readFile(fileURLToPath(url));
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export async function compileUrl(url: URL): Promise<WebAssembly.Module> {
  if (url.protocol !== "file:") return fetchAndCompile(url);
  return WebAssembly.compile(await readFile(fileURLToPath(url)));
}
