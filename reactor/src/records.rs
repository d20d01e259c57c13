//! Where the reactor's decisions are written: the buckets, the notification
//! subjects and the dead letters, behind one small trait.
//!
//! The [`Projector`](crate::projector::Projector) decides; [`Records`] only stores
//! and reads. In production that is NATS ([`NatsRecords`]); the projector's unit
//! tests use an in-memory store with paused time, so the rules (names, recorded
//! outcomes, retries, giving up) are tested without real ack waits. The system
//! tests run the same projector against a real nats-server.

use std::error::Error as StdError;

use async_nats::jetstream::kv;
use herald_contract::{CommandStatus, Location, Notification, Topology};
use uuid::Uuid;

use crate::dead_letters::DeadLetters;
use crate::delivery::Delivery;

/// A read or write that did not happen; always worth another try.
#[derive(Debug, thiserror::Error)]
#[error("could not {what}")]
pub struct StoreError {
    what: &'static str,
    #[source]
    source: Box<dyn StdError + Send + Sync>,
}

impl StoreError {
    pub fn new(what: &'static str, source: impl Into<Box<dyn StdError + Send + Sync>>) -> Self {
        Self {
            what,
            source: source.into(),
        }
    }
}

/// A status as recorded, with its revision in the `commands` bucket (which the
/// notification carries, so the api can tell when one was lost).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub status: CommandStatus,
    pub revision: u64,
}

/// Who holds a name in the name index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameClaim {
    /// The claim was written for the asking command.
    Claimed,
    /// Another entry is there: the command holding it, and the entry's revision
    /// (for a compare-and-set take-over).
    HeldBy { holder: String, revision: u64 },
}

/// The reactor's storage: statuses, locations, the name index, notifications and
/// dead letters.
pub trait Records: Clone + Send + Sync + 'static {
    /// The status recorded for command `id`, if any.
    fn status(&self, id: Uuid)
    -> impl Future<Output = Result<Option<Recorded>, StoreError>> + Send;

    /// Records `status` unless the command has one, and answers the status that
    /// stands: this one, or the one recorded before.
    fn create_status(
        &self,
        status: &CommandStatus,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// The location with this id, if written.
    fn location(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Location>, StoreError>> + Send;

    /// Writes (or writes again, identically) a location.
    fn put_location(
        &self,
        location: &Location,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Claims name `key` for `command_id` if nobody holds it.
    fn claim_name(
        &self,
        key: &str,
        command_id: Uuid,
    ) -> impl Future<Output = Result<NameClaim, StoreError>> + Send;

    /// Hands name `key` to `command_id` if its entry is still at `revision`;
    /// `false` if somebody changed it first.
    fn take_over_name(
        &self,
        key: &str,
        command_id: Uuid,
        revision: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Publishes a notification on its command's subject.
    fn announce(
        &self,
        notification: &Notification,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Keeps a command given up on, with why.
    fn dead_letter(
        &self,
        delivery: &Delivery,
        payload: &[u8],
        reason: &str,
        error: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// [`Records`] in NATS: the `commands`, `locations` and `location_names`
/// buckets, core notifications, and the `DEAD_COMMANDS` stream.
#[derive(Debug, Clone)]
pub struct NatsRecords {
    client: async_nats::Client,
    statuses: kv::Store,
    locations: kv::Store,
    names: kv::Store,
    dead_letters: DeadLetters,
}

impl NatsRecords {
    pub fn new(client: async_nats::Client, topology: &Topology) -> Self {
        Self {
            client,
            statuses: topology.statuses.clone(),
            locations: topology.locations.clone(),
            names: topology.names.clone(),
            dead_letters: DeadLetters::new(topology.jetstream.clone()),
        }
    }
}

fn encode(what: &'static str, value: &impl serde::Serialize) -> Result<bytes::Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Into::into)
        .map_err(|error| StoreError::new(what, error))
}

/// A stored JSON value; one that does not decode counts as absent (it was not
/// written by this version, and deciding anew is the safe way out).
async fn get_json<T: serde::de::DeserializeOwned>(
    bucket: &kv::Store,
    what: &'static str,
    id: Uuid,
) -> Result<Option<T>, StoreError> {
    let bytes = bucket
        .get(id.to_string())
        .await
        .map_err(|error| StoreError::new(what, error))?;
    Ok(bytes.and_then(|bytes| serde_json::from_slice(&bytes).ok()))
}

impl Records for NatsRecords {
    async fn status(&self, id: Uuid) -> Result<Option<Recorded>, StoreError> {
        let entry = self
            .statuses
            .entry(id.to_string())
            .await
            .map_err(|error| StoreError::new("read a recorded status", error))?;
        Ok(entry
            .filter(|entry| entry.operation == kv::Operation::Put)
            .and_then(|entry| {
                // One that does not decode was not written by this version: as absent.
                let status = serde_json::from_slice(&entry.value).ok()?;
                Some(Recorded {
                    status,
                    revision: entry.revision,
                })
            }))
    }

    async fn create_status(&self, status: &CommandStatus) -> Result<Recorded, StoreError> {
        let bytes = encode("encode a status", status)?;
        match self.statuses.create(status.id.to_string(), bytes).await {
            Ok(revision) => Ok(Recorded {
                status: status.clone(),
                revision,
            }),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {
                // Recorded meanwhile: that one stands.
                self.status(status.id).await?.ok_or_else(|| {
                    StoreError::new("read the status recorded first", "it does not decode")
                })
            }
            Err(error) => Err(StoreError::new("record a status", error)),
        }
    }

    async fn location(&self, id: Uuid) -> Result<Option<Location>, StoreError> {
        get_json(&self.locations, "read a location", id).await
    }

    async fn put_location(&self, location: &Location) -> Result<(), StoreError> {
        let bytes = encode("encode a location", location)?;
        self.locations
            .put(location.id.to_string(), bytes)
            .await
            .map(|_revision| ())
            .map_err(|error| StoreError::new("write a location", error))
    }

    async fn claim_name(&self, key: &str, command_id: Uuid) -> Result<NameClaim, StoreError> {
        // Twice at most: a holder's entry vanishes between the create and the read
        // only if the bucket was purged by hand.
        for _ in 0..2 {
            match self.names.create(key, command_id.to_string().into()).await {
                Ok(_) => return Ok(NameClaim::Claimed),
                Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(error) => return Err(StoreError::new("claim a name", error)),
            }
            let entry = self
                .names
                .entry(key)
                .await
                .map_err(|error| StoreError::new("read a name's holder", error))?;
            if let Some(entry) = entry {
                return Ok(NameClaim::HeldBy {
                    holder: String::from_utf8_lossy(&entry.value).into_owned(),
                    revision: entry.revision,
                });
            }
        }
        Err(StoreError::new(
            "claim a name",
            "its entry vanished twice between the claim and the read",
        ))
    }

    async fn take_over_name(
        &self,
        key: &str,
        command_id: Uuid,
        revision: u64,
    ) -> Result<bool, StoreError> {
        match self
            .names
            .update(key, command_id.to_string().into(), revision)
            .await
        {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(error) => Err(StoreError::new("take a name over", error)),
        }
    }

    async fn announce(&self, notification: &Notification) -> Result<(), StoreError> {
        let payload = encode("encode a notification", notification)?;
        self.client
            .publish(notification.subject(), payload)
            .await
            .map_err(|error| StoreError::new("publish a notification", error))
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        payload: &[u8],
        reason: &str,
        error: &str,
    ) -> Result<(), StoreError> {
        self.dead_letters
            .store(delivery, payload, reason, error)
            .await
            .map_err(|error| StoreError::new("store a dead letter", error))
    }
}

#[cfg(test)]
pub(crate) mod memory;
