// Everything a user typed is shown as text: a name that is markup never runs.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectLocationPage, fillLocation, submit, WAIT_MS } from '../support/pages.js';
import { useHerald } from '../support/stack.js';

const herald = useHerald();
const NAME = '<script>alert(1)</script>';

test('a name of <script>alert(1)</script> is shown as text on the location page and in the list', async () => {
  const page = await herald.browser.newPage();
  const dialogs = [];
  page.on('dialog', (dialog) => {
    dialogs.push(dialog.message());
    dialog.dismiss().catch(() => {});
  });
  const injected = () =>
    page.evaluate(() => [...document.scripts].filter((s) => s.textContent.includes('alert(1)')).length);
  try {
    await page.goto(`${herald.baseURL}/locations/new?timeout=30`);
    await fillLocation(page, { name: NAME, category: 'Continent', description: '<img src=x onerror=alert(2)>' });
    await submit(page);
    await expectLocationPage(page, NAME);
    assert.equal(await injected(), 0, 'no script element made from the name on the location page');
    assert.ok((await page.content()).includes('&lt;script&gt;alert(1)&lt;/script&gt;'), 'the name is escaped in the HTML');

    await page.goto(`${herald.baseURL}/locations`);
    const row = page.locator('table tbody tr', { hasText: NAME });
    await row.waitFor({ timeout: WAIT_MS });
    assert.ok((await row.textContent()).includes(NAME), 'the list shows the name as text');
    assert.equal(await injected(), 0, 'no script element made from the name in the list');
    assert.equal(await page.locator('img[src="x"]').count(), 0, 'the description is not markup');
    assert.deepEqual(dialogs, [], 'no dialog opened');
  } finally {
    await page.close();
  }
});
