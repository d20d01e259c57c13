// A submission is stored once, however often it is sent: a double submit without
// JavaScript, two submits with it, and a retry after the answer was lost all carry
// the same Idempotency-Key and end in one location.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { expectLocationPage, fillLocation, uniqueName, waitForText, WAIT_MS } from '../support/pages.js';
import { useHerald } from '../support/stack.js';

const herald = useHerald();

/** How many commands for `name` finished, read from the global feed's whole history. */
async function outcomesFor(name) {
  const controller = new AbortController();
  const response = await fetch(`${herald.baseURL}/api/notifications`, {
    headers: { 'last-event-id': '0' },
    signal: controller.signal,
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = '';
  // The history arrives at once; the feed then stays open, so read until quiet.
  for (;;) {
    const next = await Promise.race([reader.read(), new Promise((ok) => setTimeout(() => ok(null), 500))]);
    if (!next || next.done) break;
    text += decoder.decode(next.value, { stream: true });
  }
  controller.abort();
  return text
    .split('\n')
    .filter((line) => line.startsWith('data:'))
    .map((line) => JSON.parse(line.slice(5)))
    .filter((notification) => notification.data?.location?.name === name || notification.errors?.some((e) => e.includes(name)));
}

test('without JavaScript, sending the form again (a reload) after a lost answer creates one location', async () => {
  const context = await herald.browser.newContext({ javaScriptEnabled: false });
  const page = await context.newPage();
  herald.expectProblems(page, /status of 502/);
  // The first post reaches the api and is stored, but its answer is lost on the way
  // back (a proxy answers 502 instead): the person reloads, which sends the form again.
  const keys = [];
  let lost = false;
  await page.route('**/locations', async (route) => {
    if (route.request().method() !== 'POST') return route.continue();
    keys.push(new URLSearchParams(route.request().postData()).get('idempotency_key'));
    if (lost) return route.continue();
    lost = true;
    await route.fetch({ maxRedirects: 0 });
    await route.fulfill({ status: 502, contentType: 'text/plain', body: 'Bad gateway' });
  });
  try {
    const name = uniqueName('Tavira');
    await page.goto(`${herald.baseURL}/locations/new`);
    await fillLocation(page, { name, category: 'Town' });
    await page.click('button#submit');
    await page.getByText('Bad gateway').waitFor({ timeout: WAIT_MS });
    await page.reload();
    await expectLocationPage(page, name);
    assert.equal(keys.length, 2, 'sent twice');
    assert.ok(keys[0] && keys[0] === keys[1], `with the form's one key: ${keys}`);
    const outcomes = await outcomesFor(name);
    assert.deepEqual(outcomes.map((o) => o.status), ['completed'], 'one command, completed');
  } finally {
    await context.close();
  }
});

test('with JavaScript, two submits and a retry after a lost answer create one location', async () => {
  const page = await herald.browser.newPage();
  // The lost answer below is a network error the browser reports.
  herald.expectProblems(page, /ERR_FAILED|Failed to fetch/);
  try {
    const name = uniqueName('Lagos');
    await page.goto(`${herald.baseURL}/locations/new?timeout=30`);
    await fillLocation(page, { name, category: 'City' });

    // The first POST reaches the api and is stored, but its answer is lost.
    const keys = [];
    let lost = false;
    await page.route('**/api/locations', async (route) => {
      keys.push(route.request().headers()['idempotency-key']);
      if (lost) return route.continue();
      lost = true;
      await route.fetch();
      await route.abort('failed');
    });
    await page.click('button#submit');
    await waitForText(page, '#form-error', 'Could not reach Herald');
    assert.equal(
      await page.evaluate(() => document.activeElement?.id),
      'form-error',
      'focus moves to the error summary',
    );

    // The person tries again, twice in a row: the same key each time.
    await page.evaluate(() => {
      const form = document.getElementById('create-location');
      form.requestSubmit();
      form.requestSubmit();
    });
    await expectLocationPage(page, name);
    assert.ok(keys.length >= 2, `sent ${keys.length} times`);
    assert.ok(keys.every((key) => key && key === keys[0]), `one key for one submission: ${keys}`);
    const outcomes = await outcomesFor(name);
    assert.deepEqual(outcomes.map((o) => o.status), ['completed'], 'one command, completed');
  } finally {
    await page.close();
  }
});

test('a new submission after an answer gets a new key', async () => {
  const page = await herald.browser.newPage();
  herald.expectProblems(page, /status of 422/);
  try {
    await page.goto(`${herald.baseURL}/locations/new?timeout=30`);
    await fillLocation(page, { name: '', category: 'City' });
    const keys = [];
    page.on('request', (request) => {
      if (request.method() === 'POST') keys.push(request.headers()['idempotency-key']);
    });
    await page.click('button#submit');
    await waitForText(page, '#name-error', /\S/);
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'form-error', 'focus on the summary');
    assert.ok(await page.locator('#form-error a[href="#name"]').count(), 'the summary links to the field');
    const name = uniqueName('Elvas');
    await page.fill('input#name', name);
    await page.click('button#submit');
    await expectLocationPage(page, name);
    assert.equal(keys.length, 2);
    assert.notEqual(keys[0], keys[1]);
  } finally {
    await page.close();
  }
});
