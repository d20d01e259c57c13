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
use herald_contract::{Command, CommandStatus, Location, Notification, Topology, error_chain};
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
        let command: Command = match serde_json::from_slice(payload) {
            Ok(command) => command,
            Err(error) => {
                tracing::error!(
                    stream_sequence = delivery.stream_sequence,
                    %error,
                    "undecodable command; terminated"
                );
                return Disposition::Terminate;
            }
        };
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        let status = self.decide(&command);
        match self.record(&status).await {
            Ok(()) => Disposition::Ack,
            Err(error) if delivery.attempt < delivery.max_attempts => {
                let delay = retry_delay(delivery.attempt);
                tracing::warn!(
                    command_id = %command.id,
                    attempt = delivery.attempt,
                    error = %error_chain(&error),
                    ?delay,
                    "projection failed; will retry"
                );
                Disposition::Retry { delay }
            }
            Err(error) => {
                tracing::error!(
                    command_id = %command.id,
                    stream_sequence = delivery.stream_sequence,
                    error = %error_chain(&error),
                    "projection failed on the last delivery; the command ends failed"
                );
                let failed = CommandStatus::failed(
                    command.id,
                    Some(command.accepted_at),
                    vec!["the command could not be processed".into()],
                );
                if let Err(error) = self.record(&failed).await {
                    tracing::error!(
                        command_id = %command.id,
                        error = %error_chain(&error),
                        "could not record the failure either"
                    );
                }
                Disposition::Terminate
            }
        }
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
            let payload = serde_json::to_vec(&notification).unwrap_or_default();
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
    let bytes = serde_json::to_vec(value).unwrap_or_default();
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

/// Back-off before redelivery: 100 ms, doubling, at most 10 s.
fn retry_delay(attempt: i64) -> Duration {
    let exponent = u32::try_from(attempt.clamp(1, 8) - 1).unwrap_or(0);
    Duration::from_millis(100 * 2u64.pow(exponent)).min(Duration::from_secs(10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_delay_grows_and_is_capped() {
        assert_eq!(retry_delay(1), Duration::from_millis(100));
        assert_eq!(retry_delay(2), Duration::from_millis(200));
        assert_eq!(retry_delay(100), Duration::from_secs(10));
        assert!(retry_delay(0) > Duration::ZERO);
    }
}
