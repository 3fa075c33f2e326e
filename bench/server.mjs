// A tiny static server for the Chromium bench: /bench/, /pkg/localrank/ (the package), /models/ and
// /ort/ (= node_modules/onnxruntime-web/dist). By default nothing is cacheable, so every page
// load is cold; `cacheable: true` lets the browser keep every file (and, for a .wasm compiled
// from a streamed response, its compiled code) for the second-visit case. Cross-origin isolated, so performance.now() has microsecond (not 100 µs) resolution.
import { createReadStream, statSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const MOUNTS = { "/bench/": "bench/", "/www/": "www/", "/pkg/localrank/": "pkg/localrank/", "/models/": "models/", "/ort/": "node_modules/onnxruntime-web/dist/" };
const MIME = { ".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".onnx": "application/octet-stream", ".json": "application/json" };

export function startServer({ cacheable = false } = {}) {
  const server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url, "http://x").pathname);
    const prefix = Object.keys(MOUNTS).find((p) => path.startsWith(p));
    const rel = prefix && normalize(path.slice(prefix.length));
    if (!prefix || rel.startsWith("..")) return res.writeHead(404).end();
    const file = join(ROOT, MOUNTS[prefix], rel);
    try {
      if (!statSync(file).isFile()) throw new Error();
    } catch {
      return res.writeHead(404).end();
    }
    res.writeHead(200, { "Content-Type": MIME[extname(file)] ?? "application/octet-stream", "Cache-Control": cacheable ? "public, max-age=3600" : "no-store", "Cross-Origin-Opener-Policy": "same-origin", "Cross-Origin-Embedder-Policy": "require-corp" });
    createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ server, url: `http://127.0.0.1:${server.address().port}` })));
}
