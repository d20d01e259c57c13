//! The consume loop: pulls commands continuously from the shared durable consumer
//! and runs up to `concurrency` of them at once through the [`Projector`].
//!
//! The pull is a long-lived `messages()` stream, so a command is handed over the
//! moment it is stored (the seed fetched a batch once a second). If that stream
//! fails or ends, the consumer is looked up again and a new stream opened: after a
//! NATS restart, or if the consumer vanished (async-nats issue 1584), the reactor
//! carries on by itself.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, consumer::pull, stream};
use futures::StreamExt;
use herald_contract::{error_chain, names};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::projector::{Delivery, Disposition, Projector};

/// How long to wait for in-flight commands once shutdown starts (after handing
/// back what was not started): SIGTERM to exit stays within 5 s.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the stream must be quiet before nothing more is expected from it.
const RELEASE_QUIET: Duration = Duration::from_millis(100);
/// The longest handing back may take. With the drain and the final flush, SIGTERM
/// to exit stays under 5 s.
const RELEASE_LIMIT: Duration = Duration::from_millis(500);

/// The consumer's configuration. `max_ack_pending` bounds what all reactors hold
/// unacknowledged at once; it is set above one instance's concurrency so several
/// instances can be busy together.
pub fn consumer_config(config: &Config) -> pull::Config {
    pull::Config {
        durable_name: Some(names::REACTOR_CONSUMER.into()),
        description: Some("Herald reactors' shared work queue".into()),
        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
        ack_wait: config.ack_wait(),
        max_deliver: config.max_deliver,
        max_ack_pending: 10_000,
        ..Default::default()
    }
}

/// Consumes until `shutdown`, then finishes and acknowledges what is in flight.
pub async fn consume(
    commands: stream::Stream,
    projector: Projector,
    config: &Config,
    shutdown: CancellationToken,
) {
    let concurrency = usize::try_from(config.concurrency).unwrap_or(64);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = JoinSet::new();
    let mut backoff = Backoff::default();
    'reconnect: while !shutdown.is_cancelled() {
        let messages = async {
            let consumer = commands
                .create_consumer(consumer_config(config))
                .await
                .map_err(|e| anyhow::Error::from(e).context("creating the consumer"))?;
            // The server's setting counts, not this instance's flag: the last
            // delivery is the one JetStream will not repeat.
            let max_deliver = consumer.cached_info().config.max_deliver;
            let messages = consumer
                .stream()
                .max_messages_per_batch(concurrency)
                .heartbeat(Duration::from_secs(5))
                .messages()
                .await
                .map_err(|e| anyhow::Error::from(e).context("opening the message stream"))?;
            Ok::<_, anyhow::Error>((messages, max_deliver))
        };
        let (mut messages, max_deliver) = tokio::select! {
            () = shutdown.cancelled() => break,
            opened = messages => match opened {
                Ok(opened) => opened,
                Err(error) => {
                    tracing::warn!(error = %error_chain(error.as_ref()), "cannot consume yet");
                    backoff.wait(&shutdown).await;
                    continue;
                }
            },
        };
        tracing::info!("consuming commands");
        loop {
            while tasks.try_join_next().is_some() {}
            // The pull delivers up to a batch ahead of the permits; on shutdown,
            // whatever it delivered that no task took is handed back.
            let permit = tokio::select! {
                () = shutdown.cancelled() => {
                    release(messages).await;
                    break 'reconnect;
                }
                permit = permits.clone().acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => break 'reconnect,
                },
            };
            let message = tokio::select! {
                () = shutdown.cancelled() => {
                    release(messages).await;
                    break 'reconnect;
                }
                message = messages.next() => message,
            };
            let message = match message {
                Some(Ok(message)) => message,
                Some(Err(error)) => {
                    tracing::warn!(error = %error_chain(&error), "message stream failed; reopening");
                    backoff.wait(&shutdown).await;
                    continue 'reconnect;
                }
                None => {
                    tracing::warn!("message stream ended; reopening");
                    backoff.wait(&shutdown).await;
                    continue 'reconnect;
                }
            };
            backoff = Backoff::default();
            let projector = projector.clone();
            let max_attempts = if max_deliver > 0 {
                max_deliver
            } else {
                i64::MAX
            };
            let ack_wait = config.ack_wait();
            tasks.spawn(async move {
                let _permit = permit;
                let delivery = match message.info() {
                    Ok(info) => Delivery {
                        subject: message.subject.to_string(),
                        stream_sequence: info.stream_sequence,
                        attempt: info.delivered,
                        max_attempts,
                    },
                    Err(error) => {
                        tracing::error!(%error, "message without JetStream metadata; terminated");
                        let _ = message.ack_with(AckKind::Term).await;
                        return;
                    }
                };
                // While it works, tell the server so, so that a slow command is not
                // redelivered to another reactor as if this one had died.
                let handling = projector.handle(&message.payload, &delivery);
                tokio::pin!(handling);
                let mut progress = tokio::time::interval(ack_wait / 2);
                progress.reset();
                let disposition = loop {
                    tokio::select! {
                        disposition = &mut handling => break disposition,
                        _ = progress.tick() => {
                            let _ = message.ack_with(AckKind::Progress).await;
                        }
                    }
                };
                let ack = match disposition {
                    Disposition::Ack => AckKind::Ack,
                    Disposition::Retry { delay } => AckKind::Nak(Some(delay)),
                    Disposition::Terminate => AckKind::Term,
                };
                if let Err(error) = message.ack_with(ack).await {
                    // The command will be redelivered after ack_wait; the projection is idempotent.
                    tracing::warn!(%error, "could not acknowledge a command");
                }
            });
        }
    }
    drain(tasks).await;
}

/// Hands back, with a `nak`, the messages the pull delivered ahead that no task
/// took, so another reactor gets them within seconds rather than after the ack wait.
///
/// More can still be on the way for the pull requests already made (async-nats
/// keeps up to about two batches requested), so it reads until the stream has
/// been quiet for [`RELEASE_QUIET`], or [`RELEASE_LIMIT`] has passed.
async fn release(mut messages: pull::Stream) {
    let deadline = tokio::time::Instant::now() + RELEASE_LIMIT;
    let mut released = 0;
    loop {
        let quiet = (tokio::time::Instant::now() + RELEASE_QUIET).min(deadline);
        match tokio::time::timeout_at(quiet, messages.next()).await {
            Ok(Some(Ok(message))) => {
                // Delayed past the release, so it is not handed straight back to
                // this stream: each message is handed back once (one delivery spent).
                let back_in = Some(RELEASE_LIMIT + RELEASE_QUIET);
                if let Err(error) = message.ack_with(AckKind::Nak(back_in)).await {
                    tracing::debug!(%error, "could not hand a command back; it returns after the ack wait");
                }
                released += 1;
            }
            _ => break,
        }
    }
    if released > 0 {
        tracing::info!(released, "handed back commands delivered ahead");
    }
}

async fn drain(mut tasks: JoinSet<()>) {
    while tasks.try_join_next().is_some() {}
    if tasks.is_empty() {
        return;
    }
    tracing::info!(in_flight = tasks.len(), "finishing in-flight commands");
    let finished = tokio::time::timeout(DRAIN_TIMEOUT, async {
        while let Some(result) = tasks.join_next().await {
            if let Err(error) = result {
                tracing::error!(%error, "a command task failed");
            }
        }
    })
    .await;
    if finished.is_err() {
        tracing::warn!(
            unfinished = tasks.len(),
            "gave up waiting; those commands will be redelivered"
        );
        tasks.abort_all();
    }
}

/// Delay between attempts to (re)open the message stream: 100 ms doubling to 2 s.
#[derive(Debug)]
pub(crate) struct Backoff(Duration);

impl Default for Backoff {
    fn default() -> Self {
        Self(Duration::from_millis(100))
    }
}

impl Backoff {
    pub(crate) async fn wait(&mut self, shutdown: &CancellationToken) {
        tokio::select! {
            () = shutdown.cancelled() => {}
            () = tokio::time::sleep(self.0) => {}
        }
        self.0 = (self.0 * 2).min(Duration::from_secs(2));
    }
}
