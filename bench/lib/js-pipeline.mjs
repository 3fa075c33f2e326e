// The "straightforward JavaScript" baseline of the end-to-end benchmark: a signal store and
// feature builder written in plain JS, following src/signals/* and src/features/{feature,
// builder}.rs, scored by onnxruntime-web and sorted. Only the feature kinds a contract can name
// are implemented; counters are kept as f32 (Math.fround) like the Rust store so the two
// pipelines agree to float rounding.

import { EVENT_KINDS } from "localrank";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const HALF_LIVES = { "1h": HOUR_MS, "1d": DAY_MS, "7d": 7 * DAY_MS, "30d": 30 * DAY_MS };
const HALF_LIFE_MS = Object.values(HALF_LIVES);
const HALF_LIFE_INDEX = Object.fromEntries(Object.keys(HALF_LIVES).map((h, i) => [h, i]));
const FATIGUE_HALF_LIFE_MS = DAY_MS;
const USER_VECTOR_HALF_LIFE_MS = 30 * DAY_MS;
const SESSION_VECTOR_HALF_LIFE_MS = HOUR_MS;
const RECENT_CAPACITY = 32; // src/signals/recent.rs
const DWELL_UNIT_MS = 30_000;
const MAX_DWELL_MS = 30 * 60_000; // src/item.rs: a longer dwell counts as this
const MAX_DWELL_RATIO = 10; // src/features/feature.rs
const SHARE_PRIOR_ENGAGEMENT = 1; // src/features/feature.rs
const FAMILIES = ["item", "author", "container", "topic"];
// The core's event kinds, in code order (the package's generated vocabulary).
const KINDS = EVENT_KINDS;
const KIND_INDEX = Object.fromEntries(KINDS.map((k, i) => [k, i]));
const POSITIVE = [0, 1, 1, 2, 3, 0, 0];
const NEGATIVE = [0, 0, 0, 0, 0, 1, 3];
const f32 = Math.fround;

const decay = (elapsed, halfLife) => (elapsed <= 0 ? 1 : 2 ** (-elapsed / halfLife));

function keysOf(item, family) {
  switch (family) {
    case 0: return [item.id];
    case 1: return item.author == null ? [] : [item.author];
    case 2: return item.containers ?? [];
    default: return item.topics ?? [];
  }
}

class KeyStats {
  constructor(at) {
    this.updatedAt = at;
    this.counts = new Float32Array(KINDS.length * 4); // [kind][halfLife]
    this.fatigue = 0;
    this.lastPositiveAt = null;
    this.lastSeenAt = at;
  }
  add(kind, amount, at) {
    if (at > this.updatedAt) {
      const elapsed = at - this.updatedAt;
      for (let h = 0; h < 4; h++) {
        const factor = decay(elapsed, HALF_LIFE_MS[h]);
        for (let k = 0; k < KINDS.length; k++) this.counts[k * 4 + h] *= factor;
      }
      this.fatigue = f32(this.fatigue * decay(elapsed, FATIGUE_HALF_LIFE_MS));
      this.updatedAt = at;
    }
    const elapsed = this.updatedAt - at;
    for (let h = 0; h < 4; h++) this.counts[kind * 4 + h] += amount * decay(elapsed, HALF_LIFE_MS[h]);
    if (kind === 0) this.fatigue = f32(this.fatigue + amount * decay(elapsed, FATIGUE_HALF_LIFE_MS));
    if (POSITIVE[kind] > 0) {
      if (this.lastPositiveAt === null || at >= this.lastPositiveAt) this.fatigue = 0;
      this.lastPositiveAt = this.lastPositiveAt === null ? at : Math.max(this.lastPositiveAt, at);
    }
    this.lastSeenAt = Math.max(this.lastSeenAt, at);
  }
  /** [positive, negative] engagement at half-life index h, seen at now. */
  affinityAt(h, now) {
    const factor = decay(now - this.updatedAt, HALF_LIFE_MS[h]);
    let positive = 0, negative = 0;
    for (let k = 0; k < KINDS.length; k++) {
      const c = this.counts[k * 4 + h];
      positive += c * POSITIVE[k];
      negative += c * NEGATIVE[k];
    }
    return [positive * factor, negative * factor];
  }
  /** One kind's decayed count at half-life index h, seen at now. */
  countAt(kind, h, now) {
    return this.counts[kind * 4 + h] * decay(now - this.updatedAt, HALF_LIFE_MS[h]);
  }
  fatigueAt(now) {
    return this.fatigue * decay(now - this.updatedAt, FATIGUE_HALF_LIFE_MS);
  }
}

class Vector {
  constructor(embedding, weight, at) {
    this.sum = Float32Array.from(embedding, (v) => v * weight);
    this.weight = f32(weight);
    this.updatedAt = at;
  }
  add(embedding, weight, at, halfLife) {
    let oldFactor = 1, newFactor = 1;
    if (at >= this.updatedAt) {
      oldFactor = decay(at - this.updatedAt, halfLife);
      this.updatedAt = at;
    } else newFactor = decay(this.updatedAt - at, halfLife);
    for (let i = 0; i < this.sum.length; i++) this.sum[i] = this.sum[i] * oldFactor + embedding[i] * weight * newFactor;
    this.weight = f32(this.weight * oldFactor + weight * newFactor);
  }
  cosine(embedding) {
    let dot = 0, un = 0, vn = 0;
    for (let i = 0; i < this.sum.length; i++) {
      const u = this.sum[i], v = embedding[i];
      dot += u * v; un += u * u; vn += v * v;
    }
    const d = Math.sqrt(un * vn);
    return d > 0 ? dot / d : 0;
  }
}

/** A JS signal store with the Rust store's recording rules (no key cap: benches stay below it). */
export class JsSignalStore {
  constructor() {
    this.keys = FAMILIES.map(() => new Map());
    this.totals = null;
    this.userVector = null;
    this.sessionVector = null;
    /** The newest RECENT_CAPACITY positive embeddings at unit length, oldest first (src/signals/recent.rs). */
    this.recent = [];
  }
  get keyCount() {
    return this.keys.reduce((n, m) => n + m.size, 0);
  }
  record(events) {
    for (const event of events) {
      const kind = KIND_INDEX[event.kind];
      if (kind === undefined || !Number.isFinite(event.at)) throw new Error(`bad event ${event.kind}`);
      const amount = kind === KIND_INDEX.dwell ? Math.min(event.dwellMs ?? 0, MAX_DWELL_MS) / DWELL_UNIT_MS : 1;
      for (let family = 0; family < 4; family++) {
        const map = this.keys[family];
        for (const key of keysOf(event.item, family)) {
          let stats = map.get(key);
          if (!stats) map.set(key, (stats = new KeyStats(event.at)));
          stats.add(kind, amount, event.at);
        }
      }
      (this.totals ??= new KeyStats(event.at)).add(kind, amount, event.at);
      const weight = amount * POSITIVE[kind];
      const embedding = event.item.embedding;
      if (weight > 0 && embedding) {
        if (this.userVector) this.userVector.add(embedding, weight, event.at, USER_VECTOR_HALF_LIFE_MS);
        else this.userVector = new Vector(embedding, weight, event.at);
        if (this.sessionVector) this.sessionVector.add(embedding, weight, event.at, SESSION_VECTOR_HALF_LIFE_MS);
        else this.sessionVector = new Vector(embedding, weight, event.at);
        let position = this.recent.length;
        while (position > 0 && this.recent[position - 1].at > event.at) position--;
        if (this.recent.length < RECENT_CAPACITY || position > 0) {
          const norm = Math.sqrt(embedding.reduce((n, v) => n + v * v, 0));
          const unit = Float32Array.from(embedding, (v) => (norm > 0 ? v / norm : 0));
          this.recent.splice(position, 0, { at: event.at, unit });
          if (this.recent.length > RECENT_CAPACITY) this.recent.shift();
        }
      }
    }
  }
}

/** Compiles a contract's feature names into column writers. */
function compile(names) {
  return names.map((name) => {
    const p = name.split(".");
    const fam = (s) => {
      const i = FAMILIES.indexOf(s);
      if (i < 0) throw new Error(`unknown feature ${name}`);
      return i;
    };
    const hl = (s) => {
      const i = HALF_LIFE_INDEX[s];
      if (i === undefined) throw new Error(`unknown feature ${name}`);
      return i;
    };
    if (name === "server.rank") return { t: "rank" };
    if (p[0] === "server" && p[2] === "quantile" && p.length === 3 && SERVER_FIELDS.includes(p[1])) return { t: "quantile", field: p[1] };
    if (p[0] === "affinity" && p.length === 4) return { t: p[2] === "pos" ? "pos" : "neg", f: fam(p[1]), h: hl(p[3]) };
    if (p[0] === "share" && p.length === 3) return { t: "share", f: fam(p[1]), h: hl(p[2]) };
    if (p[0] === "recency") return { t: "recency", f: fam(p[1]) };
    if (p[0] === "fatigue") return { t: "fatigue", f: fam(p[1]) };
    if (p[0] === "seen" && p.length === 2) return { t: "seen", f: fam(p[1]) };
    if (p[0] === "count" && p.length === 4 && p[2] in KIND_INDEX) return { t: "count", f: fam(p[1]), k: KIND_INDEX[p[2]], h: hl(p[3]) };
    if (p[0] === "dwell" && p.length === 3) return { t: "dwell", f: fam(p[1]), h: hl(p[2]) };
    if (name === "user.similarity") return { t: "usersim" };
    if (name === "session.similarity") return { t: "sessionsim" };
    if (name === "recent.similarity.last") return { t: "recent", mean: false, n: 1 };
    if (p[0] === "recent" && p[1] === "similarity" && (p[2] === "max" || p[2] === "mean") && [4, 16, 32].includes(Number(p[3])))
      return { t: "recent", mean: p[2] === "mean", n: Number(p[3]) };
    if (p[0] === "user" && p[1] === "activity") return { t: "activity", h: hl(p[2]) };
    if (name === "context.hour_sin") return { t: "sin" };
    if (name === "context.hour_cos") return { t: "cos" };
    throw new Error(`unknown feature ${name}`);
  });
}

/** The server fields a `server.<field>.quantile` feature ranks (src/features/feature.rs). */
const SERVER_FIELDS = ["score", "popularity", "age", "duration"];
/**
 * Each candidate's value of a server field as the core holds it (score and popularity as f32,
 * times as f64), or null; age as −createdAt, so the oldest ranks highest.
 */
const SERVER_VALUE = {
  score: (c) => (c.serverScore == null ? null : Math.fround(c.serverScore)),
  popularity: (c) => (c.popularity == null ? null : Math.fround(c.popularity)),
  age: (c) => (c.createdAt == null ? null : -c.createdAt),
  duration: (c) => (c.durationMs == null ? null : c.durationMs),
};

/**
 * Each candidate's mid-rank quantile of `field` among the candidates that have it (0 without):
 * equal values (`==`) share (first + past-last position) / (2 × how many have one), as
 * `quantiles_into` in src/features/builder.rs.
 */
function quantiles(candidates, field) {
  const value = SERVER_VALUE[field];
  const out = new Float32Array(candidates.length);
  const order = candidates.map((_, i) => i).filter((i) => value(candidates[i]) !== null);
  const of = (i) => value(candidates[i]);
  order.sort((a, b) => of(a) - of(b));
  const present = order.length;
  for (let start = 0; start < present; ) {
    let end = start + 1;
    while (end < present && of(order[end]) === of(order[start])) end++;
    for (let k = start; k < end; k++) out[order[k]] = (start + end) / (2 * present);
    start = end;
  }
  return out;
}

/** Whether a feature is a local signal about the candidate (`Feature::is_candidate_signal`). */
const isCandidateSignal = (f) => !["rank", "quantile", "activity", "sin", "cos"].includes(f.t);

export class JsFeatureBuilder {
  constructor(names) {
    this.features = compile(names);
    this.width = names.length;
    this.signalColumns = this.features.flatMap((f, j) => (isCandidateSignal(f) ? [j] : []));
    this.familiesUsed = [0, 1, 2, 3].map((f) => this.features.some((x) => x.f === f));
    this.recentUsed = Math.max(0, ...this.features.filter((x) => x.t === "recent").map((x) => x.n));
    // Per-kind counts and dwell per exposure cost a pass over every kind: only when read.
    this.countsUsed = this.features.some((x) => x.t === "count" || x.t === "dwell");
  }
  /** Row-major [candidates.length, width] Float32Array. */
  build(candidates, store, now, utcOffsetMinutes, out) {
    const width = this.width;
    const matrix = out && out.length === candidates.length * width ? out : new Float32Array(candidates.length * width);
    const totalPositive = [0, 0, 0, 0];
    if (store.totals) for (let h = 0; h < 4; h++) totalPositive[h] = store.totals.affinityAt(h, now)[0];
    const localHour = ((((now + utcOffsetMinutes * 60_000) / HOUR_MS) % 24) + 24) % 24;
    const angle = (localHour / 24) * 2 * Math.PI;
    const sin = Math.sin(angle), cos = Math.cos(angle);
    const summaries = [null, null, null, null];
    const fieldQuantiles = Object.fromEntries(SERVER_FIELDS.filter((field) => this.features.some((f) => f.field === field)).map((field) => [field, quantiles(candidates, field)]));
    for (let r = 0; r < candidates.length; r++) {
      const c = candidates[r];
      for (let family = 0; family < 4; family++) {
        if (!this.familiesUsed[family]) continue;
        const keys = keysOf(c, family);
        const s = { pos: [0, 0, 0, 0], neg: [0, 0, 0, 0], lastPositiveAt: null, lastSeenAt: null, fatigue: 0, counts: null, dwellPerExposure: [0, 0, 0, 0] };
        if (this.countsUsed) s.counts = new Float64Array(KINDS.length * 4);
        if (keys.length) {
          const exposed = [0, 0, 0, 0];
          for (const key of keys) {
            const stats = store.keys[family].get(key);
            if (!stats) continue;
            for (let h = 0; h < 4; h++) {
              const [p, n] = stats.affinityAt(h, now);
              s.pos[h] += p;
              s.neg[h] += n;
            }
            if (stats.lastPositiveAt !== null) s.lastPositiveAt = s.lastPositiveAt === null ? stats.lastPositiveAt : Math.max(s.lastPositiveAt, stats.lastPositiveAt);
            s.lastSeenAt = s.lastSeenAt === null ? stats.lastSeenAt : Math.max(s.lastSeenAt, stats.lastSeenAt);
            s.fatigue = Math.max(s.fatigue, stats.fatigueAt(now));
            if (s.counts) {
              for (let k = 0; k < KINDS.length; k++) for (let h = 0; h < 4; h++) s.counts[k * 4 + h] += stats.countAt(k, h, now);
              for (let h = 0; h < 4; h++) {
                const impressions = stats.countAt(KIND_INDEX.impression, h, now);
                if (impressions > 0) {
                  s.dwellPerExposure[h] += (stats.countAt(KIND_INDEX.dwell, h, now) * DWELL_UNIT_MS) / impressions;
                  exposed[h] += 1;
                }
              }
            }
          }
          for (let h = 0; h < 4; h++) {
            s.pos[h] /= keys.length;
            s.neg[h] /= keys.length;
            if (exposed[h] > 0) s.dwellPerExposure[h] /= exposed[h];
          }
          if (s.counts) for (let i = 0; i < s.counts.length; i++) s.counts[i] /= keys.length;
        }
        summaries[family] = s;
      }
      const cosines = this.recentUsed ? recentCosines(store.recent, c.embedding, this.recentUsed) : [];
      const base = r * width;
      for (let j = 0; j < width; j++) {
        const f = this.features[j];
        let v;
        switch (f.t) {
          case "rank": v = Math.log1p(r); break;
          case "quantile": v = fieldQuantiles[f.field][r]; break;
          case "pos": v = Math.log1p(summaries[f.f].pos[f.h]); break;
          case "neg": v = Math.log1p(summaries[f.f].neg[f.h]); break;
          case "share": v = Math.min(summaries[f.f].pos[f.h] / (totalPositive[f.h] + SHARE_PRIOR_ENGAGEMENT), 1); break;
          case "recency": {
            const at = summaries[f.f].lastPositiveAt;
            v = at === null ? 0 : 1 / (1 + Math.max(now - at, 0) / DAY_MS);
            break;
          }
          case "fatigue": v = Math.log1p(summaries[f.f].fatigue); break;
          case "seen": {
            const at = summaries[f.f].lastSeenAt;
            v = at === null ? 0 : 1 / (1 + Math.max(now - at, 0) / HOUR_MS);
            break;
          }
          case "count": v = Math.log1p(summaries[f.f].counts[f.k * 4 + f.h]); break;
          case "dwell": v = c.durationMs > 0 ? Math.min(summaries[f.f].dwellPerExposure[f.h] / c.durationMs, MAX_DWELL_RATIO) : 0; break;
          case "usersim": v = similarity(store.userVector, c); break;
          case "sessionsim": v = similarity(store.sessionVector, c); break;
          case "recent": {
            const k = Math.min(f.n, cosines.length);
            if (k === 0) v = 0;
            else if (f.mean) v = cosines.slice(0, k).reduce((a, b) => a + b, 0) / k;
            else v = Math.max(...cosines.slice(0, k));
            break;
          }
          case "activity": v = Math.log1p(totalPositive[f.h]); break;
          case "sin": v = sin; break;
          case "cos": v = cos; break;
        }
        matrix[base + j] = v;
      }
    }
    return matrix;
  }
}

/** Cosines of `embedding` with the newest `limit` recent embeddings, newest first. */
function recentCosines(recent, embedding, limit) {
  if (!embedding || !recent.length || recent[0].unit.length !== embedding.length) return [];
  const norm = Math.sqrt(embedding.reduce((n, v) => n + v * v, 0));
  const inverse = norm > 0 ? 1 / norm : 0;
  const out = [];
  for (let i = recent.length - 1; i >= 0 && out.length < limit; i--) {
    const unit = recent[i].unit;
    let dot = 0;
    for (let d = 0; d < unit.length; d++) dot += unit[d] * embedding[d];
    out.push(dot * inverse);
  }
  return out;
}

/** One candidate's final score from the model's output and its feature row (`ranker::residual_scores`). */
export function residualScore(output, matrix, row, builder) {
  const base = row * builder.width;
  const signal = builder.signalColumns.some((j) => matrix[base + j] !== 0);
  return Math.fround(-Math.log1p(row)) + (signal ? output : 0);
}

function similarity(vector, candidate) {
  const e = candidate.embedding;
  return vector && e && vector.sum.length === e.length ? vector.cosine(e) : 0;
}

/**
 * features → onnxruntime-web → the do-no-harm form → sort: the pipeline localrank's `rerank`
 * replaces. The final score is the server prior −ln(1 + rank), plus the model's output for a
 * candidate with a non-zero candidate signal (`ranker::residual_scores`).
 */
export class JsPipeline {
  constructor(ort, session, names) {
    this.ort = ort;
    this.session = session;
    this.builder = new JsFeatureBuilder(names);
    this.store = new JsSignalStore();
    this.inputName = session.inputNames[0];
    this.outputName = session.outputNames[0];
  }
  record(events) {
    this.store.record(events);
  }
  async rerank({ candidates, now, utcOffsetMinutes }) {
    const n = candidates.length;
    const matrix = this.builder.build(candidates, this.store, now, utcOffsetMinutes);
    const input = new this.ort.Tensor("float32", matrix, [n, this.builder.width]);
    const output = await this.session.run({ [this.inputName]: input });
    const modelScores = output[this.outputName].data;
    const scores = new Float32Array(n);
    for (let i = 0; i < n; i++) scores[i] = residualScore(modelScores[i], matrix, i, this.builder);
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => scores[b] - scores[a] || a - b);
    return { ids: order.map((i) => candidates[i].id), order, scores, matrix };
  }
}
