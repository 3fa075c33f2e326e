// How browser and worker entry points read model bytes and compile the .wasm: `fetch`.

import { LocalrankClientError } from "../errors.js";

export { fetchAndCompile as compileUrl } from "../wasm/loader.js";

export async function readUrl(url: URL, fetchImpl: typeof fetch | undefined): Promise<Uint8Array> {
  const response = await (fetchImpl ?? fetch)(url);
  if (!response.ok) throw new LocalrankClientError("UNAVAILABLE", `fetching the model ${url.href}: HTTP ${response.status}`);
  return new Uint8Array(await response.arrayBuffer());
}
