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

use std::sync::Arc;

use async_nats::jetstream::kv;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use herald_contract::CommandStatus;
use herald_runtime::error_chain;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;

use crate::error::{ApiError, Problem};
use crate::outcomes::Finished;
use crate::outcomes::feed::Catch;
use crate::sse::{COME_BACK, EventStream};
use crate::state::SharedState;

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
    let ticket = state.streams.open().ok_or(ApiError::TooManyStreams)?;
    // A Last-Event-ID this feed did not hand out is ignored: the client starts live.
    let after = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    let (catch, receiver) = state.outcomes.feed().join(after);
    // Reconnect quickly whenever this response ends.
    let mut first = vec![COME_BACK];
    let mut sent = after.unwrap_or(0);
    let source: Option<BoxStream<'static, Bytes>> = match catch {
        Catch::Live => Some(live(receiver, sent).boxed()),
        Catch::Ring(backlog) => {
            first.extend(frames(&backlog, &mut sent));
            Some(live(receiver, sent).boxed())
        }
        Catch::Bucket { until, then } => match state.read_model.watch_statuses(after).await {
            Ok(watch) => {
                let history = history(watch, until);
                let then = futures::stream::iter(then);
                let resumed = history.chain(then).filter_map(move |finished| {
                    // Each revision once, in order, whichever source had it.
                    let event = (finished.revision > Some(sent))
                        .then(|| finished.feed_event())
                        .flatten();
                    if let Some(revision) = finished.revision.filter(|_| event.is_some()) {
                        sent = revision;
                    }
                    std::future::ready(event)
                });
                Some(resumed.chain(live(receiver, u64::MAX)).boxed())
            }
            // The bucket cannot be read now (NATS is down): EventSource gives up
            // for good on an error status, so a 200 that ends at once keeps it
            // coming back, with its Last-Event-ID, until it can be served.
            Err(error) => {
                tracing::warn!(error = %error_chain(&error), "feed history unavailable; the client will reconnect");
                None
            }
        },
    };
    Ok(EventStream::new(ticket, &state.pulse, first, source).into_response())
}

/// The frames of `backlog` after revision `sent`, moving `sent` on.
fn frames(backlog: &[Arc<Finished>], sent: &mut u64) -> Vec<Bytes> {
    backlog
        .iter()
        .filter_map(|finished| {
            let revision = finished.revision.filter(|revision| *revision > *sent)?;
            *sent = revision;
            finished.feed_event()
        })
        .collect()
}

/// The live outcomes after revision `sent` (any, if `sent` is `u64::MAX`: what
/// came before was filtered already). A client that lags too far behind is told
/// to come back, and its stream ends.
fn live(
    receiver: tokio::sync::broadcast::Receiver<Arc<Finished>>,
    sent: u64,
) -> impl Stream<Item = Bytes> + Send + 'static {
    let mut lagged = false;
    BroadcastStream::new(receiver)
        .take_while(move |next| {
            let go_on = !lagged;
            lagged |= matches!(next, Err(BroadcastStreamRecvError::Lagged(_)));
            std::future::ready(go_on)
        })
        .filter_map(move |next| {
            std::future::ready(match next {
                Ok(finished) if sent == u64::MAX || finished.revision > Some(sent) => {
                    finished.feed_event()
                }
                Ok(_) => None,
                Err(BroadcastStreamRecvError::Lagged(missed)) => {
                    tracing::info!(missed, "a feed client fell behind; it will reconnect");
                    Some(COME_BACK)
                }
            })
        })
}

/// How long the bucket may stay silent before its history is taken as read: the
/// revisions a client missed may have expired, leaving nothing to say so.
const HISTORY_IDLE: std::time::Duration = std::time::Duration::from_secs(1);

/// The statuses recorded in the bucket, read by `watch` from the client's
/// `Last-Event-ID` on, up to revision `until` or the end of the bucket as it
/// stands, as outcomes. The watch (a JetStream consumer) ends with it.
fn history(watch: kv::Watch, until: u64) -> impl Stream<Item = Arc<Finished>> + Send + 'static {
    futures::stream::unfold(Some(watch), move |watch| async move {
        let mut watch = watch?;
        loop {
            let entry = match tokio::time::timeout(HISTORY_IDLE, watch.next()).await {
                Ok(Some(Ok(entry))) => entry,
                Ok(Some(Err(error))) => {
                    tracing::warn!(%error, "status watch failed; ending the history");
                    return None;
                }
                Ok(None) | Err(_) => return None,
            };
            if entry.revision > until {
                return None;
            }
            let last = entry.revision == until || entry.delta == 0;
            // Deletes, purges and expiries announce nothing.
            let finished = (entry.operation == kv::Operation::Put)
                .then(|| serde_json::from_slice::<CommandStatus>(&entry.value).ok())
                .flatten()
                .and_then(|status| Finished::from_status(&status, Some(entry.revision)));
            match finished {
                Some(finished) => return Some((Arc::new(finished), (!last).then_some(watch))),
                None if last => return None,
                None => continue,
            }
        }
    })
}
