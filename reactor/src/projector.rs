//! Handling one command: the reactor's business logic, free of the consumer loop.
//!
//! [`Projector::handle`] takes a delivered payload and says what to do with the
//! message ([`Disposition`]), so tests can drive it without timing, and the loop in
//! [`crate::consumer`] only moves messages.
//!
//! The projection is idempotent: a redelivered command writes the same location
//! (its timestamps come from the command, not the clock) and announces the same
//! notification again, which is what makes at-least-once delivery take effect once.

use std::time::Duration;

use async_nats::jetstream::kv;
use herald_contract::messages::CommandBody;
use herald_contract::{
    Command, CommandStatus, FailureReason, Location, Notification, Topology, error_chain,
};
use uuid::Uuid;

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
    #[error("could not publish the notification")]
    Publish(#[from] async_nats::PublishError),
    #[error("could not encode {0}")]
    Encode(&'static str, #[source] serde_json::Error),
}

/// Where a delivery stands, from its JetStream metadata.
#[derive(Debug, Clone, Copy)]
pub struct Delivery {
    pub stream_sequence: u64,
    /// 1 on the first delivery.
    pub attempt: i64,
    pub max_attempts: i64,
}

/// Writes the read model and the command status, then announces the outcome.
#[derive(Debug, Clone)]
pub struct Projector {
    client: async_nats::Client,
    locations: kv::Store,
    statuses: kv::Store,
    delay: Duration,
}

impl Projector {
    pub fn new(client: async_nats::Client, topology: &Topology, delay: Duration) -> Self {
        Self {
            client,
            locations: topology.locations.clone(),
            statuses: topology.statuses.clone(),
            delay,
        }
    }

    /// Handles one delivered command.
    pub async fn handle(&self, payload: &[u8], delivery: Delivery) -> Disposition {
        let (status, done) = match serde_json::from_slice::<Command>(payload) {
            Ok(command) => {
                if !self.delay.is_zero() {
                    tokio::time::sleep(self.delay).await;
                }
                (self.decide(&command), Disposition::Ack)
            }
            Err(error) => {
                tracing::error!(
                    stream_sequence = delivery.stream_sequence,
                    %error,
                    "undecodable command; terminated"
                );
                // Where its id can still be read, the command ends failed, so whoever
                // waits for it hears so instead of waiting forever.
                let Some(id) = readable_id(payload) else {
                    return Disposition::Terminate;
                };
                let errors = vec!["the command could not be read".into()];
                (
                    CommandStatus::failed(id, None, FailureReason::Unprocessable, errors),
                    Disposition::Terminate,
                )
            }
        };
        let Err(error) = self.record(&status).await else {
            return done;
        };
        if delivery.attempt < delivery.max_attempts {
            let delay = retry_delay(delivery.attempt);
            tracing::warn!(
                command_id = %status.id,
                attempt = delivery.attempt,
                error = %error_chain(&error),
                ?delay,
                "projection failed; will retry"
            );
            return Disposition::Retry { delay };
        }
        tracing::error!(
            command_id = %status.id,
            stream_sequence = delivery.stream_sequence,
            error = %error_chain(&error),
            "projection failed on the last delivery; the command ends failed"
        );
        let failed = CommandStatus::failed(
            status.id,
            status.accepted_at,
            FailureReason::Unprocessable,
            vec!["the command could not be processed".into()],
        );
        if let Err(error) = self.record(&failed).await {
            tracing::error!(
                command_id = %status.id,
                error = %error_chain(&error),
                "could not record the failure either"
            );
        }
        Disposition::Terminate
    }

    /// The outcome the command should have. Pure: the same command always decides
    /// the same way, which keeps redeliveries harmless.
    fn decide(&self, command: &Command) -> CommandStatus {
        match &command.body {
            CommandBody::CreateLocation(new) => match new.check() {
                Ok(()) => CommandStatus::completed(
                    command,
                    Location {
                        id: command.id,
                        name: new.name.clone(),
                        category: new.category,
                        description: new.description.clone(),
                        created_at: command.accepted_at,
                    },
                ),
                // The api validates too; this guards against other publishers.
                Err(errors) => CommandStatus::failed(
                    command.id,
                    Some(command.accepted_at),
                    FailureReason::Invalid,
                    errors
                        .into_iter()
                        .map(|e| format!("{}: {}", e.field, e.message))
                        .collect(),
                ),
            },
        }
    }

    /// Writes the resource, then the status, then publishes the notification: a
    /// client told "completed" finds both in place.
    async fn record(&self, status: &CommandStatus) -> Result<(), ProjectError> {
        if let Some(location) = &status.resource {
            put(
                &self.locations,
                herald_contract::names::LOCATIONS_BUCKET,
                location.id,
                location,
            )
            .await?;
        }
        put(
            &self.statuses,
            herald_contract::names::COMMANDS_BUCKET,
            status.id,
            status,
        )
        .await?;
        if let Some(notification) = Notification::for_status(status) {
            let payload = serde_json::to_vec(&notification)
                .map_err(|e| ProjectError::Encode("the notification", e))?;
            self.client
                .publish(notification.subject(), payload.into())
                .await?;
        }
        Ok(())
    }
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
/// newer api during a rolling deploy, say).
fn readable_id(payload: &[u8]) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct JustTheId {
        id: Uuid,
    }
    serde_json::from_slice::<JustTheId>(payload)
        .ok()
        .map(|c| c.id)
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
        assert_eq!(readable_id(future.to_string().as_bytes()), Some(id));
        assert_eq!(readable_id(b"not json"), None);
        assert_eq!(readable_id(br#"{"id": "nope"}"#), None);
    }

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(100), Duration::from_secs(10));
        assert!(retry_delay(0) > Duration::ZERO);
    }
}
