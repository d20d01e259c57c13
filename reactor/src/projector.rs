//! Handling one command: the reactor's business logic, free of the consumer loop.
//!
//! [`Projector::handle`] takes a delivered payload and says what to do with the
//! message ([`Disposition`]), so tests drive it without timing, and the loop in
//! [`crate::consumer`] only moves messages. What it reads and writes goes through
//! [`Records`].
//!
//! The projection is idempotent: a redelivered command writes the same location
//! (its timestamps come from the command, not the clock) and announces the same
//! notification again, which is what makes at-least-once delivery take effect once.

use std::sync::Arc;
use std::time::Duration;

use herald_contract::messages::CommandBody;
use herald_contract::{Command, CommandStatus, FailureReason, Location, Notification};
use herald_runtime::{Backoff, error_chain};
use uuid::Uuid;

use crate::delivery::{Delivery, Disposition};
use crate::lag::Lag;
use crate::name_index;
use crate::records::{Recorded, Records, StoreError};

/// Pauses before a failed command is delivered again: 100 ms doubling to 10 s.
pub const REDELIVERY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));

/// Decides each command's outcome, writes the read model and the command
/// status, then announces the outcome.
#[derive(Debug, Clone)]
pub struct Projector<R> {
    records: R,
    lag: Arc<Lag>,
    delay: Duration,
}

impl<R: Records> Projector<R> {
    /// Writes through `records`; `delay` is the artificial processing time of
    /// `REACTOR_DELAY_MS`.
    pub fn new(records: R, lag: Arc<Lag>, delay: Duration) -> Self {
        Self {
            records,
            lag,
            delay,
        }
    }

    /// Handles one delivered command.
    pub async fn handle(&self, payload: &[u8], delivery: &Delivery) -> Disposition {
        let command = match serde_json::from_slice::<Command>(payload) {
            Ok(command) => command,
            Err(error) => return self.unreadable(payload, delivery, &error).await,
        };
        // A command whose outcome is recorded (redelivered after a lost ack) is
        // announced again, never decided anew: its outcome stands.
        let projected = async {
            if let Some(recorded) = self.recorded(command.id).await? {
                return self.announce(&recorded).await;
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let status = self.decide(&command).await?;
            self.record(&status).await
        };
        match projected.await {
            Ok(()) => {
                self.lag.record(command.accepted_at);
                Disposition::Ack
            }
            Err(error) if !delivery.is_last() => retry(command.id, delivery, &error),
            Err(error) => {
                self.give_up(&command, payload, delivery, &error_chain(&error))
                    .await
            }
        }
    }

    /// The outcome the command should have.
    async fn decide(&self, command: &Command) -> Result<CommandStatus, StoreError> {
        let CommandBody::CreateLocation(new) = &command.body;
        let accepted = Some(command.accepted_at);
        // The api validates too; this guards against other publishers.
        if let Err(errors) = new.check() {
            let errors = errors
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            return Ok(CommandStatus::failed(
                command.id,
                accepted,
                FailureReason::Invalid,
                errors,
            ));
        }
        if !name_index::claim(&self.records, new, command.id).await? {
            let error = format!("a location named {:?} already exists", new.name.trim());
            return Ok(CommandStatus::failed(
                command.id,
                accepted,
                FailureReason::Conflict,
                vec![error],
            ));
        }
        Ok(CommandStatus::completed(
            command,
            Location {
                id: command.id,
                name: new.name.clone(),
                category: new.category,
                description: new.description.clone(),
                created_at: command.accepted_at,
            },
        ))
    }

    /// Writes the resource, then the status, then publishes the notification: a
    /// client told "completed" finds both in place. The first outcome recorded
    /// for a command stands; a later, different one is dropped in its favour.
    async fn record(&self, status: &CommandStatus) -> Result<(), StoreError> {
        if let Some(location) = &status.resource {
            self.records.put_location(location).await?;
        }
        let stands = self.records.create_status(status).await?;
        self.announce(&stands).await
    }

    /// Publishes the notification of a finished status, with its revision.
    async fn announce(&self, recorded: &Recorded) -> Result<(), StoreError> {
        match Notification::for_recorded(&recorded.status, recorded.revision) {
            Some(notification) => self.records.announce(&notification).await,
            None => Ok(()),
        }
    }

    /// The recorded outcome of a command, if it has one.
    async fn recorded(&self, id: Uuid) -> Result<Option<Recorded>, StoreError> {
        Ok(self
            .records
            .status(id)
            .await?
            .filter(|recorded| recorded.status.status.is_terminal()))
    }

    /// A command whose deliveries ran out with no outcome acknowledged: every
    /// reactor that had it died or stalled. It is given up on like one whose last
    /// delivery failed; an error means "try again later".
    pub async fn exhausted(&self, payload: &[u8], delivery: &Delivery) -> Result<(), GiveUpError> {
        let disposition = match serde_json::from_slice::<Command>(payload) {
            Ok(command) => {
                let reason =
                    "every delivery ended without an outcome (its reactors died or stalled)";
                self.give_up(&command, payload, delivery, reason).await
            }
            Err(error) => self.unreadable(payload, delivery, &error).await,
        };
        match disposition {
            Disposition::Retry { .. } => Err(GiveUpError),
            Disposition::Ack | Disposition::Terminate => Ok(()),
        }
    }

    /// Ends a command that could not be processed. What took effect stands: a
    /// recorded outcome is announced again, a location already written is recorded
    /// as completed. Otherwise the command is kept as a dead letter and ends failed
    /// (its name stays claimed until another command takes it over). If any of
    /// that fails, it is retried later; on the last delivery JetStream then says
    /// so in a max-deliveries advisory, which comes back here.
    async fn give_up(
        &self,
        command: &Command,
        payload: &[u8],
        delivery: &Delivery,
        error: &str,
    ) -> Disposition {
        let settled = async {
            if let Some(recorded) = self.recorded(command.id).await? {
                self.announce(&recorded).await?;
                return Ok(Disposition::Ack);
            }
            if let Some(location) = self.records.location(command.id).await? {
                self.record(&CommandStatus::completed(command, location))
                    .await?;
                return Ok(Disposition::Ack);
            }
            tracing::error!(
                command_id = %command.id,
                stream_sequence = delivery.stream_sequence,
                error,
                "giving up on a command; it ends failed"
            );
            self.records
                .dead_letter(delivery, payload, "gave up after the last delivery", error)
                .await?;
            let failed = CommandStatus::failed(
                command.id,
                Some(command.accepted_at),
                FailureReason::Unprocessable,
                vec!["the command could not be processed".into()],
            );
            self.record(&failed).await?;
            Ok::<_, StoreError>(Disposition::Terminate)
        };
        settled
            .await
            .unwrap_or_else(|error| retry(command.id, delivery, &error))
    }

    /// A command that does not decode: never processed, kept as a dead letter,
    /// and, where its id can be found, ended failed so whoever waits hears so.
    async fn unreadable(
        &self,
        payload: &[u8],
        delivery: &Delivery,
        error: &serde_json::Error,
    ) -> Disposition {
        tracing::error!(
            stream_sequence = delivery.stream_sequence,
            %error,
            "undecodable command"
        );
        let id = readable_id(payload, &delivery.subject);
        let settled = async {
            self.records
                .dead_letter(delivery, payload, "undecodable", &error.to_string())
                .await?;
            if let Some(id) = id {
                let errors = vec!["the command could not be read".into()];
                let failed = CommandStatus::failed(id, None, FailureReason::Unprocessable, errors);
                self.record(&failed).await?;
            }
            Ok::<_, StoreError>(Disposition::Terminate)
        };
        settled
            .await
            .unwrap_or_else(|error| retry(id.unwrap_or_default(), delivery, &error))
    }
}

/// Giving up on an exhausted command did not complete; it is tried again later.
#[derive(Debug, thiserror::Error)]
#[error("giving up on the command did not complete")]
pub struct GiveUpError;

fn retry(command_id: Uuid, delivery: &Delivery, error: &StoreError) -> Disposition {
    let delay = REDELIVERY.after(u32::try_from(delivery.attempt).unwrap_or(1));
    tracing::warn!(
        %command_id,
        attempt = delivery.attempt,
        error = %error_chain(error),
        ?delay,
        "projection failed; will retry"
    );
    Disposition::Retry { delay }
}

/// The `id` of a command that does not decode as a whole (an unknown type from a
/// newer api during a rolling deploy, say), from its payload or else its subject
/// (`commands.<type>.<id>`).
fn readable_id(payload: &[u8], subject: &str) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct JustTheId {
        id: Uuid,
    }
    serde_json::from_slice::<JustTheId>(payload)
        .ok()
        .map(|c| c.id)
        .or_else(|| {
            subject
                .rsplit('.')
                .next()
                .and_then(|id| Uuid::try_parse(id).ok())
        })
}

#[cfg(test)]
mod tests;
