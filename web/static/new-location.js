// The script of /locations/new: submits the form with fetch and follows the
// command to its outcome. Without JavaScript the form posts to /locations and the
// server does the waiting instead. Everything shown is set with textContent.
//
// Each intended submission carries its own Idempotency-Key: sending the same
// values again before an answer settles it (a second click, a retry after a
// network error or a 503) reuses the key, so the api stores the command once.

import { awaitCommand, redirectOf } from "./herald.js";

const FIELDS = ["name", "category", "description"];
const DEFAULT_TIMEOUT_SECS = 5;

const form = document.getElementById("create-location");
const formError = document.getElementById("form-error");
const notice = document.getElementById("notice");
const log = document.getElementById("log");
const submit = document.getElementById("submit");

/** Creates an element with optional text and attributes. */
function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  return node;
}

/** Appends an entry to the log panel: a title line and the data as formatted JSON. */
function logEntry(title, data) {
  const text = data === undefined ? title : `${title}\n${typeof data === "string" ? data : JSON.stringify(data, null, 2)}`;
  const entry = el("pre", text, { class: "log-entry" });
  log.append(entry);
  // Scroll the panel only: scrolling the page would pull a phone's view away
  // from the notice and the errors.
  log.scrollTop = log.scrollHeight;
}

function clearErrors() {
  formError.replaceChildren();
  for (const field of FIELDS) {
    document.getElementById(`${field}-error`).textContent = "";
    document.getElementById(field).removeAttribute("aria-invalid");
  }
}

/**
 * Shows the error summary above the form and moves focus to it, so a keyboard or
 * screen-reader user lands on what went wrong: `messages` (one, or a list), then
 * `fieldErrors` ({field, message}), each a link to its field.
 */
function showFormError(messages, fieldErrors = []) {
  const list = (Array.isArray(messages) ? messages : [messages]).filter(Boolean);
  formError.replaceChildren();
  if (list.length === 1 && fieldErrors.length === 0) {
    formError.append(el("p", list[0]));
  } else {
    const ul = el("ul");
    for (const message of list) ul.append(el("li", message));
    for (const { field, message } of fieldErrors) {
      const li = el("li");
      li.append(el("a", message, { href: `#${field}` }));
      ul.append(li);
    }
    formError.append(ul);
  }
  formError.focus();
}

function showFieldError(field, message) {
  const slot = document.getElementById(`${field}-error`);
  slot.textContent = slot.textContent ? `${slot.textContent}; ${message}` : message;
  document.getElementById(field).setAttribute("aria-invalid", "true");
}

/** The messages of a problem's errors[], else its detail or title. */
function problemMessages(problem) {
  const errors = Array.isArray(problem?.errors) ? problem.errors : [];
  const messages = errors.map((entry) => (typeof entry === "string" ? entry : entry?.message)).filter(Boolean);
  if (messages.length) return messages;
  return [problem?.detail || problem?.title || "The location could not be created."];
}

/** The reasons of a failed notification. */
function failureMessages(notification) {
  const errors = Array.isArray(notification?.errors) ? notification.errors.filter(Boolean) : [];
  return errors.length ? errors.map(String) : ["The location could not be created."];
}

// The busy state is on the button, not the form: assistive technology may hold
// back live-region updates inside a busy subtree, and the notice is one.
function setBusy(busy) {
  submit.disabled = busy;
  submit.setAttribute("aria-busy", busy ? "true" : "false");
}

// Stops following the previous submission's command when a new one starts, so a
// late outcome of the old command never lands in the new one's notice.
let following = null;

// The submission not yet settled by an answer: its values and its key.
let unsettled = null;

/** A random UUID v4, also outside secure contexts (where crypto.randomUUID is missing). */
function newKey() {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6] & 0x0f) | 0x40;
  bytes[8] = (bytes[8] & 0x3f) | 0x80;
  const hex = Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The key for sending `values`: the unsettled submission's if they are the same. */
function keyFor(values) {
  if (unsettled?.values !== values) unsettled = { values, key: newKey() };
  return unsettled.key;
}

function timeoutSecs() {
  const value = Number.parseFloat(document.getElementById("timeout").value);
  return Number.isFinite(value) && value >= 0 ? value : DEFAULT_TIMEOUT_SECS;
}

function waitMode() {
  const checked = form.querySelector('input[name="wait"]:checked');
  return checked ? checked.value : "browser";
}

function locationHref(notification, commandId) {
  return redirectOf(notification) || `/locations/${commandId}`;
}

/** The "available shortly" notice, while the command is still running. */
function showLate(commandId) {
  notice.replaceChildren(
    el("p", "Your location will be available shortly."),
    (() => {
      const p = el("p", "Command ", { class: "notice__id" });
      p.append(el("code", commandId));
      return p;
    })(),
  );
  notice.classList.add("notice--visible");
}

/** The late outcome: a link to the new location, or the failure. */
function showLanded(outcome) {
  if (outcome.state === "completed") {
    const name = outcome.notification?.data?.location?.name;
    const link = el("a", name ? `View ${name}` : "View it", {
      id: "ready-link",
      href: locationHref(outcome.notification, outcome.commandId),
    });
    const p = el("p", "Your location is ready: ");
    p.append(link);
    notice.replaceChildren(p);
    notice.classList.add("notice--visible", "notice--ready");
  } else if (outcome.state === "failed") {
    notice.replaceChildren();
    notice.classList.remove("notice--visible");
    showFormError(failureMessages(outcome.notification));
  } else {
    showFollowElsewhere(outcome.commandId);
  }
}

/** The command was accepted but cannot be followed from here: say where to look. */
function showFollowElsewhere(commandId) {
  const p = el("p", "Your location was accepted and will be available shortly. ");
  p.append(el("a", "Follow its progress", { href: `/commands/${commandId}` }));
  notice.replaceChildren(p);
  notice.classList.add("notice--visible");
}

async function follow(commandId, timeout, signal) {
  let outcome;
  try {
    outcome = await awaitCommand(commandId, {
      timeoutMs: timeout * 1000,
      signal,
      onNotification: (notification, state) => logEntry(`SSE ${state}`, notification),
      onLate: showLanded,
    });
  } catch (error) {
    if (error?.name === "AbortError") return false; // A newer submission took over.
    throw error;
  }
  switch (outcome.state) {
    case "completed":
      window.location.assign(locationHref(outcome.notification, commandId));
      return true;
    case "failed":
      showFormError(failureMessages(outcome.notification));
      return false;
    case "late":
      showLate(commandId);
      return false;
    default:
      // Accepted all the same: it will land; only this page cannot watch it.
      showFollowElsewhere(commandId);
      return false;
  }
}

async function onSubmit(event) {
  event.preventDefault();
  clearErrors();
  notice.replaceChildren();
  notice.classList.remove("notice--visible", "notice--ready");

  following?.abort();
  following = new AbortController();
  const signal = following.signal;

  const data = new FormData(form);
  const body = Object.fromEntries(FIELDS.map((field) => [field, String(data.get(field) ?? "")]));
  const timeout = timeoutSecs();
  const values = JSON.stringify(body);
  const headers = {
    "Content-Type": "application/json",
    Accept: "application/json",
    "Idempotency-Key": keyFor(values),
  };
  if (waitMode() === "server") headers.Prefer = `wait=${Math.ceil(timeout)}`;

  setBusy(true);
  const started = performance.now();
  let leaving = false;
  try {
    logEntry(`POST /api/locations${headers.Prefer ? ` (Prefer: ${headers.Prefer})` : ""}`, body);
    let response;
    try {
      response = await fetch("/api/locations", { method: "POST", headers, body: values });
    } catch (error) {
      // It may have been stored all the same: sending again reuses the key.
      logEntry("Network error", String(error));
      showFormError("Could not reach Herald. Check your connection and try again.");
      return;
    }
    // Any answer but "unavailable" settles this submission: the next one is new.
    if (response.status !== 503 && unsettled?.values === values) unsettled = null;
    const text = await response.text();
    // A newer submission took over while this one was on its way: its answer decides.
    if (signal.aborted) return;
    let answer;
    try {
      answer = text ? JSON.parse(text) : null;
    } catch {
      answer = text;
    }
    logEntry(`${response.status} ${response.statusText}`.trim(), answer ?? "");

    if (response.status === 202 && answer?.id) {
      // A server wait has used its share of the timeout already.
      const left = Math.max(0, timeout - (performance.now() - started) / 1000);
      leaving = await follow(answer.id, left, signal);
    } else if (response.status === 201) {
      const id = answer?.resource?.id ?? answer?.id;
      leaving = true;
      window.location.assign(`/locations/${id}`);
    } else if (response.status === 503) {
      showFormError("Herald cannot accept new locations at the moment. Please try again shortly.");
    } else if (answer && typeof answer === "object" && answer.command_id) {
      showFormError(problemMessages(answer));
    } else if (response.status === 422 && answer && typeof answer === "object") {
      const other = [];
      const fieldErrors = [];
      for (const entry of Array.isArray(answer.errors) ? answer.errors : []) {
        if (FIELDS.includes(entry?.field)) {
          showFieldError(entry.field, entry.message);
          fieldErrors.push({ field: entry.field, message: entry.message });
        } else if (entry?.message) {
          other.push(entry.message);
        }
      }
      showFormError(other.length || !fieldErrors.length ? (other.length ? other : problemMessages(answer)) : [], fieldErrors);
    } else {
      showFormError(
        answer && typeof answer === "object"
          ? problemMessages(answer)
          : `The location could not be created (HTTP ${response.status}).`,
      );
    }
  } finally {
    // A newer submission, if any, owns the busy state now.
    if (!leaving && following?.signal === signal) setBusy(false);
  }
}

if (form) form.addEventListener("submit", onSubmit);

// Back from the new location's page can restore this page from the cache just
// as it was left: busy. Make it usable again.
window.addEventListener("pageshow", (event) => {
  if (event.persisted) {
    setBusy(false);
    unsettled = null;
  }
});
