//! Handling one command: the reactor's business logic, free of the consumer loop.
//!
//! [`Projector::handle`] takes a delivered payload and says what to do with the
//! message ([`Disposition`]), so tests can drive it without timing, and the loop in
//! [`crate::consumer`] only moves messages.
//!
//! The projection is idempotent: a redelivered command writes the same location
//! (its timestamps come from the command, not the clock) and announces the same
//! notification again, which is what makes at-least-once delivery take effect once.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::kv;
use herald_contract::messages::CommandBody;
use herald_contract::{
    Command, CommandStatus, FailureReason, Location, Notification, Topology, error_chain, names,
};
use uuid::Uuid;

use crate::dead_letters::{DeadLetterError, DeadLetters};
use crate::lag::Lag;
use crate::name_index::{NameIndex, NameIndexError};

/// What to do with a message once it has been handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done: its outcome is recorded and announced.
    Ack,
    /// A transient failure: deliver it again after `delay`.
    Retry { delay: Duration },
    /// Never deliver it again (it cannot be decoded, or has failed for good).
    Terminate,
}

/// Why a projection step failed; all of them are worth a retry.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("could not write {bucket}/{key}")]
    Put {
        bucket: &'static str,
        key: Uuid,
        #[source]
        source: kv::PutError,
    },
    #[error(transparent)]
    Names(#[from] NameIndexError),
    #[error("could not read the recorded outcome")]
    Read(#[source] kv::EntryError),
    #[error("could not record the status")]
    Status(#[source] kv::CreateError),
    #[error(transparent)]
    DeadLetter(#[from] DeadLetterError),
    #[error("giving up on the command did not complete")]
    GiveUp,
    #[error("could not publish the notification")]
    Publish(#[from] async_nats::PublishError),
    #[error("could not encode {0}")]
    Encode(&'static str, #[source] serde_json::Error),
}

/// A delivered command's place in the stream, from its JetStream metadata.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// The subject it was published on.
    pub subject: String,
    pub stream_sequence: u64,
    /// 1 on the first delivery.
    pub attempt: i64,
    pub max_attempts: i64,
}

impl Delivery {
    fn is_last(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// Decides each command's outcome, writes the read model and the command
/// status, then announces the outcome.
#[derive(Debug, Clone)]
pub struct Projector {
    client: async_nats::Client,
    locations: kv::Store,
    statuses: kv::Store,
    names: NameIndex,
    dead_letters: DeadLetters,
    lag: Arc<Lag>,
    delay: Duration,
}

impl Projector {
    pub fn new(
        client: async_nats::Client,
        topology: &Topology,
        lag: Arc<Lag>,
        delay: Duration,
    ) -> Self {
        Self {
            client,
            locations: topology.locations.clone(),
            statuses: topology.statuses.clone(),
            names: NameIndex::new(
                topology.names.clone(),
                topology.statuses.clone(),
                topology.locations.clone(),
            ),
            dead_letters: DeadLetters::new(topology.jetstream.clone()),
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
            if let Some(status) = self.recorded(command.id).await? {
                return self.announce(&status).await;
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
    async fn decide(&self, command: &Command) -> Result<CommandStatus, ProjectError> {
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
        if !self.names.claim(new, command.id).await? {
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
    async fn record(&self, status: &CommandStatus) -> Result<(), ProjectError> {
        if let Some(location) = &status.resource {
            put(
                &self.locations,
                names::LOCATIONS_BUCKET,
                location.id,
                location,
            )
            .await?;
        }
        let bytes = serde_json::to_vec(status)
            .map_err(|e| ProjectError::Encode(names::COMMANDS_BUCKET, e))?;
        let stands = match self
            .statuses
            .create(status.id.to_string(), bytes.into())
            .await
        {
            Ok(_) => status.clone(),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => self
                .recorded(status.id)
                .await?
                .unwrap_or_else(|| status.clone()),
            Err(source) => return Err(ProjectError::Status(source)),
        };
        self.announce(&stands).await
    }

    /// Publishes the notification of a finished status.
    async fn announce(&self, status: &CommandStatus) -> Result<(), ProjectError> {
        if let Some(notification) = Notification::for_status(status) {
            let payload = serde_json::to_vec(&notification)
                .map_err(|e| ProjectError::Encode("the notification", e))?;
            self.client
                .publish(notification.subject(), payload.into())
                .await?;
        }
        Ok(())
    }

    /// The recorded outcome of a command, if it has one.
    async fn recorded(&self, id: Uuid) -> Result<Option<CommandStatus>, ProjectError> {
        Ok(self
            .statuses
            .get(id.to_string())
            .await
            .map_err(ProjectError::Read)?
            .and_then(|bytes| serde_json::from_slice::<CommandStatus>(&bytes).ok())
            .filter(|status| status.status.is_terminal()))
    }

    /// A command whose deliveries ran out with no outcome acknowledged: every
    /// reactor that had it died or stalled. It is given up on like one whose last
    /// delivery failed; an error means "try again later".
    pub async fn exhausted(&self, payload: &[u8], delivery: &Delivery) -> Result<(), ProjectError> {
        let command = match serde_json::from_slice::<Command>(payload) {
            Ok(command) => command,
            Err(error) => {
                self.unreadable(payload, delivery, &error).await;
                return Ok(());
            }
        };
        let reason = "every delivery ended without an outcome (its reactors died or stalled)";
        match self.give_up(&command, payload, delivery, reason).await {
            Disposition::Retry { .. } => Err(ProjectError::GiveUp),
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
            if let Some(status) = self.recorded(command.id).await? {
                self.announce(&status).await?;
                return Ok(Disposition::Ack);
            }
            if let Some(location) = self.location(command.id).await? {
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
            self.dead_letters
                .store(delivery, payload, "gave up after the last delivery", error)
                .await?;
            let failed = CommandStatus::failed(
                command.id,
                Some(command.accepted_at),
                FailureReason::Unprocessable,
                vec!["the command could not be processed".into()],
            );
            self.record(&failed).await?;
            Ok::<_, ProjectError>(Disposition::Terminate)
        };
        settled
            .await
            .unwrap_or_else(|error| retry(command.id, delivery, &error))
    }

    async fn location(&self, id: Uuid) -> Result<Option<Location>, ProjectError> {
        Ok(self
            .locations
            .get(id.to_string())
            .await
            .map_err(ProjectError::Read)?
            .and_then(|bytes| serde_json::from_slice(&bytes).ok()))
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
        let settled = async {
            self.dead_letters
                .store(delivery, payload, "undecodable", &error.to_string())
                .await?;
            if let Some(id) = readable_id(payload, &delivery.subject) {
                let errors = vec!["the command could not be read".into()];
                let failed = CommandStatus::failed(id, None, FailureReason::Unprocessable, errors);
                self.record(&failed).await?;
            }
            Ok::<_, ProjectError>(Disposition::Terminate)
        };
        let id = readable_id(payload, &delivery.subject).unwrap_or_default();
        settled
            .await
            .unwrap_or_else(|error| retry(id, delivery, &error))
    }
}

fn retry(command_id: Uuid, delivery: &Delivery, error: &ProjectError) -> Disposition {
    let delay = retry_delay(delivery.attempt);
    tracing::warn!(
        %command_id,
        attempt = delivery.attempt,
        error = %error_chain(error),
        ?delay,
        "projection failed; will retry"
    );
    Disposition::Retry { delay }
}

async fn put(
    bucket: &kv::Store,
    name: &'static str,
    key: Uuid,
    value: &impl serde::Serialize,
) -> Result<(), ProjectError> {
    let bytes = serde_json::to_vec(value).map_err(|e| ProjectError::Encode(name, e))?;
    bucket
        .put(key.to_string(), bytes.into())
        .await
        .map(|_revision| ())
        .map_err(|source| ProjectError::Put {
            bucket: name,
            key,
            source,
        })
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

/// Back-off before redelivery: 100 ms, doubling, at most 10 s.
fn retry_delay(attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_millis(100 * 2u64.pow(exponent)).min(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_id_of_an_unreadable_command_is_found_where_it_can_be() {
        let id = Uuid::now_v7();
        let future = serde_json::json!({"id": id, "type": "teleport", "payload": {}});
        let subject = "commands.teleport.garbage";
        assert_eq!(
            readable_id(future.to_string().as_bytes(), subject),
            Some(id)
        );
        assert_eq!(readable_id(b"not json", subject), None);
        assert_eq!(readable_id(br#"{"id": "nope"}"#, subject), None);
        let by_subject = format!("commands.create_location.{id}");
        assert_eq!(readable_id(b"not json", &by_subject), Some(id));
    }

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(100), Duration::from_secs(10));
        assert!(retry_delay(0) > Duration::ZERO);
    }
}
