//! What a client does with Herald, done as cheaply as a client can: one pooled
//! HTTP/1.1 client with keep-alive and `TCP_NODELAY`, bodies read whole and not
//! parsed beyond the one field needed. The bench's CPU is reported beside the
//! servers', so a client that costs more than it must would show.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::bail;
use serde::Deserialize;

/// Herald's api, as the bench uses it.
#[derive(Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    /// Names are unique per run (a repeated name would end `failed`).
    next: AtomicU64,
    run: String,
}

#[derive(Deserialize)]
struct Accepted {
    id: String,
}

/// How often the polling baseline asks.
pub const POLL_INTERVAL: Duration = Duration::from_millis(100);

impl Client {
    pub fn new(base: &str) -> anyhow::Result<Self> {
        Ok(Self {
            http: reqwest::Client::builder()
                .tcp_nodelay(true)
                .pool_max_idle_per_host(usize::MAX)
                .http1_only()
                .build()?,
            base: base.to_owned(),
            next: AtomicU64::new(0),
            run: uuid::Uuid::now_v7().simple().to_string()[..8].to_owned(),
        })
    }

    fn body(&self) -> String {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        format!(
            r#"{{"name":"Bench {} {n}","category":"Town","description":""}}"#,
            self.run
        )
    }

    fn post(&self) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}/api/locations", self.base))
            .header("content-type", "application/json")
            .body(self.body())
    }

    /// POSTs a command; its id once accepted (`202`).
    pub async fn create(&self) -> anyhow::Result<String> {
        let response = self.post().send().await?;
        if response.status() != 202 {
            bail!("POST answered {}", response.status());
        }
        let accepted: Accepted = serde_json::from_slice(&response.bytes().await?)?;
        Ok(accepted.id)
    }

    /// Reads command `id`'s event stream to its end; fails unless it said `completed`.
    pub async fn completed(&self, id: &str) -> anyhow::Result<()> {
        let response = self
            .http
            .get(format!("{}/api/commands/{id}/events", self.base))
            .send()
            .await?;
        if response.status() != 200 {
            bail!("the event stream answered {}", response.status());
        }
        // One event (after any heartbeat comments), then the stream ends: read it whole.
        let body = response.bytes().await?;
        let event = body
            .split(|byte| *byte == b'\n')
            .find(|line| line.starts_with(b"event: "));
        if event != Some(b"event: completed".as_slice()) {
            bail!(
                "expected a completed event, got {:?}",
                String::from_utf8_lossy(&body[..body.len().min(80)])
            );
        }
        Ok(())
    }

    /// POST, then the command's event stream to `completed`: how long from the
    /// start of the POST.
    pub async fn post_then_stream(&self) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let id = self.create().await?;
        self.completed(&id).await?;
        Ok(start.elapsed())
    }

    /// A POST with `Prefer: wait`, answered `201`: how long it took.
    pub async fn post_wait(&self) -> anyhow::Result<Duration> {
        let start = Instant::now();
        let response = self.post().header("prefer", "wait=10").send().await?;
        if response.status() != 201 {
            bail!("a waited POST answered {}", response.status());
        }
        response.bytes().await?;
        Ok(start.elapsed())
    }

    /// POST, then `GET /api/commands/{id}` every [`POLL_INTERVAL`] until it is
    /// not `pending`, as a client without SSE would (a timer, like
    /// `setInterval`, so the first look is one interval after the `202`): how
    /// long, and how many GETs.
    pub async fn post_then_poll(&self) -> anyhow::Result<(Duration, u32)> {
        let start = Instant::now();
        let id = self.create().await?;
        let url = format!("{}/api/commands/{id}", self.base);
        for gets in 1..=600 {
            tokio::time::sleep(POLL_INTERVAL).await;
            let body = self.http.get(&url).send().await?.bytes().await?;
            if !says_pending(&body) {
                return Ok((start.elapsed(), gets));
            }
        }
        bail!("command {id} still pending after a minute of polling")
    }

    /// Waits until `/readyz` answers 200.
    pub async fn wait_ready(&self) -> anyhow::Result<()> {
        crate::wait_ready(&self.http, &self.base).await
    }
}

/// Whether a status body says `pending`.
fn says_pending(body: &[u8]) -> bool {
    let needle = br#""status":"pending""#;
    body.windows(needle.len()).any(|window| window == needle)
}

#[cfg(test)]
mod tests {
    #[test]
    fn pending_is_found_in_a_status_body() {
        assert!(super::says_pending(br#"{"id":"x","status":"pending"}"#));
        assert!(!super::says_pending(br#"{"id":"x","status":"completed"}"#));
    }
}
