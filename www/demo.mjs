// The demo page: the server's list next to the list reranked on this device, with buttons that
// record signals, a clock to watch them decay, and what the device knows. No inline code: it
// runs under the strict CSP that www/serve.mjs sends.

// The package, as a page without a bundler imports it: index.html's import map points the
// names `localrank` and `localrank/worker` at the package's entry points (served from
// /pkg/localrank/). With the "worker" toggle on, the ranker runs in a Web Worker.
import { createLocalRanker, indexedDbStorage } from "localrank";
import { createLocalRanker as createWorkerRanker } from "localrank/worker";

const HOUR_MS = 3_600_000;
const DAY_MS = 24 * HOUR_MS;
const CLOCK_KEY = "localrank-demo:clock-offset-ms";
const WORKER_KEY = "localrank-demo:worker";
const LEARNING_KEY = "localrank-demo:learning";
const DATABASE = "localrank-demo";
const inWorker = localStorage.getItem(WORKER_KEY) === "on";
// On unless the visitor turned it off (the package's default too).
const learning = localStorage.getItem(LEARNING_KEY) !== "off";
const GROUP_LABELS = {
  server: "server score & rank",
  affinity: "your likes, clicks, dwell & hides",
  recency: "recent engagement",
  fatigue: "seen too often",
  similarity: "similar to what you like",
  context: "time of day",
};
const ACTION_KINDS = new Set(["click", "like", "dismiss", "hide"]);

/** @param {string} testid */
const $ = (testid) => /** @type {HTMLElement} */ (document.querySelector(`[data-testid="${testid}"]`));

/**
 * Creates an element with attributes, text and children.
 * @param {string} tag
 * @param {Record<string, string | number | boolean | undefined>} [attributes]
 * @param {(Node | string | null | undefined | false)[]} [children]
 */
function h(tag, attributes = {}, children = []) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === undefined || value === false) continue;
    if (name === "class") element.className = String(value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children) if (child !== null && child !== undefined && child !== false) element.append(child);
  return element;
}

// ---- the demo clock: real time plus an offset that survives a reload ----------------------

let clockOffsetMs = Number(localStorage.getItem(CLOCK_KEY)) || 0;
const now = () => Date.now() + clockOffsetMs;

function setClockOffset(offsetMs) {
  clockOffsetMs = offsetMs;
  localStorage.setItem(CLOCK_KEY, String(offsetMs));
  showClock();
}

function showClock() {
  $("clock-now").textContent = new Date(now()).toLocaleString(undefined, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit",
  });
  const days = Math.floor(clockOffsetMs / DAY_MS);
  const hours = Math.round((clockOffsetMs - days * DAY_MS) / HOUR_MS);
  const parts = [days ? `${days} d` : "", hours || !days ? `${hours} h` : ""].filter(Boolean);
  $("clock-offset").textContent = clockOffsetMs === 0 ? "now" : `+${parts.join(" ")}`;
  $("clock-offset").dataset.offsetMs = String(clockOffsetMs);
}

// ---- state -----------------------------------------------------------------------------

/** @type {Array<import("localrank").Candidate & { title?: string, kind?: string }>} */
let items = [];
/** @type {import("localrank").LocalRanker | import("localrank/worker").WorkerLocalRanker | null} */
let ranker = null;
let renders = 0;
/** Ids whose "why" panel is open, so a re-render keeps it open. */
const openWhy = new Set();

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

function warn(warning) {
  const box = $("warnings");
  box.hidden = false;
  box.append(h("p", { "data-testid": "warning", "data-code": warning.code }, [h("strong", {}, [warning.code]), " ", warning.message]));
}

// ---- rendering -------------------------------------------------------------------------

/** @param {string} guildId */
const guildName = (guildId) => guildId.replace(/^g-/, "").replace(/-/g, " ");

/** @param {{ containers?: string[], author?: string, topics?: string[], kind?: string }} item */
function meta(item) {
  const [guild, channel] = item.containers ?? [];
  return h("div", { class: "meta" }, [
    h("span", { class: `kind kind-${item.kind ?? "post"}` }, [item.kind ?? "item"]),
    guild ? h("span", { class: "where" }, [guildName(guild), channel ? ` › #${channel.split("/").pop()}` : ""]) : null,
    item.author ? h("span", { class: "author" }, [`by ${item.author}`]) : null,
    ...(item.topics ?? []).map((topic) => h("span", { class: "topic" }, [topic])),
  ]);
}

/** @param {number} moved positions gained (negative: lost) */
function movement(moved) {
  if (moved > 0) return h("span", { class: "move up", "data-testid": "move", "data-moved": moved, title: `${moved} up from the server's order` }, [`▲ ${moved}`]);
  if (moved < 0) return h("span", { class: "move down", "data-testid": "move", "data-moved": moved, title: `${-moved} down from the server's order` }, [`▼ ${-moved}`]);
  return h("span", { class: "move same", "data-testid": "move", "data-moved": 0, title: "same place as the server's order" }, ["="]);
}

/**
 * Per-group contributions to the model score, largest first.
 * @param {Partial<Record<string, number>>} contributions
 */
function whyPanel(id, contributions) {
  const groups = Object.entries(contributions)
    .filter((entry) => typeof entry[1] === "number")
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const largest = Math.max(1e-6, ...groups.map(([, v]) => Math.abs(v)));
  const [topGroup, topValue] = groups[0] ?? ["", 0];
  const headline = Math.abs(topValue) < 0.005 ? "no local signal" : `${GROUP_LABELS[topGroup] ?? topGroup} ${signed(topValue)}`;
  const details = h("details", { class: "why", "data-testid": "why", open: openWhy.has(id) }, [
    h("summary", {}, ["Why? ", h("span", { class: "headline" }, [headline])]),
    h("ul", { class: "bars" }, groups.map(([group, value]) =>
      h("li", { "data-group": group }, [
        h("span", { class: "group" }, [GROUP_LABELS[group] ?? group]),
        h("span", { class: "bar-track" }, [
          h("span", { class: `bar ${value >= 0 ? "pos" : "neg"} w${Math.round((Math.abs(value) / largest) * 20) * 5}` }),
        ]),
        h("span", { class: "value" }, [signed(value)]),
      ]))),
  ]);
  details.addEventListener("toggle", () => (details.open ? openWhy.add(id) : openWhy.delete(id)));
  return details;
}

/** @param {number} value */
const signed = (value) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(2)}`;

/** Renders the latest ranking; a render asked for while one runs makes one more after it. */
let rendering = null;
let renderAgain = false;
function render() {
  if (rendering) {
    renderAgain = true;
    return rendering;
  }
  rendering = renderOnce().finally(() => {
    rendering = null;
    if (renderAgain) {
      renderAgain = false;
      render();
    }
  });
  return rendering;
}

async function renderOnce() {
  if (!ranker) return;
  // On the page the rerank is synchronous; in worker mode it resolves when the worker answers.
  const result = await ranker.rerank({ candidates: items, now: now(), explain: true });
  const newRank = new Map(result.ids.map((id, rank) => [id, rank]));
  const byId = new Map(items.map((item, index) => [item.id, { item, index }]));

  $("latency").textContent = `${result.elapsedMs.toFixed(1)} ms`;
  $("latency").dataset.ms = String(result.elapsedMs);
  const servedBy = $("served-by");
  servedBy.textContent = result.model ? `${result.model.name} · ${result.model.sha256.slice(0, 12)}` : "—";
  servedBy.dataset.sha256 = result.model?.sha256 ?? "";
  servedBy.title = result.model ? `SHA-256 ${result.model.sha256}` : "";
  const leader = $("leader");
  leader.textContent = ranker.status.leader ? "leader tab" : "follower tab";
  leader.dataset.leader = String(ranker.status.leader);

  const fallback = $("fallback");
  fallback.hidden = !result.fallback;
  fallback.textContent = result.fallback ? `Showing the server's order (${result.fallback.reason}): ${result.fallback.message}` : "";

  $("server-list").replaceChildren(...items.map((item, index) => {
    const rank = newRank.get(item.id) ?? index;
    return h("li", { class: "item", "data-testid": "server-item", "data-id": item.id }, [
      h("span", { class: "rank" }, [String(index + 1)]),
      h("div", { class: "body" }, [
        h("div", { class: "title" }, [item.pinned ? h("span", { class: "pin", title: "pinned by the server" }, ["pinned"]) : null, item.title ?? item.id]),
        meta(item),
      ]),
      h("span", { class: "now-at", title: "its place on this device" }, [`→ ${rank + 1}`]),
    ]);
  }));

  $("ranked-list").replaceChildren(...result.ids.map((id, rank) => {
    const { item, index } = /** @type {{ item: typeof items[number], index: number }} */ (byId.get(id));
    const explanation = result.explanations?.[index];
    return h("li", { class: `item${item.pinned ? " pinned" : ""}`, "data-testid": "ranked-item", "data-id": id, "data-rank": rank }, [
      h("span", { class: "rank" }, [String(rank + 1)]),
      h("div", { class: "body" }, [
        h("div", { class: "title" }, [item.pinned ? h("span", { class: "pin", title: "pinned by the server: keeps its place" }, ["pinned"]) : null, item.title ?? id]),
        meta(item),
        h("div", { class: "actions" }, [
          h("button", { type: "button", "data-action": "click", "data-testid": "btn-click", title: "Record a click" }, ["Open"]),
          h("button", { type: "button", "data-action": "like", "data-testid": "btn-like", title: "Record a like" }, ["♥ Like"]),
          h("button", { type: "button", "data-action": "dismiss", "data-testid": "btn-dismiss", title: "Record a dismissal" }, ["✕ Not for me"]),
          h("button", { type: "button", "data-action": "hide", "data-testid": "btn-hide", title: "Record a hide: the strongest negative signal, on the item, its author and topics" }, ["⊘ Hide"]),
        ]),
        explanation ? whyPanel(id, explanation.contributions) : null,
      ]),
      movement(index - rank),
    ]);
  }));

  $("key-count").textContent = `${ranker.keyCount} keys`;
  renders += 1;
  const status = $("status");
  status.dataset.renders = String(renders);
  if (status.dataset.state !== "error") {
    setStatus("ready", result.fallback
      ? `Server order shown (${result.fallback.reason}).`
      : `Reranked ${items.length} items on this device.`);
  }
  refreshExport().catch((error) => warn({ code: error.code ?? "ERROR", message: error.message }));
}

async function refreshExport() {
  const details = /** @type {HTMLDetailsElement} */ ($("knows"));
  if (!ranker || !details.open) return;
  const exported = await ranker.exportSignals(now());
  const pre = $("export");
  pre.textContent = JSON.stringify(exported, null, 2);
  pre.dataset.keys = String(exported.keys.length);
  $("knows-summary").textContent = `(${exported.keys.length} keys)`;
  showLearning(exported.learning);
}

/** The personal head in a sentence: on or off, how it compares, and its strongest weights. */
function showLearning(head) {
  const element = $("learning-state");
  element.dataset.active = String(head.active);
  element.dataset.updates = String(head.updates);
  const strongest = [...head.weights].sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight)).slice(0, 3)
    .filter((w) => w.weight !== 0).map((w) => `${w.feature} ${signed(w.weight)}`);
  const gain = head.meanGain === null ? "not validated yet" : `NDCG@10 ${signed(head.meanGain)} vs the model alone over ${head.validatedLists} lists`;
  element.textContent = `Personal head: ${!learning ? "learning off" : head.active ? "active" : "not active (it has not beaten the model yet)"}; ` +
    `${head.updates} updates, ${gain}; ${head.pendingLists} shown lists waiting; ${head.memoryBytes} B` +
    (strongest.length ? `; strongest: ${strongest.join(", ")}` : "");
}

function showPersist(text, pending) {
  const element = $("persist-status");
  element.textContent = text;
  element.dataset.pending = String(pending);
}

// ---- actions ---------------------------------------------------------------------------

async function onListClick(event) {
  const button = /** @type {HTMLElement} */ (event.target).closest("button[data-action]");
  const row = button?.closest("[data-id]");
  if (!button || !row || !ranker) return;
  const kind = button.getAttribute("data-action");
  const item = items.find((candidate) => candidate.id === row.getAttribute("data-id"));
  if (!item || !ACTION_KINDS.has(kind)) return;
  const { id, author, containers, topics, embedding } = item;
  try {
    await ranker.record([{ kind: /** @type {"click" | "like" | "dismiss" | "hide"} */ (kind), item: { id, author, containers, topics, embedding }, at: now() }]);
    showPersist(`saving ${ranker.status.pendingEvents} event(s)…`, ranker.status.pendingEvents);
  } catch (error) {
    warn({ code: error.code ?? "ERROR", message: error.message });
  }
  render();
}

async function resetSignals() {
  if (!ranker) return;
  await ranker.clear();
  showPersist("signals deleted", 0);
  render();
}

function advanceClock(event) {
  const button = /** @type {HTMLElement} */ (event.target).closest("button[data-advance-ms]");
  if (!button) return;
  setClockOffset(clockOffsetMs + Number(button.getAttribute("data-advance-ms")));
  render();
}

// ---- start -----------------------------------------------------------------------------

async function main() {
  showClock();
  setInterval(showClock, 15_000);
  $("clock").addEventListener("click", advanceClock);
  $("clock-reset").addEventListener("click", () => {
    setClockOffset(0);
    render();
  });
  $("ranked-list").addEventListener("click", onListClick);
  $("reset-signals").addEventListener("click", () => resetSignals());
  $("knows").addEventListener("toggle", () => refreshExport().catch(() => {}));

  const response = await fetch(new URL("./data/server-response.json", import.meta.url));
  items = (await response.json()).items;

  for (const [testid, key, on] of [["worker-toggle", WORKER_KEY, inWorker], ["learning-toggle", LEARNING_KEY, learning]]) {
    const toggle = /** @type {HTMLInputElement} */ ($(testid));
    toggle.checked = on;
    toggle.addEventListener("change", async () => {
      localStorage.setItem(key, toggle.checked ? "on" : "off");
      await ranker?.close();
      location.reload();
    });
  }
  const onPersist = (info) =>
    showPersist(
      !info.storage
        ? "kept in memory only"
        : info.kind === "append"
          ? `${info.events} event(s) saved to IndexedDB (${info.byteLength} B)`
          : `checkpoint saved to IndexedDB (${(info.byteLength / 1024).toFixed(1)} kB)`,
      ranker?.status.pendingEvents ?? 0,
    );
  const modelUrl = new URL("../models/ranker.onnx", import.meta.url).href;
  const started = performance.now();
  const rankerOptions = { learning };
  ranker = inWorker
    ? await createWorkerRanker({ modelUrl, storage: "indexeddb", databaseName: DATABASE, rankerOptions, now, onWarning: warn, onPersist })
    : await createLocalRanker({ modelUrl, storage: indexedDbStorage({ databaseName: DATABASE }), rankerOptions, now, onWarning: warn, onPersist });
  const loadMs = performance.now() - started;

  const info = ranker.modelInfo();
  $("model-name").textContent = info.name;
  $("model-features").textContent = `${info.features.length}`;
  $("model-features").title = info.features.join("\n");
  $("model-size").textContent = `${(info.byteSize / 1024).toFixed(1)} kB`;
  $("model-info").title = `${info.producer}, opset ${info.opset}, contract v${info.contractVersion}; module + model loaded in ${loadMs.toFixed(0)} ms${inWorker ? " (in a worker)" : ""}`;
  $("model-info").dataset.features = String(info.features.length);

  // Persist before the page goes away (the debounce would otherwise lose the last second).
  const flush = () => ranker?.flush().catch(() => {});
  addEventListener("pagehide", flush);
  document.addEventListener("visibilitychange", () => document.visibilityState === "hidden" && flush());

  render();
}

main().catch((error) => {
  setStatus("error", `Could not start: ${error?.message ?? error}`);
  console.error(error);
});
