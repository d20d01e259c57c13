//! Reads of what the reactor wrote: locations, command statuses, and whether a
//! command is still waiting in the stream.
//!
//! The api's JSON routes and the web pages both read through here, so they can
//! never disagree about what a location or a status looks like.

use async_nats::jetstream::{kv, stream};
use futures::{StreamExt, TryStreamExt};
use serde::de::DeserializeOwned;
use uuid::Uuid;

use crate::messages::{Command, CommandBody, CommandStatus};
use crate::{Location, Topology, names};

/// Why a read failed. Every variant is the server's problem, not the client's.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("could not read key {key} of bucket {bucket}")]
    Entry {
        bucket: &'static str,
        key: String,
        #[source]
        source: kv::EntryError,
    },
    #[error("could not list bucket {bucket}")]
    Keys {
        bucket: &'static str,
        #[source]
        source: async_nats::Error,
    },
    #[error("could not look up the command in stream {}", names::COMMANDS_STREAM)]
    Stream(#[source] stream::LastRawMessageError),
    #[error("stored value of {what} does not decode")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// A page of locations, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationPage {
    pub locations: Vec<Location>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<Uuid>,
}

/// Read access to the buckets and the command stream.
#[derive(Debug, Clone)]
pub struct ReadModel {
    locations: kv::Store,
    statuses: kv::Store,
    commands: stream::Stream,
}

impl ReadModel {
    pub fn new(topology: &Topology) -> Self {
        Self {
            locations: topology.locations.clone(),
            statuses: topology.statuses.clone(),
            commands: topology.commands.clone(),
        }
    }

    /// One location, if it exists.
    pub async fn location(&self, id: Uuid) -> Result<Option<Location>, ReadError> {
        get_json(&self.locations, names::LOCATIONS_BUCKET, id).await
    }

    /// Up to `limit` locations older than `before` (or the newest), newest first.
    ///
    /// Ids are UUID v7, so their order is creation order. This lists every key of
    /// the bucket per call; an in-memory view replaces it when the read model grows.
    pub async fn locations(
        &self,
        limit: usize,
        before: Option<Uuid>,
    ) -> Result<LocationPage, ReadError> {
        let keys_error = |source| ReadError::Keys {
            bucket: names::LOCATIONS_BUCKET,
            source,
        };
        let mut ids: Vec<Uuid> = self
            .locations
            .keys()
            .await
            .map_err(|e| keys_error(e.into()))?
            .map_err(|e| keys_error(e.into()))
            .try_filter_map(|key| async move { Ok(Uuid::try_parse(&key).ok()) })
            .try_collect()
            .await?;
        ids.sort_unstable_by(|a, b| b.cmp(a));
        let older: Vec<Uuid> = ids
            .into_iter()
            .filter(|id| before.is_none_or(|before| *id < before))
            .take(limit + 1)
            .collect();
        let more = older.len() > limit;
        let locations: Vec<Location> = futures::stream::iter(older.into_iter().take(limit))
            .map(|id| self.location(id))
            .buffered(32)
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        let next = more.then(|| locations.last().map(|l| l.id)).flatten();
        Ok(LocationPage { locations, next })
    }

    /// A command's recorded status; `None` if the reactor has not written one.
    pub async fn command_status(&self, id: Uuid) -> Result<Option<CommandStatus>, ReadError> {
        get_json(&self.statuses, names::COMMANDS_BUCKET, id).await
    }

    /// The command as accepted into the stream, if it is there.
    pub async fn accepted_command(&self, id: Uuid) -> Result<Option<Command>, ReadError> {
        for kind in CommandBody::KINDS {
            let subject = names::command_subject(kind, id);
            match self
                .commands
                .get_last_raw_message_by_subject(&subject)
                .await
            {
                Ok(message) => {
                    return decode(&message.payload, || format!("stream message {subject}"))
                        .map(Some);
                }
                Err(e) if e.kind() == stream::LastRawMessageErrorKind::NoMessageFound => {}
                Err(e) => return Err(ReadError::Stream(e)),
            }
        }
        Ok(None)
    }
}

async fn get_json<T: DeserializeOwned>(
    bucket: &kv::Store,
    name: &'static str,
    id: Uuid,
) -> Result<Option<T>, ReadError> {
    let key = id.to_string();
    match bucket.get(key.as_str()).await {
        Ok(Some(bytes)) => decode(&bytes, || format!("{name}/{key}")).map(Some),
        Ok(None) => Ok(None),
        Err(source) => Err(ReadError::Entry {
            bucket: name,
            key,
            source,
        }),
    }
}

fn decode<T: DeserializeOwned>(
    bytes: &[u8],
    what: impl FnOnce() -> String,
) -> Result<T, ReadError> {
    serde_json::from_slice(bytes).map_err(|source| ReadError::Decode {
        what: what(),
        source,
    })
}
