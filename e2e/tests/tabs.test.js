// Many tabs of one browser waiting at once, over plain HTTP/1.1 (six connections per host):
// every tab learns its outcome within a second of it landing, because the waits of every tab
// share one stream (in a SharedWorker, or in a tab elected to lead), and the browser still has
// connections left to load pages meanwhile. The reactor takes 3 s per command.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WAIT_MS } from '../support/pages.js';
import { assertAllLearnedInTime, createAndWait, createAndWaitInTurn, openTabs, prepare } from '../support/tabs.js';
import { useHerald } from '../support/stack.js';

const WORK_MS = 3000;
const herald = useHerald({ reactorDelayMs: WORK_MS });

for (const count of [8, 20]) {
  test(`${count} tabs waiting at once each learn their outcome within 1 s of it landing`, async () => {
    const context = await herald.browser.newContext();
    try {
      const tabs = await openTabs(context, herald.baseURL, count);
      for (const tab of tabs) assert.equal(await prepare(tab), 'shared-worker');
      const waiting = createAndWaitInTurn(tabs);
      if (count === 20) {
        // While twenty wait, another tab loads a page at once: connections are left.
        await new Promise((ok) => setTimeout(ok, 1_000));
        const started = Date.now();
        const another = await context.newPage();
        await another.goto(`${herald.baseURL}/locations`);
        await another.locator('h1').waitFor({ timeout: WAIT_MS });
        assert.ok(Date.now() - started < 1_500, `a page loaded in ${Date.now() - started} ms`);
      }
      assertAllLearnedInTime(await waiting, 'shared-worker', WORK_MS);
    } finally {
      await context.close();
    }
  });
}

test('a tab that closes while the others wait leaves them waiting, and told', async () => {
  const context = await herald.browser.newContext();
  try {
    const tabs = await openTabs(context, herald.baseURL, 8);
    for (const tab of tabs) await prepare(tab);
    const waiting = tabs.slice(1).map((tab) => createAndWait(tab));
    const closing = createAndWait(tabs[0]).catch(() => 'closed');
    await new Promise((ok) => setTimeout(ok, 500));
    await tabs[0].close();
    assert.equal(await closing, 'closed');
    assertAllLearnedInTime(await Promise.all(waiting), 'shared-worker', WORK_MS);
  } finally {
    await context.close();
  }
});

test('without SharedWorker, a tab leads; when it closes another takes over', async () => {
  const context = await herald.browser.newContext();
  try {
    const tabs = await openTabs(context, herald.baseURL, 8);
    // The first to ask leads: it holds the Web Lock.
    assert.equal(await prepare(tabs[0], 'leader'), 'leader');
    for (const tab of tabs.slice(1)) assert.equal(await prepare(tab, 'leader'), 'leader');
    const waiting = tabs.slice(1).map((tab) => createAndWait(tab, 'leader'));
    const leading = createAndWait(tabs[0], 'leader').catch(() => 'closed');
    await new Promise((ok) => setTimeout(ok, 500));
    await tabs[0].close();
    assert.equal(await leading, 'closed');
    assertAllLearnedInTime(await Promise.all(waiting), 'leader', WORK_MS);
  } finally {
    await context.close();
  }
});

test('with neither, each wait has its own stream (a few tabs)', async () => {
  const context = await herald.browser.newContext();
  try {
    const tabs = await openTabs(context, herald.baseURL, 3);
    for (const tab of tabs) assert.equal(await prepare(tab, 'direct'), 'direct');
    assertAllLearnedInTime(await createAndWaitInTurn(tabs, 'direct'), 'direct', WORK_MS);
  } finally {
    await context.close();
  }
});
