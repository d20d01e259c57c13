//! `GET /api/notifications`: every command's outcome, for dashboards (the seed's
//! global feed).
//!
//! The feed is read from the `commands` bucket rather than from the core
//! notifications, because the bucket keeps history: each event's `id:` is the
//! status's revision, and a client that reconnects with `Last-Event-ID` is sent
//! what it missed. The horizon is what the bucket still holds: statuses live for
//! `COMMAND_STATUS_TTL_SECS` (24 h by default), the latest status of each command.

use std::convert::Infallible;

use async_nats::jetstream::kv;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use herald_contract::{CommandStatus, Notification};
use herald_runtime::error_chain;

use crate::state::SharedState;

/// What the feed tells EventSource to wait before reconnecting.
const RECONNECT_AFTER: std::time::Duration = std::time::Duration::from_secs(1);

/// Every command's outcome, as it happens.
#[utoipa::path(
    get,
    path = "/api/notifications",
    tag = "commands",
    params(("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (sent by EventSource on reconnect)")),
    responses(
        (status = 200, description = "`text/event-stream` of events named `notification`, data = Notification, id = a revision to resume from",
            body = crate::answers::FeedEvent, content_type = "text/event-stream"),
    )
)]
pub async fn feed(State(state): State<SharedState>, headers: HeaderMap) -> Response {
    // A Last-Event-ID this feed did not hand out is ignored: the client starts live.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    // Reconnect quickly whenever this response ends.
    let reconnect = futures::stream::once(std::future::ready(Ok(
        Event::default().retry(RECONNECT_AFTER)
    )));
    let events = match state.read_model.watch_statuses(after).await {
        Ok(watch) => reconnect.chain(notifications(watch)).boxed(),
        // EventSource gives up for good on an error status, so a dashboard would
        // not recover by itself. A 200 that ends at once keeps it reconnecting,
        // with its Last-Event-ID, until NATS is back.
        Err(error) => {
            tracing::warn!(error = %error_chain(&error), "feed unavailable; the client will reconnect");
            reconnect.boxed()
        }
    };
    let events = events.take_until(state.shutdown.clone().cancelled_owned());
    (
        [(
            HeaderName::from_static("x-accel-buffering"),
            HeaderValue::from_static("no"),
        )],
        Sse::new(events).keep_alive(KeepAlive::new().interval(state.sse_heartbeat)),
    )
        .into_response()
}

/// The notification events of a status watch. A broken watch ends them; the
/// client reconnects with Last-Event-ID and resumes where it was.
fn notifications(watch: kv::Watch) -> impl Stream<Item = Result<Event, Infallible>> {
    watch
        .take_while(|entry| {
            if let Err(error) = entry {
                tracing::warn!(%error, "status watch failed; ending the feed");
            }
            std::future::ready(entry.is_ok())
        })
        .filter_map(|entry| async move {
            let entry = entry.ok()?;
            if entry.operation != kv::Operation::Put {
                return None; // Deletes, purges and expiries announce nothing.
            }
            let status: CommandStatus = serde_json::from_slice(&entry.value).ok()?;
            let notification = Notification::for_status(&status)?;
            Event::default()
                .event("notification")
                .id(entry.revision.to_string())
                .json_data(&notification)
                .ok()
                .map(Ok::<_, Infallible>)
        })
}
