//! Open loop: commands started at a fixed rate whatever the system does, each a
//! POST then its event stream, latency counted from the command's *scheduled*
//! start. A closed loop waits for an answer before sending the next, so a slow
//! system is sent less and looks fast (coordinated omission); here a command
//! that starts late because the system (or the client) is behind counts the
//! delay against its latency.
//!
//! Starts are paced by a plain thread sleeping to each start, precise to tens of
//! microseconds (tokio's timer rounds to milliseconds), which hands each command
//! to the runtime.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use crate::client::Client;
use crate::hist::Latencies;

/// What one rate came to.
#[derive(Debug, Clone)]
pub struct Step {
    pub rate: u32,
    pub latencies: Latencies,
    pub failed: u64,
    /// Commands not completed by the deadline.
    pub unfinished: u64,
    /// Completed per second, over the time the step ran.
    pub completed_per_second: f64,
}

impl Step {
    /// Every command completed, and p99 within `p99`.
    pub fn kept_up(&self, p99: Duration) -> bool {
        self.failed == 0 && self.unfinished == 0 && self.latencies.summary().p99 <= p99
    }
}

/// Runs `rate` commands a second for `duration`, and waits up to `grace` after
/// the last start for the stragglers.
pub async fn run(client: Arc<Client>, rate: u32, duration: Duration, grace: Duration) -> Step {
    let scheduled = (f64::from(rate) * duration.as_secs_f64()).round() as u64;
    let interval = Duration::from_secs_f64(1.0 / f64::from(rate));
    let (sender, mut results) = mpsc::unbounded_channel::<anyhow::Result<Duration>>();
    let runtime = tokio::runtime::Handle::current();
    let first = Instant::now() + Duration::from_millis(20);
    let pacer = std::thread::spawn(move || {
        for n in 0..scheduled {
            let at = first + interval.mul_f64(n as f64);
            let now = Instant::now();
            if at > now {
                std::thread::sleep(at - now);
            }
            let (client, sender) = (client.clone(), sender.clone());
            runtime.spawn(async move {
                let result = async {
                    let id = client.create().await?;
                    client.completed(&id).await?;
                    Ok(at.elapsed())
                }
                .await;
                let _ = sender.send(result);
            });
        }
    });
    let deadline = first + duration + grace;
    let mut step = Step {
        rate,
        latencies: Latencies::default(),
        failed: 0,
        unfinished: 0,
        completed_per_second: 0.0,
    };
    let mut received = 0;
    let mut last = first;
    while received < scheduled {
        match tokio::time::timeout_at(deadline.into(), results.recv()).await {
            Ok(Some(Ok(latency))) => {
                step.latencies.record(latency);
                last = Instant::now();
            }
            Ok(Some(Err(error))) => {
                if step.failed == 0 {
                    eprintln!("  {rate}/s: a command failed: {error:#}");
                }
                step.failed += 1;
            }
            Ok(None) | Err(_) => break,
        }
        received += 1;
    }
    let _ = tokio::task::spawn_blocking(move || pacer.join()).await;
    step.unfinished = scheduled - received;
    step.completed_per_second =
        step.latencies.len() as f64 / last.duration_since(first).as_secs_f64().max(1e-3);
    step
}
