import { createLocalRanker } from "localrank/worker";

// The same app with the ranker in a Web Worker. The page posts the server's response as it
// arrived (its bytes): the worker parses and packs it. The page reads it only for its own use.
const ranker = await createLocalRanker({ modelUrl: "/ranker.onnx", storage: "indexeddb" });
const response = await (await fetch("/feed.json")).arrayBuffer();
const candidates = JSON.parse(new TextDecoder().decode(response));
const feed = document.querySelector("#feed");

async function render() {
  const { ids, fallback } = await ranker.rerank(response); // resolves, never rejects
  feed.replaceChildren(...ids.map((id) => Object.assign(document.createElement("li"), { id, textContent: id })));
  feed.dataset.status = fallback ? fallback.reason : "reranked";
}

feed.addEventListener("click", async ({ target }) => {
  const item = candidates.find((candidate) => candidate.id === target.id);
  if (item) await ranker.record([{ kind: "like", item, at: Date.now() }]);
  await render();
});
await render();
