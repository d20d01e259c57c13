// Without JavaScript the form posts to /locations, answered by 303 to /commands/<id>, which
// holds the request until the command is done (then 303 to the location) or, after 4 s, answers
// a page that reloads itself and holds longer. The reactor is slowed down (6 s) so that the
// pending page is seen once, and the second hold ends the moment the location lands.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { COMMAND_PATH, expectLocationPage, fillLocation, submit, uniqueName, WAIT_MS } from '../support/pages.js';
import { useHerald } from '../support/stack.js';

const herald = useHerald({ reactorDelayMs: 6000 });

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
    // The pending command page itself, captured as it is served: it may already
    // have refreshed on to the location by the time the test looks.
    const pending = page.waitForResponse(
      (response) => COMMAND_PATH.test(new URL(response.url()).pathname) && response.status() === 200,
      { timeout: WAIT_MS },
    );
    await submit(page);
    const html = await (await pending).text();
    assert.ok(/http-equiv="refresh" content="1; url=\/commands\/[0-9a-f-]{36}\?held=4"/i.test(html), 'the pending command page reloads itself');
    assert.ok(html.includes('id="command-status"'), 'and says where the command stands');

    await expectLocationPage(page, name);
    assert.ok(visited.some((path) => COMMAND_PATH.test(path)), `went through /commands/<id>: ${visited.join(' → ')}`);
  } finally {
    await context.close();
  }
});
