//! `GET /api/notifications`: every command's outcome, for dashboards (the seed's
//! global feed).
//!
//! Every client of the process is fed from the process's one subscription,
//! through the feed's ring and broadcast ([`crate::outcomes::feed`]): a client
//! costs a receiver, never a JetStream consumer. Each event's `id:` is the
//! status's revision in the `commands` bucket; a client that reconnects with
//! `Last-Event-ID` is sent what it missed, from the ring, or from the bucket when
//! it is further behind than the ring reaches (the bucket's horizon is the status
//! TTL). A client too slow to keep up is told to come back, and resumes with its
//! `Last-Event-ID`.

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;

use crate::error::{ApiError, Problem};
use crate::state::SharedState;
use crate::streams;

/// Every command's outcome, as it happens.
#[utoipa::path(
    get,
    path = "/api/notifications",
    tag = "commands",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (sent by EventSource on reconnect)")),
    responses(
        (status = 200, description = "`text/event-stream` of events named `notification`, data = Notification, id = a revision to resume from",
            body = crate::answers::FeedEvent, content_type = "text/event-stream"),
        (status = 503, description = "Too many event streams open", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn feed(
    State(state): State<SharedState>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let last_event_id = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    Ok(streams::feed(&state, last_event_id).await?.into_response())
}
