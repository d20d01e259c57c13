// Creating a location with JavaScript: waiting in the browser (SSE) and on the server (Prefer: wait).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectLocationPage, fillLocation, listedRows, submit, uniqueName, WAIT_MS } from '../support/pages.js';
import { artifact, useHerald } from '../support/stack.js';

const herald = useHerald();

test('the list starts empty and links to the form', async () => {
  const page = await herald.browser.newPage();
  try {
    await page.goto(`${herald.baseURL}/locations`);
    await page.getByText('No locations yet').waitFor({ timeout: WAIT_MS });
    await page.click('a[href="/locations/new"]');
    await page.waitForURL(/\/locations\/new$/, { timeout: WAIT_MS });
    await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
  } finally {
    await page.close();
  }
});

test('a created location lands on its page and is in the list', async () => {
  const page = await herald.browser.newPage();
  try {
    const name = uniqueName('Lisbon');
    await page.goto(`${herald.baseURL}/locations/new?timeout=30`);
    await fillLocation(page, { name, category: 'City', description: 'Seven hills above the Tagus.' });
    await submit(page);
    const id = await expectLocationPage(page, name);

    await page.goto(`${herald.baseURL}/locations`);
    const row = page.locator('table tbody tr', { hasText: name });
    await row.waitFor({ timeout: WAIT_MS });
    assert.match(await row.textContent(), /City/);
    assert.equal(await page.locator(`table a[href="/locations/${id}"]`).count() > 0, true, 'the row links to the location');
  } finally {
    await page.close();
  }
});

test('waiting on the server (?wait=server) lands on the location page', async () => {
  const page = await herald.browser.newPage();
  try {
    const name = uniqueName('Porto');
    await page.goto(`${herald.baseURL}/locations/new?wait=server&timeout=30`);
    await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
    assert.equal(await page.isChecked('input#wait-server'), true, '?wait=server checks #wait-server');
    assert.equal(await page.isChecked('input#wait-browser'), false);
    await fillLocation(page, { name, category: 'Town' });
    await submit(page);
    await expectLocationPage(page, name);
    assert.ok((await listedRows(page, herald.baseURL)).some((row) => row.includes(name)), `${name} is listed`);
  } finally {
    await page.close();
  }
});

test('screenshots of the list and the form (desktop and phone)', async () => {
  const page = await herald.browser.newPage({ viewport: { width: 1280, height: 800 } });
  try {
    await page.goto(`${herald.baseURL}/locations`);
    await page.locator('table tbody tr').first().waitFor({ timeout: WAIT_MS });
    await page.screenshot({ path: artifact('locations-list.png'), fullPage: true });

    await page.goto(`${herald.baseURL}/locations/new?timeout=30`);
    await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
    await page.screenshot({ path: artifact('location-form.png'), fullPage: true });
  } finally {
    await page.close();
  }

  const phone = await herald.browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
  try {
    await phone.goto(`${herald.baseURL}/locations/new`);
    await phone.locator('form#create-location').waitFor({ timeout: WAIT_MS });
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the form fits a 390 px wide phone (it overflows by ${overflow} px)`);
    await phone.screenshot({ path: artifact('location-form-phone.png'), fullPage: true });
  } finally {
    await phone.close();
  }
});
