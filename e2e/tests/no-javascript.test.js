// Without JavaScript the form posts to /locations, answered by 303 to /commands/<id>, which
// refreshes itself (<meta http-equiv=refresh>) until the command is done, then the location.
// The reactor is slowed down so that the command page is seen at least once.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMAND_PATH, expectLocationPage, fillLocation, submit, uniqueName, WAIT_MS } from '../support/pages.js';
import { useHerald } from '../support/stack.js';

const herald = useHerald({ reactorDelayMs: 1500 });

test('with JavaScript disabled, submitting the form ends on the location page', async () => {
  const context = await herald.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  const visited = [];
  page.on('framenavigated', (frame) => {
    if (frame === page.mainFrame()) visited.push(new URL(frame.url()).pathname);
  });
  try {
    const name = uniqueName('Faro');
    await page.goto(`${herald.baseURL}/locations/new`);
    assert.equal(await page.getAttribute('form#create-location', 'method'), 'post');
    assert.equal(await page.getAttribute('form#create-location', 'action'), '/locations');
    await fillLocation(page, { name, category: 'Town' });
    await submit(page);

    await page.waitForURL(COMMAND_PATH, { timeout: WAIT_MS });
    await page.locator('#command-status').waitFor({ timeout: WAIT_MS });
    const refresh = await page.locator('meta[http-equiv="refresh" i]').getAttribute('content').catch(() => null);
    assert.ok(refresh !== null, 'the pending command page refreshes itself');

    await expectLocationPage(page, name);
    assert.ok(visited.some((path) => COMMAND_PATH.test(path)), `went through /commands/<id>: ${visited.join(' → ')}`);
  } finally {
    await context.close();
  }
});
