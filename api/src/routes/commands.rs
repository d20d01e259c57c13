//! `/api/commands/...`: a command's status, its own event stream, and one stream
//! for many commands.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::IdParam;
use crate::answers::StatusBody;
use crate::error::{ApiError, Problem};
use crate::state::SharedState;
use crate::streams;

/// `GET /api/commands/{id}`: the recorded status, or `pending` while the command
/// waits in the stream.
#[utoipa::path(
    get,
    path = "/api/commands/{id}",
    tag = "commands",
    params(("id" = uuid::Uuid, Path, description = "Command id")),
    responses(
        (status = 200, description = "The command's status; `pending` comes with Retry-After", body = StatusBody,
            headers(("Retry-After" = String, description = "Seconds, while pending"))),
        (status = 400, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown command", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn status(
    State(state): State<SharedState>,
    IdParam(id): IdParam,
) -> Result<Response, ApiError> {
    let Some(status) = state.read_model.status_or_pending(id).await? else {
        return Err(ApiError::NotFound(format!("no command {id}")));
    };
    let pending = !status.status.is_terminal();
    let mut response = Json(StatusBody::from(status)).into_response();
    if pending {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    }
    Ok(response)
}

/// `GET /api/commands/{id}/events`: one terminal event, then the stream ends.
///
/// The waiter is registered before the status is looked at, so a completion that
/// lands while the client connects is delivered rather than missed.
#[utoipa::path(
    get,
    path = "/api/commands/{id}/events",
    tag = "commands",
    params(("id" = uuid::Uuid, Path, description = "Command id")),
    responses(
        (status = 200, description = "`text/event-stream`: one event named `completed` or `failed` whose data is the Notification and whose id is the notification id, then the stream ends. Comment heartbeats while waiting.",
            body = crate::answers::CommandEvent, content_type = "text/event-stream"),
        (status = 400, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "Unknown command", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS unavailable, or too many event streams open", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    State(state): State<SharedState>,
    IdParam(id): IdParam,
) -> Result<Response, ApiError> {
    Ok(streams::command(&state, id).await?.into_response())
}

/// `?ids=A,B,C` of a stream for many commands.
#[derive(Debug, Deserialize)]
pub struct GroupQuery {
    ids: String,
}

/// `GET /api/commands/events?ids=A,B,C`: one stream for many commands.
///
/// One event per command, as its own stream would send it, in the order they
/// finish (a command finished already is sent at once); `unknown` for an id that
/// names no command; the stream ends once every command has its event. A browser
/// that waits for many commands (many tabs) needs one connection, not one each;
/// to add a command, it opens a new stream with all the ids it still waits for,
/// and closes the old one once the new one is open.
#[utoipa::path(
    get,
    path = "/api/commands/events",
    tag = "commands",
    params(("ids" = String, Query,
        pattern = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(,[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}){0,99}$",
        description = "1–100 command ids, comma-separated")),
    responses(
        (status = 200, description = "`text/event-stream`: per command one event named `completed` or `failed` (data: the Notification, id: the notification id) or `unknown` (data: `{\"command_id\"}`), then the stream ends. Comment heartbeats while waiting.",
            body = crate::answers::GroupEvent, content_type = "text/event-stream"),
        (status = 400, description = "Not a list of 1–100 UUIDs", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS unavailable, or too many event streams open", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn group_events(
    State(state): State<SharedState>,
    query: Result<Query<GroupQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    Ok(streams::group(&state, &query.ids).await?.into_response())
}
