// The published types have no `any` (tests/packaging/typescript is the strict consumer that
// type-checks correct use and rejected misuse against them).

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

import { PACKAGE } from "./helpers.mjs";

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

test("the package's published declarations have no `any`", () => {
  const files = readdirSync(`${PACKAGE}dist`, { recursive: true }).map(String).filter((f) => f.endsWith(".d.ts"));
  assert.ok(files.includes("entries/browser.d.ts") && files.includes("wasm/full/bindings.d.ts"), files.join(", "));
  for (const file of files) assert.deepEqual(anyLines(readFileSync(`${PACKAGE}dist/${file}`, "utf8")), [], file);
  assert.match(readFileSync(`${PACKAGE}dist/entries/browser.d.ts`, "utf8"), /createLocalRanker/);
});
