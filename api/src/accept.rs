//! Accepting a command: what every POST that creates something does once its body
//! is valid.
//!
//! 1. With `Prefer: wait`, register a waiter *before* publishing, so even the
//!    fastest reactor cannot finish unseen.
//! 2. Publish to the stream (de-duplicated by `Idempotency-Key` when given).
//! 3. A duplicate is a client's retry: answer for the command stored first (as a
//!    finished command if it has finished), or 422 if the body differs.
//! 4. Answer `201` (or the failure) if the command finished within the wait,
//!    otherwise `202` with where to look next.

use axum::Json;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use herald_contract::messages::CommandBody;
use herald_contract::{Command, CommandState, CommandStatus, Notification};
use serde::Serialize;
use uuid::Uuid;

use crate::completion::Outcome;
use crate::error::ApiError;
use crate::prefer::{self, Wait};
use crate::publish::PublishError;
use crate::routes::CommandLinks;
use crate::state::SharedState;

/// Longest `Idempotency-Key` accepted.
const MAX_KEY_CHARS: usize = 255;

/// The 202 answer: the command is in the stream and will be processed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    id: Uuid,
    status: CommandState,
    links: CommandLinks,
}

/// A command's status with its links (the 201 answer, and `GET /api/commands/{id}`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    #[serde(flatten)]
    pub status: CommandStatus,
    pub links: CommandLinks,
}

/// Publishes a command made of `body` and answers as DESIGN.md says.
pub async fn accept(
    state: &SharedState,
    headers: &HeaderMap,
    body: CommandBody,
) -> Result<Response, ApiError> {
    let mut command = Command::new(body);
    command.idempotency_key = idempotency_key(headers)?;
    let wait = prefer::requested_wait(headers);
    let waiter = wait.as_ref().map(|_| state.hub.register(command.id));

    let ack = state
        .publisher
        .publish(&command)
        .await
        .map_err(|error| match error {
            PublishError::Encode(_) => ApiError::Internal(error.into()),
            _ => ApiError::Unavailable(error.into()),
        })?;
    let (id, accepted_at, waiter) = if ack.duplicate {
        drop(waiter); // Registered for an id that was not stored.
        let original = state.read_model.command_at(ack.sequence).await?;
        if original.body != command.body {
            return Err(ApiError::IdempotencyMismatch {
                key: command.idempotency_key.unwrap_or_default(),
                command_id: original.id,
            });
        }
        // A retry of a command that has finished is answered as a wait for it
        // would have been: 201, or the failure.
        let waiter = state.hub.register(original.id);
        if let Some(Outcome::Finished(notification)) =
            waiter.current(&state.read_model, true).await?
        {
            return finished(&notification, original.accepted_at, wait.as_ref());
        }
        (
            original.id,
            original.accepted_at,
            wait.as_ref().map(|_| waiter),
        )
    } else {
        (command.id, command.accepted_at, waiter)
    };
    state.recent.insert(id);

    if let (Some(wait), Some(waiter)) = (&wait, waiter) {
        // The waiter was registered before the command was published (or, for a
        // retry, before its status was read): no outcome can slip past it.
        let stop = tokio::time::sleep(wait.duration);
        let outcome = waiter
            .outcome(&state.read_model, state.status_recheck, stop)
            .await;
        if let Outcome::Finished(notification) = outcome {
            return finished(&notification, accepted_at, Some(wait));
        }
    }

    let status = CommandState::Pending;
    let links = CommandLinks::for_command(id);
    let location = header_value(&links.status)?;
    let body = Accepted { id, status, links };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

/// The answer for a command that finished while the client waited.
fn finished(
    notification: &Notification,
    accepted_at: DateTime<Utc>,
    wait: Option<&Wait>,
) -> Result<Response, ApiError> {
    if notification.status != CommandState::Completed {
        return Err(ApiError::CommandFailed(Box::new(notification.clone())));
    }
    let id = notification.command_id;
    let status = CommandStatus {
        id,
        status: CommandState::Completed,
        resource: notification.data.location.clone(),
        reason: None,
        errors: Vec::new(),
        accepted_at: Some(accepted_at),
        completed_at: Some(notification.created_at),
    };
    let links = CommandLinks::for_command(id);
    let mut response = (
        StatusCode::CREATED,
        [(header::LOCATION, header_value(&links.resource)?)],
        Json(StatusBody { status, links }),
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
    let bad = || {
        ApiError::BadRequest(format!(
            "Idempotency-Key must be 1 to {MAX_KEY_CHARS} visible ASCII characters"
        ))
    };
    let key = value.to_str().map_err(|_| bad())?.trim();
    if key.is_empty() || key.len() > MAX_KEY_CHARS || !key.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(bad());
    }
    Ok(Some(key.to_owned()))
}

fn header_value(text: &str) -> Result<HeaderValue, ApiError> {
    HeaderValue::try_from(text).map_err(|error| ApiError::Internal(error.into()))
}
