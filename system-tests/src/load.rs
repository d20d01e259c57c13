//! A steady load of commands, each followed to its outcome as a browser would.
//!
//! Every command has a unique name (so a conflict is always wrong) and an
//! `Idempotency-Key`, kept across its retries: a POST answered 503, or not
//! answered at all, is sent again (to the next api) until it is accepted. Once it
//! is, its client opens the command's event stream on another api than the one
//! that accepted it, and whenever that stream breaks or ends without an outcome
//! (a `retry:` from an api that cannot say, or that shuts down), comes back a
//! second later, to the next api, as EventSource would.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use eventsource_stream::Eventsource;
use futures::StreamExt;
use serde_json::{Value, json};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use uuid::Uuid;

use crate::System;

/// How long a command keeps trying to be accepted.
const SENDING: Duration = Duration::from_secs(30);
/// How long its client keeps trying to learn its outcome.
const LEARNING: Duration = Duration::from_secs(90);
/// A stream silent this long (heartbeats come every 15 s) is taken for broken.
const SILENCE: Duration = Duration::from_secs(20);

/// One command: what was sent, when it was accepted, and what its client was told.
#[derive(Debug, Clone)]
pub struct Sent {
    pub name: String,
    pub sent_at: Instant,
    /// Its id, once an api accepted it (202 or 201).
    pub id: Option<Uuid>,
    pub accepted_at: Option<Instant>,
    /// A final answer other than acceptance (a 4xx): a failure of the test.
    pub refused: Option<String>,
    /// The outcome its client learned: the event's name, its data, when.
    pub told: Option<(String, Value, Instant)>,
    /// Which api accepted it, and the event streams its client opened, in order
    /// (api index, when): what a late outcome's story is read from.
    pub accepted_by: Option<usize>,
    pub streams: Vec<(usize, Instant)>,
}

/// The load while it runs.
#[derive(Debug)]
pub struct Load {
    running: Arc<AtomicBool>,
    sender: JoinHandle<Vec<JoinHandle<Sent>>>,
}

impl Load {
    /// Starts sending `per_second` commands a second to `system`'s apis.
    pub fn start(system: &System, per_second: u32) -> Self {
        let apis: Arc<Vec<String>> =
            Arc::new((0..system.apis()).map(|i| system.api_url(i)).collect());
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(2))
            .build()
            .expect("a client");
        let running = Arc::new(AtomicBool::new(true));
        let run = Uuid::new_v4().simple().to_string()[..8].to_owned();
        let sender = tokio::spawn({
            let running = running.clone();
            async move {
                let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
                let mut commands = Vec::new();
                let mut n = 0_usize;
                while running.load(Ordering::Relaxed) {
                    tick.tick().await;
                    let name = format!("Load {run} {n}");
                    commands.push(tokio::spawn(one(http.clone(), apis.clone(), n, name)));
                    n += 1;
                }
                commands
            }
        });
        Self { running, sender }
    }

    /// Stops sending, and waits for every command's client to learn its outcome
    /// (or give up).
    pub async fn stop(self) -> Vec<Sent> {
        self.running.store(false, Ordering::Relaxed);
        let commands = self.sender.await.expect("the sender");
        let mut sent = Vec::with_capacity(commands.len());
        for command in commands {
            sent.push(command.await.expect("a command's task"));
        }
        sent
    }
}

/// Sends command `n` until accepted, then learns its outcome.
async fn one(http: reqwest::Client, apis: Arc<Vec<String>>, n: usize, name: String) -> Sent {
    let key = Uuid::new_v4().to_string();
    let mut sent = Sent {
        name: name.clone(),
        sent_at: Instant::now(),
        id: None,
        accepted_at: None,
        refused: None,
        told: None,
        accepted_by: None,
        streams: Vec::new(),
    };
    let mut via = n % apis.len();
    let accepted_via = loop {
        let response = http
            .post(format!("{}/api/locations", apis[via]))
            .header("idempotency-key", &key)
            .timeout(Duration::from_secs(5))
            .json(&json!({"name": name, "category": "Town"}))
            .send()
            .await;
        match response {
            Ok(response) if matches!(response.status().as_u16(), 201 | 202) => {
                let body: Value = response.json().await.unwrap_or_default();
                sent.id = body["id"].as_str().and_then(|id| Uuid::try_parse(id).ok());
                sent.accepted_at = Some(Instant::now());
                sent.accepted_by = Some(via);
                break via;
            }
            Ok(response) if response.status().is_client_error() => {
                let status = response.status();
                sent.refused = Some(format!(
                    "{status}: {}",
                    response.text().await.unwrap_or_default()
                ));
                return sent;
            }
            // A 503, a 5xx, or no answer: try again, elsewhere.
            _ => {}
        }
        if sent.sent_at.elapsed() > SENDING {
            return sent;
        }
        via = (via + 1) % apis.len();
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let Some(id) = sent.id else { return sent };
    let mut via = (accepted_via + 1) % apis.len();
    let started = Instant::now();
    while started.elapsed() < LEARNING {
        sent.streams.push((via, Instant::now()));
        if let Some(told) = learn(&http, &apis[via], id).await {
            sent.told = Some(told);
            break;
        }
        via = (via + 1) % apis.len();
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    sent
}

/// Reads command `id`'s event stream on `api` until its outcome; `None` if the
/// stream could not be opened, broke, or ended without one.
async fn learn(http: &reqwest::Client, api: &str, id: Uuid) -> Option<(String, Value, Instant)> {
    let response = http
        .get(format!("{api}/api/commands/{id}/events"))
        .send()
        .await
        .ok()?;
    if response.status() == 404 {
        return Some(("unknown".into(), Value::Null, Instant::now()));
    }
    if !response.status().is_success() {
        return None;
    }
    let mut events = response.bytes_stream().eventsource();
    loop {
        let event = tokio::time::timeout(SILENCE, events.next())
            .await
            .ok()??
            .ok()?;
        if matches!(event.event.as_str(), "completed" | "failed") {
            let data = serde_json::from_str(&event.data).unwrap_or_default();
            return Some((event.event, data, Instant::now()));
        }
    }
}
