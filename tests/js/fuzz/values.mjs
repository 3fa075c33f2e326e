// Hostile JavaScript values for the boundary fuzzer, described as plain data: fast-check
// generates (and shrinks, and prints) the description, `materialize` builds the value — a
// getter that throws, a throwing or revoked Proxy, a detached or huge sparse array, a cycle,
// an odd prototype, a getter that calls back into the ranker. Plain ES with fast-check passed
// in, so the same code runs in Node and in a Chromium page.

const NOW = 1.7e12;
const DAY = 86_400_000;

/** Every typed array kind (Float16Array where the engine has one). */
const TYPED = ["Int8Array", "Uint8Array", "Uint8ClampedArray", "Int16Array", "Uint16Array", "Int32Array", "Uint32Array", "Float32Array", "Float64Array", "BigInt64Array", "BigUint64Array", "Float16Array"];

/** Keys the package reads somewhere (requests, candidates, events, options, columns), and a few it does not. */
export const KEYS = [
  "id", "author", "containers", "topics", "embedding", "serverScore", "popularity", "createdAt", "pinned",
  "kind", "item", "at", "dwellMs", "candidates", "now", "utcOffsetMinutes", "constraints", "explain", "onError",
  "maxDisplacement", "diversity", "by", "maxRun", "keyCap", "retentionDays", "maxCandidates", "timeBudgetMs",
  "memoryBudgetBytes", "trustedKeys", "text", "lengths", "ids", "authors", "containerOffsets", "containerKeys",
  "topicOffsets", "topicKeys", "embeddingOffsets", "embeddings", "serverScores", "createdAt", "kinds", "title",
  "__proto__", "constructor", "length", "0",
];

const WRAPPERS = ["getter-throws", "getter", "proxy-throws", "proxy-revoked", "proxy", "null-prototype", "inherited", "frozen", "reenter-rerank", "reenter-record"];

/**
 * The arbitraries: `value` (anything), and request/event/options shapes whose every part may
 * be hostile. `fc` is fast-check.
 */
export function arbitraries(fc) {
  const time = fc.oneof(
    fc.double(),
    fc.constantFrom(NaN, 0, -0, Infinity, -Infinity, 1e300, -1, 8.64e15, Number.MAX_SAFE_INTEGER, 1.7e12, 1.7e12 + 100 * 86_400_000),
    fc.integer({ min: 1.6e12, max: 1.8e12 }),
  );
  const number = fc.oneof(fc.double(), fc.integer({ min: -10, max: 100_000 }), time);
  const text = fc.oneof(fc.string({ unit: "binary", maxLength: 12 }), fc.constantFrom("a", "b", "", "\uD800", "a\uDC00", "\uFDD0x", "x".repeat(300)));
  const leaf = fc.oneof(
    { weight: 4, arbitrary: number.map((v) => ({ t: "num", v })) },
    { weight: 4, arbitrary: text.map((v) => ({ t: "str", v })) },
    fc.boolean().map((v) => ({ t: "bool", v })),
    fc.constantFrom({ t: "null" }, { t: "undef" }, { t: "sym" }, { t: "fn" }, { t: "cycle" }, { t: "date" }),
    fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }).map((v) => ({ t: "big", v: String(v) })),
    fc.record({ kind: fc.constantFrom(...TYPED, "DataView", "ArrayBuffer"), length: fc.oneof(fc.nat(40), fc.constantFrom(0, 512, 513, 100_000)), detached: fc.boolean() }).map((r) => ({ t: "typed", ...r })),
    // Mostly short: a fallback reads the ids of a huge list (up to 10^6), which takes time.
    fc.oneof({ weight: 4, arbitrary: fc.nat(64) }, fc.constantFrom(1e9, 2 ** 32 - 1, 100_001)).map((length) => ({ t: "sparse", length })),
    fc.constantFrom(10, 1000, 100_000).map((depth) => ({ t: "deep", depth })),
  );
  const wrap = (arbitrary) => fc.record({ how: fc.constantFrom(...WRAPPERS), of: arbitrary }).map((w) => ({ t: "wrap", ...w }));
  const { value } = fc.letrec((tie) => ({
    value: fc.oneof(
      { depthSize: "small", withCrossShrink: true },
      { weight: 6, arbitrary: leaf },
      { weight: 1, arbitrary: fc.array(tie("value"), { maxLength: 5 }).map((items) => ({ t: "arr", items })) },
      { weight: 1, arbitrary: fc.array(fc.tuple(fc.constantFrom(...KEYS), tie("value")), { maxLength: 5 }).map((fields) => ({ t: "obj", fields })) },
      { weight: 1, arbitrary: wrap(tie("value")) },
    ),
  }));
  // Shapes the package takes, each part usually of the right kind and now and then anything:
  // most cases get past the checks and into the module, the rest probe every check on the way.
  const field = (good, odds = 24) => fc.oneof({ weight: odds, arbitrary: good }, { weight: 1, arbitrary: value });
  const str = (pool, odds = 8) => fc.oneof({ weight: odds, arbitrary: fc.constantFrom(...pool) }, { weight: 1, arbitrary: text }).map((v) => ({ t: "str", v }));
  const num = (arbitrary) => arbitrary.map((v) => ({ t: "num", v }));
  const strings = (pool) => fc.array(field(str(pool, 100), 300), { maxLength: 4 }).map((items) => ({ t: "arr", items }));
  const nearNow = fc.oneof({ weight: 8, arbitrary: fc.integer({ min: NOW - 100 * DAY, max: NOW + 2 * 3_600_000 }) }, { weight: 1, arbitrary: time });
  const embedding = fc.oneof(
    { weight: 6, arbitrary: fc.array(field(num(fc.double({ min: -2, max: 2, noNaN: true })), 300), { minLength: 3, maxLength: 3 }).map((items) => ({ t: "arr", items })) },
    { weight: 1, arbitrary: fc.array(field(num(fc.double())), { maxLength: 6 }).map((items) => ({ t: "arr", items })) },
    { weight: 1, arbitrary: fc.constantFrom(3, 4).map((length) => ({ t: "typed", kind: "Float32Array", length, detached: false })) },
  );
  /**
   * An object of `fields`, each present 3 times in 4 — those in `usual`, 29 in 30 — and anything
   * instead in 1 of `odds`.
   */
  const object = (fields, usual = [], odds = 24) =>
    fc.record(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, fc.option(field(v, odds), { nil: undefined, freq: usual.includes(k) ? 30 : 3 })]))).map((record) => ({
      t: "obj",
      fields: Object.entries(record).filter(([, v]) => v !== undefined),
    }));
  const maybeWrapped = (arbitrary, odds = 12) => fc.oneof({ weight: odds, arbitrary }, { weight: 1, arbitrary: wrap(arbitrary) });
  const ids = Array.from({ length: 200 }, (_, i) => `id-${i}`);
  const item = maybeWrapped(object({ id: str(ids.slice(0, 20), 100), author: str(["x", "y", "z"]), containers: strings(["g", "h"]), topics: strings(["t", "u", "v"]), embedding }, ["id"], 200), 150);
  // A list has up to 16: each candidate is hostile more rarely than the list itself.
  const candidate = maybeWrapped(
    object({
      id: str(ids, 100),
      author: str(["x", "y", "z"]),
      containers: strings(["g", "h"]),
      topics: strings(["t", "u", "v"]),
      embedding,
      serverScore: num(fc.oneof(fc.double({ min: -1, max: 1, noNaN: true }), number)),
      popularity: num(fc.oneof(fc.nat(1000), number)),
      createdAt: num(nearNow),
      pinned: fc.boolean().map((v) => ({ t: "bool", v })),
    }, ["id"], 200),
    150,
  );
  /** Candidates with distinct ids (a duplicate is one more way to fall back, tried elsewhere). */
  const idOf = (d) => (d.t === "obj" ? JSON.stringify(d.fields.find(([k]) => k === "id")?.[1] ?? null) : Math.random());
  const candidateList = maybeWrapped(fc.uniqueArray(candidate, { maxLength: 16, selector: idOf }).map((items) => ({ t: "arr", items })));
  const list = (element) => maybeWrapped(fc.array(element, { maxLength: 12 }).map((items) => ({ t: "arr", items })));
  const diversity = object({ by: str(["author", "container"], 40), maxRun: num(fc.integer({ min: 0, max: 4 })) }, ["by", "maxRun"]);
  const constraints = object({ maxDisplacement: num(fc.integer({ min: -1, max: 6 })), diversity });
  const settingsFields = {
    now: num(nearNow),
    utcOffsetMinutes: num(fc.integer({ min: -1500, max: 1500 })),
    constraints,
    explain: fc.boolean().map((v) => ({ t: "bool", v })),
    onError: str(["fallback", "fallback", "fallback", "throw"], 40),
  };
  const request = maybeWrapped(object({ candidates: candidateList, ...settingsFields }, ["candidates"]));
  const settings = maybeWrapped(object(settingsFields));
  const event = maybeWrapped(
    fc.oneof(
      { weight: 6, arbitrary: object({ kind: str(["impression", "click", "like", "share", "dismiss", "hide"], 100), item, at: num(nearNow) }, ["kind", "item", "at"], 200) },
      { weight: 1, arbitrary: object({ kind: str(["dwell"], 100), item, at: num(nearNow), dwellMs: num(fc.oneof(fc.nat(3_600_000), number)) }, ["kind", "item", "at", "dwellMs"], 200) },
    ),
    150,
  );
  const options = maybeWrapped(
    object({
      keyCap: num(fc.integer({ min: -1, max: 2_000_000 })),
      retentionDays: num(fc.oneof(fc.integer({ min: 1, max: 400 }), number)),
      maxCandidates: num(fc.integer({ min: -1, max: 200_000 })),
      timeBudgetMs: num(fc.oneof(fc.integer({ min: 1, max: 1000 }), number)),
      memoryBudgetBytes: num(fc.integer({ min: -1, max: 2 ** 31 })),
      onError: str(["fallback", "throw"]),
      trustedKeys: strings(["00".repeat(32), "ab"]),
    }),
  );
  /** A time as a call takes it: usually near now, sometimes anything. */
  const callTime = fc.oneof({ weight: 6, arbitrary: nearNow.map((v) => ({ t: "num", v })) }, { weight: 1, arbitrary: value });
  return { value, time, callTime, request, settings, candidates: candidateList, events: list(event), options, column: value };
}

/**
 * The value a description stands for. `context.ranker` is what a re-entering getter calls
 * (a rerank or a record on it).
 */
export function materialize(description, context) {
  const build = (d) => materialize(d, context);
  switch (description.t) {
    case "num":
    case "str":
    case "bool":
      return description.v;
    case "null":
      return null;
    case "undef":
      return undefined;
    case "sym":
      return Symbol("fuzz");
    case "fn":
      return () => 1;
    case "date":
      return new Date(0);
    case "big":
      return BigInt(description.v);
    case "cycle": {
      const cycle = { id: "cycle" };
      cycle.self = cycle;
      cycle.list = [cycle];
      return cycle.list;
    }
    case "typed":
      return typed(description);
    case "sparse": {
      const array = [];
      array.length = description.length;
      return array;
    }
    case "deep": {
      let deep = [];
      for (let i = 0; i < description.depth; i++) deep = [deep];
      return deep;
    }
    case "arr":
      return description.items.map(build);
    case "obj": {
      const object = {};
      for (const [key, value] of description.fields) Object.defineProperty(object, key, { value: build(value), enumerable: true, configurable: true, writable: true });
      return object;
    }
    case "wrap":
      return wrapped(description.how, build(description.of), context);
    default:
      throw new Error(`unknown description ${description.t}`);
  }
}

function typed({ kind, length, detached }) {
  const Kind = globalThis[kind];
  if (kind === "ArrayBuffer") return detach(new ArrayBuffer(length), detached);
  if (kind === "DataView") {
    const buffer = new ArrayBuffer(length);
    const view = new DataView(buffer);
    detach(buffer, detached);
    return view;
  }
  if (typeof Kind !== "function") return new Float64Array(length);
  const array = new Kind(length);
  detach(array.buffer, detached);
  return array;
}

function detach(buffer, detached) {
  if (detached) structuredClone(buffer, { transfer: [buffer] });
  return buffer;
}

const boom = () => {
  throw new Error("hostile");
};

/** A copy of `target` with the same own properties (getters copied, not called), or `target` if it cannot be read. */
function copyOf(target) {
  try {
    return Object.defineProperties(Array.isArray(target) ? [] : {}, Object.getOwnPropertyDescriptors(target));
  } catch {
    return target;
  }
}

/** `value` wrapped `how` (or as it is, where that wrapping cannot be made of it). */
function wrapped(how, value, context) {
  const target = typeof value === "object" && value !== null ? value : { value };
  try {
    return wrap(how, value, target, context);
  } catch {
    return target;
  }
}

function wrap(how, value, target, context) {
  switch (how) {
    case "getter-throws":
      return Object.defineProperty(copyOf(target), "id", { get: boom, enumerable: true, configurable: true });
    case "getter":
      return Object.defineProperty({}, "id", { get: () => value, enumerable: true });
    case "proxy-throws":
      return new Proxy(target, { get: boom, has: boom, ownKeys: boom, getOwnPropertyDescriptor: boom, getPrototypeOf: boom });
    case "proxy-revoked": {
      const { proxy, revoke } = Proxy.revocable(target, {});
      revoke();
      return proxy;
    }
    case "proxy":
      return new Proxy(target, {});
    case "null-prototype": {
      const copy = copyOf(target);
      return copy === target ? target : Object.setPrototypeOf(copy, null);
    }
    case "inherited":
      return Object.create(target);
    case "frozen":
      return Object.freeze(target);
    case "reenter-rerank":
      return reentering(target, () => context.ranker?.rerank({ candidates: [{ id: "inner" }], now: 1.7e12 }));
    case "reenter-record":
      return reentering(target, () => context.ranker?.record([{ kind: "click", item: { id: "inner" }, at: 1.7e12 }], 1.7e12));
    default:
      throw new Error(`unknown wrapper ${how}`);
  }
}

/** `target` whose every read first makes `call` (a call back into the ranker). */
function reentering(target, call) {
  return new Proxy(target, {
    get(object, key, receiver) {
      call();
      return Reflect.get(object, key, receiver);
    },
  });
}
