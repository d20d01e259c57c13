// Starts Herald for a browser test: its own nats-server (JetStream, random port, store in a fresh
// temporary folder), the reactor and the api from target/debug, and Debian's Chromium through
// playwright-core. Everything started here is stopped by `stop()`: SIGTERM, then SIGKILL.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { after, afterEach, before } from 'node:test';
import { chromium } from 'playwright-core';

export const E2E_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO = resolve(E2E_DIR, '..');
export const ARTIFACTS = join(E2E_DIR, 'artifacts');

const NATS_SERVER = join(REPO, '.tools/bin/nats-server');
const REACTOR = join(REPO, 'target/debug/reactor');
const API = join(REPO, 'target/debug/api');
const DEV = join(REPO, 'target/debug/herald-dev');
const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

// The flags Chromium needs on this kind of machine: as root (no sandbox), no GPU, and none of
// its calls home, which a closed network refuses. Playwright adds a new empty --user-data-dir.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

const STARTUP_TIMEOUT_MS = 20_000;
const STOP_TIMEOUT_MS = 5_000;

function requireExecutable(path, hint) {
  if (!existsSync(path)) throw new Error(`${path} is missing: ${hint}`);
}

/** A TCP port nobody listens on right now. */
export async function freePort() {
  const server = createServer();
  await new Promise((ok, fail) => server.once('error', fail).listen(0, '127.0.0.1', ok));
  const { port } = server.address();
  await new Promise((ok) => server.close(ok));
  return port;
}

/** Polls `probe` until it returns a truthy value; throws `message()` after `timeoutMs`. */
export async function until(probe, { timeoutMs = 10_000, intervalMs = 50, message } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const value = await probe();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline) {
      const why = message ? message() : 'condition not met';
      throw new Error(`${why} within ${timeoutMs} ms${last ? ` (last error: ${last.message})` : ''}`);
    }
    await new Promise((ok) => setTimeout(ok, intervalMs));
  }
}

// Every process started here, so that none outlives this test process, even when
// it is interrupted or a test fails before its teardown.
const running = new Set();
process.on('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => process.exit(130));
}

class Proc {
  constructor(name, command, args, env) {
    this.name = name;
    this.output = '';
    this.exited = null;
    this.child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    running.add(this.child);
    this.child.once('exit', () => running.delete(this.child));
    const keep = (chunk) => {
      this.output = (this.output + chunk.toString()).slice(-20_000);
    };
    this.child.stdout.on('data', keep);
    this.child.stderr.on('data', keep);
    this.done = new Promise((ok) => {
      this.child.once('exit', (code, signal) => {
        this.exited = { code, signal };
        ok();
      });
      this.child.once('error', (error) => {
        this.exited = { error };
        this.output += `\nspawn failed: ${error.message}`;
        ok();
      });
    });
  }

  get pid() {
    return this.child.pid;
  }

  assertRunning() {
    if (this.exited) {
      throw new Error(`${this.name} exited during start-up (${JSON.stringify(this.exited)}):\n${this.output}`);
    }
  }

  async stop() {
    if (this.exited) return;
    this.child.kill('SIGTERM');
    let timeout;
    const timer = new Promise((ok) => {
      timeout = setTimeout(ok, STOP_TIMEOUT_MS, 'timeout');
    });
    const outcome = await Promise.race([this.done, timer]);
    clearTimeout(timeout);
    if (outcome === 'timeout' && !this.exited) {
      process.stderr.write(`${this.name} still running ${STOP_TIMEOUT_MS} ms after SIGTERM: SIGKILL\n`);
      this.child.kill('SIGKILL');
      await this.done;
    }
  }
}

/**
 * Starts nats-server, reactor and api. `reactorDelayMs` sets REACTOR_DELAY_MS; with `tls`, the
 * api serves HTTPS (HTTP/2 by ALPN) with a certificate made for this run by `herald-dev cert`.
 * Returns `{ baseURL, natsURL, stop() }`.
 */
export async function startStack({ reactorDelayMs, tls = false } = {}) {
  requireExecutable(NATS_SERVER, 'run `./task tools` to install nats-server into .tools/bin');
  requireExecutable(REACTOR, 'build it first: `cargo build --bins` (or `./task build`)');
  requireExecutable(API, 'build it first: `cargo build --bins` (or `./task build`)');

  const dir = await mkdtemp(join(tmpdir(), 'herald-e2e-'));
  const procs = [];
  const stop = async () => {
    // api and reactor first, while NATS is still up; then nats-server.
    await Promise.all(procs.slice(1).map((p) => p.stop()));
    if (procs[0]) await procs[0].stop();
    await rm(dir, { recursive: true, force: true });
  };

  try {
    const nats = new Proc('nats-server', NATS_SERVER, [
      '-js', '-a', '127.0.0.1', '-p', '-1', '--ports_file_dir', dir, '-sd', join(dir, 'store'),
    ]);
    procs.push(nats);
    const portsFile = join(dir, `nats-server_${nats.pid}.ports`);
    const natsURL = await until(
      async () => {
        nats.assertRunning();
        if (!(await readdir(dir)).includes(`nats-server_${nats.pid}.ports`)) return null;
        return JSON.parse(await readFile(portsFile, 'utf8')).nats?.[0];
      },
      { timeoutMs: STARTUP_TIMEOUT_MS, message: () => `nats-server wrote no ports file ${portsFile}:\n${nats.output}` },
    );

    const reactorEnv = { NATS_URL: natsURL };
    if (reactorDelayMs !== undefined) reactorEnv.REACTOR_DELAY_MS = String(reactorDelayMs);
    const reactor = new Proc('reactor', REACTOR, [], reactorEnv);
    procs.push(reactor);

    const httpAddr = `127.0.0.1:${await freePort()}`;
    const apiEnv = { NATS_URL: natsURL, HTTP_ADDR: httpAddr };
    if (tls) {
      requireExecutable(DEV, 'build it first: `cargo build --bins` (or `./task build`)');
      const certs = join(dir, 'tls');
      await new Promise((ok, fail) => {
        const child = spawn(DEV, ['cert', '--dir', certs], { stdio: 'ignore' });
        child.once('exit', (code) => (code === 0 ? ok() : fail(new Error(`herald-dev cert exited with ${code}`))));
      });
      apiEnv.TLS_CERT = join(certs, 'cert.pem');
      apiEnv.TLS_KEY = join(certs, 'key.pem');
    }
    const api = new Proc('api', API, [], apiEnv);
    procs.push(api);

    const baseURL = `${tls ? 'https' : 'http'}://${httpAddr}`;
    // Node's fetch would refuse the certificate made for this run: ask over plain TCP.
    const ready = tls ? () => readyOverTls(httpAddr) : async () => (await fetch(`${baseURL}/readyz`)).status === 200;
    await until(
      async () => {
        reactor.assertRunning();
        api.assertRunning();
        return ready();
      },
      { timeoutMs: STARTUP_TIMEOUT_MS, message: () => `api at ${baseURL} not ready:\n${api.output}` },
    );
    return { baseURL, natsURL, stop, logs: () => procs.map((p) => `--- ${p.name}\n${p.output}`).join('\n') };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** Whether the api at `address` answers /readyz with 200 over TLS, whatever its certificate. */
async function readyOverTls(address) {
  const { request } = await import('node:https');
  const [host, port] = address.split(':');
  return new Promise((ok) => {
    const req = request({ host, port, path: '/readyz', rejectUnauthorized: false }, (response) => {
      response.resume();
      ok(response.statusCode === 200);
    });
    req.once('error', () => ok(false));
    req.end();
  });
}

/** Launches Debian's Chromium headless (never a downloaded browser). */
export async function launchBrowser() {
  requireExecutable(
    CHROMIUM,
    'install Debian\'s Chromium: `./task tools:browser` (apt-get install chromium)',
  );
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
}

// Every page a test opens is watched: a console error, an uncaught exception or a
// Content-Security-Policy violation fails the test, unless the test said it
// expects it (`herald.expectProblems(page, /pattern/)`). Chromium reports a CSP
// violation as a console error; the init script reports it once more, as the
// event the page sees, so none can slip by as a warning.
const CSP_REPORTER = `addEventListener('securitypolicyviolation', (event) =>
  console.error('CSP violation: ' + event.violatedDirective + ' blocked ' + (event.blockedURI || 'inline')));`;

class Problems {
  constructor() {
    this.seen = [];
    this.expected = new WeakMap();
  }

  async watch(context) {
    await context.addInitScript({ content: CSP_REPORTER });
    context.on('page', (page) => {
      page.on('console', (message) => {
        if (message.type() === 'error') this.add(page, message.text());
      });
      page.on('pageerror', (error) => this.add(page, `uncaught ${error.name}: ${error.message}`));
    });
    return context;
  }

  add(page, text) {
    if ((this.expected.get(page) ?? []).some((pattern) => pattern.test(text))) return;
    this.seen.push(`${text} (on ${page.url()})`);
  }

  expect(page, pattern) {
    this.expected.set(page, [...(this.expected.get(page) ?? []), pattern]);
  }

  /** What was seen since the last call, emptied. */
  take() {
    return this.seen.splice(0);
  }
}

/**
 * The browser, with every context and page it opens watched by `problems`, and opened with
 * `defaults` (a stack serving TLS with a certificate made for the run is trusted).
 */
function watched(browser, problems, defaults) {
  return new Proxy(browser, {
    get(target, property) {
      if (property === 'newContext') {
        return async (options) => problems.watch(await target.newContext({ ...defaults, ...options }));
      }
      if (property === 'newPage') {
        // Like Browser.newPage: a context of its own, closed with the page.
        return async (options) => {
          const context = await problems.watch(await target.newContext({ ...defaults, ...options }));
          const page = await context.newPage();
          page.once('close', () => context.close().catch(() => {}));
          return page;
        };
      }
      const value = Reflect.get(target, property);
      return typeof value === 'function' ? value.bind(target) : value;
    },
  });
}

/**
 * Starts the stack and the browser for the test file (or suite) that calls it: an object whose
 * fields (stack, baseURL, browser) are set in node:test's `before` and torn down in `after`.
 * After each test it fails the test if a page logged a console error, threw, or broke the
 * Content-Security-Policy; `expectProblems(page, pattern)` allows what a test provokes.
 */
export function useHerald(options = {}) {
  const problems = new Problems();
  const env = {
    expectProblems: (page, pattern) => problems.expect(page, pattern),
    takeProblems: () => problems.take(),
  };
  before(async () => {
    env.stack = await startStack(options);
    env.baseURL = env.stack.baseURL;
    env.browser = watched(await launchBrowser(), problems, options.tls ? { ignoreHTTPSErrors: true } : {});
  });
  afterEach(() => {
    assert.deepEqual(problems.take(), [], 'console errors, uncaught exceptions or CSP violations');
  });
  after(async () => {
    await env.browser?.close().catch(() => {});
    await env.stack?.stop();
  });
  return env;
}

/** The artifacts folder (created on first use) and the path of one file in it. */
export function artifact(name) {
  mkdirSync(ARTIFACTS, { recursive: true });
  return join(ARTIFACTS, name);
}
