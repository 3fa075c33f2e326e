// Benchmark cases shared by Node (bench/run.mjs) and the Chromium page (bench/page/bench.mjs).
// Everything here takes its engines as arguments, so the same code measures both runtimes.

import { mulberry32 } from "../../www/mulberry32.mjs";
import { JsPipeline, JsSignalStore, residualScore } from "./js-pipeline.mjs";

export const SIZES = [50, 200, 500, 2000];
export const EMBEDDING_DIM = 32;
export const NOW = Date.UTC(2026, 10, 1, 12, 0, 0);
export const UTC_OFFSET = 60;

/** Deterministic PRNG. */
export const rng = mulberry32;

export function randomMatrix(rows, width, seed) {
  const r = rng(seed);
  const m = new Float32Array(rows * width);
  for (let i = 0; i < m.length; i++) m[i] = r() * 4 - 2;
  return m;
}

/** A catalogue item as a server would send it (with fields localrank ignores). */
function makeItem(i, r) {
  const topics = [];
  const nTopics = 1 + Math.floor(r() * 4);
  for (let t = 0; t < nTopics; t++) {
    const name = `topic-${Math.floor(r() * r() * 300)}`;
    if (!topics.includes(name)) topics.push(name);
  }
  const embedding = Array.from({ length: EMBEDDING_DIM }, () => Math.round((r() * 2 - 1) * 1e4) / 1e4);
  return {
    id: `item-${i}`,
    author: `author-${Math.floor(r() * 200)}`,
    containers: [`guild-${Math.floor(r() * 20)}`, `channel-${Math.floor(r() * 100)}`],
    topics,
    embedding,
    title: `Item number ${i}`,
    url: `https://example.com/items/${i}`,
  };
}

const CATALOGUE = 10_000;

/** A server response of n candidates, plus a history of recorded events on the same catalogue. */
export function makeScenario(n, seed = 7, eventCount = 3000) {
  const r = rng(seed);
  const items = new Map();
  const item = (i) => {
    if (!items.has(i)) items.set(i, makeItem(i, rng(1000 + i)));
    return items.get(i);
  };
  const kinds = ["impression", "impression", "impression", "click", "dwell", "like", "share", "dismiss", "hide"];
  const events = [];
  for (let e = 0; e < eventCount; e++) {
    const it = item(Math.floor(r() * r() * CATALOGUE));
    const kind = kinds[Math.floor(r() * kinds.length)];
    const at = NOW - Math.floor(r() * r() * 40 * 86_400_000);
    const { title, url, ...ref } = it;
    const event = { kind, item: ref, at };
    if (kind === "dwell") event.dwellMs = Math.floor(r() * 120_000);
    events.push(event);
  }
  events.sort((a, b) => a.at - b.at);
  const candidates = [];
  const used = new Set();
  while (candidates.length < n) {
    const i = Math.floor(r() * CATALOGUE);
    if (used.has(i)) continue;
    used.add(i);
    const it = item(i);
    candidates.push({
      ...it,
      serverScore: Math.round((1 - candidates.length / n + r() * 0.2) * 1e4) / 1e4,
      popularity: Math.floor(r() * 100_000),
      createdAt: NOW - Math.floor(r() * 30 * 86_400_000),
      // Most items are clips with a length (what dwell is measured against); some are not.
      ...(r() < 0.8 ? { durationMs: 15_000 + Math.floor(r() * 165_000) } : {}),
    });
  }
  // As a client gets them: parsed from the response's JSON (plain objects of one shape).
  return { candidates: JSON.parse(JSON.stringify(candidates)), events };
}

export function stats(samples) {
  const s = Float64Array.from(samples).sort();
  const q = (p) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))];
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return { n: s.length, median: q(0.5), p99: q(0.99), min: s[0], mean };
}

const now = () => performance.now();

/**
 * Times `fns` (name → sync or async function) interleaved in rounds, so drift in machine
 * load hits every engine alike. Stops after `budgetMs` of total time or `maxIters` samples each.
 */
export async function timeInterleaved(fns, { budgetMs = 1500, maxIters = 3000, minIters = 30, warmup = 10 } = {}) {
  const names = Object.keys(fns);
  for (const name of names) for (let i = 0; i < warmup; i++) await fns[name]();
  const samples = Object.fromEntries(names.map((n) => [n, []]));
  const started = now();
  const block = 10;
  while (true) {
    for (const name of names) {
      const fn = fns[name];
      for (let i = 0; i < block; i++) {
        const t0 = now();
        const ret = fn();
        if (ret && typeof ret.then === "function") await ret;
        samples[name].push(now() - t0);
      }
    }
    const count = samples[names[0]].length;
    if (count >= maxIters || (count >= minIters && now() - started > budgetMs)) break;
  }
  return Object.fromEntries(names.map((n) => [n, stats(samples[n])]));
}

export function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

/** Case 1: the model alone on identical random matrices. */
export async function modelOnly({ ranker, ort, session, width, sizes = SIZES, budgetMs = 1200, log = () => {} }) {
  const out = {};
  const inputName = session.inputNames[0];
  const outputName = session.outputNames[0];
  for (const n of sizes) {
    const matrix = randomMatrix(n, width, n);
    const tensor = new ort.Tensor("float32", matrix, [n, width]);
    const lr = ranker.scoreFeatures(matrix, n);
    const ortScores = (await session.run({ [inputName]: tensor }))[outputName].data;
    const diff = maxAbsDiff(lr, ortScores);
    const t = await timeInterleaved(
      {
        localrank: () => ranker.scoreFeatures(matrix, n),
        ort: () => session.run({ [inputName]: new ort.Tensor("float32", matrix, [n, width]) }),
      },
      { budgetMs },
    );
    out[n] = { localrank: t.localrank, ort: t.ort, ratio: t.localrank.median / t.ort.median, maxAbsDiff: diff };
    log(`model-only N=${n}: localrank ${t.localrank.median.toFixed(4)} ms, ORT ${t.ort.median.toFixed(4)} ms, diff ${diff.toExponential(2)}`);
  }
  return out;
}

/**
 * Case 2: server response + recorded signals → ids, through the JS client
 * (the `localrank` package's `LocalRanker`, as an app calls it). `makeClient(rankerOptions)` resolves to a
 * fresh `LocalRanker`, `makeRanker(options)` builds a bare wasm `Ranker` (for the breakdown);
 * `session` is an ORT session on the same model.
 */
export async function endToEnd({ makeClient, makeRanker, packCandidates, ort, session, sizes = SIZES, budgetMs = 1500, log = () => {} }) {
  const out = {};
  for (const n of sizes) {
    const { candidates, events } = makeScenario(n);
    const client = await makeClient();
    await client.record(events, NOW);
    const ranker = makeRanker();
    ranker.record(events, NOW);
    const info = ranker.modelInfo();
    const js = new JsPipeline(ort, session, info.features);
    js.record(events);
    const request = { candidates, now: NOW, utcOffsetMinutes: UTC_OFFSET };
    const a = client.rerank(request);
    if (a.fallback) throw new Error(`localrank fell back: ${JSON.stringify(a.fallback)}`);
    const objects = ranker.rerank(request);
    const b = await js.rerank(request);
    // Parity: the Rust model on the JS matrix, and final scores/order of both pipelines.
    const rustOnJsMatrix = ranker.scoreFeatures(b.matrix, n);
    const rustFinalFromJsMatrix = Float32Array.from(rustOnJsMatrix, (s, i) => residualScore(s, b.matrix, i, js.builder));
    const parity = {
      scoresMaxAbsDiff: maxAbsDiff(a.scores, b.scores),
      sameMatrixScoresMaxAbsDiff: maxAbsDiff(a.scores, rustFinalFromJsMatrix),
      sameIdsOrder: a.ids.every((id, i) => id === b.ids[i]),
      top10Same: a.ids.slice(0, 10).every((id, i) => id === b.ids[i]),
      positionsDiffering: a.ids.filter((id, i) => id !== b.ids[i]).length,
      columnsEqualObjects: maxAbsDiff(a.scores, objects.scores) === 0 && a.ids.every((id, i) => id === objects.ids[i]),
    };
    // Where localrank's time goes: a request whose `now` is not a time is packed, copied into
    // wasm and checked for its shape, then refused (the server order, INVALID_REQUEST) before
    // validation, features or model.
    const matrix = b.matrix;
    const t = await timeInterleaved(
      {
        localrank: () => client.rerank(request),
        ortJs: () => js.rerank(request),
        lrPack: () => packCandidates(candidates),
        lrPackCopy: () => client.rerank({ ...request, now: -1 }),
        lrModelOnly: () => ranker.scoreFeatures(matrix, n),
        lrObjects: () => ranker.rerank(request),
        jsFeaturesOnly: () => js.builder.build(candidates, js.store, NOW, UTC_OFFSET),
      },
      { budgetMs },
    );
    out[n] = {
      localrank: t.localrank,
      ortJs: t.ortJs,
      ratio: t.localrank.median / t.ortJs.median,
      objectPath: t.lrObjects,
      breakdown: {
        packMedian: t.lrPack.median,
        packCopyMedian: t.lrPackCopy.median,
        modelMedian: t.lrModelOnly.median,
        validateFeaturesSortMedian: t.localrank.median - t.lrPackCopy.median - t.lrModelOnly.median,
        jsFeaturesMedian: t.jsFeaturesOnly.median,
      },
      parity,
      keyCount: ranker.keyCount,
      jsKeyCount: js.store.keyCount,
    };
    await client.close();
    ranker.free?.();
    log(
      `end-to-end N=${n}: localrank ${t.localrank.median.toFixed(4)} ms (p99 ${t.localrank.p99.toFixed(4)}; object path ${t.lrObjects.median.toFixed(4)}), ORT+JS ${t.ortJs.median.toFixed(4)} ms, parity ${JSON.stringify(parity)}`,
    );
  }
  return out;
}

/** Case 5: linear memory after load and across 10 000 reranks through the client. */
export async function memory({ makeClient, memoryBytes, n = 500, reranks = 10_000, log = () => {} }) {
  const { candidates, events } = makeScenario(n);
  const afterInstantiate = memoryBytes();
  const client = await makeClient();
  const afterLoad = memoryBytes();
  await client.record(events, NOW);
  const afterRecord = memoryBytes();
  const request = { candidates, now: NOW, utcOffsetMinutes: UTC_OFFSET };
  const checkpoints = [];
  for (let i = 1; i <= reranks; i++) {
    client.rerank(request);
    if (i === 1 || i % 2000 === 0) checkpoints.push({ reranks: i, bytes: memoryBytes() });
  }
  await client.close();
  const result = { n, afterInstantiate, afterLoad, afterRecord, checkpoints, afterAll: memoryBytes() };
  log(`memory: ${JSON.stringify(result)}`);
  return result;
}

/**
 * Case 7 (Chromium): worker mode. Per rerank at N, the page's own time (what blocks the main
 * thread: packing the candidate objects and posting them, or, for the request as the server
 * sent it — its JSON bytes, as `await response.arrayBuffer()` gives them — copying and posting
 * them) and the round trip until the result is back, against the same client reranking on the
 * page. The page's time is the call's own (sending), its time in the worker's message listener
 * when the result arrives (reading it), and from that listener's end until the result is the
 * caller's (the client's callbacks, e.g. mapping `order` onto the candidates' ids):
 * `receiving()` gives the page's running total of listener time and when the last one ended.
 * `makeWorkerClient()` resolves to a fresh worker-mode client, `makeClient()` to a page one;
 * both get the same events first.
 */
export async function workerMode({ makeWorkerClient, makeClient, receiving, n = 500, iterations = 400, log = () => {} }) {
  const { candidates, events } = makeScenario(n);
  const request = { candidates, now: NOW, utcOffsetMinutes: UTC_OFFSET };
  const serialized = new TextEncoder().encode(JSON.stringify(request));
  const [remote, local] = [await makeWorkerClient(), await makeClient()];
  await remote.record(events, NOW);
  await local.record(events, NOW);
  const expected = local.rerank(request).ids;
  const same = (await remote.rerank(request)).ids.every((id, i) => id === expected[i]);
  const sameSerialized = (await remote.rerank(serialized)).ids.every((id, i) => id === expected[i]);
  const times = { mainThread: [], roundTrip: [], serializedMainThread: [], serializedRoundTrip: [], onPage: [] };
  const remotely = async (input, mainThread, roundTrip) => {
    for (let i = 0; i < block; i++) {
      const before = receiving();
      const t0 = performance.now();
      const pending = remote.rerank(input);
      const t1 = performance.now();
      await pending;
      const t2 = performance.now();
      const after = receiving();
      if (i > 0) {
        mainThread.push(t1 - t0 + (after.totalMs - before.totalMs) + (t2 - after.lastEnd));
        roundTrip.push(t2 - t0);
      }
    }
  };
  // In blocks, each way of reranking back to back (the first of each block not counted): an
  // app uses one of them, and a page-side rerank just before made the next worker rerank's
  // page part ~3x slower in Chromium (measured; not when profiling).
  const block = 40;
  for (let b = 0; b < iterations / block; b++) {
    await remotely(request, times.mainThread, times.roundTrip);
    await remotely(serialized, times.serializedMainThread, times.serializedRoundTrip);
    for (let i = 0; i < block; i++) {
      const t0 = performance.now();
      local.rerank(request);
      if (i > 0) times.onPage.push(performance.now() - t0);
    }
  }
  await remote.close();
  await local.close();
  const result = { n, sameOrder: same && sameSerialized, serializedBytes: serialized.byteLength };
  for (const [name, samples] of Object.entries(times)) result[name] = stats(samples);
  result.addedLatencyMs = result.roundTrip.median - result.onPage.median;
  result.serializedAddedLatencyMs = result.serializedRoundTrip.median - result.onPage.median;
  log(`worker mode N=${n}: main thread ${result.mainThread.median.toFixed(3)} ms (serialized ${result.serializedMainThread.median.toFixed(3)} ms), round trip ${result.roundTrip.median.toFixed(3)} ms (serialized ${result.serializedRoundTrip.median.toFixed(3)} ms), on the page ${result.onPage.median.toFixed(3)} ms`);
  return result;
}

/**
 * Case 8: what a persist costs at a full store (20 000 keys). A client on an in-memory log
 * (`makeClient(storage)`; the storage's own cost is IndexedDB's or the file system's, not the
 * main thread's): after a burst of 10 events, the bytes a flush writes and its time, against
 * what a full snapshot per flush would write (what the client did before the log); and the
 * time the leader's checkpoint blocks the thread (the longer of its snapshot's two steps, case 6).
 */
export async function persistence({ makeClient, memoryStorage, flushes = 30, log = () => {} }) {
  const storage = memoryStorage();
  const writes = [];
  const client = await makeClient({ storage, onPersist: (info) => writes.push(info), flushDelayMs: Infinity });
  // Fill to 20 000 keys (item keys), appended and folded into a checkpoint by the leader.
  for (let b = 0; b < 20; b++) {
    await client.record(Array.from({ length: 1000 }, (_, i) => ({ kind: "click", item: { id: `fill-${b * 1000 + i}` }, at: NOW - 60_000 })), NOW);
    await client.flush();
  }
  const checkpoints = writes.filter((w) => w.kind === "checkpoint");
  const flushMs = [];
  const flushBytes = [];
  for (let f = 0; f < flushes; f++) {
    const events = Array.from({ length: 10 }, (_, i) => ({ kind: i % 2 ? "click" : "impression", item: { id: `fill-${(f * 10 + i) * 37 % 20_000}`, author: `author-${i}` }, at: NOW - 1000 + i }));
    await client.record(events, NOW);
    writes.length = 0;
    const t0 = performance.now();
    await client.flush();
    flushMs.push(performance.now() - t0);
    flushBytes.push(writes.filter((w) => w.kind === "append").reduce((n, w) => n + w.byteLength, 0));
  }
  const fullSnapshotBytes = storage.snapshotBytes?.length ?? 0;
  await client.close();
  const result = {
    keys: 20_000,
    flushBytes: stats(flushBytes),
    flushMs: stats(flushMs),
    fullSnapshotBytes,
    checkpointBytes: checkpoints.at(-1)?.byteLength ?? 0,
  };
  log(`persistence: a flush of 10 events writes ${result.flushBytes.median} B in ${result.flushMs.median.toFixed(3)} ms (a full snapshot: ${fullSnapshotBytes} B)`);
  return result;
}

/**
 * Case 6: events/s through what an app calls — `packEvents` + `recordColumns`, as the client's
 * `record` does — and through the object path (`record`, serde-wasm-bindgen), against a plain
 * JS store; then snapshot size/time of a store at its key cap.
 */
export function ingest({ makeRanker, packEvents, batch = 1000, batches = 60, log = () => {} }) {
  const r = rng(99);
  const kinds = ["impression", "click", "like", "dismiss"];
  const mkBatch = (b, fresh) =>
    Array.from({ length: batch }, (_, i) => {
      const id = fresh ? b * batch + i : Math.floor(r() * 500);
      return {
        kind: kinds[(b + i) % kinds.length],
        item: { id: `item-${id}`, author: `author-${id % 300}`, topics: [`topic-${id % 97}`, `topic-${id % 13}`] },
        at: NOW - (batches - b) * 1000 + i,
      };
    });
  // Steady state: a working set of 500 items (no eviction), one store per path, each given
  // every batch in the same order; the paths take turns on each batch.
  const steady = Array.from({ length: batches }, (_, b) => mkBatch(b, false));
  const columnsRanker = makeRanker();
  const objectsRanker = makeRanker();
  const js = new JsSignalStore();
  const times = { columns: [], objects: [], js: [], pack: [] };
  for (let b = 0; b < batches; b++) {
    const events = steady[b];
    const timed = (name, fn) => {
      const t0 = performance.now();
      fn();
      if (b >= 5) times[name].push(performance.now() - t0); // the first five warm up
    };
    timed("columns", () => columnsRanker.recordColumns(packEvents(events), NOW));
    timed("objects", () => objectsRanker.record(events, NOW));
    timed("js", () => js.record(events));
    timed("pack", () => packEvents(events));
  }
  const sameStore = equalBytes(columnsRanker.snapshot(), objectsRanker.snapshot());
  if (!sameStore) throw new Error("ingest: the columns and object paths built different stores");
  const perSec = (samples) => (batch / stats(samples).median) * 1000;
  // Fill to the key cap with new ids (each event adds an item key), then snapshot/restore.
  const capped = makeRanker();
  const recordFresh = () => capped.recordColumns(packEvents(mkBatch(b++, true)), NOW);
  let b = 0;
  const fillTimes = [];
  const timeFresh = () => {
    const t0 = performance.now();
    recordFresh();
    fillTimes.push(performance.now() - t0);
  };
  while (capped.keyCount < 19_000 && b < 100) timeFresh();
  // Past the cap (20 000 by default): eviction down to 90 %.
  for (let i = 0; i < 3; i++) timeFresh();
  // The whole snapshot in one call, and in the client checkpoint's two steps (each a task of
  // its own there, so what blocks a rerank is the longer one), taking turns.
  const snapTimes = [];
  const beginTimes = [];
  const finishTimes = [];
  let snapshot;
  for (let i = 0; i < 20; i++) {
    let t0 = performance.now();
    snapshot = capped.snapshot();
    snapTimes.push(performance.now() - t0);
    t0 = performance.now();
    capped.beginSnapshot();
    beginTimes.push(performance.now() - t0);
    t0 = performance.now();
    const stepped = capped.finishSnapshot();
    finishTimes.push(performance.now() - t0);
    if (!equalBytes(stepped, snapshot)) throw new Error("ingest: the snapshot in two steps differs from the whole one");
  }
  const restoreTimes = [];
  const target = makeRanker();
  for (let i = 0; i < 10; i++) {
    const t0 = performance.now();
    target.restore(snapshot, NOW);
    restoreTimes.push(performance.now() - t0);
  }
  const result = {
    batch,
    columnsEventsPerSec: perSec(times.columns),
    objectEventsPerSec: perSec(times.objects),
    jsEventsPerSec: perSec(times.js),
    columnsBatchMs: stats(times.columns),
    objectBatchMs: stats(times.objects),
    jsBatchMs: stats(times.js),
    packBatchMs: stats(times.pack),
    sameStore,
    freshKeyEventsPerSec: (batch / stats(fillTimes).median) * 1000,
    keyCountAtSnapshot: capped.keyCount,
    snapshotBytes: snapshot.length,
    snapshotMs: stats(snapTimes),
    snapshotBeginMs: stats(beginTimes),
    snapshotFinishMs: stats(finishTimes),
    restoreMs: stats(restoreTimes),
  };
  for (const ranker of [columnsRanker, objectsRanker, capped, target]) ranker.free?.();
  log(
    `ingest: ${Math.round(result.columnsEventsPerSec)} ev/s packEvents + recordColumns (pack ${result.packBatchMs.median.toFixed(3)} ms of ${result.columnsBatchMs.median.toFixed(3)} ms per ${batch}), ` +
      `${Math.round(result.objectEventsPerSec)} ev/s record (objects), ${Math.round(result.jsEventsPerSec)} ev/s JS; snapshot ${snapshot.length} B in ${result.snapshotMs.median.toFixed(2)} ms`,
  );
  return result;
}

function equalBytes(a, b) {
  return a.length === b.length && a.every((byte, i) => byte === b[i]);
}

/**
 * Case 9: what on-device learning adds to a rerank at N. A user who, list after list, opens
 * the first shown candidate of a topic the server ranks low, an hour apart (past each list's
 * label window, so every list is learnt from): the same events into a client that learns and
 * one with `learning: false`, until the learning one's head is active; then both rerank the
 * list, interleaved. With learning on, each rerank also remembers its shown list and, once the
 * memory is full, takes a step on the oldest: the steady state of a device.
 */
export async function learningCost({ makeClient, n = 500, rounds = 40, budgetMs = 1500, log = () => {} }) {
  const { candidates, events } = makeScenario(n);
  const [learning, base] = [await makeClient({ learning: true }), await makeClient({ learning: false })];
  for (const client of [learning, base]) await client.record(events, NOW);
  const topic = commonestTopic(candidates.slice(n / 2));
  const byId = new Map(candidates.map((c) => [c.id, c]));
  const ref = ({ id, author, containers, topics, embedding }) => ({ id, author, containers, topics, embedding });
  let at = NOW;
  let played = 0;
  let active = false;
  for (; played < rounds && !active; played++) {
    at += 3_600_000;
    const shown = learning.rerank({ candidates, now: at, utcOffsetMinutes: UTC_OFFSET }).ids.slice(0, 50);
    base.rerank({ candidates, now: at, utcOffsetMinutes: UTC_OFFSET });
    const opened = shown.find((id) => byId.get(id).topics.includes(topic));
    const seen = shown.map((id) => ({ kind: "impression", item: ref(byId.get(id)), at: at + 1000 }));
    if (opened) seen.push({ kind: "click", item: ref(byId.get(opened)), at: at + 2000 });
    for (const client of [learning, base]) await client.record(seen, at + 2000);
    active = (await learning.exportSignals(at + 2000)).learning.active;
  }
  const request = { candidates, now: at + 3_600_000, utcOffsetMinutes: UTC_OFFSET };
  const t = await timeInterleaved({ learningOn: () => learning.rerank(request), learningOff: () => base.rerank(request) }, { budgetMs });
  const state = (await learning.exportSignals(request.now)).learning;
  await learning.close();
  await base.close();
  const result = { n, topic, rounds: played, active: state.active, updates: state.updates, on: t.learningOn, off: t.learningOff, ratio: t.learningOn.median / t.learningOff.median };
  log(`learning N=${n}: head ${state.active ? "active" : "not active"} after ${played} lists (${state.updates} steps); rerank ${t.learningOn.median.toFixed(4)} ms with learning, ${t.learningOff.median.toFixed(4)} ms without: ${result.ratio.toFixed(3)}x`);
  return result;
}

/** The topic most candidates of `list` carry. */
function commonestTopic(list) {
  const counts = new Map();
  for (const c of list) for (const t of c.topics) counts.set(t, (counts.get(t) ?? 0) + 1);
  return [...counts].sort((a, b) => b[1] - a[1])[0][0];
}
