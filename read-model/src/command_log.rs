//! Reads of the command side: a command stored in the stream by sequence (for
//! idempotent retries), and the history of command statuses (for the global feed).

use async_nats::jetstream::kv;

use herald_contract::{Command, names};

use crate::read_model::{ReadError, ReadModel};

impl ReadModel {
    /// The command stored at `sequence` of the `COMMANDS` stream.
    pub async fn command_at(&self, sequence: u64) -> Result<Command, ReadError> {
        let message = self
            .handles()
            .await?
            .commands
            .get_raw_message(sequence)
            .await
            .map_err(|e| ReadError::Missing {
                what: names::COMMANDS_STREAM,
                source: Box::new(e),
            })?;
        serde_json::from_slice(&message.payload).map_err(|source| ReadError::Decode {
            what: format!("command at sequence {sequence}"),
            source,
        })
    }

    /// Every status written from `after + 1` on (the statuses still in the bucket),
    /// then live; or, without `after`, only what is written from now on. Entries carry
    /// their revision, which the feed uses as its event id.
    pub async fn watch_statuses(&self, after: Option<u64>) -> Result<kv::Watch, ReadError> {
        let statuses = &self.handles().await?.statuses;
        // An id past every revision there can be (u64::MAX) starts live.
        let watch = match after.and_then(|revision| revision.checked_add(1)) {
            Some(next) => statuses.watch_all_from_revision(next).await,
            None => statuses.watch_all().await,
        };
        watch.map_err(|e| ReadError::Missing {
            what: names::COMMANDS_BUCKET,
            source: Box::new(e),
        })
    }
}
