// README.md's usage example runs as written: the first ```js block under "## Usage" is saved
// as an ES module in a temporary directory laid out like the repository (example/ next to
// pkg/ and models/, which link to the built package and the model), and run with Node.
// LOCALRANK_README=path checks another file (for trying an example before it is pasted).

import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";

import { ROOT } from "./helpers.mjs";

const README = process.env.LOCALRANK_README ?? join(ROOT, "README.md");

/** The first ```js (or ```javascript / ```mjs) block after "## Usage" and before the next ## heading. */
export function usageExample(markdown) {
  const lines = markdown.split("\n");
  const start = lines.findIndex((line) => /^##\s+Usage\s*$/.test(line));
  if (start < 0) return null;
  let code = null;
  for (let i = start + 1; i < lines.length; i++) {
    if (/^#{1,2}\s/.test(lines[i])) break;
    if (code === null && /^```(js|javascript|mjs)\s*$/.test(lines[i])) {
      code = [];
    } else if (code !== null && /^```\s*$/.test(lines[i])) {
      return code.join("\n");
    } else if (code !== null) {
      code.push(lines[i]);
    }
  }
  return null;
}

const dir = mkdtempSync(join(tmpdir(), "localrank-readme-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the extractor takes the first js block under ## Usage only", () => {
  const markdown = "# x\n```js\nno()\n```\n## Usage\ntext\n```sh\nnpm i\n```\n```js\nyes()\n```\n```js\nlater()\n```\n## API\n";
  assert.equal(usageExample(markdown), "yes()");
  assert.equal(usageExample("## Usage\n## Next\n```js\nno()\n```\n"), null);
});

test("README.md's usage example runs against the built package", () => {
  assert.ok(existsSync(README), `${README} is missing`);
  const example = usageExample(readFileSync(README, "utf8"));
  assert.ok(example, `${README} has no \`\`\`js block under "## Usage"`);
  assert.match(example, /\.\.\/pkg\/nodejs\/localrank\.js/, "the example imports the package as ../pkg/nodejs/localrank.js");

  symlinkSync(join(ROOT, "pkg"), join(dir, "pkg"), "dir");
  symlinkSync(join(ROOT, "models"), join(dir, "models"), "dir");
  mkdirSync(join(dir, "example"));
  const script = join(dir, "example", "usage.mjs");
  writeFileSync(script, example);

  const run = spawnSync(process.execPath, [script], { cwd: join(dir, "example"), encoding: "utf8", timeout: 60_000 });
  assert.equal(run.error, undefined, String(run.error));
  assert.equal(run.status, 0, `the example failed:\n${run.stderr}`);
  assert.equal(run.stderr, "", "the example writes no warnings or errors");
  assert.ok(run.stdout.trim().length > 0, "the example prints its result");
});
