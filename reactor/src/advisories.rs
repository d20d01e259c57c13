//! Commands that ran out of deliveries without an outcome.
//!
//! If every reactor that received a command died (or stalled past the ack wait)
//! on every delivery, JetStream stops delivering it and publishes a
//! max-deliveries advisory. The `COMMAND_ADVISORIES` stream keeps those, and the
//! reactors share a durable consumer of it, so each is dealt with even if no
//! reactor was running at the time: the command ends failed, its client is told,
//! and it is kept as a dead letter (see [`Projector::exhausted`]).

use std::time::Duration;

use async_nats::jetstream::{AckKind, consumer::pull, stream};
use futures::StreamExt;
use herald_contract::names;
use herald_runtime::error_chain;
use serde::Deserialize;
use tokio_util::sync::CancellationToken;

use crate::consumer::REOPEN;
use crate::delivery::Delivery;
use crate::projector::Projector;
use crate::records::Records;

/// The part of `io.nats.jetstream.advisory.v1.max_deliver` that matters here.
#[derive(Debug, Deserialize)]
struct MaxDeliveries {
    stream_seq: u64,
    deliveries: i64,
}

/// Deals with max-deliveries advisories until `shutdown`.
pub async fn follow<R: Records>(
    advisories: stream::Stream,
    commands: stream::Stream,
    projector: Projector<R>,
    shutdown: CancellationToken,
) {
    let mut delays = REOPEN.delays();
    while !shutdown.is_cancelled() {
        let opened = async {
            advisories
                .get_or_create_consumer(
                    names::ADVISORIES_CONSUMER,
                    pull::Config {
                        durable_name: Some(names::ADVISORIES_CONSUMER.into()),
                        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                        // Retried every 5 s for an hour, then left in the stream (7 days).
                        max_deliver: 720,
                        ..Default::default()
                    },
                )
                .await
                .map_err(anyhow::Error::from)?
                .messages()
                .await
                .map_err(anyhow::Error::from)
        };
        let mut messages = tokio::select! {
            () = shutdown.cancelled() => return,
            opened = opened => match opened {
                Ok(messages) => messages,
                Err(error) => {
                    tracing::warn!(error = %error_chain(error.as_ref()), "cannot follow advisories yet");
                    delays.sleep(&shutdown).await;
                    continue;
                }
            },
        };
        loop {
            let message = tokio::select! {
                () = shutdown.cancelled() => return,
                message = messages.next() => message,
            };
            let Some(Ok(message)) = message else {
                delays.sleep(&shutdown).await;
                break;
            };
            delays.reset();
            // Dropped on shutdown: the advisory is redelivered to a reactor later.
            let handled = tokio::select! {
                () = shutdown.cancelled() => return,
                handled = handle(&message.payload, &commands, &projector) => handled,
            };
            let ack = match handled {
                Ok(()) => AckKind::Ack,
                Err(error) => {
                    tracing::warn!(error = %error_chain(error.as_ref()), "advisory not dealt with; retrying");
                    AckKind::Nak(Some(Duration::from_secs(5)))
                }
            };
            let _ = message.ack_with(ack).await;
        }
    }
}

async fn handle<R: Records>(
    advisory: &[u8],
    commands: &stream::Stream,
    projector: &Projector<R>,
) -> anyhow::Result<()> {
    let Ok(advisory) = serde_json::from_slice::<MaxDeliveries>(advisory) else {
        tracing::warn!("unreadable max-deliveries advisory; ignored");
        return Ok(());
    };
    let message = match commands.get_raw_message(advisory.stream_seq).await {
        Ok(message) => message,
        Err(error) if error.kind() == stream::RawMessageErrorKind::NoMessageFound => {
            tracing::error!(
                stream_sequence = advisory.stream_seq,
                "a command ran out of deliveries and is no longer in the stream"
            );
            return Ok(());
        }
        Err(error) => return Err(error.into()),
    };
    tracing::warn!(
        stream_sequence = advisory.stream_seq,
        deliveries = advisory.deliveries,
        "a command ran out of deliveries"
    );
    let delivery = Delivery {
        subject: message.subject.to_string(),
        stream_sequence: advisory.stream_seq,
        attempt: advisory.deliveries,
        max_attempts: advisory.deliveries,
        retries: 0,
    };
    projector.exhausted(&message.payload, &delivery).await?;
    Ok(())
}
