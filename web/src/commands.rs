//! How the web UI sends commands without depending on the api crate.
//!
//! The api owns publishing (the stream, de-duplication, the recent-commands
//! cache); the pages only need "create this location and tell me the command
//! id". The api implements [`Commands`] and hands it to [`crate::router`].

use std::fmt;

use herald_contract::NewLocation;
use uuid::Uuid;

/// Sends commands on behalf of the no-JavaScript form.
pub trait Commands: Clone + Send + Sync + 'static {
    /// Stores a command that creates `location`, answering its id once it is in
    /// the stream (as a `202` would).
    fn create_location(
        &self,
        location: NewLocation,
    ) -> impl Future<Output = Result<Uuid, CommandsError>> + Send;
}

/// Why a command could not be sent. The implementation logs the cause; the
/// browser only learns which page to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandsError {
    /// The message system is unreachable: a 503 page, try again shortly.
    Unavailable,
    /// A bug (the command could not be encoded): a 500 page.
    Internal,
}

impl fmt::Display for CommandsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CommandsError::Unavailable => "the message system is unavailable",
            CommandsError::Internal => "the command could not be sent",
        })
    }
}

impl std::error::Error for CommandsError {}
