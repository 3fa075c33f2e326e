import { readFile } from "node:fs/promises";
import { createLocalRanker, fileStorage } from "localrank";

// Node or Electron's main process: the model from disk, the signals in a file (replaced atomically).
const ranker = await createLocalRanker({ modelBytes: await readFile("ranker.onnx"), storage: fileStorage("signals.bin") });
console.log(`${ranker.keyCount} signal keys on this device`);

// A server response: candidates in the server's order.
const candidates = JSON.parse(await readFile("feed.json", "utf8"));
await ranker.record([{ kind: "like", item: candidates[30], at: Date.now() }]);
const { ids, fallback } = ranker.rerank(candidates); // never throws: on a problem, the server's order
console.log(fallback ? `server order (${fallback.reason})` : "reranked", ids.slice(0, 5).join(" "));
await ranker.close(); // persists what is pending
