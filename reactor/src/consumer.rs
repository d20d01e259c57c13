//! The consume loop: pulls commands continuously from the shared durable consumer
//! and runs up to `concurrency` of them at once through the [`Projector`].
//!
//! The pull is a long-lived `messages()` stream, so a command is handed over the
//! moment it is stored (the seed fetched a batch once a second). If that stream
//! fails or ends, the consumer is looked up again and a new stream opened: after a
//! NATS restart, or if the consumer vanished (async-nats issue 1584), the reactor
//! carries on by itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message, consumer::pull, stream};
use futures::StreamExt;
use herald_contract::names;
use herald_contract::topology::{Difference, Differences};
use herald_runtime::{Backoff, Streak, error_chain};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::{JoinError, JoinSet};
use tokio_util::sync::CancellationToken;

use crate::Config;
use crate::delivery::{Delivery, Disposition};
use crate::projector::Projector;
use crate::records::Records;

/// How long to wait for in-flight commands once shutdown starts (after handing
/// back what was not started): SIGTERM to exit stays within 5 s.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the stream must be quiet before nothing more is expected from it.
const RELEASE_QUIET: Duration = Duration::from_millis(100);
/// The longest handing back may take. With the drain and the final flush, SIGTERM
/// to exit stays under 5 s.
const RELEASE_LIMIT: Duration = Duration::from_millis(500);
/// Pauses before the consumer is looked up and its stream opened again.
pub(crate) const REOPEN: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

/// The consumer's configuration. `max_ack_pending` bounds what all reactors hold
/// unacknowledged at once; it is set above one instance's concurrency so several
/// instances can be busy together.
///
/// A consumer that exists is used as it is (its settings are the server's, and
/// the last delivery is the one it will not repeat); settings that differ from
/// these are logged, and changed only by `herald-dev topology apply`.
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

/// The settings of an existing consumer that differ from `wanted`.
pub fn consumer_differences(
    existing: &async_nats::jetstream::consumer::Config,
    wanted: &pull::Config,
) -> Vec<Difference> {
    let mut found = Differences::of(format!("consumer {}", names::REACTOR_CONSUMER));
    found.compare("ack wait", existing.ack_wait, wanted.ack_wait);
    found.compare("max deliver", existing.max_deliver, wanted.max_deliver);
    found.compare(
        "max ack pending",
        existing.max_ack_pending,
        wanted.max_ack_pending,
    );
    found.into_vec()
}

/// Consumes until `shutdown`, then finishes and acknowledges what is in flight.
pub async fn consume<R: Records>(
    commands: stream::Stream,
    projector: Projector<R>,
    config: &Config,
    shutdown: CancellationToken,
) {
    let concurrency = usize::try_from(config.concurrency).unwrap_or(64);
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut tasks = Tasks::default();
    let mut delays = REOPEN.delays();
    let mut opening = Streak::default();
    let mut told = false;
    'reconnect: while !shutdown.is_cancelled() {
        let messages = async {
            let wanted = consumer_config(config);
            let consumer = commands
                .get_or_create_consumer(names::REACTOR_CONSUMER, wanted.clone())
                .await
                .map_err(|e| anyhow::Error::from(e).context("opening the consumer"))?;
            if !told {
                told = true;
                for difference in consumer_differences(&consumer.cached_info().config, &wanted) {
                    tracing::warn!(
                        %difference,
                        "left as it is; `herald-dev topology apply` changes it"
                    );
                }
            }
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
                    let error = error_chain(error.as_ref());
                    if opening.failed() {
                        tracing::warn!(%error, "cannot consume yet; trying again quietly");
                    } else {
                        tracing::debug!(%error, "still cannot consume");
                    }
                    delays.sleep(&shutdown).await;
                    continue;
                }
            },
        };
        let max_attempts = if max_deliver > 0 {
            max_deliver
        } else {
            i64::MAX
        };
        opening.worked();
        tracing::info!("consuming commands");
        loop {
            tasks.reap_finished();
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
                    delays.sleep(&shutdown).await;
                    continue 'reconnect;
                }
                None => {
                    tracing::warn!("message stream ended; reopening");
                    delays.sleep(&shutdown).await;
                    continue 'reconnect;
                }
            };
            delays.reset();
            let delivery = match message.info() {
                Ok(info) => Delivery {
                    subject: message.subject.to_string(),
                    stream_sequence: info.stream_sequence,
                    attempt: info.delivered,
                    max_attempts,
                    retries: 0,
                },
                Err(error) => {
                    tracing::error!(%error, "message without JetStream metadata; terminated");
                    let _ = message.ack_with(AckKind::Term).await;
                    continue;
                }
            };
            tasks.spawn(
                projector.clone(),
                message,
                delivery,
                permit,
                config.ack_wait(),
                shutdown.clone(),
            );
        }
    }
    tasks.drain().await;
}

/// Runs one command to its disposition and acknowledges it accordingly.
///
/// A command NATS failed is tried again here until it goes through; at
/// shutdown it is handed back at once instead, for another reactor.
async fn project<R: Records>(
    projector: Projector<R>,
    message: Message,
    delivery: Delivery,
    permit: OwnedSemaphorePermit,
    ack_wait: Duration,
    shutdown: CancellationToken,
) {
    let _permit = permit;
    // Every line logged for this command carries its id and its request's, as
    // the api sent them in the message's headers.
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|headers| headers.get(name))
            .map(|value| value.as_str().to_owned())
    };
    let span = tracing::info_span!(
        "command",
        command_id = header(names::COMMAND_ID_HEADER).as_deref(),
        request_id = header(names::REQUEST_ID_HEADER).as_deref(),
        subject = %message.subject,
    );
    tracing::Instrument::instrument(
        project_in_span(projector, &message, delivery, ack_wait, shutdown),
        span,
    )
    .await;
}

async fn project_in_span<R: Records>(
    projector: Projector<R>,
    message: &Message,
    mut delivery: Delivery,
    ack_wait: Duration,
    shutdown: CancellationToken,
) {
    let started = std::time::Instant::now();
    metrics::counter!("herald_reactor_deliveries_total").increment(1);
    if delivery.attempt > 1 {
        metrics::counter!("herald_reactor_redeliveries_total").increment(1);
    }
    let handling = async {
        loop {
            match projector.handle(&message.payload, &delivery).await {
                Disposition::TryAgain { delay } => {
                    tokio::select! {
                        () = shutdown.cancelled() => break Disposition::Retry { delay: Duration::ZERO },
                        () = tokio::time::sleep(delay) => {}
                    }
                    delivery.retries = delivery.retries.saturating_add(1);
                }
                disposition => break disposition,
            }
        }
    };
    // While it works (and tries again), tell the server so, so that the
    // command is not redelivered to another reactor as if this one had died.
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
    metrics::histogram!("herald_reactor_processing_seconds")
        .record(started.elapsed().as_secs_f64());
    let ack = match disposition {
        Disposition::Ack => AckKind::Ack,
        Disposition::Retry { delay } | Disposition::TryAgain { delay } => AckKind::Nak(Some(delay)),
        Disposition::Terminate => AckKind::Term,
    };
    if let Err(error) = message.ack_with(ack).await {
        // The command will be redelivered after ack_wait; the projection is idempotent.
        tracing::warn!(%error, "could not acknowledge a command");
    }
}

/// The commands being projected, each task labelled with its delivery so that
/// one that panics is reported with the command it was running, and counted.
#[derive(Debug, Default)]
struct Tasks {
    set: JoinSet<()>,
    running: HashMap<tokio::task::Id, Delivery>,
}

impl Tasks {
    fn spawn<R: Records>(
        &mut self,
        projector: Projector<R>,
        message: Message,
        delivery: Delivery,
        permit: OwnedSemaphorePermit,
        ack_wait: Duration,
        shutdown: CancellationToken,
    ) {
        let label = delivery.clone();
        let task = self.set.spawn(project(
            projector, message, delivery, permit, ack_wait, shutdown,
        ));
        self.running.insert(task.id(), label);
    }

    fn reap_finished(&mut self) {
        while let Some(result) = self.set.try_join_next_with_id() {
            self.reaped(result);
        }
    }

    fn reaped(&mut self, result: Result<(tokio::task::Id, ()), JoinError>) {
        let id = match &result {
            Ok((id, ())) => *id,
            Err(error) => error.id(),
        };
        let delivery = self.running.remove(&id);
        if let Err(error) = result
            && !error.is_cancelled()
        {
            metrics::counter!("herald_reactor_task_failures_total").increment(1);
            tracing::error!(
                subject = delivery.as_ref().map(|d| d.subject.as_str()),
                stream_sequence = delivery.as_ref().map(|d| d.stream_sequence),
                %error,
                "a command's task failed; it is redelivered after the ack wait"
            );
        }
    }

    /// Waits for the tasks in flight, for up to [`DRAIN_TIMEOUT`].
    async fn drain(mut self) {
        self.reap_finished();
        if self.set.is_empty() {
            return;
        }
        tracing::info!(in_flight = self.set.len(), "finishing in-flight commands");
        let finished = tokio::time::timeout(DRAIN_TIMEOUT, async {
            while let Some(result) = self.set.join_next_with_id().await {
                self.reaped(result);
            }
        })
        .await;
        if finished.is_err() {
            tracing::warn!(
                unfinished = self.set.len(),
                "gave up waiting; those commands will be redelivered"
            );
            self.set.abort_all();
        }
    }
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
