// Herald's reusable client: wait for a command's outcome over Server-Sent Events.
//
//   import { awaitCommand } from "/static/herald.js";
//   const outcome = await awaitCommand(id, { timeoutMs: 5000, onLate });
//
// The promise resolves with the first of:
//   { state: "completed", commandId, notification }  the read model has the resource;
//   { state: "failed", commandId, notification }     notification.errors says why;
//   { state: "late", commandId }                     timeoutMs passed first;
//   { state: "error", commandId, message }           the stream cannot be opened
//                                                    (an unknown command, say).
// After "late" it keeps listening and calls onLate(outcome) with the real outcome
// when it lands. Once an outcome arrives the EventSource is closed, so the browser
// does not reconnect. While waiting, the browser reconnects by itself after a
// network error, and the server sends the outcome again to a reconnecting client.
//
// Options: timeoutMs (default 5000; Infinity never times out), onLate, and
// onNotification(notification, state) called with every outcome as it arrives
// (for a log), eventsUrl (default /api/commands/{id}/events), and signal, an
// AbortSignal that stops waiting: the stream is closed, nothing more is called,
// and the promise, if still pending, rejects with the signal's reason (an
// AbortError, as fetch does).

/** The default wait before an outcome is "late". */
export const DEFAULT_TIMEOUT_MS = 5000;

/**
 * Waits for the outcome of command `id`.
 * @param {string} id
 * @param {{timeoutMs?: number, onLate?: (outcome: object) => void,
 *          onNotification?: (notification: object, state: string) => void,
 *          eventsUrl?: string}} [options]
 * @returns {Promise<object>}
 */
export function awaitCommand(id, options = {}) {
  const {
    timeoutMs = DEFAULT_TIMEOUT_MS,
    onLate,
    onNotification,
    eventsUrl = `/api/commands/${encodeURIComponent(id)}/events`,
    signal,
  } = options;

  return new Promise((resolve, reject) => {
    const aborted = () => signal.reason ?? new DOMException("The wait was aborted", "AbortError");
    if (signal?.aborted) {
      reject(aborted());
      return;
    }
    let late = false;
    let done = false;
    let timer;
    const source = new EventSource(eventsUrl);

    const finish = (outcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      source.close();
      if (!late) {
        resolve(outcome);
      } else if (typeof onLate === "function") {
        onLate(outcome);
      }
    };

    signal?.addEventListener("abort", () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      source.close();
      if (!late) reject(aborted());
    });

    const land = (state) => (event) => {
      let notification;
      try {
        notification = JSON.parse(event.data);
      } catch {
        notification = { raw: event.data };
      }
      if (typeof onNotification === "function") onNotification(notification, state);
      finish({ state, commandId: id, notification });
    };

    source.addEventListener("completed", land("completed"));
    source.addEventListener("failed", land("failed"));
    source.addEventListener("error", () => {
      // CONNECTING: the browser retries by itself. CLOSED: it has given up
      // (the server answered with an error status), so will we.
      if (source.readyState === EventSource.CLOSED) {
        finish({ state: "error", commandId: id, message: "the command's event stream could not be opened" });
      }
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
