//! Where the reactor's decisions are written: the buckets, the notification
//! subjects and the dead letters, behind one small trait.
//!
//! The [`Projector`](crate::projector::Projector) decides; [`Records`] only stores
//! and reads. In production that is NATS ([`NatsRecords`]); the projector's unit
//! tests use an in-memory store with paused time, so the rules (names, recorded
//! outcomes, retries, giving up) are tested without real ack waits. The system
//! tests run the same projector against real nats-servers, a cluster among them.
//!
//! Every read here decides something, so on a cluster it must see every write
//! acknowledged before it: reads go to the leader ([`herald_runtime::leader`]).

use std::error::Error as StdError;

use async_nats::jetstream::{kv, stream};
use herald_contract::messages::CommandBody;
use herald_contract::{CommandStatus, FailureReason, Location, Notification, Topology, names};
use herald_runtime::leader;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::dead_letters::DeadLetters;
use crate::delivery::Delivery;

/// A read or write that did not happen; always worth another try, never a
/// business outcome.
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

/// Where a name's claim stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClaimState {
    /// Its holder is deciding, or has decided: completed if its location exists
    /// (the name is then taken for good), failed if its status says so.
    Claimed,
    /// Its holder completed (written by earlier versions; the location now says so).
    Completed,
    /// Its holder failed and gave it back: the next claimant takes it.
    Released,
}

/// A name's entry in the `location_names` bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub holder: Uuid,
    pub state: ClaimState,
    /// The entry's revision, for a compare-and-set.
    pub revision: u64,
}

/// The reactor's storage: statuses, locations, the name index, notifications and
/// dead letters.
pub trait Records: Clone + Send + Sync + 'static {
    /// The status recorded for command `id`, if any.
    fn status(&self, id: Uuid)
    -> impl Future<Output = Result<Option<Recorded>, StoreError>> + Send;

    /// Records `status` unless the command has one, and answers the status that
    /// stands: this one, or the one recorded before. The one commit point of an
    /// outcome.
    fn create_status(
        &self,
        status: &CommandStatus,
    ) -> impl Future<Output = Result<Recorded, StoreError>> + Send;

    /// Writes (or writes again, identically) a location.
    fn put_location(
        &self,
        location: &Location,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Whether the location of command `id` exists (read from the leader).
    fn location_exists(&self, id: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// The claim of name `key`, if anybody ever claimed it.
    fn claim(&self, key: &str) -> impl Future<Output = Result<Option<Claim>, StoreError>> + Send;

    /// Claims name `key` for `holder` if nobody ever did: the claim's revision, or
    /// `None` if somebody did.
    fn create_claim(
        &self,
        key: &str,
        holder: Uuid,
    ) -> impl Future<Output = Result<Option<u64>, StoreError>> + Send;

    /// Sets name `key`'s claim to `holder` and `state` if its entry is still at
    /// `revision`; `false` if somebody changed it first.
    fn set_claim(
        &self,
        key: &str,
        holder: Uuid,
        state: ClaimState,
        revision: u64,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Whether command `id` is in the `COMMANDS` stream (not past its retention).
    fn command_exists(&self, id: Uuid) -> impl Future<Output = Result<bool, StoreError>> + Send;

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
/// buckets, the `COMMANDS` stream, core notifications, and `DEAD_COMMANDS`.
#[derive(Debug, Clone)]
pub struct NatsRecords {
    client: async_nats::Client,
    statuses: kv::Store,
    locations: kv::Store,
    names: kv::Store,
    commands: stream::Stream,
    dead_letters: DeadLetters,
}

impl NatsRecords {
    pub fn new(client: async_nats::Client, topology: &Topology) -> Self {
        Self {
            client,
            statuses: topology.statuses.clone(),
            locations: topology.locations.clone(),
            names: topology.names.clone(),
            commands: topology.commands.clone(),
            dead_letters: DeadLetters::new(topology.jetstream.clone()),
        }
    }
}

fn encode(what: &'static str, value: &impl Serialize) -> Result<bytes::Bytes, StoreError> {
    serde_json::to_vec(value)
        .map(Into::into)
        .map_err(|error| StoreError::new(what, error))
}

/// A claim's value in the bucket.
#[derive(Debug, Serialize, Deserialize)]
struct ClaimValue {
    holder: Uuid,
    state: ClaimState,
}

impl ClaimValue {
    /// Decodes a claim; a bare command id is how claims were first written.
    fn decode(bytes: &[u8]) -> Option<Self> {
        serde_json::from_slice(bytes).ok().or_else(|| {
            let holder = Uuid::try_parse(std::str::from_utf8(bytes).ok()?.trim()).ok()?;
            Some(Self {
                holder,
                state: ClaimState::Claimed,
            })
        })
    }
}

impl Records for NatsRecords {
    async fn status(&self, id: Uuid) -> Result<Option<Recorded>, StoreError> {
        let entry = leader::entry(&self.statuses, &id.to_string())
            .await
            .map_err(|error| StoreError::new("read a recorded status", error))?;
        // One that does not decode was not written by this version: as absent.
        Ok(entry.and_then(|entry| {
            Some(Recorded {
                status: serde_json::from_slice(&entry.value).ok()?,
                revision: entry.revision,
            })
        }))
    }

    async fn create_status(&self, status: &CommandStatus) -> Result<Recorded, StoreError> {
        let bytes = encode("encode a status", status)?;
        match self.statuses.create(status.id.to_string(), bytes).await {
            Ok(revision) => {
                metrics::counter!(
                    "herald_reactor_outcomes_total",
                    "status" => status.status.as_str(),
                    "reason" => status.reason.map_or("", FailureReason::as_str)
                )
                .increment(1);
                Ok(Recorded {
                    status: status.clone(),
                    revision,
                })
            }
            // Recorded before (by an attempt whose answer was lost, or another
            // delivery): that one stands. `create` reads the key after a failed
            // write, so a timeout can come back as "exists" too: read it from the
            // leader to know which.
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {
                self.status(status.id).await?.ok_or_else(|| {
                    StoreError::new("read the status recorded first", "it is not there")
                })
            }
            Err(error) => Err(StoreError::new("record a status", error)),
        }
    }

    async fn put_location(&self, location: &Location) -> Result<(), StoreError> {
        let bytes = encode("encode a location", location)?;
        self.locations
            .put(location.id.to_string(), bytes)
            .await
            .map(|_revision| ())
            .map_err(|error| StoreError::new("write a location", error))
    }

    async fn location_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        leader::entry(&self.locations, &id.to_string())
            .await
            .map(|entry| entry.is_some())
            .map_err(|error| StoreError::new("read a location", error))
    }

    async fn claim(&self, key: &str) -> Result<Option<Claim>, StoreError> {
        let entry = leader::entry(&self.names, key)
            .await
            .map_err(|error| StoreError::new("read a name's claim", error))?;
        Ok(entry.and_then(|entry| {
            let value = ClaimValue::decode(&entry.value)?;
            Some(Claim {
                holder: value.holder,
                state: value.state,
                revision: entry.revision,
            })
        }))
    }

    async fn create_claim(&self, key: &str, holder: Uuid) -> Result<Option<u64>, StoreError> {
        let value = encode(
            "encode a claim",
            &ClaimValue {
                holder,
                state: ClaimState::Claimed,
            },
        )?;
        match self.names.create(key, value).await {
            Ok(revision) => Ok(Some(revision)),
            // Whether it was somebody else, or this very write whose answer was
            // lost, the caller reads the claim and sees.
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => Ok(None),
            Err(error) => Err(StoreError::new("claim a name", error)),
        }
    }

    async fn set_claim(
        &self,
        key: &str,
        holder: Uuid,
        state: ClaimState,
        revision: u64,
    ) -> Result<bool, StoreError> {
        let value = encode("encode a claim", &ClaimValue { holder, state })?;
        match self.names.update(key, value, revision).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(error) => Err(StoreError::new("change a name's claim", error)),
        }
    }

    async fn command_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        for kind in CommandBody::KINDS {
            let subject = names::command_subject(kind, id);
            match self
                .commands
                .get_last_raw_message_by_subject(&subject)
                .await
            {
                Ok(_) => return Ok(true),
                Err(error) if error.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(error) => return Err(StoreError::new("look a command up", error)),
            }
        }
        Ok(false)
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
            .map_err(|error| StoreError::new("store a dead letter", error))?;
        metrics::counter!("herald_reactor_dead_letters_total").increment(1);
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod memory;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_reads_as_written_and_as_first_written() {
        let holder = Uuid::now_v7();
        let written = serde_json::to_vec(&ClaimValue {
            holder,
            state: ClaimState::Completed,
        })
        .expect("JSON");
        let read = ClaimValue::decode(&written).expect("decodes");
        assert_eq!((read.holder, read.state), (holder, ClaimState::Completed));
        let bare = ClaimValue::decode(holder.to_string().as_bytes()).expect("decodes");
        assert_eq!((bare.holder, bare.state), (holder, ClaimState::Claimed));
        assert!(ClaimValue::decode(b"nonsense").is_none());
    }
}
