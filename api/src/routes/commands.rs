//! `/api/commands/...`: a command's status, its own event stream, and one stream
//! for many commands.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use serde::Deserialize;
use uuid::Uuid;

use super::{IdParam, parse_id};
use crate::answers::StatusBody;
use crate::error::{ApiError, Problem};
use crate::outcomes::Outcome;
use crate::outcomes::finished::frame;
use crate::sse::EventStream;
use crate::state::SharedState;

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
    let ticket = state.streams.open().ok_or(ApiError::TooManyStreams)?;
    let waiter = state.outcomes.register(id);
    let stream = match waiter.current(&state.read_model).await? {
        Some(Outcome::Unknown) => return Err(ApiError::NotFound(format!("no command {id}"))),
        Some(Outcome::Finished(finished)) => {
            EventStream::new(ticket, &state.pulse, [finished.event.clone()], None)
        }
        Some(Outcome::StillPending) | None => {
            let outcome = futures::stream::once(waiter)
                .filter_map(|finished| std::future::ready(finished.map(|f| f.event.clone())));
            EventStream::new(ticket, &state.pulse, [], Some(outcome.boxed()))
        }
    };
    Ok(stream.into_response())
}

/// The most commands one stream may wait for.
pub const MAX_GROUP: usize = 100;

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
    params(("ids" = String, Query, pattern = r"^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36}){0,99}$",
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
    let ids = parse_ids(&query.ids)?;
    let ticket = state.streams.open().ok_or(ApiError::TooManyStreams)?;
    let mut group = state.outcomes.register_group(ids);
    let mut first = Vec::new();
    let mut answered = HashSet::new();
    let current = group.current(&state.read_model).await?;
    for (id, outcome) in group.command_ids().iter().zip(current) {
        match outcome {
            Some(Outcome::Finished(finished)) => first.push(finished.event.clone()),
            Some(Outcome::Unknown) => first.push(unknown_event(*id)),
            Some(Outcome::StillPending) | None => continue,
        }
        answered.insert(*id);
    }
    let waiting = group.command_ids().len() - answered.len();
    let source = (waiting > 0).then(|| {
        // What the group receives for a command answered above is not sent twice.
        futures::stream::poll_fn(move |cx| group.poll_next(cx))
            .filter(move |finished| std::future::ready(answered.insert(finished.command_id)))
            .take(waiting)
            .map(|finished| finished.event.clone())
            .boxed()
    });
    Ok(EventStream::new(ticket, &state.pulse, first, source).into_response())
}

/// The ids of `?ids=`: 1–100 distinct hyphenated UUIDs, or a 400.
fn parse_ids(text: &str) -> Result<Vec<Uuid>, ApiError> {
    let mut ids = Vec::new();
    for part in text.split(',') {
        let id = parse_id(part)?;
        if !ids.contains(&id) {
            ids.push(id);
        }
    }
    if ids.len() > MAX_GROUP {
        return Err(ApiError::BadRequest(format!(
            "a stream waits for at most {MAX_GROUP} commands"
        )));
    }
    Ok(ids)
}

/// The event for an id that names no command.
fn unknown_event(id: Uuid) -> Bytes {
    let data = format!(r#"{{"command_id":"{id}"}}"#);
    frame("unknown", &id.to_string(), data.as_bytes())
}
