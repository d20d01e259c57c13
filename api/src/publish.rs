//! Putting accepted commands into the `COMMANDS` stream.
//!
//! A command is accepted only once JetStream has acknowledged storing it, so a
//! 202 always means "it is in the stream". An attempt that times out may still have
//! been stored, so a retry carries the same `Nats-Msg-Id` and the stream's
//! de-duplication window stores the command once.

use std::time::Duration;

use async_nats::jetstream::{
    self, context::PublishErrorKind, message::PublishMessage, publish::PublishAck,
};
use herald_contract::Command;
use herald_runtime::{Backoff, Stopped, retry};
use tokio::time::Instant;

/// The longest a POST waits for NATS before answering 503 (DESIGN: within 2 s).
pub const PUBLISH_BUDGET: Duration = Duration::from_millis(1500);
/// One attempt's share of the budget; a second attempt fits after a lost ack.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(700);
/// Pauses between attempts: short, the budget is.
const PUBLISH_RETRY: Backoff = Backoff::new(Duration::from_millis(25), Duration::from_millis(100));

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("could not encode the command")]
    Encode(#[from] serde_json::Error),
    #[error("JetStream did not acknowledge the command within {PUBLISH_BUDGET:?}")]
    TimedOut,
    #[error("JetStream refused the command")]
    Refused(#[from] jetstream::context::PublishError),
}

/// Publishes commands to the stream with de-duplication and retries.
#[derive(Debug, Clone)]
pub struct Publisher {
    jetstream: jetstream::Context,
}

/// One attempt that did not store the command.
#[derive(Debug)]
enum Attempt {
    TimedOut,
    Failed(jetstream::context::PublishError),
}

impl Publisher {
    pub fn new(jetstream: jetstream::Context) -> Self {
        Self { jetstream }
    }

    /// Stores `command` in the stream, or fails within [`PUBLISH_BUDGET`].
    ///
    /// The ack says where it is stored; `duplicate` means a message with the same
    /// [`Command::message_id`] was stored before (a client's retry with the same
    /// `Idempotency-Key`), and the ack's sequence is that earlier message's.
    pub async fn publish(&self, command: &Command) -> Result<PublishAck, PublishError> {
        let message = PublishMessage::build()
            .payload(serde_json::to_vec(command)?.into())
            .message_id(command.message_id());
        let subject = command.subject();
        let deadline = Instant::now() + PUBLISH_BUDGET;
        let attempt = || async {
            let stored = async {
                self.jetstream
                    .send_publish(subject.clone(), message.clone())
                    .await?
                    .await
            };
            match tokio::time::timeout(ATTEMPT_TIMEOUT, stored).await {
                Ok(Ok(ack)) => Ok(ack),
                Ok(Err(error)) => Err(Attempt::Failed(error)),
                Err(_elapsed) => Err(Attempt::TimedOut),
            }
        };
        let retryable = |attempt: &Attempt, _: Duration| match attempt {
            Attempt::TimedOut => true,
            Attempt::Failed(error) => {
                tracing::debug!(%error, "publish attempt failed");
                matches!(
                    error.kind(),
                    PublishErrorKind::TimedOut
                        | PublishErrorKind::BrokenPipe
                        | PublishErrorKind::StreamNotFound
                )
            }
        };
        let stop = tokio::time::sleep_until(deadline);
        retry(PUBLISH_RETRY, stop, attempt, retryable)
            .await
            .map_err(|stopped| match stopped {
                Stopped::GaveUp(Attempt::Failed(error)) => PublishError::Refused(error),
                Stopped::GaveUp(Attempt::TimedOut) | Stopped::Interrupted(_) => {
                    PublishError::TimedOut
                }
            })
    }
}
