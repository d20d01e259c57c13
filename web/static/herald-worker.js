// The SharedWorker of herald.js: one CommandStream for every tab of the origin.
//
// A tab's port sends {type: "watch", id, url} and {type: "unwatch", id}; the
// worker answers {type: "outcome", id, state, data} to every port that watches
// that command. A tab that closes without saying so leaves its commands watched
// until they finish, which they do.

import { CommandStream } from "./herald-stream.js";

// Per stream URL, its CommandStream; per command, the ports waiting for it.
const streams = new Map();
const waiting = new Map();

function streamFor(url) {
  let stream = streams.get(url);
  if (!stream) {
    stream = new CommandStream({
      url,
      onOutcome(id, state, data) {
        for (const port of waiting.get(id) ?? []) port.postMessage({ type: "outcome", id, state, data });
        waiting.delete(id);
      },
    });
    streams.set(url, stream);
  }
  return stream;
}

function forget(port, id, url) {
  const ports = waiting.get(id);
  if (!ports) return;
  ports.delete(port);
  if (ports.size === 0) {
    waiting.delete(id);
    streams.get(url)?.unwatch(id);
  }
}

self.addEventListener("connect", (event) => {
  const port = event.ports[0];
  const mine = new Map(); // id → url, to forget them if the tab says it goes.
  port.addEventListener("message", ({ data: message }) => {
    const { type, id, url } = message ?? {};
    if (typeof id !== "string" && type !== "bye") return;
    if (type === "watch") {
      if (!waiting.has(id)) waiting.set(id, new Set());
      waiting.get(id).add(port);
      mine.set(id, url);
      streamFor(url).watch(id);
    } else if (type === "unwatch") {
      mine.delete(id);
      forget(port, id, url);
    } else if (type === "bye") {
      for (const [watched, watchedUrl] of mine) forget(port, watched, watchedUrl);
      mine.clear();
    }
  });
  port.start();
});
