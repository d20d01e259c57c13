// Herald's reusable client: wait for a command's outcome over Server-Sent Events.
//
//   import { awaitCommand } from "/static/herald.js";
//   const outcome = await awaitCommand(id, { timeoutMs: 5000, onLate });
//
// The promise resolves with the first of:
//   { state: "completed", commandId, notification }  the read model has the resource;
//   { state: "failed", commandId, notification }     notification.errors says why;
//   { state: "late", commandId }                     timeoutMs passed first;
//   { state: "error", commandId, message }           there is no such command (or
//                                                    its stream cannot be opened).
// After "late" it keeps listening and calls onLate(outcome) with the real outcome
// when it lands. A finished outcome also says `via`: how it was waited for.
//
// Many waits, one connection. A browser opens at most six HTTP/1.1 connections to
// a host, so one EventSource per waiting command (per tab) would leave a seventh
// waiting for the others, and the page itself unable to load. So every command
// waited for, in every tab of the origin, shares one stream
// (/api/commands/events?ids=…, see herald-stream.js), run:
//   - in a SharedWorker, where the browser has them ("shared-worker");
//   - else in one tab elected with Web Locks, which tells the others over a
//     BroadcastChannel; when it closes, another takes over ("leader");
//   - else, one EventSource per command ("direct").
//
// Options: timeoutMs (default 5000; Infinity never times out), onLate,
// onNotification(notification, state) called with every outcome as it arrives
// (for a log), signal (an AbortSignal that stops waiting: nothing more is called,
// and the promise, if still pending, rejects with the signal's reason, an
// AbortError, as fetch does), transport ("auto", or one of the three above),
// streamUrl (default /api/commands/events), and eventsUrl: a command's own stream
// (/api/commands/{id}/events), which implies "direct".

import { CommandStream } from "./herald-stream.js";

/** The default wait before an outcome is "late". */
export const DEFAULT_TIMEOUT_MS = 5000;

const STREAM_URL = "/api/commands/events";
const CHANNEL = "herald-commands";

/** The waits of this page, by command: each told once. */
class Waits {
  constructor() {
    this.byId = new Map();
  }

  add(id, tell) {
    if (!this.byId.has(id)) this.byId.set(id, new Set());
    this.byId.get(id).add(tell);
    return this.byId.get(id).size === 1;
  }

  remove(id, tell) {
    const tells = this.byId.get(id);
    tells?.delete(tell);
    if (tells?.size === 0) this.byId.delete(id);
    return !this.byId.has(id);
  }

  deliver(id, state, data) {
    const tells = this.byId.get(id);
    this.byId.delete(id);
    for (const tell of tells ?? []) tell(state, data);
  }

  ids() {
    return [...this.byId.keys()];
  }
}

/** The stream runs in a SharedWorker, one for every tab of the origin. */
class WorkerHub {
  constructor(url, fallback) {
    this.kind = "shared-worker";
    this.url = url;
    this.waits = new Waits();
    this.worker = new SharedWorker(new URL("./herald-worker.js", import.meta.url), {
      type: "module",
      name: "herald",
    });
    this.port = this.worker.port;
    this.port.addEventListener("message", ({ data: message }) => {
      if (message?.type === "outcome") this.waits.deliver(message.id, message.state, message.data);
    });
    this.port.start();
    // The worker cannot run (an old browser without module workers, say): the
    // waits move to the next way.
    this.worker.addEventListener("error", () => {
      const next = fallback();
      for (const [id, tells] of this.waits.byId) for (const tell of tells) next.watch(id, tell);
      this.waits = new Waits();
      this.moved = next;
    });
    addEventListener("pagehide", () => this.port.postMessage({ type: "bye" }));
  }

  watch(id, tell) {
    if (this.moved) return this.moved.watch(id, tell);
    if (this.waits.add(id, tell)) this.port.postMessage({ type: "watch", id, url: this.url });
    return () => {
      if (this.waits.remove(id, tell)) this.port.postMessage({ type: "unwatch", id, url: this.url });
    };
  }
}

/** The stream runs in the tab that holds a Web Lock; the others hear it on a channel. */
class LeaderHub {
  constructor(url) {
    this.kind = "leader";
    this.url = url;
    this.waits = new Waits();
    this.stream = null;
    this.channel = new BroadcastChannel(CHANNEL);
    this.channel.addEventListener("message", ({ data: message }) => {
      if (message?.type === "outcome") {
        this.waits.deliver(message.id, message.state, message.data);
      } else if (message?.type === "watch" && this.stream && message.url === this.url) {
        this.stream.watch(message.id);
      } else if (message?.type === "leader" && !this.stream) {
        // A new leader (the last one's tab closed): it must hear what we wait for.
        for (const id of this.waits.ids()) this.ask(id);
      }
    });
    navigator.locks.request(`${CHANNEL} ${url}`, () => {
      this.stream = new CommandStream({
        url,
        onOutcome: (id, state, data) => {
          this.waits.deliver(id, state, data);
          this.channel.postMessage({ type: "outcome", id, state, data });
        },
      });
      for (const id of this.waits.ids()) this.stream.watch(id);
      this.channel.postMessage({ type: "leader" });
      // Held until this tab goes; then the next tab in line leads.
      return new Promise(() => {});
    });
  }

  ask(id) {
    if (this.stream) this.stream.watch(id);
    else this.channel.postMessage({ type: "watch", id, url: this.url });
  }

  watch(id, tell) {
    if (this.waits.add(id, tell)) this.ask(id);
    return () => this.waits.remove(id, tell);
  }
}

/** One EventSource per command: where neither of the above can run. */
class DirectHub {
  constructor(eventsUrl) {
    this.kind = "direct";
    this.eventsUrl = eventsUrl;
  }

  watch(id, tell) {
    const source = new EventSource(this.eventsUrl(id));
    let told = false;
    const once = (state, data) => {
      if (told) return;
      told = true;
      source.close();
      tell(state, data);
    };
    for (const state of ["completed", "failed"]) {
      source.addEventListener(state, (event) => {
        let data;
        try {
          data = JSON.parse(event.data);
        } catch {
          data = { raw: event.data };
        }
        once(state, data);
      });
    }
    source.addEventListener("error", () => {
      // CONNECTING: the browser retries by itself. CLOSED: it has given up (the
      // server answered with an error status: no such command).
      if (source.readyState === EventSource.CLOSED) once("error", null);
    });
    return () => {
      told = true;
      source.close();
    };
  }
}

const ownStream = (id) => `/api/commands/${encodeURIComponent(id)}/events`;
const hubs = new Map();

/** This page's hub for `transport` and `streamUrl`, made on first use. */
function hubFor(transport, streamUrl) {
  const url = new URL(streamUrl, location.href).href;
  const direct = () => new DirectHub(ownStream);
  const leader = () =>
    navigator.locks && typeof BroadcastChannel === "function" ? new LeaderHub(url) : direct();
  const kind =
    transport === "auto" ? (typeof SharedWorker === "function" ? "shared-worker" : "leader") : transport;
  const key = `${kind} ${url}`;
  if (!hubs.has(key)) {
    let hub;
    try {
      hub = kind === "shared-worker" ? new WorkerHub(url, leader) : kind === "leader" ? leader() : direct();
    } catch {
      hub = leader();
    }
    hubs.set(key, hub);
  }
  return hubs.get(key);
}

/** How this page waits for commands (for tests and diagnostics). */
export function transportInUse(transport = "auto", streamUrl = STREAM_URL) {
  const hub = hubFor(transport, streamUrl);
  return hub.moved?.kind ?? hub.kind;
}

/**
 * Waits for the outcome of command `id`.
 * @param {string} id
 * @param {{timeoutMs?: number, onLate?: (outcome: object) => void,
 *          onNotification?: (notification: object, state: string) => void,
 *          signal?: AbortSignal, transport?: string, streamUrl?: string,
 *          eventsUrl?: string}} [options]
 * @returns {Promise<object>}
 */
export function awaitCommand(id, options = {}) {
  const {
    timeoutMs = DEFAULT_TIMEOUT_MS,
    onLate,
    onNotification,
    signal,
    transport = "auto",
    streamUrl = STREAM_URL,
    eventsUrl,
  } = options;

  return new Promise((resolve, reject) => {
    const aborted = () => signal.reason ?? new DOMException("The wait was aborted", "AbortError");
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    const hub = eventsUrl ? new DirectHub(() => eventsUrl) : hubFor(transport, streamUrl);
    let late = false;
    let done = false;
    let timer;

    const finish = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      if (!late) {
        resolve(outcome);
      } else if (typeof onLate === "function") {
        onLate(outcome);
      }
    };

    const stop = hub.watch(id, (state, data) => {
      if (state === "completed" || state === "failed") {
        if (!done && typeof onNotification === "function") onNotification(data, state);
        finish({ state, commandId: id, notification: data, via: hub.moved?.kind ?? hub.kind });
      } else {
        finish({ state: "error", commandId: id, message: "there is no such command, or its stream cannot be opened" });
      }
    });

    signal?.addEventListener("abort", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      stop();
      if (!late) reject(aborted());
    });

    // setTimeout fires at once beyond 2^31-1 ms: treat that as no timeout.
    if (Number.isFinite(timeoutMs) && timeoutMs < 2 ** 31 - 1) {
      timer = setTimeout(() => {
        if (done) return;
        late = true;
        resolve({ state: "late", commandId: id });
      }, Math.max(0, timeoutMs));
    }
  });
}

/** The redirect action of a notification (where the new resource is), if any. */
export function redirectOf(notification) {
  const actions = Array.isArray(notification?.actions) ? notification.actions : [];
  const redirect = actions.find((action) => action?.type === "redirect" && typeof action.data === "string");
  return redirect ? redirect.data : null;
}
