// Many tabs of one browser, each waiting for a command of its own: what the crowd tests do.
import assert from 'node:assert/strict';
import { uniqueName, WAIT_MS } from './pages.js';

/** Opens `count` tabs of one browser context on the form, which loads herald.js. */
export async function openTabs(context, baseURL, count) {
  const pages = [];
  for (let n = 0; n < count; n += 1) {
    const page = await context.newPage();
    await page.goto(`${baseURL}/locations/new`);
    await page.locator('form#create-location').waitFor({ timeout: WAIT_MS });
    pages.push(page);
  }
  return pages;
}

/**
 * In `page`: imports herald.js (as the page links it), makes `transportInUse` run so the tab
 * takes its place (leader, worker), and answers which way it waits.
 */
export async function prepare(page, transport = 'auto') {
  return page.evaluate(async (transport) => {
    const link = [...document.querySelectorAll('link[rel=modulepreload]')].find((l) => /\/herald\.[0-9a-f]+\.js$/.test(l.href));
    window.herald = await import(link.href);
    return window.herald.transportInUse(transport);
  }, transport);
}

/**
 * In `page` (prepared): creates a location and waits for it with awaitCommand. Answers the
 * outcome's state, how it was waited for, how long after the outcome was recorded the tab
 * learned it, and how long after the person submitted (the browser and the server share this
 * machine's clock).
 */
export async function createAndWait(page, transport = 'auto', prefix = 'Tab') {
  const name = uniqueName(prefix);
  return page.evaluate(
    async ([name, transport]) => {
      const submitted = Date.now();
      const response = await fetch('/api/locations', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name, category: 'Town' }),
      });
      const { id } = await response.json();
      const outcome = await window.herald.awaitCommand(id, { timeoutMs: 60_000, transport });
      return {
        id,
        state: outcome.state,
        via: outcome.via,
        afterLanding: Date.now() - Date.parse(outcome.notification?.created_at),
        afterSubmit: Date.now() - submitted,
      };
    },
    [name, transport],
  );
}

/**
 * Creates and waits in every tab, one tab after another as people do (`gapMs` apart), so that
 * the first tabs' waits are open while the last submit: with a connection per wait over
 * HTTP/1.1, the seventh tab's POST would wait for a connection until a whole command finished.
 */
export async function createAndWaitInTurn(tabs, transport = 'auto', gapMs = 100) {
  const waiting = [];
  for (const tab of tabs) {
    waiting.push(createAndWait(tab, transport));
    await new Promise((ok) => setTimeout(ok, gapMs));
  }
  return Promise.all(waiting);
}

/**
 * Asserts every tab learned its command's completion within `withinMs` of it landing, and
 * within `workMs` (the reactor's time) plus `withinMs` of being submitted.
 */
export function assertAllLearnedInTime(outcomes, via, workMs, withinMs = 1_000) {
  for (const outcome of outcomes) {
    const text = JSON.stringify(outcome);
    assert.equal(outcome.state, 'completed', text);
    assert.equal(outcome.via, via, text);
    assert.ok(outcome.afterLanding < withinMs, `learned ${outcome.afterLanding} ms after landing: ${text}`);
    assert.ok(outcome.afterSubmit < workMs + withinMs, `learned ${outcome.afterSubmit} ms after submitting: ${text}`);
  }
}
