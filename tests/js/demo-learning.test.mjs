// On-device learning in the demo page, in headless Chromium: a visitor who keeps opening posts
// of one topic the shipped model ranks low sees them rise further with learning on than with
// it off (the same clicks), the head shows as active in "what this device knows", and "Reset
// signals" (the client's `clear()`) returns the exact no-signal order.

import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { catalogue, chromiumSession, watchPage } from "./helpers.mjs";

const items = catalogue();
const session = chromiumSession();
/** The topic the visitor engages with: low in the server's list (see www/data/server-response.json). */
const TOPIC = "fitness";
const ROUNDS = 14;
const READ = 30;

/** A fresh context (own storage) with the demo's learning toggle as a visitor left it. */
async function openDemo(learning) {
  const context = await session.browser.newContext({ viewport: { width: 1280, height: 900 } });
  await context.addInitScript((on) => localStorage.setItem("localrank-demo:learning", on ? "on" : "off"), learning);
  const page = await context.newPage();
  const problems = watchPage(page);
  await page.goto(session.server.url);
  return { context, page, problems };
}

async function rendered(page, count = 1) {
  await page.waitForFunction(
    (n) => {
      const status = document.querySelector('[data-testid="status"]');
      return status?.dataset.state === "ready" && Number(status.dataset.renders) >= n;
    },
    count,
  );
  return Number(await page.getAttribute('[data-testid="status"]', "data-renders"));
}

const rankedIds = (page) => page.$$eval('[data-testid="ranked-item"]', (rows) => rows.map((row) => row.dataset.id));
const ofTopic = (id) => items.find((item) => item.id === id).topics.includes(TOPIC);
/** Mean place (0 first) of the topic's items in the reranked list. */
const meanPlace = (ids) => {
  const places = ids.flatMap((id, place) => (ofTopic(id) ? [place] : []));
  return places.reduce((sum, place) => sum + place, 0) / places.length;
};

/**
 * Each round the visitor reads the top of the list (`READ` places: the part a device counts as
 * shown is larger) and opens the topic's posts there in turn; then the clock moves an hour on,
 * past the label window, so every shown list is learnt from.
 */
async function engage(page) {
  let renders = await rendered(page);
  for (let round = 0; round < ROUNDS; round++) {
    const visible = (await rankedIds(page)).slice(0, READ).filter(ofTopic);
    assert.ok(visible.length > 0, `a ${TOPIC} post among the first ${READ}`);
    const target = visible[round % visible.length];
    await page.locator(`[data-testid="ranked-item"][data-id="${target}"] [data-testid="btn-click"]`).click();
    renders = await rendered(page, renders + 1);
  }
  await page.click('[data-testid="clock-plus-1h"]');
  renders = await rendered(page, renders + 1);
  // One more render, so the head, now settled, serves.
  await page.click('[data-testid="clock-plus-1h"]');
  await rendered(page, renders + 1);
  return rankedIds(page);
}

async function learningState(page) {
  const knows = page.locator('[data-testid="knows"]');
  if (!(await knows.evaluate((details) => details.open))) await knows.locator("summary").click();
  await page.waitForFunction(() => Number(document.querySelector('[data-testid="export"]').dataset.keys) >= 0);
  const state = page.locator('[data-testid="learning-state"]');
  const exported = JSON.parse(await page.textContent('[data-testid="export"]'));
  return { active: await state.getAttribute("data-active"), text: await state.textContent(), head: exported.learning };
}

describe("on-device learning in the demo", () => {
  test("the topic a visitor keeps opening rises further with learning; Reset signals gives the base order back", async () => {
    const on = await openDemo(true);
    const off = await openDemo(false);
    try {
      await Promise.all([rendered(on.page), rendered(off.page)]);
      const baseline = await rankedIds(on.page);
      assert.deepEqual(await rankedIds(off.page), baseline, "a new visitor gets the model's order either way");
      assert.equal(await on.page.isChecked('[data-testid="learning-toggle"]'), true);
      assert.equal(await off.page.isChecked('[data-testid="learning-toggle"]'), false);
      const before = (await learningState(on.page)).head;
      assert.equal(before.active, false, "a new visitor has no active head");

      const [learnt, base] = [await engage(on.page), await engage(off.page)];
      const state = await learningState(on.page);
      assert.equal(state.active, "true", state.text);
      assert.ok(state.head.updates >= ROUNDS, `${state.head.updates} updates`);
      assert.ok(state.head.weights.some((w) => w.weight !== 0));
      assert.ok(meanPlace(learnt) < meanPlace(base), `${TOPIC}: mean place ${meanPlace(learnt)} with learning, ${meanPlace(base)} without`);
      assert.ok(meanPlace(base) < meanPlace(baseline), "the model alone lifts them too, less");
      assert.equal((await learningState(off.page)).head.updates, 0, "learning off learns nothing");

      const renders = await rendered(on.page);
      await on.page.click('[data-testid="reset-signals"]');
      await rendered(on.page, renders + 1);
      assert.deepEqual(await rankedIds(on.page), baseline, "clear() returns the exact no-signal order");
      const cleared = await learningState(on.page);
      assert.equal(cleared.active, "false");
      assert.equal(cleared.head.updates, 0);
      assert.deepEqual(on.problems, []);
      assert.deepEqual(off.problems, []);
    } finally {
      await on.context.close();
      await off.context.close();
    }
  });
});
