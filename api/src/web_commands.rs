//! The web UI's commands: the no-JavaScript form is published as `POST
//! /api/locations` publishes (through [`accept::submit`], with the form's
//! idempotency key), and its page at `/commands/{id}` waits as an event stream
//! does (register, read, wait).

use std::time::Duration;

use herald_contract::messages::CommandBody;
use herald_contract::{Command, CommandState, CommandStatus, NewLocation};
use herald_runtime::error_chain;
use herald_web::{Commands, CommandsError};
use uuid::Uuid;

use crate::accept;
use crate::error::ApiError;
use crate::outcomes::Outcome;
use crate::state::SharedState;

/// [`Commands`] over the api's publisher and outcomes.
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
    async fn create_location(
        &self,
        location: NewLocation,
        idempotency_key: Option<String>,
    ) -> Result<Uuid, CommandsError> {
        let mut command = Command::new(CommandBody::CreateLocation(location));
        command.idempotency_key = idempotency_key;
        match accept::submit(&self.state, &command, None).await {
            Ok(submitted) => Ok(submitted.id),
            Err(ApiError::IdempotencyMismatch { .. }) => Err(CommandsError::KeyReused),
            Err(error) => Err(failed("publish a command", &error)),
        }
    }

    async fn outcome_within(
        &self,
        id: Uuid,
        within: Duration,
    ) -> Result<Option<CommandStatus>, CommandsError> {
        let state = &self.state;
        let waiter = state.outcomes.register(id);
        let outcome = match waiter.current(&state.read_model).await {
            Ok(Some(outcome)) => outcome,
            Ok(None) => {
                let stop = async {
                    tokio::select! {
                        () = tokio::time::sleep(within) => {}
                        () = state.shutdown.cancelled() => {}
                    }
                };
                waiter.outcome(stop).await
            }
            Err(error) => return Err(failed("read a command's status", &error.into())),
        };
        Ok(match outcome {
            Outcome::Unknown => None,
            Outcome::Finished(finished) => {
                let notification = finished.notification().map_err(|error| {
                    failed("read an outcome", &ApiError::Internal(error.into()))
                })?;
                Some(CommandStatus::announced(&notification, None))
            }
            Outcome::StillPending => Some(CommandStatus {
                id,
                status: CommandState::Pending,
                resource: None,
                reason: None,
                errors: Vec::new(),
                accepted_at: None,
                completed_at: None,
            }),
        })
    }
}

/// Logs why the web UI's request failed, and says which page to show.
fn failed(what: &str, error: &ApiError) -> CommandsError {
    tracing::warn!(error = %error_chain(error), "the web UI could not {what}");
    match error {
        ApiError::Internal(_) => CommandsError::Internal,
        _ => CommandsError::Unavailable,
    }
}
