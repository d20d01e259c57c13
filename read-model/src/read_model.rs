//! Reads of what the reactor wrote: locations, command statuses, and whether a
//! command is still waiting in the stream.
//!
//! The api's JSON routes and the web pages both read through here, so they can
//! never disagree about what a location or a status looks like. Listing reads
//! from a [`LocationsView`] when the process runs one.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv, stream};
use serde::de::DeserializeOwned;
use tokio::sync::OnceCell;
use uuid::Uuid;

use herald_contract::messages::{CommandBody, CommandState, CommandStatus};
use herald_contract::{Location, names};
use herald_runtime::error_chain;

use crate::locations_view::{LocationPage, LocationsView};

/// Why a read failed. Every variant is the server's problem, not the client's.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("{what} is not there (yet)")]
    Missing {
        what: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("could not read key {key} of bucket {bucket}")]
    Entry {
        bucket: &'static str,
        key: String,
        #[source]
        source: Box<herald_runtime::leader::LeaderReadError>,
    },
    #[error("the {what} view is still loading")]
    Loading { what: &'static str },
    #[error("could not look up the command in stream {}", names::COMMANDS_STREAM)]
    Stream(#[source] stream::LastRawMessageError),
    #[error("stored value of {what} does not decode")]
    Decode {
        what: String,
        #[source]
        source: serde_json::Error,
    },
}

/// What every stored command has, whatever its type and version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
pub struct Accepted {
    pub id: Uuid,
    #[serde(default)]
    pub accepted_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// A command's status, with the revision it was recorded at in the `commands`
/// bucket (`None` for a status inferred rather than read: pending).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusAt {
    pub status: CommandStatus,
    pub revision: Option<u64>,
}

/// Read access to the buckets and the command stream.
///
/// The handles are looked up on first use rather than at start-up, so a process
/// can serve (and answer 503) before NATS is reachable or the stream exists.
#[derive(Debug, Clone)]
pub struct ReadModel {
    jetstream: jetstream::Context,
    handles: Arc<OnceCell<Handles>>,
    /// Where listing reads from; the owner of the process keeps it following the bucket.
    locations_view: LocationsView,
}

/// How long a listing waits for the locations view to finish its first load
/// before answering that it is not ready.
const VIEW_LOADING_PATIENCE: Duration = Duration::from_millis(1500);

#[derive(Debug)]
pub(crate) struct Handles {
    pub(crate) locations: kv::Store,
    pub(crate) statuses: kv::Store,
    pub(crate) commands: stream::Stream,
}

impl ReadModel {
    /// Reads through `jetstream`, listing from `locations_view`, which the caller
    /// keeps following the bucket ([`LocationsView::spawn`]).
    pub fn new(jetstream: jetstream::Context, locations_view: LocationsView) -> Self {
        Self {
            jetstream,
            handles: Arc::new(OnceCell::new()),
            locations_view,
        }
    }

    /// The view listing reads from.
    pub fn locations_view(&self) -> &LocationsView {
        &self.locations_view
    }

    pub(crate) async fn handles(&self) -> Result<&Handles, ReadError> {
        self.handles
            .get_or_try_init(|| async {
                let (commands, locations, statuses) = tokio::try_join!(
                    async {
                        self.jetstream
                            .get_stream(names::COMMANDS_STREAM)
                            .await
                            .map_err(missing(names::COMMANDS_STREAM))
                    },
                    async {
                        self.jetstream
                            .get_key_value(names::LOCATIONS_BUCKET)
                            .await
                            .map_err(missing(names::LOCATIONS_BUCKET))
                    },
                    async {
                        self.jetstream
                            .get_key_value(names::COMMANDS_BUCKET)
                            .await
                            .map_err(missing(names::COMMANDS_BUCKET))
                    },
                )?;
                Ok(Handles {
                    locations,
                    statuses,
                    commands,
                })
            })
            .await
    }

    /// Checks with the server, now, that the stream and both buckets exist.
    pub async fn check(&self) -> Result<(), ReadError> {
        let exists = |what: &'static str, stream: &'static str| async move {
            self.jetstream
                .get_stream(stream)
                .await
                .map(|_| ())
                .map_err(missing(what))
        };
        tokio::try_join!(
            exists(names::COMMANDS_STREAM, names::COMMANDS_STREAM),
            exists(names::LOCATIONS_BUCKET, names::LOCATIONS_STREAM),
            exists(names::COMMANDS_BUCKET, names::STATUSES_STREAM),
        )
        .map(|_| ())
    }

    /// One location, if it exists (read from the leader: a client told that its
    /// command completed finds it).
    ///
    /// A command's outcome is committed by its status, and its location written
    /// after that: between the two (its reactor is there, or died there) the
    /// recorded status holds the location, and answers for it.
    pub async fn location(&self, id: Uuid) -> Result<Option<Location>, ReadError> {
        let handles = self.handles().await?;
        if let Some((location, _)) =
            leader_json(&handles.locations, names::LOCATIONS_BUCKET, id).await?
        {
            return Ok(Some(location));
        }
        Ok(self
            .recorded(id)
            .await?
            .filter(|known| known.status.status == CommandState::Completed)
            .and_then(|known| known.status.resource))
    }

    /// Up to `limit` locations older than `before` (or the newest), newest first.
    ///
    /// Ids are UUID v7, so their order is creation order. With a view, it waits
    /// (briefly) for the view's first load rather than answer with part of the list.
    pub async fn locations(
        &self,
        limit: usize,
        before: Option<Uuid>,
    ) -> Result<LocationPage, ReadError> {
        let view = &self.locations_view;
        if !view.wait_caught_up(VIEW_LOADING_PATIENCE).await {
            return Err(ReadError::Loading {
                what: names::LOCATIONS_BUCKET,
            });
        }
        // Read your writes: answer once the view has applied every write stored
        // before this request (sub-millisecond behind, normally).
        // If NATS cannot say, the view is still the best answer there is.
        let stored = match self.handles().await {
            Ok(handles) => match handles.locations.stream.get_info().await {
                Ok(info) => info.state.last_sequence,
                Err(error) => {
                    tracing::warn!(%error, "listing without the read-your-writes barrier");
                    0
                }
            },
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "listing without the read-your-writes barrier");
                0
            }
        };
        if !view.wait_for_revision(stored, VIEW_LOADING_PATIENCE).await {
            return Err(ReadError::Loading {
                what: names::LOCATIONS_BUCKET,
            });
        }
        Ok(view.page(limit, before))
    }

    /// A command's recorded status; `None` if the reactor has not written one.
    pub async fn command_status(&self, id: Uuid) -> Result<Option<CommandStatus>, ReadError> {
        Ok(self.recorded(id).await?.map(|known| known.status))
    }

    /// A command's recorded status with its revision in the bucket, read from the
    /// leader.
    async fn recorded(&self, id: Uuid) -> Result<Option<StatusAt>, ReadError> {
        let statuses = &self.handles().await?.statuses;
        Ok(leader_json(statuses, names::COMMANDS_BUCKET, id)
            .await?
            .map(|(status, revision)| StatusAt {
                status,
                revision: Some(revision),
            }))
    }

    /// What is known of a command: its recorded status; `pending` while it waits in
    /// the stream; `None` if it was never accepted, or is older than the retention
    /// horizon (its message and, a little later, its status are gone).
    pub async fn status_or_pending(&self, id: Uuid) -> Result<Option<CommandStatus>, ReadError> {
        Ok(self.status_at(id).await?.map(|known| known.status))
    }

    /// As [`ReadModel::status_or_pending`], with the revision a recorded status
    /// has in the bucket (which its notification carries too).
    pub async fn status_at(&self, id: Uuid) -> Result<Option<StatusAt>, ReadError> {
        if let Some(recorded) = self.recorded(id).await? {
            return Ok(Some(recorded));
        }
        // A status is written only after its command is in the stream: not there
        // means never accepted (so far).
        let Some(command) = self.accepted_command(id).await? else {
            return Ok(None);
        };
        // Finished since the first read?
        if let Some(recorded) = self.recorded(id).await? {
            return Ok(Some(recorded));
        }
        // In the stream with no outcome recorded: pending. (Statuses outlive the
        // commands in the stream, so none expired while its command stayed.)
        Ok(Some(StatusAt {
            status: CommandStatus {
                id,
                status: CommandState::Pending,
                resource: None,
                reason: None,
                errors: Vec::new(),
                accepted_at: command.accepted_at,
                completed_at: None,
            },
            revision: None,
        }))
    }

    /// The command as accepted into the stream, if it is there. Read leniently:
    /// a command this version cannot decode in full still exists.
    pub async fn accepted_command(&self, id: Uuid) -> Result<Option<Accepted>, ReadError> {
        let commands = &self.handles().await?.commands;
        for kind in CommandBody::KINDS {
            let subject = names::command_subject(kind, id);
            match commands.get_last_raw_message_by_subject(&subject).await {
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

fn missing<E: std::error::Error + Send + Sync + 'static>(
    what: &'static str,
) -> impl FnOnce(E) -> ReadError {
    move |e| ReadError::Missing {
        what,
        source: Box::new(e),
    }
}

/// The value of key `id` in `bucket` (named `name`), read from its leader, with
/// its revision.
async fn leader_json<T: DeserializeOwned>(
    bucket: &kv::Store,
    name: &'static str,
    id: Uuid,
) -> Result<Option<(T, u64)>, ReadError> {
    let key = id.to_string();
    match herald_runtime::leader::entry(bucket, &key).await {
        Ok(Some(entry)) => {
            let value = decode(&entry.value, || format!("{name}/{key}"))?;
            Ok(Some((value, entry.revision)))
        }
        Ok(None) => Ok(None),
        Err(source) => Err(ReadError::Entry {
            bucket: name,
            key,
            source: Box::new(source),
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
