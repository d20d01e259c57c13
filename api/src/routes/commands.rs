//! `/api/commands/{id}`: a command's status, and its own event stream.

use std::convert::Infallible;

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use herald_contract::Notification;

use super::IdParam;
use crate::answers::StatusBody;
use crate::completion::Outcome;
use crate::error::{ApiError, Problem};
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
/// The waiter is registered before the status is read, so a completion that lands
/// while the client connects is delivered rather than missed.
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
        (status = 503, description = "NATS unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn events(
    State(state): State<SharedState>,
    IdParam(id): IdParam,
) -> Result<Response, ApiError> {
    let heartbeat = state.sse_heartbeat;
    let waiter = state.hub.register(id);
    let accepted_here = state.recent.contains(&id);
    let outcome = match waiter.current(&state.read_model, accepted_here).await? {
        Some(Outcome::Unknown) => return Err(ApiError::NotFound(format!("no command {id}"))),
        Some(outcome) => futures::future::Either::Left(std::future::ready(outcome)),
        None => futures::future::Either::Right(async move {
            let stop = state.shutdown.clone().cancelled_owned();
            waiter
                .outcome(&state.read_model, state.status_recheck, stop)
                .await
        }),
    };
    let events = futures::stream::once(outcome).filter_map(|outcome| async move {
        match outcome {
            Outcome::Finished(notification) => Some(Ok::<_, Infallible>(event(&notification))),
            Outcome::Unknown | Outcome::StillPending => None,
        }
    });
    Ok((
        // Tell proxies such as nginx not to buffer the stream.
        [(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )],
        Sse::new(events).keep_alive(KeepAlive::new().interval(heartbeat)),
    )
        .into_response())
}

fn event(notification: &Notification) -> Event {
    Event::default()
        .event(notification.status.as_str())
        .id(notification.id.to_string())
        .json_data(notification)
        .unwrap_or_else(|_| Event::default().event(notification.status.as_str()))
}
