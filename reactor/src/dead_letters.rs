//! Keeping the commands the reactor gives up on, for inspection.
//!
//! The `COMMANDS` stream keeps every command anyway (it is not a work queue), so
//! nothing is ever gone; the `DEAD_COMMANDS` stream is the list of those that
//! need a look, each under `dead.<original subject>` with headers saying why:
//! `Herald-Reason`, `Herald-Error`, `Herald-Stream-Sequence`, `Herald-Deliveries`.

use async_nats::HeaderMap;
use async_nats::jetstream;
use herald_contract::names;

use crate::delivery::Delivery;

/// The dead letter could not be stored.
#[derive(Debug, thiserror::Error)]
#[error("could not store the dead letter")]
pub struct DeadLetterError(#[from] async_nats::jetstream::context::PublishError);

/// Publishes dead letters.
#[derive(Debug, Clone)]
pub struct DeadLetters {
    jetstream: jetstream::Context,
}

impl DeadLetters {
    pub fn new(jetstream: jetstream::Context) -> Self {
        Self { jetstream }
    }

    /// Stores the command delivered as `delivery` with `payload`, and why it was
    /// given up on. Stored once per stream sequence, however often it is called.
    pub async fn store(
        &self,
        delivery: &Delivery,
        payload: &[u8],
        reason: &str,
        error: &str,
    ) -> Result<(), DeadLetterError> {
        let mut headers = HeaderMap::new();
        let sequence = delivery.stream_sequence.to_string();
        headers.insert("Nats-Msg-Id", format!("dead-{sequence}").as_str());
        headers.insert("Herald-Reason", reason);
        // Header values are one line.
        headers.insert("Herald-Error", error.replace(['\r', '\n'], " ").as_str());
        headers.insert("Herald-Stream-Sequence", sequence.as_str());
        headers.insert("Herald-Deliveries", delivery.attempt.to_string().as_str());
        let subject = names::dead_letter_subject(&delivery.subject);
        let stored = async {
            self.jetstream
                .publish_with_headers(subject.clone(), headers, payload.to_vec().into())
                .await?
                .await
        };
        stored.await?;
        tracing::warn!(
            subject,
            stream_sequence = delivery.stream_sequence,
            reason,
            "command kept as a dead letter"
        );
        Ok(())
    }
}
