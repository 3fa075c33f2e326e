// Assembles the `localrank` npm package from wasm-pack's outputs and the TypeScript client:
//
//   pkg/localrank/                 the package folder (what `npm pack` packs)
//     package.json                 client/package.json + the version from Cargo.toml
//     dist/wasm/{full,slim}/       each flavour's .wasm (as wasm-opt left it) and its bindings
//     dist/**.js, .d.ts            the client, compiled by tsc from client/src
//     dist/entries/*.cjs           the Node entry points as CommonJS (esbuild), for require()
//   pkg/localrank-VERSION.tgz      the tarball apps install (`npm pack`)
//
// and prints each entry point's size (raw / gzip / brotli): the JavaScript an app's bundle
// takes from it (bundled and minified by esbuild), and the .wasm it loads.
//
//   node client/scripts/assemble.mjs    (run by ./build.sh after wasm-pack and wasm-opt)

import { execFileSync } from "node:child_process";
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { brotliCompressSync, constants, gzipSync } from "node:zlib";

import * as esbuild from "esbuild";

import { wrapGlueJs, wrapGlueTypes } from "./wrap-glue.mjs";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const OUT = `${ROOT}pkg/localrank/`;
const FLAVOURS = { full: "pkg/wasm-pack/full", slim: "pkg/wasm-pack/slim" };
const NODE_ENTRIES = ["node", "slim-node", "core-node", "slim-core-node"];

function version() {
  const cargo = readFileSync(`${ROOT}Cargo.toml`, "utf8");
  const found = cargo.match(/^version = "([^"]+)"/m);
  if (!found) throw new Error("assemble: no version in Cargo.toml");
  return found[1];
}

function wasmBindings() {
  for (const [flavour, dir] of Object.entries(FLAVOURS)) {
    const out = `${OUT}dist/wasm/${flavour}/`;
    mkdirSync(out, { recursive: true });
    writeFileSync(`${out}bindings.js`, wrapGlueJs(readFileSync(`${ROOT}${dir}/localrank.js`, "utf8")));
    writeFileSync(`${out}bindings.d.ts`, wrapGlueTypes(readFileSync(`${ROOT}${dir}/localrank.d.ts`, "utf8")));
    copyFileSync(`${ROOT}${dir}/localrank_bg.wasm`, `${out}localrank_bg.wasm`);
  }
}

function compileClient() {
  execFileSync(process.execPath, [`${ROOT}node_modules/typescript/bin/tsc`, "-p", `${ROOT}client/tsconfig.json`], { stdio: "inherit" });
}

/**
 * CommonJS copies of the Node entry points, next to the ES modules so the .wasm's relative
 * URL stays the same; `import.meta.url` becomes the CommonJS file's own URL.
 */
async function commonJsEntries() {
  await esbuild.build({
    entryPoints: NODE_ENTRIES.map((entry) => `${OUT}dist/entries/${entry}.js`),
    outdir: `${OUT}dist/entries`,
    outExtension: { ".js": ".cjs" },
    bundle: true,
    format: "cjs",
    platform: "node",
    target: "node18",
    define: { "import.meta.url": "__localrankModuleUrl" },
    banner: { js: 'const __localrankModuleUrl = require("node:url").pathToFileURL(__filename).href;' },
    logLevel: "warning",
  });
}

function packageJson() {
  const template = JSON.parse(readFileSync(`${ROOT}client/package.json`, "utf8"));
  const manifest = { name: template.name, version: version(), ...template };
  writeFileSync(`${OUT}package.json`, `${JSON.stringify(manifest, null, 2)}\n`);
  copyFileSync(`${ROOT}README.md`, `${OUT}README.md`);
}

function pack() {
  const output = execFileSync("npm", ["pack", "--json", "--pack-destination", `${ROOT}pkg`], { cwd: OUT, encoding: "utf8" });
  const [{ filename }] = JSON.parse(output);
  // A fixed name as well, so tests and fixtures need not know the version.
  copyFileSync(`${ROOT}pkg/${filename}`, `${ROOT}pkg/localrank.tgz`);
  return filename;
}

const sizes = (bytes) => [
  bytes.length,
  gzipSync(bytes, { level: 9 }).length,
  brotliCompressSync(bytes, { params: { [constants.BROTLI_PARAM_QUALITY]: 11 } }).length,
];

/** The JavaScript `entry` puts into an app's bundle, bundled and minified. */
async function bundledJs(entry, platform) {
  const result = await esbuild.build({
    entryPoints: [`${OUT}dist/entries/${entry}.js`],
    bundle: true,
    minify: true,
    format: "esm",
    platform,
    write: false,
    logLevel: "silent",
  });
  return result.outputFiles[0].contents;
}

async function printSizes() {
  const kb = (n) => `${(n / 1024).toFixed(1)} KB`;
  const row = (label, [raw, gzip, brotli]) => console.log(`${label.padEnd(52)}${kb(raw).padStart(11)}${kb(gzip).padStart(11)}${kb(brotli).padStart(11)}`);
  console.log(`\n${"localrank package, per entry point".padEnd(52)}${"raw".padStart(11)}${"gzip".padStart(11)}${"brotli".padStart(11)}`);
  const entries = [
    ["localrank", "browser", "full"],
    ["localrank/slim", "slim-browser", "slim"],
    ["localrank/core", "core-browser", "full"],
    ["localrank/slim/core", "slim-core-browser", "slim"],
  ];
  for (const [name, entry, flavour] of entries) {
    row(`${name} (browser): JS, bundled + minified`, sizes(await bundledJs(entry, "browser")));
    row(`${name}: .wasm (dist/wasm/${flavour})`, sizes(readFileSync(`${OUT}dist/wasm/${flavour}/localrank_bg.wasm`)));
  }
}

rmSync(OUT, { recursive: true, force: true });
wasmBindings();
compileClient();
await commonJsEntries();
packageJson();
const tarball = pack();
await printSizes();
console.log(`\npackage: pkg/localrank/ and pkg/${tarball} (also pkg/localrank.tgz)`);
