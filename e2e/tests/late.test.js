// The reactor is slower (REACTOR_DELAY_MS=8000) than the browser waits (?timeout=0.5): the page
// says the location will be available shortly, keeps listening, and then links to it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectLocationPage, fillLocation, submit, uniqueName, waitForText, WAIT_MS } from '../support/pages.js';
import { artifact, useHerald } from '../support/stack.js';

// Generous margins for a loaded 2-core CI machine: the notice must show up well
// before the reactor is done.
const herald = useHerald({ reactorDelayMs: 8000 });

test('a late location: "available shortly", then "ready" with a working link', async () => {
  const page = await herald.browser.newPage({ viewport: { width: 1280, height: 900 } });
  try {
    const name = uniqueName('Coimbra');
    await page.goto(`${herald.baseURL}/locations/new?timeout=0.5`);
    await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
    assert.equal(await page.inputValue('input#timeout'), '0.5', '?timeout=0.5 fills #timeout');
    assert.equal(await page.isChecked('input#wait-browser'), true, 'waiting in the browser is the default');
    await fillLocation(page, { name, category: 'City' });
    const submittedAt = Date.now();
    await submit(page);

    const late = await waitForText(page, '#notice', 'Your location will be available shortly', 6_000);
    assert.equal(await page.getAttribute('#notice', 'role'), 'status');
    assert.ok(page.url().endsWith('/locations/new?timeout=0.5'), `still on the form: ${page.url()}`);
    await page.screenshot({ path: artifact('notice-available-shortly.png'), fullPage: true });

    const link = page.locator('a#ready-link');
    await link.waitFor({ timeout: WAIT_MS });
    await waitForText(page, '#notice', 'Your location is ready');
    assert.ok(Date.now() - submittedAt >= 7_000, 'the ready notice comes after the reactor delay');
    const href = await link.getAttribute('href');
    assert.match(href, /^\/locations\/[0-9a-f-]{36}$/);
    const id = href.split('/').pop();
    assert.ok(late.includes(id), `the late notice names the command id ${id}: ${JSON.stringify(late)}`);
    await page.screenshot({ path: artifact('notice-ready.png'), fullPage: true });
    const entries = await page.locator('#log pre.log-entry').allTextContents();
    assert.ok(entries.some((entry) => entry.includes(id)), `the log panel shows the API's answer: ${entries.length} entries`);
    assert.ok(entries.length >= 3, `the log shows the request, the answer and the notification: ${entries.length} entries`);

    await link.click();
    assert.equal(await expectLocationPage(page, name), id);
  } finally {
    await page.close();
  }
});
