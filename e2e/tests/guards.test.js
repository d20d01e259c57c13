// The guards around the pages: a page of another site cannot make a visitor's browser
// create a location, and the watch that fails every browser test on a console error
// or a Content-Security-Policy violation does see one.
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { test } from 'node:test';
import { uniqueName, WAIT_MS } from '../support/pages.js';
import { useHerald } from '../support/stack.js';

const herald = useHerald();

/** Serves `html` from another site: `localhost` is not the api's `127.0.0.1`. */
async function otherSite(html) {
  const server = createServer((request, response) => {
    response.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    response.end(html);
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  return { url: `http://localhost:${server.address().port}/`, close: () => new Promise((ok) => server.close(ok)) };
}

async function listedNames() {
  const response = await fetch(`${herald.baseURL}/api/locations?limit=500`);
  return (await response.json()).map((location) => location.name);
}

test('a form on another site that posts to Herald is refused and creates nothing', async () => {
  const name = uniqueName('Forged');
  const site = await otherSite(`<!doctype html><title>Win a prize</title>
    <form id="forged" method="post" action="${herald.baseURL}/locations">
      <input name="name" value="${name}"><input name="category" value="Town">
      <button id="go">Claim</button>
    </form>`);
  const page = await herald.browser.newPage();
  herald.expectProblems(page, /status of 403/);
  try {
    await page.goto(site.url);
    const [response] = await Promise.all([
      page.waitForResponse((r) => r.url() === `${herald.baseURL}/locations`, { timeout: WAIT_MS }),
      page.click('#go'),
    ]);
    assert.equal(response.status(), 403);
    assert.equal((await response.request().allHeaders())['sec-fetch-site'], 'cross-site');
    await page.locator('h1').waitFor({ timeout: WAIT_MS });
    assert.equal((await page.textContent('h1')).trim(), 'Forbidden');

    // A script on that site cannot do it either, even without reading the answer.
    await page.goto(site.url);
    await page.evaluate(async ([url, forged]) => {
      await fetch(url, {
        method: 'POST',
        mode: 'no-cors',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `name=${encodeURIComponent(forged)}&category=Town`,
      });
    }, [`${herald.baseURL}/locations`, name]);

    assert.ok(!(await listedNames()).includes(name), `${name} was not created`);
  } finally {
    await page.close();
    await site.close();
  }
});

test('a Content-Security-Policy violation on a page is caught', async () => {
  const page = await herald.browser.newPage();
  try {
    await page.goto(`${herald.baseURL}/locations/new`);
    await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
    // What an injection would try: an inline script. The policy blocks it...
    const ran = await page.evaluate(async () => {
      window.injectedRan = false;
      const script = document.createElement('script');
      script.textContent = 'window.injectedRan = true';
      document.body.append(script);
      await new Promise((ok) => setTimeout(ok, 100));
      return window.injectedRan;
    });
    assert.equal(ran, false, 'the inline script did not run');
    // ...and the watch reports it, which would fail any other test.
    const deadline = Date.now() + WAIT_MS;
    let seen = [];
    while (!seen.some((problem) => /CSP violation|Content Security Policy/.test(problem)) && Date.now() < deadline) {
      await new Promise((ok) => setTimeout(ok, 50));
      seen = seen.concat(herald.takeProblems());
    }
    assert.ok(seen.some((problem) => /CSP violation|Content Security Policy/.test(problem)), JSON.stringify(seen));
  } finally {
    await page.close();
  }
});
