//! Accepting a command: what every POST that creates something does once its body
//! is valid (the JSON api's, and the web form's through [`submit`]).
//!
//! 1. With `Prefer: wait`, register a waiter *before* publishing, so even the
//!    fastest reactor cannot finish unseen.
//! 2. Publish to the stream (de-duplicated by `Idempotency-Key` when given).
//! 3. A duplicate of another command is a client's retry: answer for the command
//!    stored first (as a finished command if it has finished), or 422 if the body
//!    differs. A duplicate of this very command is the api's own retry after a
//!    lost ack, and changes nothing.
//! 4. Answer `201` (or the failure) if the command finished within the wait,
//!    otherwise `202` with where to look next.

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use herald_contract::messages::{CommandBody, IDEMPOTENCY_KEY_MAX, is_valid_idempotency_key};
use herald_contract::{Command, CommandState, CommandStatus};
use uuid::Uuid;

use crate::answers::{Accepted, CommandLinks, StatusBody};
use crate::error::ApiError;
use crate::outcomes::{Finished, Outcome};
use crate::prefer::{self, Wait};
use crate::publish::PublishError;
use crate::state::SharedState;

/// A command in the stream.
#[derive(Debug, Clone, Copy)]
pub struct Submitted {
    /// The stored command's id: this command's, or for a client's retry, the
    /// id of the command its key stored first.
    pub id: Uuid,
    pub accepted_at: DateTime<Utc>,
    /// Whether a command stored earlier answers for this one.
    pub retry: bool,
}

/// Publishes `command`; a client's retry (same key, same body) is answered with
/// the command stored first, the same key with another body is a 422.
pub async fn submit(
    state: &SharedState,
    command: &Command,
    request_id: Option<&str>,
) -> Result<Submitted, ApiError> {
    let ack = state
        .publisher
        .publish(command, request_id)
        .await
        .map_err(|error| match error {
            PublishError::Encode(_) => ApiError::Internal(error.into()),
            PublishError::TimedOut => ApiError::MaybeStored {
                command_id: command.id,
                cause: error.into(),
            },
            PublishError::Refused(_) => ApiError::Unavailable(error.into()),
        })?;
    let this = Submitted {
        id: command.id,
        accepted_at: command.accepted_at,
        retry: false,
    };
    // Without a key the message id is this command's own: a duplicate can only
    // be our own retry after a lost ack.
    if !ack.duplicate || command.idempotency_key.is_none() {
        metrics::counter!("herald_commands_accepted_total").increment(1);
        state.outcomes.accepted(command.id);
        return Ok(this);
    }
    let original = state.read_model.command_at(ack.sequence).await?;
    if original.id == command.id {
        state.outcomes.accepted(command.id);
        return Ok(this);
    }
    if original.body != command.body {
        return Err(ApiError::IdempotencyMismatch {
            key: command.idempotency_key.clone().unwrap_or_default(),
            command_id: original.id,
        });
    }
    Ok(Submitted {
        id: original.id,
        accepted_at: original.accepted_at,
        retry: true,
    })
}

/// Publishes a command made of `body` and answers as DESIGN.md says.
pub async fn accept(
    state: &SharedState,
    headers: &HeaderMap,
    body: CommandBody,
) -> Result<Response, ApiError> {
    let mut command = Command::new(body);
    command.idempotency_key = idempotency_key(headers)?;
    // A wait holds the answer (and the connection): beyond the cap, the POST is
    // answered at once, as RFC 7240 lets a server do with a preference.
    let hold = prefer::requested_wait(headers).and_then(|wait| Some((wait, state.holds.open()?)));
    let wait = hold.as_ref().map(|(wait, _)| wait);
    let waiter = wait.map(|_| state.outcomes.register(command.id));

    let request_id = headers
        .get(crate::observe::REQUEST_ID)
        .and_then(|id| id.to_str().ok());
    // Before the publish, so a 503 whose command may be stored names it too.
    tracing::Span::current().record("command_id", tracing::field::display(command.id));
    let submitted = submit(state, &command, request_id).await?;
    if submitted.id != command.id {
        // A retry: the command stored first is the one this request is about.
        tracing::Span::current().record("command_id", tracing::field::display(submitted.id));
    }
    let waiter = if submitted.retry {
        drop(waiter); // Registered for an id that was not stored.
        // A retry of a command that has finished is answered as a wait for it
        // would have been: 201, or the failure.
        let waiter = state.outcomes.register(submitted.id);
        if let Some(Outcome::Finished(finished)) = waiter.current(&state.read_model).await? {
            return answer(&finished, submitted.accepted_at, wait);
        }
        wait.map(|_| waiter)
    } else {
        waiter
    };

    if let (Some(wait), Some(waiter)) = (wait, waiter) {
        // The waiter was registered before the command was published (or, for a
        // retry, before its status was read): no outcome can slip past it.
        let stop = async {
            tokio::select! {
                () = tokio::time::sleep(wait.duration) => {}
                () = state.shutdown.cancelled() => {}
            }
        };
        if let Outcome::Finished(finished) = waiter.outcome(stop).await {
            return answer(&finished, submitted.accepted_at, Some(wait));
        }
    }

    let accepted = Accepted::pending(submitted.id);
    let location = header_value(&accepted.links.status)?;
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(accepted),
    )
        .into_response())
}

/// The answer for a command that finished while the client waited.
fn answer(
    finished: &Finished,
    accepted_at: DateTime<Utc>,
    wait: Option<&Wait>,
) -> Result<Response, ApiError> {
    let notification = finished
        .notification()
        .map_err(|error| ApiError::Internal(error.into()))?;
    if notification.status != CommandState::Completed {
        return Err(ApiError::CommandFailed(Box::new(notification)));
    }
    let status = CommandStatus::announced(&notification, Some(accepted_at));
    let location = header_value(&CommandLinks::for_command(status.id).resource)?;
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(StatusBody::from(status)),
    )
        .into_response();
    if let Some(applied) = wait.and_then(|wait| wait.applied.as_ref()) {
        response.headers_mut().insert(
            HeaderName::from_static("preference-applied"),
            header_value(applied)?,
        );
    }
    Ok(response)
}

/// The `Idempotency-Key` header: 1–255 visible ASCII characters, or a 400.
fn idempotency_key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    let Some(value) = headers.get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key) if is_valid_idempotency_key(key) => Ok(Some(key.to_owned())),
        _ => Err(ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {IDEMPOTENCY_KEY_MAX} visible ASCII characters"
        ))),
    }
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(text).map_err(|error| ApiError::Internal(error.into()))
}
