import { sealColumns } from "../core/columns.js";
import { InputError, Reader, absent, inputMessage, own } from "../core/input.js";
import type { CandidateColumns } from "../wasm/types.js";
import { ITEM_KEYS, ItemPacker, optionalNumber } from "./item-packer.js";

/** Every candidate field the packer reads. */
export const CANDIDATE_KEYS = [...ITEM_KEYS, "serverScore", "popularity", "createdAt", "durationMs", "pinned"] as const;

type ServerFields = { serverScore?: unknown; popularity?: unknown; createdAt?: unknown; durationMs?: unknown; pinned?: unknown };

/** A candidate's own server fields, of an object whose fields cannot all be read directly. */
function ownServerFields(object: object): ServerFields {
  return { serverScore: own(object, "serverScore"), popularity: own(object, "popularity"), createdAt: own(object, "createdAt"), durationMs: own(object, "durationMs"), pinned: own(object, "pinned") };
}

/** Candidates as columns, with their ids as given (the columns hold them encoded). */
export interface PackedCandidates {
  columns: CandidateColumns;
  ids: string[];
}

/**
 * Reads a candidate list (its length already checked) into columns. Throws `InputError`
 * naming the candidate and the field the module cannot take.
 */
export function readCandidates(list: unknown[], length: number, reader: Reader): PackedCandidates {
  const items = new ItemPacker(length, false, reader);
  const serverScores = new Float32Array(length);
  const popularity = new Float32Array(length);
  const createdAt = new Float64Array(length);
  const durationMs = new Float64Array(length);
  const pinned = new Uint8Array(length);
  const ids = new Array<string>(length);
  let i = 0;
  try {
    for (; i < length; i++) {
      const candidate: unknown = list[i];
      const plain = typeof candidate === "object" && candidate !== null && reader.plain(candidate);
      ids[i] = items.add(i, candidate, plain);
      const fields = (plain ? candidate : ownServerFields(candidate as object)) as ServerFields;
      serverScores[i] = optionalNumber(fields.serverScore, "serverScore");
      popularity[i] = optionalNumber(fields.popularity, "popularity");
      createdAt[i] = optionalNumber(fields.createdAt, "createdAt");
      durationMs[i] = optionalNumber(fields.durationMs, "durationMs");
      const pin = fields.pinned;
      if (pin === true) pinned[i] = 1;
      else if (!absent(pin) && pin !== false) throw new InputError("pinned must be a boolean");
    }
  } catch (error) {
    throw new InputError(`candidate ${i}: ${inputMessage(error)}`);
  }
  return { columns: sealColumns({ ...items.finish(), serverScores, popularity, createdAt, durationMs, pinned }), ids };
}

/**
 * Packs candidates column by column for `Ranker.rerankColumns` (what `Ranker.rerank` and
 * `LocalRanker.rerank` do): ids and keys into one string table (keys shared by several
 * candidates stored once), numbers and embeddings into typed arrays. Returns null when the
 * list holds something the module cannot take (a field of the wrong type, a NaN, a value
 * that throws when read); `rerank` names the problem.
 */
export function packCandidates(candidates: unknown): CandidateColumns | null {
  try {
    if (!Array.isArray(candidates)) return null;
    return readCandidates(candidates, candidates.length, new Reader(CANDIDATE_KEYS)).columns;
  } catch {
    return null;
  }
}
