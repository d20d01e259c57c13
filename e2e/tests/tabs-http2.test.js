// The crowd of tabs over HTTPS, where the api offers HTTP/2 by ALPN: one connection carries
// every stream of every tab, so even one EventSource per wait needs no more connections.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { assertAllLearnedInTime, createAndWaitInTurn, openTabs, prepare } from '../support/tabs.js';
import { useHerald } from '../support/stack.js';

const WORK_MS = 3000;
const herald = useHerald({ reactorDelayMs: WORK_MS, tls: true });

for (const count of [8, 20]) {
  test(`over HTTP/2, ${count} tabs waiting at once each learn their outcome within 1 s of it landing`, async () => {
    const context = await herald.browser.newContext();
    try {
      const tabs = await openTabs(context, herald.baseURL, count);
      const protocol = await tabs[0].evaluate(() => performance.getEntriesByType('navigation')[0].nextHopProtocol);
      assert.equal(protocol, 'h2');
      for (const tab of tabs) await prepare(tab);
      assertAllLearnedInTime(await createAndWaitInTurn(tabs), 'shared-worker', WORK_MS);
    } finally {
      await context.close();
    }
  });
}

test('over HTTP/2, eight tabs with a stream each are multiplexed on one connection', async () => {
  const context = await herald.browser.newContext();
  try {
    const tabs = await openTabs(context, herald.baseURL, 8);
    for (const tab of tabs) await prepare(tab, 'direct');
    assertAllLearnedInTime(await createAndWaitInTurn(tabs, 'direct'), 'direct', WORK_MS);
  } finally {
    await context.close();
  }
});
