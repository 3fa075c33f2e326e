#!/usr/bin/env node
// Writes www/data/server-response.json: a deterministic, made-up "recommendations" response
// shaped like a real server's (guild servers, channels and posts, in the server's order), for
// the demo page and the tests. No external data; the same seed always gives the same bytes.
//
//   node www/make-catalogue.mjs [--seed N] [--out PATH]

import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";

import { mulberry32 } from "./mulberry32.mjs";

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(name);
  return i >= 0 && i + 1 < args.length ? args[i + 1] : fallback;
};
const SEED = Number(option("--seed", "20250115"));
const OUT = option("--out", fileURLToPath(new URL("./data/server-response.json", import.meta.url)));
/** The response's timestamp; items were created in the 30 days before it. */
const GENERATED_AT = Date.UTC(2025, 0, 15, 12, 0, 0);
const HOUR = 3_600_000;
const EMBEDDING_DIM = 8;

const random = mulberry32(SEED);
// Durations from a stream of their own, so adding them left every other generated value as it was.
const durationRandom = mulberry32(SEED ^ 0x5eed);
const pick = (list) => list[Math.floor(random() * list.length)];
const gauss = () => {
  const u = 1 - random();
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
};
const round = (x, digits = 4) => Number(x.toFixed(digits));

const TOPICS = [
  "rust", "gamedev", "pixel-art", "synthwave", "cooking", "fitness",
  "anime", "photography", "webdev", "machine-learning", "boardgames", "space",
];
/** Each guild: its topics and its channels (each channel narrows to one or two topics). */
const GUILDS = [
  { id: "g-rustaceans", name: "Rustaceans", topics: ["rust", "webdev"], channels: ["help", "showcase", "wasm"] },
  { id: "g-indie-forge", name: "Indie Forge", topics: ["gamedev", "pixel-art"], channels: ["devlogs", "jams", "art"] },
  { id: "g-neon-nights", name: "Neon Nights", topics: ["synthwave", "anime"], channels: ["tracks", "visuals"] },
  { id: "g-home-kitchen", name: "Home Kitchen", topics: ["cooking", "fitness"], channels: ["recipes", "meal-prep"] },
  { id: "g-shutterbugs", name: "Shutterbugs", topics: ["photography", "space"], channels: ["critique", "astro"] },
  { id: "g-model-zoo", name: "Model Zoo", topics: ["machine-learning", "rust"], channels: ["papers", "on-device"] },
  { id: "g-meeple-den", name: "Meeple Den", topics: ["boardgames", "gamedev"], channels: ["reviews", "lfg"] },
  { id: "g-orbit", name: "Orbit", topics: ["space", "photography"], channels: ["launches", "news"] },
];
const AUTHORS = [
  "ferris", "mira", "kenji", "ada", "lou", "priya", "tomas", "zoe",
  "omar", "hana", "felix", "ines", "ravi", "sol", "bea",
];
const TITLES = {
  "rust": ["Borrow checker finally clicked", "Zero-copy parsing in 40 lines", "Why my async runtime deadlocked"],
  "gamedev": ["Devlog #12: procedural caves", "Jam postmortem: 48h, 3 bugs", "Making coyote time feel right"],
  "pixel-art": ["16-colour palette challenge", "Animating a 32px knight", "Dithering without the noise"],
  "synthwave": ["New track: Midnight Arcade", "Building a retro arp in Vital", "Best drum machines of the 80s"],
  "cooking": ["One-pan miso salmon", "Sourdough at 70% hydration", "Weeknight dal in 20 minutes"],
  "fitness": ["Meal prep for a cut", "Couch to 5k, week 6", "Protein on a budget"],
  "anime": ["Top openings this season", "Fan art: rainy city", "Studio spotlight thread"],
  "photography": ["Golden hour in the old port", "Film vs digital, round 4", "Critique my street shots"],
  "webdev": ["CSS container queries in practice", "Shipping a 14 kB landing page", "WebAssembly in the browser today"],
  "machine-learning": ["Tiny rankers on device", "Distilling a 7B into 100M", "Reading group: listwise losses"],
  "boardgames": ["Cascadia strategy notes", "Looking for a Gloomhaven group", "Solo mode reviews"],
  "space": ["Starship flight recap", "Jupiter through a 6-inch Dobsonian", "Launch schedule for the week"],
};

/** A unit vector per topic; an item's embedding is the normalised mean of its topics' vectors plus noise. */
const topicVectors = Object.fromEntries(TOPICS.map((t) => [t, normalise(Array.from({ length: EMBEDDING_DIM }, gauss))]));
function normalise(v) {
  const n = Math.hypot(...v) || 1;
  return v.map((x) => x / n);
}
function embeddingFor(topics) {
  const sum = new Array(EMBEDDING_DIM).fill(0);
  for (const t of topics) topicVectors[t].forEach((x, i) => (sum[i] += x));
  return normalise(sum.map((x) => x + 0.25 * gauss())).map((x) => round(x));
}

const items = [];
let postNumber = 0;
function add(item) {
  items.push({
    ...item,
    embedding: embeddingFor(item.topics),
    popularity: Math.round(Math.exp(3 + 4 * random())),
    createdAt: GENERATED_AT - Math.round(random() * 30 * 24) * HOUR,
    // How long a post takes to read or watch through (servers and channels have no length).
    ...(item.kind === "post" ? { durationMs: Math.round(15 + 165 * durationRandom()) * 1000 } : {}),
  });
}
for (const guild of GUILDS) {
  add({
    id: `srv-${guild.id.slice(2)}`, title: guild.name, kind: "server", author: pick(AUTHORS),
    containers: [guild.id], topics: guild.topics,
  });
}
for (const guild of GUILDS) {
  for (const channel of guild.channels.slice(0, 2)) {
    add({
      id: `chn-${guild.id.slice(2)}-${channel}`, title: `#${channel} in ${guild.name}`, kind: "channel",
      author: pick(AUTHORS), containers: [guild.id, `${guild.id}/${channel}`], topics: [pick(guild.topics)],
    });
  }
}
while (items.length < 59) {
  const guild = pick(GUILDS);
  const channel = pick(guild.channels);
  const topic = pick(guild.topics);
  const other = random() < 0.3 ? pick(TOPICS) : topic;
  postNumber += 1;
  add({
    id: `post-${String(postNumber).padStart(3, "0")}`, title: pick(TITLES[topic]), kind: "post", author: pick(AUTHORS),
    containers: [guild.id, `${guild.id}/${channel}`], topics: [...new Set([topic, other])],
  });
}

// The server's relevance scores: it prefers channels and posts of a few big guilds.
const favourite = new Set(["g-rustaceans", "g-orbit", "g-neon-nights"]);
for (const item of items) {
  const base = 0.45 + 0.3 * random() + (favourite.has(item.containers[0]) ? 0.15 : 0) + (item.kind === "post" ? 0.05 : 0);
  item.serverScore = round(Math.min(0.99, Math.max(0.05, base)));
}
items.sort((a, b) => b.serverScore - a.serverScore || a.id.localeCompare(b.id));

// Two pinned items keep their server position: an announcement on top and the help channel third.
items.unshift({
  id: "post-announcement", title: "Announcement: summer event starts Friday", kind: "post", author: "mira",
  containers: ["g-indie-forge", "g-indie-forge/announcements"], topics: ["gamedev"],
  embedding: embeddingFor(["gamedev"]), serverScore: 1, popularity: 9120,
  createdAt: GENERATED_AT - 2 * HOUR, durationMs: 45_000, pinned: true,
});
const help = items.find((item) => item.id === "chn-rustaceans-help");
help.pinned = true;
items.splice(items.indexOf(help), 1);
items.splice(2, 0, help);
// A pinned item is placed by the server, but its score still fits the order it sent.
help.serverScore = round((items[1].serverScore + items[3].serverScore) / 2);

// Field order as a server would send it.
const response = {
  requestId: `req-${SEED.toString(16)}`,
  generatedAt: GENERATED_AT,
  surface: "home-feed",
  items: items.map(({ id, title, kind, author, containers, topics, embedding, serverScore, popularity, createdAt, durationMs, pinned }) => ({
    id, title, kind, author, containers, topics, embedding, serverScore, popularity, createdAt,
    ...(durationMs === undefined ? {} : { durationMs }), ...(pinned ? { pinned } : {}),
  })),
};

mkdirSync(dirname(OUT), { recursive: true });
writeFileSync(OUT, `${JSON.stringify(response, null, 1)}\n`);
console.log(`wrote ${response.items.length} items to ${OUT}`);
