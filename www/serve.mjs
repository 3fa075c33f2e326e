#!/usr/bin/env node
// The demo's static server (node:http, no dependencies).
//
//   node www/serve.mjs [PORT] [--host HOST]     PORT 0 picks a free port; default 8080, host 127.0.0.1
//
// Serves `/` (a redirect to /www/index.html) and files under /www/, /pkg/web/ and /models/
// of the repository, nothing else, with a strict Content-Security-Policy (no inline code, no
// eval; only 'wasm-unsafe-eval' for the WebAssembly module) and no caching. Prints
// "localrank demo: http://HOST:PORT/" once listening. Importable: `startServer({ port })`.

import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));
/** URL prefixes that map onto the repository; everything else is 404. */
export const SERVED = ["/www/", "/pkg/web/", "/models/"];
/** Served too when a test asks for it (`startServer({ testPages: true })`): the browser tests' own pages. */
export const TEST_PAGES = "/tests/js/fixtures/";

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".wasm": "application/wasm",
  ".onnx": "application/octet-stream",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/markdown; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ico": "image/x-icon",
  ".txt": "text/plain; charset=utf-8",
};

const COMMON_HEADERS = {
  "Content-Security-Policy": CONTENT_SECURITY_POLICY,
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
  "Cross-Origin-Opener-Policy": "same-origin",
};

/**
 * The file a URL path maps to, or null if it is not one this server serves. Decoded segments
 * with "..", NUL, backslashes or leading dots are refused, and the real path (after symlinks)
 * must stay under its served directory.
 * @param {string} urlPath
 * @param {readonly string[]} [served] the URL prefixes served (default `SERVED`)
 * @returns {Promise<string | null>}
 */
export async function resolveFile(urlPath, served = SERVED) {
  const prefix = served.find((p) => urlPath.startsWith(p));
  if (!prefix) return null;
  let segments;
  try {
    segments = urlPath.slice(1).split("/").map(decodeURIComponent);
  } catch {
    return null;
  }
  if (segments.some((s) => s === "" || s === "." || s === ".." || s.startsWith(".") || /[\\\0]/.test(s))) {
    return null;
  }
  const base = join(ROOT, prefix);
  const file = join(ROOT, ...segments);
  try {
    const [realBase, realFile] = await Promise.all([realpath(base), realpath(file)]);
    if (!realFile.startsWith(realBase + sep)) return null;
    return (await stat(realFile)).isFile() ? realFile : null;
  } catch {
    return null;
  }
}

/**
 * @param {import("node:http").IncomingMessage} request
 * @param {import("node:http").ServerResponse} response
 * @param {readonly string[]} served
 */
async function handle(request, response, served) {
  const send = (status, body, headers = {}) => {
    response.writeHead(status, { ...COMMON_HEADERS, "Content-Type": "text/plain; charset=utf-8", ...headers });
    response.end(request.method === "HEAD" ? undefined : body);
  };
  if (request.method !== "GET" && request.method !== "HEAD") {
    send(405, "method not allowed\n", { Allow: "GET, HEAD" });
    return;
  }
  let path;
  try {
    path = new URL(request.url ?? "/", "http://localhost").pathname;
  } catch {
    send(400, "bad request\n");
    return;
  }
  if (path === "/" || path === "/www" || path === "/www/") {
    send(302, "see /www/index.html\n", { Location: "/www/index.html" });
    return;
  }
  const file = await resolveFile(path, served);
  if (!file) {
    send(404, "not found\n");
    return;
  }
  const info = await stat(file);
  response.writeHead(200, {
    ...COMMON_HEADERS,
    "Content-Type": MIME[extname(file).toLowerCase()] ?? "application/octet-stream",
    "Content-Length": info.size,
  });
  if (request.method === "HEAD") {
    response.end();
    return;
  }
  createReadStream(file)
    .on("error", () => response.destroy())
    .pipe(response);
}

/**
 * Starts the server; resolves once it listens. `testPages: true` also serves `TEST_PAGES`, under
 * the same headers, so browser tests run their own pages under the demo's CSP.
 * @param {{ port?: number, host?: string, testPages?: boolean }} [options]
 * @returns {Promise<{ server: import("node:http").Server, url: string, port: number, close: () => Promise<void> }>}
 */
export async function startServer({ port = 8080, host = "127.0.0.1", testPages = false } = {}) {
  const served = testPages ? [...SERVED, TEST_PAGES] : SERVED;
  const server = createServer((request, response) => {
    handle(request, response, served).catch(() => {
      if (!response.headersSent) response.writeHead(500, COMMON_HEADERS);
      response.end();
    });
  });
  await new Promise((resolvePromise, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolvePromise(undefined));
  });
  const address = server.address();
  const actualPort = typeof address === "object" && address ? address.port : port;
  const shownHost = host.includes(":") ? `[${host}]` : host;
  return {
    server,
    url: `http://${shownHost}:${actualPort}/`,
    port: actualPort,
    close: () =>
      new Promise((resolvePromise) => {
        server.closeAllConnections?.();
        server.close(() => resolvePromise());
      }),
  };
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const args = process.argv.slice(2);
  const hostIndex = args.indexOf("--host");
  const host = hostIndex >= 0 ? args.splice(hostIndex, 2)[1] : "127.0.0.1";
  const port = args.length > 0 ? Number(args[0]) : 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error("usage: node www/serve.mjs [PORT] [--host HOST]   (PORT 0 picks a free port)");
    process.exit(2);
  }
  const { url, close } = await startServer({ port, host });
  console.log(`localrank demo: ${url}`);
  const stop = () => close().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
