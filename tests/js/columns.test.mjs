// The client's fast path: candidates packed into columns (`packCandidates`) and ranked by
// `Ranker.rerankColumns` must give exactly what the object path (`Ranker.rerank`) gives; what
// the columns cannot carry takes the object path and its coded errors. And the slim package
// (NNEF-only) must rank exactly like the full one.

import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { test } from "node:test";

import { createLocalRanker, packCandidates } from "../../www/localrank-client.mjs";
import { NOW, catalogue, expectLocalrankError, itemRef, modelBytes } from "./helpers.mjs";

const require = createRequire(import.meta.url);
const pkg = require("../../pkg/nodejs/localrank.js");
const items = catalogue();

/** Signals on a few catalogue items, so the ranking is not the server's. */
function events() {
  return items.slice(20, 30).map((item, i) => ({ kind: i % 3 ? "like" : "dismiss", item: itemRef(item), at: NOW - i * 3_600_000 }));
}

function ranked(Ranker, model) {
  const ranker = new Ranker(model);
  ranker.record(events(), NOW);
  return ranker;
}

test("packed columns rank exactly like the objects, with and without constraints", () => {
  const ranker = ranked(pkg.Ranker, modelBytes());
  const columns = packCandidates(items);
  assert.ok(columns, "the demo response packs");
  const occurrences = items.reduce((n, c) => n + 1 + (c.author ? 1 : 0) + (c.containers?.length ?? 0) + (c.topics?.length ?? 0), 0);
  assert.ok(columns.lengths.length < occurrences, "shared keys are stored once");
  for (const extra of [{}, { explain: true }, { constraints: { maxDisplacement: 4, diversity: { by: "container", maxRun: 2 } } }]) {
    const request = { candidates: items, now: NOW, ...extra };
    const objects = ranker.rerank(request);
    const packed = ranker.rerankColumns(columns, request);
    assert.equal(packed.fallback, null);
    assert.deepEqual([...packed.order], [...objects.order], JSON.stringify(extra));
    assert.deepEqual([...packed.scores], [...objects.scores], "bit for bit");
    assert.deepEqual(packed.explanations, objects.explanations);
  }
  ranker.free();
});

test("the client takes the columns path and returns the ids of the order", async () => {
  const client = await createLocalRanker({ initWasm: () => pkg, modelBytes: modelBytes(), flushDelayMs: Infinity });
  await client.record(events(), NOW);
  const raw = ranked(pkg.Ranker, modelBytes());
  const odd = [...items.slice(0, 5), { id: "😀 \ud800 lone surrogate", topics: ["x"] }, { id: "last" }];
  for (const candidates of [items, odd]) {
    const viaClient = client.rerank({ candidates, now: NOW });
    const viaObjects = raw.rerank({ candidates, now: NOW });
    assert.equal(viaClient.fallback, null);
    // (The object path returns ids decoded from wasm, a lone surrogate replaced; the client
    // returns the candidates' own ids.)
    assert.deepEqual(viaClient.ids, [...viaObjects.order].map((i) => candidates[i].id));
    assert.deepEqual([...viaClient.scores], [...viaObjects.scores]);
  }
  raw.free();
  await client.close();
});

test("what the columns cannot carry takes the object path and its coded error", async () => {
  const client = await createLocalRanker({ initWasm: () => pkg, modelBytes: modelBytes(), flushDelayMs: Infinity });
  const [a, b] = [items[0], items[1]];
  const bad = {
    "a number id": [a, { ...b, id: 7 }],
    "a NaN score": [a, { ...b, serverScore: NaN }],
    "a string in an embedding": [{ ...a, embedding: [1, "2"] }, { ...b, embedding: [1, 2] }],
    "embeddings of two lengths": [{ ...a, embedding: [1, 2] }, { ...b, embedding: [1] }],
    "topics not a list": [a, { ...b, topics: "rust" }],
    "a string for pinned": [a, { ...b, pinned: "yes" }],
  };
  for (const [name, candidates] of Object.entries(bad)) {
    assert.equal(packCandidates(candidates), null, name);
    const result = client.rerank({ candidates, now: NOW });
    assert.equal(result.fallback?.reason, "INVALID_REQUEST", name);
    assert.deepEqual(result.order, Uint32Array.from([0, 1]), `${name}: server order`);
  }
  // Values the columns carry are validated in the module, as for objects.
  for (const candidates of [[a, { ...b, id: a.id }], [a, { ...b, serverScore: 1e39 }], [a, { ...b, id: "" }]]) {
    assert.ok(packCandidates(candidates));
    assert.equal(client.rerank({ candidates, now: NOW }).fallback?.reason, "INVALID_REQUEST");
  }
  await client.close();
  const ranker = new pkg.Ranker(modelBytes());
  expectLocalrankError(assert, () => ranker.rerankColumns({ ...packCandidates(items), ids: new Float32Array(items.length) }, { onError: "throw" }), "INVALID_REQUEST");
  ranker.free();
});

// The slim build as the full package exports it (`localrank/slim`, a copy of pkg/nodejs-slim).
const SLIM = new URL("../../pkg/nodejs/slim/localrank.js", import.meta.url);
const NNEF = new URL("../../models/ranker.nnef.tar", import.meta.url);

test("the slim package (NNEF only) ranks exactly like the full one", { skip: !existsSync(SLIM) && "pkg/nodejs/slim not built" }, () => {
  const manifest = JSON.parse(readFileSync(new URL("../../pkg/nodejs/package.json", import.meta.url), "utf8"));
  assert.deepEqual(manifest.exports["./slim"], { types: "./slim/localrank.d.ts", default: "./slim/localrank.js" });
  const slim = require(SLIM.pathname);
  const nnef = new Uint8Array(readFileSync(NNEF));
  const [full, small] = [ranked(pkg.Ranker, modelBytes()), ranked(slim.Ranker, nnef)];
  assert.deepEqual(small.modelInfo().features, full.modelInfo().features, "the contract came with the NNEF archive");
  const columns = packCandidates(items);
  const [a, b] = [full.rerankColumns(columns, { now: NOW }), small.rerankColumns(columns, { now: NOW })];
  assert.deepEqual([...b.order], [...a.order]);
  assert.deepEqual([...b.scores], [...a.scores]);
  expectLocalrankError(assert, () => new slim.Ranker(modelBytes()), "INVALID_MODEL");
  full.free();
  small.free();
});

test("an engine that cannot compile the module (no wasm SIMD) gets a coded UNAVAILABLE error", async () => {
  // A module using a SIMD instruction, as localrank's does everywhere; on an engine without
  // SIMD this compile throws the same WebAssembly.CompileError, simulated here by a bad opcode.
  const noSimd = async () => {
    await WebAssembly.compile(Uint8Array.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 1, 4, 1, 0x60, 0, 0, 3, 2, 1, 0, 10, 5, 1, 3, 0, 0xff, 0x0b]));
    return pkg;
  };
  await assert.rejects(createLocalRanker({ initWasm: noSimd, modelBytes: modelBytes() }), (error) => {
    assert.equal(error.name, "LocalrankClientError");
    assert.equal(error.code, "UNAVAILABLE");
    assert.match(error.message, /cannot compile .* wasm SIMD/);
    assert.ok(error.cause instanceof WebAssembly.CompileError);
    return true;
  });
});
