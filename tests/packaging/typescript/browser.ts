// A strict TypeScript consumer of the published types (browser side, bundler resolution).

import { createLocalRanker, indexedDbStorage, memoryStorage, type ClientWarning, type LocalRanker, type SerializedInput } from "localrank";
// @ts-expect-error: the file storage is Node's; the browser entry point does not export it
import { fileStorage } from "localrank";

const warnings: ClientWarning[] = [];
const ranker: LocalRanker = await createLocalRanker({
  modelUrl: "/ranker.onnx",
  storage: indexedDbStorage({ databaseName: "my-app" }),
  onWarning: (warning) => warnings.push(warning),
});
const { ids, fallback } = ranker.rerank({ candidates: [{ id: "a" }, { id: "b", pinned: true }], constraints: { maxDisplacement: 3 } });
console.log(ids, fallback?.message, ranker.status.state, memoryStorage().kind, fileStorage);
// A request as the server sent it: its JSON bytes or text.
const serialized: SerializedInput = await (await fetch("/feed.json")).arrayBuffer();
console.log(ranker.rerank(serialized).ids, ranker.rerank(JSON.stringify([{ id: "a" }])).fallback);
// @ts-expect-error: numbers are neither candidates nor a serialized request
ranker.rerank(42);
// @ts-expect-error: storages implement load/save/clear
await createLocalRanker({ modelUrl: "/ranker.onnx", storage: { kind: "mine" } });
// @ts-expect-error: diversity needs `by`
ranker.rerank({ candidates: [], constraints: { diversity: { maxRun: 2 } } });
// @ts-expect-error: the status is read-only
ranker.status = { state: "ready" };
