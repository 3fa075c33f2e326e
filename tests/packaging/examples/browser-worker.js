import { createLocalRanker } from "localrank/worker";

// The same app with the ranker in a Web Worker: the page only packs and posts the candidates.
const ranker = await createLocalRanker({ modelUrl: "/ranker.onnx", storage: "indexeddb" });
const candidates = await (await fetch("/feed.json")).json();
const feed = document.querySelector("#feed");

async function render() {
  const { ids, fallback } = await ranker.rerank(candidates); // resolves, never rejects
  feed.replaceChildren(...ids.map((id) => Object.assign(document.createElement("li"), { id, textContent: id })));
  feed.dataset.status = fallback ? fallback.reason : "reranked";
}

feed.addEventListener("click", async ({ target }) => {
  const item = candidates.find((candidate) => candidate.id === target.id);
  if (item) await ranker.record([{ kind: "like", item, at: Date.now() }]);
  await render();
});
await render();
