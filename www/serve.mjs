#!/usr/bin/env node
// The demo's static server (node:http, no dependencies), also used by the browser tests and
// the packaging tests (which serve a bundler's output with it).
//
//   node www/serve.mjs [PORT] [--host HOST]     PORT 0 picks a free port; default 8080, host 127.0.0.1
//
// The demo serves `/` (a redirect to /www/index.html) and the repository's /www/, /models/
// and the built package under /pkg/localrank/, nothing else, with a strict
// Content-Security-Policy (no inline code, no eval; only 'wasm-unsafe-eval' for the
// WebAssembly module, and each page's own inline import map by its hash) and no caching.
// Prints "localrank demo: http://HOST:PORT/" once listening. Importable: `startServer(...)`.

import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";
import { readFile, realpath, stat } from "node:fs/promises";
import { createServer } from "node:http";
import { extname, join, resolve, sep } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const ROOT = resolve(fileURLToPath(new URL("..", import.meta.url)));

/** URL prefix → directory: what the demo serves. */
export const DEMO_MOUNTS = [
  ["/www/", join(ROOT, "www")],
  ["/pkg/localrank/", join(ROOT, "pkg/localrank")],
  ["/models/", join(ROOT, "models")],
];
/** Served too when a test asks for it (`testPages: true`): the browser tests' own pages. */
export const TEST_PAGES = ["/tests/js/fixtures/", join(ROOT, "tests/js/fixtures")];

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self' 'wasm-unsafe-eval'; style-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'";

const MIME = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".cjs": "text/javascript; charset=utf-8",
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
  "Cache-Control": "no-store",
  "X-Content-Type-Options": "nosniff",
  "Referrer-Policy": "no-referrer",
};

/**
 * The file a URL path maps to under `mounts` (tried in order), or null. Decoded segments with
 * "..", NUL, backslashes or leading dots are refused, and the real path (after symlinks) must
 * stay under its mount's directory. A path ending in "/" means its index.html.
 * @param {string} urlPath
 * @param {readonly (readonly [string, string])[]} mounts
 * @returns {Promise<string | null>}
 */
export async function resolveFile(urlPath, mounts) {
  for (const [prefix, dir] of mounts) {
    if (!urlPath.startsWith(prefix)) continue;
    let segments;
    try {
      segments = urlPath.slice(prefix.length).split("/").map(decodeURIComponent);
    } catch {
      return null;
    }
    if (segments.at(-1) === "") segments[segments.length - 1] = "index.html";
    if (segments.some((s) => s === "" || s === "." || s === ".." || s.startsWith(".") || /[\\\0]/.test(s))) return null;
    try {
      const [realBase, realFile] = await Promise.all([realpath(dir), realpath(join(dir, ...segments))]);
      if (realFile.startsWith(realBase + sep) && (await stat(realFile)).isFile()) return realFile;
    } catch {
      // not under this mount: try the next one
    }
  }
  return null;
}

/**
 * The CSP for a file: an HTML page may also run its own inline import maps, allowed by hash
 * (a page without a bundler maps `localrank` to the package's entry point that way).
 */
async function policyFor(file) {
  if (extname(file).toLowerCase() !== ".html") return CONTENT_SECURITY_POLICY;
  const html = await readFile(file, "utf8");
  const hashes = [...html.matchAll(/<script type="importmap">([\s\S]*?)<\/script>/g)].map(
    ([, map]) => `'sha256-${createHash("sha256").update(map).digest("base64")}'`,
  );
  return hashes.length ? CONTENT_SECURITY_POLICY.replace("script-src 'self'", `script-src 'self' ${hashes.join(" ")}`) : CONTENT_SECURITY_POLICY;
}

async function handle(request, response, mounts, redirectRoot) {
  const send = (status, body, headers = {}) => {
    response.writeHead(status, {
      ...COMMON_HEADERS,
      "Content-Security-Policy": CONTENT_SECURITY_POLICY,
      "Content-Type": "text/plain; charset=utf-8",
      ...headers,
    });
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
  if (redirectRoot && (path === "/" || path === "/www" || path === "/www/")) {
    send(302, "see /www/index.html\n", { Location: "/www/index.html" });
    return;
  }
  const file = await resolveFile(path, mounts);
  if (!file) {
    send(404, "not found\n");
    return;
  }
  const info = await stat(file);
  response.writeHead(200, {
    ...COMMON_HEADERS,
    "Content-Security-Policy": await policyFor(file),
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
 * Starts the server; resolves once it listens. By default it serves the demo (`DEMO_MOUNTS`);
 * `testPages: true` adds the browser tests' pages, and `mounts` serves other directories
 * instead (e.g. `[["/", "dist"]]`), under the same headers.
 * @param {{ port?: number, host?: string, testPages?: boolean, mounts?: (readonly [string, string])[] }} [options]
 * @returns {Promise<{ server: import("node:http").Server, url: string, port: number, close: () => Promise<void> }>}
 */
export async function startServer({ port = 8080, host = "127.0.0.1", testPages = false, mounts } = {}) {
  const served = mounts ?? (testPages ? [...DEMO_MOUNTS, TEST_PAGES] : DEMO_MOUNTS);
  const server = createServer((request, response) => {
    handle(request, response, served, mounts === undefined).catch(() => {
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
