import type { CandidateColumns } from "../wasm/types.js";
import { ItemPacker, optionalNumber } from "./item-packer.js";

/**
 * Packs candidates column by column for `Ranker.rerankColumns` (what `LocalRanker.rerank`
 * does): ids and keys into one string table (keys shared by several candidates stored once),
 * numbers and embeddings into typed arrays. Returns null when a candidate holds something the
 * columns cannot carry exactly — a field of the wrong type, a non-finite number — so the
 * caller can pass the list to `rerank` instead, which reports the problem.
 */
export function packCandidates(candidates: unknown): CandidateColumns | null {
  if (!Array.isArray(candidates)) return null;
  const n = candidates.length;
  const items = new ItemPacker(n, false);
  const serverScores = new Float32Array(n);
  const popularity = new Float32Array(n);
  const createdAt = new Float64Array(n);
  const durationMs = new Float64Array(n);
  const pinned = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    const c: unknown = candidates[i];
    if (!items.add(i, c)) return null;
    const candidate = c as {
      serverScore?: unknown;
      popularity?: unknown;
      createdAt?: unknown;
      durationMs?: unknown;
      pinned?: unknown;
    };
    const score = optionalNumber(candidate.serverScore, true);
    const views = optionalNumber(candidate.popularity, true);
    const created = optionalNumber(candidate.createdAt, true);
    const duration = optionalNumber(candidate.durationMs, true);
    if (score === false || views === false || created === false || duration === false) return null;
    serverScores[i] = score;
    popularity[i] = views;
    createdAt[i] = created;
    durationMs[i] = duration;
    const pin = candidate.pinned;
    if (pin === true) pinned[i] = 1;
    else if (pin !== undefined && pin !== null && pin !== false) return null;
  }
  return { ...items.finish(), serverScores, popularity, createdAt, durationMs, pinned };
}
