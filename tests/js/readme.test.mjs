// README.md's usage examples are the fixture apps' code, word for word: each ```js block
// marked `<!-- example: PATH -->` must equal the file PATH, which tests/packaging runs inside a
// real app (Vite, webpack, Node ESM, Node CJS) with the packed package installed. Every file
// in tests/packaging/examples/ must be quoted, so no example the fixtures run goes unshown.
// LOCALRANK_README=path checks another file (for trying an edit before it is pasted).

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import { ROOT } from "./helpers.mjs";

const README = process.env.LOCALRANK_README ?? join(ROOT, "README.md");
const EXAMPLES = "tests/packaging/examples";

/** Each `<!-- example: PATH -->` marker with the fenced code block right after it. */
export function quotedExamples(markdown) {
  const found = [];
  const pattern = /<!-- example: (\S+) -->\n```\w*\n([\s\S]*?)```\n/g;
  for (const [, path, code] of markdown.matchAll(pattern)) found.push({ path, code });
  return found;
}

test("the extractor pairs each marker with the block that follows it", () => {
  const markdown = "x\n<!-- example: a.js -->\n```js\none();\n```\ntext\n```js\nnot();\n```\n<!-- example: b.mjs -->\n```js\ntwo();\n```\n";
  assert.deepEqual(quotedExamples(markdown), [
    { path: "a.js", code: "one();\n" },
    { path: "b.mjs", code: "two();\n" },
  ]);
});

test("README.md quotes every fixture example exactly", () => {
  const quoted = quotedExamples(readFileSync(README, "utf8"));
  const files = readdirSync(join(ROOT, EXAMPLES)).map((file) => `${EXAMPLES}/${file}`).sort();
  assert.deepEqual(quoted.map((q) => q.path).sort(), files, "every example is quoted once, and nothing else is");
  for (const { path, code } of quoted) {
    assert.equal(code, readFileSync(join(ROOT, path), "utf8"), `the README's copy of ${path}`);
  }
});
