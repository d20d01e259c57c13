// What the tests do on Herald's pages, named after the DOM contract of the web UI.
import assert from 'node:assert/strict';

export const LOCATION_PATH = /\/locations\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const COMMAND_PATH = /\/commands\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** How long a page may take to reach a state the test waits for. */
export const WAIT_MS = 15_000;

let counter = 0;
/** A location name no other test in this run uses. */
export function uniqueName(prefix) {
  counter += 1;
  return `${prefix} ${process.pid}-${Date.now().toString(36)}-${counter}`;
}

/** Fills the create-location form; the name as given (may be empty). */
export async function fillLocation(page, { name, category = 'City', description = 'Made by a browser test.' }) {
  await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
  await page.fill('input#name', name);
  if (category !== undefined) await page.selectOption('select#category', category);
  if (description !== undefined) await page.fill('textarea#description', description);
}

export async function submit(page) {
  await page.click('button#submit');
}

/** Waits until `selector`'s text contains `text` (a string or RegExp); returns the text. */
export async function waitForText(page, selector, text, timeout = WAIT_MS) {
  const matches = (value) => (text instanceof RegExp ? text.test(value) : value.includes(text));
  const deadline = Date.now() + timeout;
  let last = '';
  for (;;) {
    const element = page.locator(selector);
    last = (await element.count()) > 0 ? (await element.first().textContent()) ?? '' : '<absent>';
    if (matches(last)) return last;
    if (Date.now() > deadline) {
      assert.fail(`${selector} should contain ${text} within ${timeout} ms; it reads ${JSON.stringify(last)} on ${page.url()}`);
    }
    // Playwright's own wait for the next change instead of a fixed sleep.
    await page
      .waitForFunction(
        ([sel, before]) => (document.querySelector(sel)?.textContent ?? '<absent>') !== before,
        [selector, last],
        { timeout: Math.max(1, Math.min(1_000, deadline - Date.now())), polling: 'raf' },
      )
      .catch(() => {});
  }
}

/** Waits for the location page of `name`: the URL is /locations/<id> and the h1 reads the name. */
export async function expectLocationPage(page, name) {
  await page.waitForURL(LOCATION_PATH, { timeout: WAIT_MS });
  const h1 = page.locator('h1');
  await h1.waitFor({ timeout: WAIT_MS });
  assert.equal((await h1.textContent()).trim(), name, `the h1 of ${page.url()}`);
  return new URL(page.url()).pathname.split('/').pop();
}

/** The text of every row of the table at /locations. */
export async function listedRows(page, baseURL) {
  await page.goto(`${baseURL}/locations`);
  await page.locator('table, body').first().waitFor();
  return page.locator('table tbody tr').allTextContents();
}

/** Creates a location through the api, waiting on the server for it to land. */
export async function createViaApi(baseURL, location) {
  const response = await fetch(`${baseURL}/api/locations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', prefer: 'wait=10' },
    body: JSON.stringify({ category: 'City', description: 'Made by a browser test.', ...location }),
  });
  const body = await response.text();
  assert.equal(response.status, 201, `POST /api/locations answered ${response.status}: ${body}`);
  return JSON.parse(body);
}
