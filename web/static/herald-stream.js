// One EventSource for many commands: what herald.js runs once per browser (in a
// SharedWorker, or in the tab elected to lead) so that however many commands
// however many tabs wait for, they share one connection.
//
// The server's /api/commands/events?ids=A,B,C sends each command's outcome once
// (at once if it has one) and `unknown` for an id that names no command. To add a
// command, a new stream is opened with every id still waited for, and the old one
// is closed once the new one is open: the new stream reads each command's status
// when it opens, so an outcome that lands in between is never lost, and one that
// comes on both streams is passed on once.

/** Commands one stream waits for at most (the server's limit). */
export const MAX_IDS = 100;

const STATES = ["completed", "failed", "unknown"];

export class CommandStream {
  /**
   * @param {{url?: string, onOutcome: (id: string, state: string, data: object) => void,
   *          settleMs?: number}} options
   *   url: the many-commands stream (default /api/commands/events);
   *   onOutcome: called once per command watched, with its outcome;
   *   settleMs: how long to gather commands added together before reopening.
   */
  constructor({ url = "/api/commands/events", onOutcome, settleMs = 5 }) {
    this.url = url;
    this.onOutcome = onOutcome;
    this.settleMs = settleMs;
    this.pending = new Set();
    // Open streams, each with the ids it covers.
    this.sources = [];
    this.timer = null;
    this.failures = 0;
  }

  /** Waits for `id` (again: no harm). */
  watch(id) {
    if (this.pending.has(id)) return;
    this.pending.add(id);
    this.schedule(this.settleMs);
  }

  /** Nobody waits for `id` any more. */
  unwatch(id) {
    this.pending.delete(id);
    if (this.pending.size === 0) this.closeAll();
  }

  schedule(delayMs) {
    if (this.timer !== null) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      this.reopen();
    }, delayMs);
  }

  covered() {
    const covered = new Set();
    for (const source of this.sources) for (const id of source.ids) covered.add(id);
    return covered;
  }

  /** Opens streams for every pending id if the open ones do not cover them all. */
  reopen() {
    if (this.pending.size === 0) return this.closeAll();
    const covered = this.covered();
    if ([...this.pending].every((id) => covered.has(id))) return;
    const ids = [...this.pending];
    const previous = this.sources;
    const opened = [];
    let waiting = 0;
    for (let start = 0; start < ids.length; start += MAX_IDS) {
      const chunk = ids.slice(start, start + MAX_IDS);
      const source = new EventSource(`${this.url}?ids=${chunk.join(",")}`);
      const entry = { source, ids: new Set(chunk) };
      opened.push(entry);
      waiting += 1;
      for (const state of STATES) {
        source.addEventListener(state, (event) => this.arrived(state, event));
      }
      source.addEventListener("open", () => {
        this.failures = 0;
        waiting -= 1;
        // The new streams read every status as they opened: the old can go.
        if (waiting === 0) for (const old of previous) this.close(old);
      }, { once: true });
      source.addEventListener("error", () => {
        // CONNECTING: the browser retries by itself. CLOSED: the server refused
        // the stream (too many open, say): open it again, a little later each time.
        if (source.readyState !== EventSource.CLOSED) return;
        this.close(entry);
        this.failures += 1;
        this.schedule(Math.min(30_000, 500 * 2 ** Math.min(this.failures, 6)));
      });
    }
    this.sources = previous.concat(opened);
  }

  arrived(state, event) {
    let data;
    try {
      data = JSON.parse(event.data);
    } catch {
      return;
    }
    const id = data?.command_id;
    if (typeof id !== "string" || !this.pending.has(id)) return; // Told already.
    this.pending.delete(id);
    this.onOutcome(id, state, data);
    if (this.pending.size === 0) this.closeAll();
  }

  close(entry) {
    entry.source.close();
    this.sources = this.sources.filter((other) => other !== entry);
  }

  closeAll() {
    for (const entry of this.sources) entry.source.close();
    this.sources = [];
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}
