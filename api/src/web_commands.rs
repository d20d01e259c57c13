//! The commands of the web UI's no-JavaScript form, published as `POST
//! /api/locations` publishes them (without `Prefer: wait` or `Idempotency-Key`:
//! the form's page at `/commands/{id}` does the waiting).

use herald_contract::messages::CommandBody;
use herald_contract::{Command, NewLocation, error_chain};
use herald_web::{Commands, CommandsError};
use uuid::Uuid;

use crate::publish::PublishError;
use crate::state::SharedState;

/// [`Commands`] over the api's publisher.
#[derive(Debug, Clone)]
pub struct WebCommands {
    state: SharedState,
}

impl WebCommands {
    pub fn new(state: SharedState) -> Self {
        Self { state }
    }
}

impl Commands for WebCommands {
    async fn create_location(&self, location: NewLocation) -> Result<Uuid, CommandsError> {
        let command = Command::new(CommandBody::CreateLocation(location));
        self.state
            .publisher
            .publish(&command)
            .await
            .map_err(|error| {
                tracing::warn!(error = %error_chain(&error), "the web form could not publish a command");
                match error {
                    PublishError::Encode(_) => CommandsError::Internal,
                    _ => CommandsError::Unavailable,
                }
            })?;
        // Without an Idempotency-Key the message id is the fresh command id, so
        // the stream cannot report it as a duplicate.
        self.state.recent.insert(command.id);
        Ok(command.id)
    }
}
