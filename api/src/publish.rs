//! Putting accepted commands into the `COMMANDS` stream.
//!
//! A command is accepted only once JetStream has acknowledged storing it, so a
//! 202 always means "it is in the stream". An attempt that times out may still have
//! been stored, so a retry carries the same `Nats-Msg-Id` and the stream's
//! de-duplication window stores the command once. When the attempts run out
//! without an acknowledgement, the stream is asked (its leader: the command's own
//! subject) whether the command is there after all: stored means accepted, never
//! a 503. Only what is not found by then is refused, and the refusal names the
//! command, which may still be stored later (a frozen server reading what was
//! sent to it once it wakes): a client that retries with an `Idempotency-Key`
//! stores it once either way.

use std::time::Duration;

use async_nats::jetstream::{self, context::PublishErrorKind, message::PublishMessage, stream};
use herald_contract::{Command, names};
use herald_runtime::{Backoff, Stopped, retry};
use tokio::time::Instant;

/// How long the attempts may take before the stream is asked whether the command
/// was stored after all.
pub const PUBLISH_BUDGET: Duration = Duration::from_millis(1300);
/// How long asking may take: with the attempts, a POST is answered within 2 s
/// (DESIGN).
const CHECK_BUDGET: Duration = Duration::from_millis(500);
/// One attempt's share of the budget; a second attempt fits after a lost ack.
const ATTEMPT_TIMEOUT: Duration = Duration::from_millis(600);
/// Pauses between attempts: short, the budget is.
const PUBLISH_RETRY: Backoff = Backoff::new(Duration::from_millis(25), Duration::from_millis(100));

#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error("could not encode the command")]
    Encode(#[from] serde_json::Error),
    #[error("JetStream did not acknowledge the command, and it is not (yet) in the stream")]
    TimedOut,
    #[error("JetStream refused the command")]
    Refused(#[from] jetstream::context::PublishError),
}

/// Where a command is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stored {
    /// Its sequence in the stream (an earlier message's, for a duplicate).
    pub sequence: u64,
    /// A message with the same `Nats-Msg-Id` was stored before (a client's retry
    /// with the same `Idempotency-Key`, or this process's own retry).
    pub duplicate: bool,
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

    /// Stores `command` in the stream, or fails within 2 s.
    /// `request_id` is the HTTP request's, carried in a header for the logs.
    pub async fn publish(
        &self,
        command: &Command,
        request_id: Option<&str>,
    ) -> Result<Stored, PublishError> {
        let mut message = PublishMessage::build()
            .payload(serde_json::to_vec(command)?.into())
            .message_id(command.message_id())
            .header(names::COMMAND_ID_HEADER, command.id.to_string().as_str());
        if let Some(request_id) = request_id {
            message = message.header(names::REQUEST_ID_HEADER, request_id);
        }
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
        match retry(PUBLISH_RETRY, stop, attempt, retryable).await {
            Ok(ack) => Ok(Stored {
                sequence: ack.sequence,
                duplicate: ack.duplicate,
            }),
            Err(Stopped::GaveUp(Attempt::Failed(error))) => Err(PublishError::Refused(error)),
            // An attempt may have been stored without its answer reaching us.
            Err(Stopped::GaveUp(Attempt::TimedOut) | Stopped::Interrupted(_)) => {
                match tokio::time::timeout(CHECK_BUDGET, self.stored(&subject)).await {
                    Ok(Some(sequence)) => {
                        tracing::info!(%subject, "a command whose acknowledgement was lost is stored");
                        Ok(Stored {
                            sequence,
                            duplicate: false,
                        })
                    }
                    _ => Err(PublishError::TimedOut),
                }
            }
        }
    }

    /// The sequence of the command stored on `subject`, asked of the stream's
    /// leader; `None` if it is not there or the leader cannot say.
    async fn stored(&self, subject: &str) -> Option<u64> {
        let commands = self
            .jetstream
            .get_stream(names::COMMANDS_STREAM)
            .await
            .ok()?;
        match commands.get_last_raw_message_by_subject(subject).await {
            Ok(message) => Some(message.sequence),
            Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => None,
            Err(_) => None,
        }
    }
}
