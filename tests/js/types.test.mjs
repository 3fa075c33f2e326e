// The published types: no `any` in the package's or the shim's declarations, and
// tests/js/types-check.ts (correct use compiles; each @ts-expect-error line is a wrong call
// that tsc must reject) passes `tsc --strict`.

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const file = (path) => fileURLToPath(new URL(path, import.meta.url));

/** Removes comments and string literals, which may say "any" in prose. */
function codeOnly(source) {
  return source
    .replace(/\/\*[\s\S]*?\*\//g, " ")
    .replace(/\/\/[^\n]*/g, " ")
    .replace(/"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*'|`(?:[^`\\]|\\.)*`/g, '""');
}

/** Lines (1-based) where `any` appears as a type. */
function anyLines(source) {
  return codeOnly(source)
    .split("\n")
    .flatMap((line, i) => (/\bany\b/.test(line) ? [`${i + 1}: ${line.trim()}`] : []));
}

test("the any-detector finds `any` in type position and ignores prose", () => {
  assert.deepEqual(anyLines("export function f(x: any): void;"), ["1: export function f(x: any): void;"]);
  assert.deepEqual(anyLines("let y: Array<any>;\nlet z: string;"), ["1: let y: Array<any>;"]);
  assert.deepEqual(anyLines("/** On any problem */\n// any time\nlet s: \"any\";"), []);
});

test("pkg/nodejs/localrank.d.ts has no `any`", () => {
  const source = readFileSync(file("../../pkg/nodejs/localrank.d.ts"), "utf8");
  assert.match(source, /export class Ranker/);
  assert.deepEqual(anyLines(source), []);
});

test("pkg/web/localrank.d.ts has no `any` in its API (wasm-bindgen's raw InitOutput exports aside)", () => {
  const source = readFileSync(file("../../pkg/web/localrank.d.ts"), "utf8");
  const cut = source.indexOf("export interface InitOutput");
  assert.ok(cut > 0, "the web build declares InitOutput");
  assert.deepEqual(anyLines(source.slice(0, cut)), []);
});

test("www/localrank-client.d.ts has no `any`", () => {
  const source = readFileSync(file("../../www/localrank-client.d.ts"), "utf8");
  assert.match(source, /export declare function createLocalRanker/);
  assert.deepEqual(anyLines(source), []);
});

test("tests/js/types-check.ts type-checks under --strict, with its expected errors", () => {
  const source = readFileSync(file("./types-check.ts"), "utf8");
  assert.ok((source.match(/@ts-expect-error/g) ?? []).length >= 20, "the wrong calls are still there");
  const tsc = file("../../node_modules/typescript/bin/tsc");
  const run = spawnSync(process.execPath, [tsc, "-p", file("./tsconfig.json")], { encoding: "utf8" });
  assert.equal(run.status, 0, `tsc failed:\n${run.stdout}${run.stderr}`);
  const config = JSON.parse(readFileSync(file("./tsconfig.json"), "utf8"));
  assert.equal(config.compilerOptions.strict, true);
  assert.equal(config.compilerOptions.noEmit, true);
});
