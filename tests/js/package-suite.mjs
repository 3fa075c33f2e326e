// The behaviour the raw Ranker must show in every build of the package, run against
// `localrank/core` through CommonJS (package-cjs.test.mjs) and as an ES module
// (package-esm.test.mjs).

import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, test } from "node:test";

import {
  DAY_MS, ERROR_CODES, NOW, catalogue, corrupted, expectLocalrankError, idsOf, itemRef, likesFor,
  lowCandidate, modelBytes, newSigningKey, publicKeyBytes, sealBundle, withSnapshotVersion,
} from "./helpers.mjs";

const FEATURE_GROUPS = ["server", "affinity", "recency", "fatigue", "similarity", "context"];

/**
 * @param {string} label
 * @param {{ Ranker: new (model: Uint8Array, options?: object) => any }} pkg
 */
export function packageSuite(label, pkg) {
  const { Ranker } = pkg;
  const items = catalogue();
  const model = modelBytes();
  const fresh = (options) => new Ranker(model, options);

  describe(`${label}: model and results`, () => {
    test("loads the default model and describes it", () => {
      const ranker = fresh();
      const info = ranker.modelInfo();
      assert.equal(typeof info.name, "string");
      assert.ok(info.name.length > 0);
      assert.equal(info.contractVersion, 2);
      assert.ok(Array.isArray(info.features) && info.features.length > 0);
      const prefixes = ["server", "affinity", "share", "count", "dwell", "seen", "recency", "fatigue", "user", "session", "recent", "context"];
      for (const feature of info.features) assert.ok(prefixes.includes(feature.split(".")[0]), feature);
      assert.equal(info.byteSize, model.byteLength);
      assert.equal(typeof info.opset, "number");
      assert.equal(ranker.keyCount, 0);
      ranker.free();
    });

    test("rerank returns a permutation with typed arrays, pinned items in place", () => {
      const ranker = fresh();
      const result = ranker.rerank({ candidates: items, now: NOW });
      assert.equal(result.fallback, null);
      assert.ok(result.order instanceof Uint32Array, "order is a Uint32Array");
      assert.ok(result.scores instanceof Float32Array, "scores is a Float32Array");
      assert.equal(result.order.length, items.length);
      assert.equal(result.scores.length, items.length);
      assert.ok(result.scores.every(Number.isFinite));
      assert.deepEqual([...result.order].sort((a, b) => a - b), items.map((_, i) => i));
      assert.deepEqual(result.ids, [...result.order].map((i) => items[i].id));
      items.forEach((item, i) => item.pinned && assert.equal(result.ids[i], item.id, `pinned ${item.id} stays at ${i}`));
      assert.equal(typeof result.elapsedMs, "number");
      assert.ok(result.elapsedMs >= 0);
      assert.equal(result.explanations, undefined);
      ranker.free();
    });

    test("explain gives per-group contributions for every candidate", () => {
      const ranker = fresh();
      const result = ranker.rerank({ candidates: items, now: NOW, explain: true });
      assert.equal(result.fallback, null);
      assert.equal(result.explanations.length, items.length);
      result.explanations.forEach((explanation, i) => {
        assert.equal(explanation.serverRank, i);
        assert.equal(result.ids[explanation.rank], items[i].id);
        const groups = Object.keys(explanation.contributions);
        assert.ok(groups.length > 0);
        for (const group of groups) {
          assert.ok(FEATURE_GROUPS.includes(group), group);
          assert.ok(Number.isFinite(explanation.contributions[group]));
        }
      });
      ranker.free();
    });

    test("a liked topic moves its item up, and the explanation says why", () => {
      const ranker = fresh();
      const info = ranker.modelInfo();
      const before = ranker.rerank({ candidates: items, now: NOW, explain: true });
      const target = lowCandidate(items, before.ids);
      const { events, via } = likesFor(target, info, NOW - 60_000);
      const summary = ranker.record(events, NOW);
      assert.deepEqual(summary, { recorded: events.length, expired: 0, clamped: 0 });
      assert.ok(ranker.keyCount > 0);
      const after = ranker.rerank({ candidates: items, now: NOW, explain: true });
      assert.equal(after.fallback, null);
      const [rankBefore, rankAfter] = [before.ids.indexOf(target.id), after.ids.indexOf(target.id)];
      assert.ok(rankAfter < rankBefore, `${target.id} (liked via ${via}) moved from ${rankBefore} to ${rankAfter}`);
      const index = items.indexOf(target);
      const [was, now] = [before.explanations[index].contributions, after.explanations[index].contributions];
      const localGain = ["affinity", "recency", "similarity"].reduce((sum, g) => sum + ((now[g] ?? 0) - (was[g] ?? 0)), 0);
      assert.ok(localGain > 0, `local-signal groups gained ${localGain}`);
      ranker.free();
    });

    test("dismissals move an item down when the model reads negative signals", (t) => {
      const ranker = fresh();
      const info = ranker.modelInfo();
      if (!info.features.some((f) => f.includes(".neg."))) {
        t.skip(`${info.name} reads no negative affinity`);
        return;
      }
      const before = ranker.rerank({ candidates: items, now: NOW });
      const target = items.find((item, i) => !item.pinned && i > 3 && before.ids.indexOf(item.id) < 12);
      ranker.record([1, 2, 3].map((k) => ({ kind: "hide", item: itemRef(target), at: NOW - k * 1000 })), NOW);
      const after = ranker.rerank({ candidates: items, now: NOW });
      assert.ok(after.ids.indexOf(target.id) > before.ids.indexOf(target.id), `${target.id} moved down`);
      ranker.free();
    });

    test("maxDisplacement bounds how far any candidate moves", () => {
      const ranker = fresh();
      const info = ranker.modelInfo();
      const target = lowCandidate(items, ranker.rerank({ candidates: items, now: NOW }).ids);
      ranker.record(likesFor(target, info, NOW - 1000, 5).events, NOW);
      const free = ranker.rerank({ candidates: items, now: NOW });
      const freeMove = Math.max(...free.ids.map((id, rank) => Math.abs(rank - items.findIndex((item) => item.id === id))));
      assert.ok(freeMove > 5, `without the constraint something moves more than 5 (${freeMove})`);
      const bounded = ranker.rerank({ candidates: items, now: NOW, constraints: { maxDisplacement: 5 } });
      assert.equal(bounded.fallback, null);
      bounded.ids.forEach((id, rank) => {
        const serverRank = items.findIndex((item) => item.id === id);
        assert.ok(Math.abs(rank - serverRank) <= 5, `${id}: ${serverRank} → ${rank}`);
      });
      ranker.free();
    });

    test("a time budget that cannot be met gives the server order with TIME_BUDGET_EXCEEDED", () => {
      const ranker = fresh({ timeBudgetMs: 1e-6 });
      const result = ranker.rerank({ candidates: items, now: NOW });
      assert.equal(result.fallback?.reason, "TIME_BUDGET_EXCEEDED");
      assert.deepEqual(result.ids, idsOf(items));
      assert.equal(fresh({ timeBudgetMs: 60_000 }).rerank({ candidates: items, now: NOW }).fallback, null);
      ranker.free();
    });

    test("ignores extra fields, so a server response's items go in as they are", () => {
      const ranker = fresh();
      const plain = items.map(({ id, author, containers, topics, embedding, serverScore, popularity, createdAt, pinned }) =>
        ({ id, author, containers, topics, embedding, serverScore, popularity, createdAt, ...(pinned ? { pinned } : {}) }));
      const a = ranker.rerank({ candidates: items, now: NOW });
      const b = ranker.rerank({ candidates: plain, now: NOW });
      assert.deepEqual(a.ids, b.ids);
      assert.deepEqual(a.scores, b.scores);
      ranker.free();
    });

    test(
      "optional candidate fields set to undefined count as absent",
      () => {
        const ranker = fresh();
        const spread = items.map((item) => ({ ...item, pinned: item.pinned || undefined }));
        const result = ranker.rerank({ candidates: spread, now: NOW });
        assert.equal(result.fallback, null, JSON.stringify(result.fallback));
        assert.deepEqual(result.ids, ranker.rerank({ candidates: items, now: NOW }).ids);
        ranker.free();
      },
    );
  });

  describe(`${label}: signals`, () => {
    test("record counts events past retention as expired and stores none of them", () => {
      const ranker = fresh({ retentionDays: 30 });
      const summary = ranker.record([
        { kind: "click", item: { id: "old" }, at: NOW - 31 * DAY_MS },
        { kind: "dwell", item: { id: "new", topics: ["rust"] }, at: NOW - 1000, dwellMs: 45_000 },
      ], NOW);
      assert.deepEqual(summary, { recorded: 1, expired: 1, clamped: 0 });
      const exported = ranker.exportSignals(NOW);
      assert.deepEqual(exported.keys.map((k) => `${k.family}:${k.key}`).sort(), ["item:new", "topic:rust"]);
      assert.equal(exported.retentionDays, 30);
      ranker.free();
    });

    test("snapshot and restore round-trip the signals exactly", () => {
      const ranker = fresh();
      const info = ranker.modelInfo();
      const target = items[40];
      ranker.record([
        ...likesFor(target, info, NOW - 5000).events,
        { kind: "click", item: itemRef(items[10]), at: NOW - 4000 },
        { kind: "impression", item: itemRef(items[11]), at: NOW - 3000 },
        { kind: "dismiss", item: itemRef(items[12]), at: NOW - 2000 },
      ], NOW);
      const snapshot = ranker.snapshot();
      assert.ok(snapshot instanceof Uint8Array);
      assert.equal(new TextDecoder().decode(snapshot.subarray(0, 6)), "LRSIG1");
      assert.deepEqual(ranker.snapshot(), snapshot, "the same store gives the same bytes");

      const copy = fresh();
      copy.restore(snapshot, NOW);
      assert.equal(copy.keyCount, ranker.keyCount);
      assert.deepEqual(copy.exportSignals(NOW), ranker.exportSignals(NOW));
      const [a, b] = [ranker.rerank({ candidates: items, now: NOW }), copy.rerank({ candidates: items, now: NOW })];
      assert.deepEqual(b.ids, a.ids);
      assert.deepEqual(b.scores, a.scores);
      // Both remembered the list they showed (the personal head's memory): still byte for byte.
      assert.deepEqual(copy.snapshot(), ranker.snapshot());
      ranker.free();
      copy.free();
    });

    test("clear forgets everything", () => {
      const ranker = fresh();
      const baseline = ranker.rerank({ candidates: items, now: NOW });
      ranker.record(likesFor(items[45], ranker.modelInfo(), NOW - 1000).events, NOW);
      assert.notDeepEqual(ranker.rerank({ candidates: items, now: NOW }).scores, baseline.scores);
      ranker.clear();
      assert.equal(ranker.keyCount, 0);
      const exported = ranker.exportSignals(NOW);
      assert.deepEqual(exported.keys, []);
      assert.equal(exported.totals, null);
      assert.equal(exported.userVector, null);
      const after = ranker.rerank({ candidates: items, now: NOW });
      assert.deepEqual(after.ids, baseline.ids);
      assert.deepEqual(after.scores, baseline.scores);
      ranker.free();
    });

    test("exportSignals is plain JSON-compatible data", () => {
      const ranker = fresh();
      ranker.record([{ kind: "like", item: itemRef(items[5]), at: NOW - 1000 }], NOW);
      const exported = ranker.exportSignals(NOW);
      assert.deepEqual(JSON.parse(JSON.stringify(exported)), exported);
      assert.equal(exported.asOf, NOW);
      assert.ok(exported.keys.length >= 4, "item, author, containers and topics of the liked item");
      for (const key of exported.keys) {
        assert.ok(["item", "author", "container", "topic", "user"].includes(key.family));
        assert.ok(Array.isArray(key.counts));
      }
      assert.equal(exported.userVector.dimension, items[5].embedding.length);
      ranker.free();
    });
  });

  describe(`${label}: verified models`, () => {
    const signer = newSigningKey();
    const signerHex = publicKeyBytes(signer).toString("hex");
    const sha256 = createHash("sha256").update(model).digest("hex");

    test("a bare model reports its SHA-256 and no signer", () => {
      const info = fresh().modelInfo();
      assert.equal(info.sha256, sha256);
      assert.equal(info.signedBy, null);
    });

    test("trustedKeys: a bundle signed by a trusted key loads and ranks like the bare model", () => {
      const bundle = sealBundle(model, signer);
      const ranker = fresh();
      const verified = new Ranker(bundle, { trustedKeys: [newSigningKeyHex(), signerHex.toUpperCase()] });
      const info = verified.modelInfo();
      assert.equal(info.signedBy, signerHex);
      assert.equal(info.sha256, sha256);
      assert.equal(info.byteSize, bundle.length);
      const request = { candidates: items, now: NOW };
      assert.deepEqual(verified.rerank(request).ids, ranker.rerank(request).ids);
      verified.free();
      ranker.free();
    });

    test("trustedKeys refuse unsigned, foreign and tampered models with clear codes", () => {
      const options = { trustedKeys: [signerHex] };
      expectLocalrankError(assert, () => new Ranker(model, options), "MODEL_UNSIGNED");
      expectLocalrankError(assert, () => new Ranker(sealBundle(model), options), "MODEL_UNSIGNED");
      expectLocalrankError(assert, () => new Ranker(sealBundle(model, newSigningKey()), options), "MODEL_UNTRUSTED_KEY");
      const tampered = sealBundle(model, signer);
      tampered[tampered.length - 100] ^= 0x01; // one bit of the ONNX weights
      const error = expectLocalrankError(assert, () => new Ranker(tampered, options), "MODEL_TAMPERED");
      assert.match(error.message, /SHA-256/);
      expectLocalrankError(assert, () => new Ranker(tampered, undefined), "MODEL_TAMPERED");
      expectLocalrankError(assert, () => new Ranker(model, { trustedKeys: ["not hex"] }), "INVALID_OPTIONS");
    });

    function newSigningKeyHex() {
      return publicKeyBytes(newSigningKey()).toString("hex");
    }
  });

  describe(`${label}: errors`, () => {
    test("every thrown error is an Error named LocalrankError with a documented code", () => {
      const error = expectLocalrankError(assert, () => new Ranker(new Uint8Array([1, 2, 3, 4]), undefined), "INVALID_MODEL");
      assert.ok(ERROR_CODES.includes(error.code));
      assert.ok(error.stack === undefined || typeof error.stack === "string");
    });

    test("corrupt model bytes give INVALID_MODEL", () => {
      for (const cut of [0.1, 0.5, 0.99]) {
        const truncated = model.slice(0, Math.floor(model.length * cut));
        expectLocalrankError(assert, () => new Ranker(truncated, undefined), "INVALID_MODEL");
      }
      const flipped = model.slice();
      for (let i = 100; i < 200; i++) flipped[i] ^= 0xff;
      expectLocalrankError(assert, () => new Ranker(flipped, undefined), "INVALID_MODEL");
      const text = new TextEncoder().encode("<html>404 not found</html>");
      expectLocalrankError(assert, () => new Ranker(text, undefined), "INVALID_MODEL");
    });

    test("bad options give INVALID_OPTIONS", () => {
      expectLocalrankError(assert, () => fresh({ maxCandidates: 0 }), "INVALID_OPTIONS");
      expectLocalrankError(assert, () => fresh({ timeBudgetMs: -1 }), "INVALID_OPTIONS");
      expectLocalrankError(assert, () => fresh({ onError: "explode" }), "INVALID_OPTIONS");
      expectLocalrankError(assert, () => fresh({ keyCap: "many" }), "INVALID_OPTIONS");
      expectLocalrankError(assert, () => fresh("fast"), "INVALID_OPTIONS");
    });

    test(
      "misspelt option and request fields are refused",
      () => {
        expectLocalrankError(assert, () => fresh({ keyCapp: 10 }), "INVALID_OPTIONS");
        const ranker = fresh();
        assert.equal(ranker.rerank({ candidates: items, now: NOW, explian: true }).fallback?.reason, "INVALID_REQUEST");
        ranker.free();
      },
    );

    test("a corrupt snapshot gives CORRUPT_SNAPSHOT and keeps the current signals", () => {
      const ranker = fresh();
      ranker.record([{ kind: "like", item: itemRef(items[7]), at: NOW - 1000 }], NOW);
      const snapshot = ranker.snapshot();
      const before = ranker.exportSignals(NOW);
      expectLocalrankError(assert, () => ranker.restore(corrupted(snapshot), NOW), "CORRUPT_SNAPSHOT");
      expectLocalrankError(assert, () => ranker.restore(snapshot.subarray(0, 10), NOW), "CORRUPT_SNAPSHOT");
      expectLocalrankError(assert, () => ranker.restore(new Uint8Array(0), NOW), "CORRUPT_SNAPSHOT");
      assert.deepEqual(ranker.exportSignals(NOW), before);
      ranker.free();
    });

    test("a snapshot from a newer format gives SNAPSHOT_VERSION and keeps the current signals", () => {
      const ranker = fresh();
      ranker.record([{ kind: "like", item: itemRef(items[8]), at: NOW - 1000 }], NOW);
      const before = ranker.exportSignals(NOW);
      const empty = fresh();
      expectLocalrankError(assert, () => ranker.restore(withSnapshotVersion(empty.snapshot(), 99), NOW), "SNAPSHOT_VERSION");
      assert.deepEqual(ranker.exportSignals(NOW), before);
      ranker.free();
      empty.free();
    });

    test("a bad event gives INVALID_EVENT and stores nothing of its batch", () => {
      const ranker = fresh();
      const good = { kind: "like", item: itemRef(items[3]), at: NOW - 1000 };
      const bad = [
        { kind: "teleport", item: { id: "x" }, at: NOW },
        { kind: "click", item: { id: "" }, at: NOW },
        { kind: "click", item: { id: "x" }, at: Number.NaN },
        { kind: "click", item: { id: "x" }, at: -5 },
        { kind: "dwell", item: { id: "x" }, at: NOW },
        { kind: "click", item: { id: "x" }, at: NOW, dwellMs: 1000 },
        { kind: "click", item: { id: "x", embedding: [1, Number.NaN] }, at: NOW },
        { kind: "click", at: NOW },
      ];
      for (const event of bad) {
        expectLocalrankError(assert, () => ranker.record([good, event], NOW), "INVALID_EVENT");
        assert.equal(ranker.keyCount, 0, `nothing stored after ${JSON.stringify(event)}`);
      }
      expectLocalrankError(assert, () => ranker.record("not a list", NOW), "INVALID_EVENT");
      assert.deepEqual(ranker.record([good], NOW), { recorded: 1, expired: 0, clamped: 0 });
      ranker.free();
    });

    test("bad requests return the server order with reason INVALID_REQUEST", () => {
      const ranker = fresh();
      const cases = {
        "duplicate ids": [items[0], items[1], { ...items[2], id: items[0].id }],
        "NaN serverScore": [items[0], { ...items[1], serverScore: Number.NaN }, items[2]],
        "infinite createdAt": [items[0], items[1], { ...items[2], createdAt: Number.POSITIVE_INFINITY }],
        "empty id": [items[0], { ...items[1], id: "" }],
        "embedding lengths differ": [items[0], { ...items[1], embedding: [1, 2, 3] }],
      };
      for (const [what, candidates] of Object.entries(cases)) {
        const result = ranker.rerank({ candidates, now: NOW });
        assert.equal(result.fallback?.reason, "INVALID_REQUEST", what);
        assert.equal(typeof result.fallback.message, "string");
        assert.deepEqual(result.ids, idsOf(candidates), `${what}: server order`);
        assert.deepEqual([...result.order], candidates.map((_, i) => i));
        assert.ok(result.order instanceof Uint32Array && result.scores instanceof Float32Array);
        assert.equal(result.scores.length, 0);
      }
      const notAList = ranker.rerank({ candidates: 42 });
      assert.equal(notAList.fallback.reason, "INVALID_REQUEST");
      assert.deepEqual(notAList.ids, []);
      assert.equal(ranker.rerank({ candidates: items, now: -1 }).fallback.reason, "INVALID_REQUEST");
      assert.equal(ranker.rerank({ candidates: items, utcOffsetMinutes: 5000 }).fallback.reason, "INVALID_REQUEST");
      assert.equal(ranker.rerank({ candidates: items, now: NOW }).fallback, null, "the ranker still works");
      ranker.free();
    });

    test("too many candidates give TOO_MANY_CANDIDATES", () => {
      const ranker = fresh({ maxCandidates: 10 });
      const result = ranker.rerank({ candidates: items.slice(0, 11), now: NOW });
      assert.equal(result.fallback.reason, "TOO_MANY_CANDIDATES");
      assert.deepEqual(result.ids, idsOf(items.slice(0, 11)));
      assert.equal(ranker.rerank({ candidates: items.slice(0, 10), now: NOW }).fallback, null);
      ranker.free();
    });

    test('onError: "throw" throws instead of falling back, per ranker or per request', () => {
      const duplicate = [items[0], { ...items[1], id: items[0].id }];
      const throwing = fresh({ onError: "throw" });
      expectLocalrankError(assert, () => throwing.rerank({ candidates: duplicate, now: NOW }), "INVALID_REQUEST");
      expectLocalrankError(assert, () => throwing.rerank({ candidates: items, now: -1 }), "INVALID_REQUEST");
      assert.equal(throwing.rerank({ candidates: duplicate, now: NOW, onError: "fallback" }).fallback.reason, "INVALID_REQUEST");
      const lenient = fresh();
      expectLocalrankError(assert, () => lenient.rerank({ candidates: duplicate, now: NOW, onError: "throw" }), "INVALID_REQUEST");
      expectLocalrankError(assert, () => lenient.rerank({ candidates: 42, onError: "throw" }), "INVALID_REQUEST");
      throwing.free();
      lenient.free();
    });
  });
}
