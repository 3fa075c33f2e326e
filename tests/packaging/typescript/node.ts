// A strict TypeScript consumer of the published types, as a Node / Electron-main app sees them
// (Node's module resolution picks the package's "node" types). Type-checked, never run: tsc
// must accept the correct calls, and every `@ts-expect-error` line must be an error (tsc fails
// if such a line does NOT produce one).

import {
  createLocalRanker,
  ERROR_CODES,
  EVENT_KINDS,
  fileStorage,
  indexedDbStorage,
  isLocalrankError,
  memoryStorage,
  packCandidates,
  packEvents,
  wasmLoader,
  type ClientRerankResult,
  type ClientStatus,
  type ClientWarning,
  type LocalRanker,
  type LocalrankModule,
  type SignalStorage,
  type WasmLoader,
} from "localrank";
import {
  init,
  Ranker,
  type Candidate,
  type CandidateColumns,
  type ColumnsRerankResult,
  type ErrorCode,
  type EventColumns,
  type ExportedKey,
  type LocalrankError,
  type ModelInfo,
  type RankerOptions,
  type RecordSummary,
  type RerankRequest,
  type RerankResult,
  type SignalEvent,
  type SignalExport,
} from "localrank/core";
import * as slim from "localrank/slim";

declare const model: Uint8Array;
declare const serverItems: Array<Candidate & { title: string; kind: "server" | "channel" | "post" }>;

// ---- the raw Ranker (localrank/core) ---------------------------------------------------------

await init();
await init(new URL("file:///opt/app/localrank_bg.wasm"));
const options: RankerOptions = { keyCap: 1000, retentionDays: 30, maxCandidates: 500, timeBudgetMs: 8, onError: "fallback" };
const ranker = new Ranker(model, options);

const request: RerankRequest = {
  candidates: serverItems,
  now: Date.now(),
  utcOffsetMinutes: -new Date().getTimezoneOffset(),
  constraints: { maxDisplacement: 5, diversity: { by: "author", maxRun: 2 } },
  explain: true,
};
const result: RerankResult = ranker.rerank(request);
const ids: string[] = result.ids;
const order: Uint32Array = result.order;
const scores: Float32Array = result.scores;
const reason: ErrorCode | undefined = result.fallback?.reason;
const affinity: number | undefined = result.explanations?.[0]?.contributions.affinity;
const elapsed: number = result.elapsedMs;

const events: SignalEvent[] = [
  { kind: "like", item: { id: "p1", topics: ["rust"], containers: ["g1", "g1/c1"], author: "u1" }, at: Date.now() },
  { kind: "dwell", item: { id: "p2" }, at: Date.now(), dwellMs: 45_000 },
];
const summary: RecordSummary = ranker.record(events, Date.now());
const recorded: number = summary.recorded + summary.expired;
// The columns paths, packed by the client.
const packedEvents: EventColumns | null = packEvents(events);
if (packedEvents) {
  const columnsSummary: RecordSummary = ranker.recordColumns(packedEvents, Date.now());
  const kinds: Uint8Array = packedEvents.kinds;
  void columnsSummary, kinds;
}
const packedCandidates: CandidateColumns | null = packCandidates(serverItems);
if (packedCandidates) {
  const columnsResult: ColumnsRerankResult = ranker.rerankColumns(packedCandidates, { now: Date.now() });
  // The settings are optional, as for `rerank`'s request fields.
  const withDefaults: ColumnsRerankResult = ranker.rerankColumns(packedCandidates);
  void columnsResult.order, withDefaults.order;
}
const bytes: Uint8Array = ranker.snapshot();
ranker.restore(bytes, Date.now());
ranker.restore(bytes);
const exported: SignalExport = ranker.exportSignals();
const key: ExportedKey | undefined = exported.keys[0];
const halfLife: "1h" | "1d" | "7d" | "30d" | undefined = key?.counts[0]?.halfLife;
const info: ModelInfo = ranker.modelInfo();
const featureCount: number = info.features.length + ranker.keyCount;
ranker.clear();

try {
  ranker.record(events);
} catch (error) {
  const typed = error as LocalrankError;
  const code: ErrorCode = typed.code;
  const name: "LocalrankError" = typed.name;
  void code, name;
}

// @ts-expect-error: the model must be bytes
new Ranker("ranker.onnx", {});
// @ts-expect-error: onError is "fallback" or "throw"
new Ranker(model, { onError: "ignore" });
// @ts-expect-error: keyCap is a number
new Ranker(model, { keyCap: "many" });
// @ts-expect-error: a request is an object with candidates, not a bare list
ranker.rerank(serverItems);
// @ts-expect-error: candidates need an id
ranker.rerank({ candidates: [{ serverScore: 1 }] });
// @ts-expect-error: ids are strings
ranker.rerank({ candidates: [{ id: 7 }] });
// @ts-expect-error: an unknown constraint
ranker.rerank({ candidates: serverItems, constraints: { diversity: { by: "topic", maxRun: 2 } } });
// @ts-expect-error: not an event kind
ranker.record([{ kind: "view", item: { id: "p1" }, at: 0 }]);
// @ts-expect-error: events need a time
ranker.record([{ kind: "click", item: { id: "p1" } }]);
// @ts-expect-error: record takes a list
ranker.record({ kind: "click", item: { id: "p1" }, at: 0 });
// @ts-expect-error: recordColumns takes packed columns, not events
ranker.recordColumns(events);
// @ts-expect-error: event columns carry kinds, times and dwells
ranker.recordColumns(packCandidates(serverItems)!);
// @ts-expect-error: restore takes bytes
ranker.restore("snapshot");
// @ts-expect-error: order is a Uint32Array, not number[]
const wrongOrder: number[] = result.order;
// @ts-expect-error: fallback may be null
const unchecked: string = result.fallback.reason;
// @ts-expect-error: keyCount is read-only
ranker.keyCount = 3;
// @ts-expect-error: not an error code
const badCode: ErrorCode = "OOPS";


// ---- the client (localrank) ----------------------------------------------------------------

const loader: WasmLoader = wasmLoader({ wasm: new URL("https://cdn.example/localrank_bg.wasm") });
// The raw module fits what the client needs of a module, so a custom loader can hand it over.
const asModule: LocalrankModule = { Ranker };
const ownLoader: WasmLoader = async ({ instance, reason: why }) => {
  void instance, why;
  return asModule;
};
const codes: readonly ErrorCode[] = ERROR_CODES;
const kinds: readonly SignalEvent["kind"][] = EVENT_KINDS;
const storages: SignalStorage[] = [memoryStorage(), fileStorage("/tmp/signals.bin"), indexedDbStorage({ databaseName: "app" })];

async function useShim(): Promise<void> {
  const local: LocalRanker = await createLocalRanker({
    initWasm: loader,
    modelUrl: "/models/ranker.onnx",
    storage: indexedDbStorage(),
    flushDelayMs: 500,
    rankerOptions: { maxCandidates: 200 },
    now: () => Date.now(),
    onWarning: (warning: ClientWarning) => console.warn(warning.code, warning.message),
    onPersist: ({ byteLength, pendingBatches, storage }) => void [byteLength, pendingBatches, storage],
  });
  const fromList: ClientRerankResult = local.rerank(serverItems);
  const fromRequest: ClientRerankResult = local.rerank({ candidates: serverItems, explain: true });
  const shimReason: ErrorCode | "WASM_TRAP" | "SHIM_ERROR" | undefined = fromList.fallback?.reason;
  const recordSummary: RecordSummary = await local.record(events);
  await local.flush();
  const signals: SignalExport = await local.exportSignals();
  const status: ClientStatus = local.status;
  const state: "ready" | "recovering" | "broken" | "closed" = status.state;
  const warnings: ClientWarning[] = local.warnings;
  await local.ready();
  await local.clear();
  await local.close();
  void fromRequest, shimReason, recordSummary, signals, state, warnings;

  await createLocalRanker({ modelBytes: model, storage: fileStorage("signals.bin") });
  await slim.createLocalRanker({ modelUrl: new URL("file:///opt/app/ranker.nnef.tar"), initWasm: slim.wasmLoader() });
  // @ts-expect-error: modelBytes and modelUrl are exclusive
  await createLocalRanker({ initWasm: loader, modelBytes: model, modelUrl: "/models/ranker.onnx" });
  // @ts-expect-error: one of them is required
  await createLocalRanker({ initWasm: loader });
  // @ts-expect-error: a misspelt option
  await createLocalRanker({ modelBytes: model, flushDelay: 10 });
  // @ts-expect-error: a loader returns a module with a Ranker class
  await createLocalRanker({ initWasm: () => ({ Ranker: 42 }), modelBytes: model });
  // @ts-expect-error: flushDelayMs is a number
  await createLocalRanker({ initWasm: loader, modelBytes: model, flushDelayMs: "1s" });
  // @ts-expect-error: record is asynchronous
  const notSync: RecordSummary = local.record(events);
  // @ts-expect-error: rerank is synchronous
  const notAsync: Promise<ClientRerankResult> = local.rerank(serverItems);
  // @ts-expect-error: the constructor is private; use createLocalRanker
  new (local.constructor as typeof LocalRanker)();
  // @ts-expect-error: status is read-only
  local.status = status;
  // @ts-expect-error: storages return promises
  const loaded: Uint8Array = storages[0]!.load();
  void notSync, notAsync, loaded;
}

function handle(error: unknown): ErrorCode | null {
  return isLocalrankError(error) ? error.code : null;
}

void [ids, order, scores, reason, affinity, elapsed, recorded, halfLife, featureCount, ownLoader, codes, kinds, useShim, handle];
void [wrongOrder, unchecked, badCode];
