// Failures are shown next to the form, and the input stays.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createViaApi, fillLocation, submit, uniqueName, waitForText, WAIT_MS } from '../support/pages.js';
import { useHerald } from '../support/stack.js';

const herald = useHerald();

test('a duplicate name shows the reason in #form-error and keeps the input', async () => {
  const name = uniqueName('Lisbon');
  await createViaApi(herald.baseURL, { name });
  const page = await herald.browser.newPage();
  try {
    await page.goto(`${herald.baseURL}/locations/new`);
    const description = 'A second Lisbon, which must be refused.';
    await fillLocation(page, { name, category: 'Town', description });
    await submit(page);
    const reason = await waitForText(page, '#form-error', 'already exists');
    assert.ok(reason.includes(name), `the reason names the location: ${JSON.stringify(reason)}`);
    assert.equal(await page.getAttribute('#form-error', 'role'), 'alert');
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'form-error', 'focus moves to the summary');
    assert.ok(page.url().includes('/locations/new'), `still on the form: ${page.url()}`);
    assert.equal(await page.inputValue('input#name'), name);
    assert.equal(await page.inputValue('select#category'), 'Town');
    assert.equal(await page.inputValue('textarea#description'), description);
  } finally {
    await page.close();
  }
});

test('an empty name shows a field error in #name-error', async () => {
  const page = await herald.browser.newPage();
  herald.expectProblems(page, /status of 422/);
  try {
    await page.goto(`${herald.baseURL}/locations/new`);
    await fillLocation(page, { name: '', category: 'City' });
    await submit(page);
    const error = await waitForText(page, '#name-error', /\S/);
    assert.ok(error.trim().length > 0);
    assert.ok(page.url().includes('/locations/new'), `still on the form: ${page.url()}`);
    assert.equal(await page.inputValue('select#category'), 'City', 'the other input is kept');
    await page.locator('#name-error').waitFor({ state: 'visible', timeout: WAIT_MS });
  } finally {
    await page.close();
  }
});
