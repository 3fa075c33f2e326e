// The same from CommonJS, as an Electron main process (or any require()-based Node app) loads it.
const { readFileSync } = require("node:fs");
const { createLocalRanker, fileStorage } = require("localrank");

async function main() {
  const ranker = await createLocalRanker({ modelBytes: readFileSync("ranker.onnx"), storage: fileStorage("signals.bin") });
  console.log(`${ranker.keyCount} signal keys on this device`);
  const candidates = JSON.parse(readFileSync("feed.json", "utf8"));
  await ranker.record([{ kind: "like", item: candidates[30], at: Date.now() }]);
  const { ids, fallback } = ranker.rerank(candidates);
  console.log(fallback ? `server order (${fallback.reason})` : "reranked", ids.slice(0, 5).join(" "));
  await ranker.close();
}
main();
