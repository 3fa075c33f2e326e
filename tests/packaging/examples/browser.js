import { createLocalRanker, indexedDbStorage } from "localrank";

// Your model, served by your app. Signals persist in IndexedDB and never leave the device.
const ranker = await createLocalRanker({ modelUrl: "/ranker.onnx", storage: indexedDbStorage() });
// A server response: candidates in the server's order (localrank reads id, author, topics…).
const candidates = await (await fetch("/feed.json")).json();
const feed = document.querySelector("#feed");

function render() {
  const { ids, fallback } = ranker.rerank(candidates); // never throws: on a problem, the server's order
  feed.replaceChildren(...ids.map((id) => Object.assign(document.createElement("li"), { id, textContent: id })));
  feed.dataset.status = fallback ? fallback.reason : "reranked";
}

feed.addEventListener("click", async ({ target }) => {
  const item = candidates.find((candidate) => candidate.id === target.id);
  if (item) await ranker.record([{ kind: "like", item, at: Date.now() }]); // persisted a second later
  render();
});
render();
