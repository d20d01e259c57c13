//! How the web UI sends commands and waits for them without depending on the
//! api crate.
//!
//! The api owns publishing (the stream, de-duplication by `Idempotency-Key`) and
//! waiting (its hub of notifications); the pages only need "create this location"
//! and "tell me how this command ended, waiting up to so long". The api implements
//! [`Commands`] and hands it to [`crate::router`].

use std::fmt;
use std::time::Duration;

use herald_contract::{CommandStatus, NewLocation};
use uuid::Uuid;

/// Sends commands on behalf of the no-JavaScript form, and waits for them.
pub trait Commands: Clone + Send + Sync + 'static {
    /// Stores a command that creates `location`, answering its id once it is in
    /// the stream (as a `202` would). A retry with the same `idempotency_key`
    /// and location answers the id of the command stored first.
    fn create_location(
        &self,
        location: NewLocation,
        idempotency_key: Option<String>,
    ) -> impl Future<Output = Result<Uuid, CommandsError>> + Send;

    /// The command's status once it has finished, or as it is after waiting up to
    /// `within` (`pending`); `None` if there is no such command. The wait is
    /// registered before the status is read, so no outcome slips past it.
    fn outcome_within(
        &self,
        id: Uuid,
        within: Duration,
    ) -> impl Future<Output = Result<Option<CommandStatus>, CommandsError>> + Send;
}

/// Why a command could not be sent. The implementation logs the cause; the
/// browser only learns which page to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandsError {
    /// The message system is unreachable: a 503 page, try again shortly.
    Unavailable,
    /// The form's idempotency key was already used with other values (the page
    /// was restored from the history and edited): the form again, with a new key.
    KeyReused,
    /// A bug (the command could not be encoded): a 500 page.
    Internal,
}

impl fmt::Display for CommandsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandsError::Unavailable => "the message system is unavailable",
            CommandsError::KeyReused => "the form was already submitted with other values",
            CommandsError::Internal => "the command could not be sent",
        })
    }
}

impl std::error::Error for CommandsError {}
