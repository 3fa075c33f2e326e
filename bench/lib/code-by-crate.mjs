// Which crates the module's code bytes come from: every function body's size, summed by the
// crate its (mangled) name starts with, generic code counted for the crate whose item it
// instantiates (`core::…<tract_core::…>` is tract_core's). It needs the name section, so it reads
// cargo's own output, before wasm-bindgen and wasm-opt strip it; the shares carry over, the
// sizes shrink (wasm-opt -Oz takes ~20 % off, brotli ~4.5×).
//
//   node bench/lib/code-by-crate.mjs "$CARGO_TARGET_DIR"/wasm32-unknown-unknown/release-slim/localrank.wasm [rows]

import { readFileSync } from "node:fs";

const bytes = readFileSync(process.argv[2]);
const rows = Number(process.argv[3] ?? 25);
let at = 8; // past the magic and version
const leb = () => {
  let value = 0;
  let shift = 0;
  let byte;
  do {
    byte = bytes[at++];
    value |= (byte & 0x7f) << shift;
    shift += 7;
  } while (byte & 0x80);
  return value >>> 0;
};
const skipLimits = () => (bytes[at++] & 1 ? (leb(), leb()) : leb());

let importedFunctions = 0;
const bodySizes = [];
const names = new Map();
while (at < bytes.length) {
  const id = bytes[at++];
  const end = leb() + at;
  if (id === 2) {
    // Imports: imported functions come first in the function index space.
    for (let n = leb(); n > 0; n--) {
      at += leb();
      at += leb();
      const kind = bytes[at++];
      if (kind === 0) leb(), importedFunctions++;
      else if (kind === 1) at++, skipLimits();
      else if (kind === 2) skipLimits();
      else at += 2;
    }
  } else if (id === 10) {
    for (let n = leb(); n > 0; n--) {
      const size = leb();
      bodySizes.push(size);
      at += size;
    }
  } else if (id === 0) {
    const nameLength = leb();
    if (bytes.toString("utf8", at, at + nameLength) === "name") {
      at += nameLength;
      while (at < end) {
        const sub = bytes[at++];
        const subEnd = leb() + at;
        if (sub === 1) {
          for (let n = leb(); n > 0; n--) {
            const index = leb();
            const length = leb();
            names.set(index, bytes.toString("utf8", at, at + length));
            at += length;
          }
        }
        at = subEnd;
      }
    }
  }
  at = end;
}

/** Rust's standard crates, whose generic code is counted for the crate it is instantiated for. */
const STANDARD = new Set(["core", "alloc", "std", "compiler_builtins"]);
function crateOf(name) {
  // Legacy mangling: `_ZN` + length-prefixed segments (`10tract_core3ops…`), or an impl's
  // `_$LT$Type$u20$as$u20$Trait$GT$…` with paths joined by `..` (a blanket impl's `T` has none:
  // its trait's crate counts). v0 mangling (`_R…`): each crate as `Cs<hash>_<length><name>`.
  const paths = name.startsWith("_R")
    ? [...name.matchAll(/C(?:s[0-9a-zA-Z]*_)?\d+([a-z][a-z0-9_]*)/g)].map((m) => m[1])
    : [...name.replace(/^_?ZN\d*/, "").matchAll(/(?:^|\$LT\$|\$u20\$|\$RF\$|\$C\$|\$BP\$)([a-z][a-z0-9_]*?)(?:\.\.|\d+[a-zA-Z_$])/g)].map((m) => m[1]);
  return paths.find((crate) => !STANDARD.has(crate)) ?? (paths[0] ? `${paths[0]} (standard library)` : "?");
}

const byCrate = new Map();
let total = 0;
bodySizes.forEach((size, i) => {
  const crate = crateOf(names.get(importedFunctions + i) ?? "?");
  byCrate.set(crate, (byCrate.get(crate) ?? 0) + size);
  total += size;
});
if (names.size === 0) throw new Error(`${process.argv[2]} has no name section: give it cargo's own output`);
console.log(`${bodySizes.length} functions, ${(total / 1024).toFixed(0)} KB of code`);
for (const [crate, size] of [...byCrate].sort((a, b) => b[1] - a[1]).slice(0, rows)) {
  console.log(`${((100 * size) / total).toFixed(1).padStart(5)} %  ${(size / 1024).toFixed(0).padStart(6)} KB  ${crate}`);
}
