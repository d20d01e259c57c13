//! How far behind the reactors are: the consumer's backlog, and the time from a
//! command's acceptance to its outcome.
//!
//! Logged every interval (while there is anything to say) and kept in [`Lag`]
//! for the metrics endpoint that is to come.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_nats::jetstream::stream;
use chrono::{DateTime, Utc};
use herald_contract::names;
use herald_runtime::{Streak, error_chain};
use tokio_util::sync::CancellationToken;

/// Counters since the last report.
#[derive(Debug, Default)]
pub struct Lag {
    processed: AtomicU64,
    slowest_ms: AtomicU64,
    /// The backlog at the last report.
    pending: AtomicU64,
}

impl Lag {
    /// A command accepted at `accepted_at` has just been processed.
    pub fn record(&self, accepted_at: DateTime<Utc>) {
        let took = (Utc::now() - accepted_at).num_milliseconds().max(0);
        self.processed.fetch_add(1, Ordering::Relaxed);
        self.slowest_ms
            .fetch_max(u64::try_from(took).unwrap_or(0), Ordering::Relaxed);
    }

    /// The consumer's backlog as last seen: commands not yet delivered.
    pub fn pending(&self) -> u64 {
        self.pending.load(Ordering::Relaxed)
    }

    /// Logs the backlog and latency every `every` until `shutdown`.
    pub async fn report(
        &self,
        commands: stream::Stream,
        every: Duration,
        shutdown: CancellationToken,
    ) {
        let mut timer = tokio::time::interval(every);
        timer.reset();
        let mut reads = Streak::default();
        loop {
            tokio::select! {
                () = shutdown.cancelled() => return,
                _ = timer.tick() => {}
            }
            let processed = self.processed.swap(0, Ordering::Relaxed);
            let slowest_ms = self.slowest_ms.swap(0, Ordering::Relaxed);
            let info = tokio::select! {
                () = shutdown.cancelled() => return,
                info = commands.consumer_info(names::REACTOR_CONSUMER) => info,
            };
            match info {
                Ok(info) => {
                    reads.worked();
                    self.pending.store(info.num_pending, Ordering::Relaxed);
                    metrics::gauge!("herald_reactor_consumer_pending").set(info.num_pending as f64);
                    metrics::gauge!("herald_reactor_consumer_ack_pending")
                        .set(info.num_ack_pending as f64);
                    if processed > 0 || info.num_pending > 0 || info.num_ack_pending > 0 {
                        tracing::info!(
                            processed,
                            slowest_ms,
                            pending = info.num_pending,
                            in_progress = info.num_ack_pending,
                            "reactor lag"
                        );
                    }
                }
                Err(error) if reads.failed() => {
                    tracing::warn!(error = %error_chain(&error), "cannot read the consumer's backlog; trying again quietly")
                }
                Err(error) => {
                    tracing::debug!(error = %error_chain(&error), "still cannot read the consumer's backlog")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_slowest_since_the_last_report() {
        let lag = Lag::default();
        lag.record(Utc::now() - chrono::Duration::milliseconds(250));
        lag.record(Utc::now());
        assert_eq!(lag.processed.load(Ordering::Relaxed), 2);
        assert!(lag.slowest_ms.load(Ordering::Relaxed) >= 250);
    }
}
