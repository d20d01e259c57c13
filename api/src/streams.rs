//! The event streams the api serves, built once whoever serves them: the axum
//! routes (`routes::commands`, `routes::notifications`), or the server's fast path
//! for plain HTTP/1.1 connections ([`crate::server::front`]).
//!
//! - [`command`]: a command's own stream, one event then the end;
//! - [`group`]: one stream for many commands, one event each then the end;
//! - [`feed`]: the global feed, every outcome as it happens.
//!
//! Each takes its place under the cap on open streams first, and registers its
//! waiters before it looks at any status, so nothing lands unseen.

use std::collections::HashSet;
use std::sync::Arc;

use async_nats::jetstream::kv;
use axum::body::Bytes;
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};
use herald_contract::CommandStatus;
use herald_runtime::error_chain;
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use uuid::Uuid;

use crate::error::ApiError;
use crate::outcomes::feed::Catch;
use crate::outcomes::finished::frame;
use crate::outcomes::{Finished, Outcome};
use crate::routes::parse_id;
use crate::sse::{COME_BACK, EventStream};
use crate::state::AppState;

/// An event stream as the api serves it.
pub type Frames = EventStream<BoxStream<'static, Bytes>>;

/// The most commands one stream may wait for.
pub const MAX_GROUP: usize = 100;

/// Command `id`'s own stream: its outcome (at once if it has one), then the end.
/// An unknown command is a 404. While NATS cannot say (a timeout, an outage, a
/// leader in election) the stream tells the client to come back in a second:
/// EventSource gives up for good on an error status, and the command may well
/// exist.
pub async fn command(state: &AppState, id: Uuid) -> Result<Frames, ApiError> {
    let ticket = state.streams.open().ok_or(ApiError::TooManyStreams)?;
    let waiter = state.outcomes.register(id);
    let current = match waiter.current(&state.read_model).await {
        Ok(current) => current,
        Err(error @ herald_read_model::ReadError::Decode { .. }) => return Err(error.into()),
        Err(error) => return Ok(come_back(state, ticket, &error)),
    };
    Ok(match current {
        Some(Outcome::Unknown) => return Err(ApiError::NotFound(format!("no command {id}"))),
        Some(Outcome::Finished(finished)) => {
            EventStream::new(ticket, &state.pulse, [finished.event.clone()], None)
        }
        Some(Outcome::StillPending) | None => {
            let outcome = futures::stream::once(waiter)
                .filter_map(|finished| std::future::ready(finished.map(|f| f.event.clone())));
            EventStream::new(ticket, &state.pulse, [], Some(outcome.boxed()))
        }
    })
}

/// One stream for the commands of `ids` (`A,B,C`): each one's event, as its own
/// stream would send it, or `unknown`; the end once each has had its event.
pub async fn group(state: &AppState, ids: &str) -> Result<Frames, ApiError> {
    let ids = parse_ids(ids)?;
    let ticket = state.streams.open().ok_or(ApiError::TooManyStreams)?;
    let mut group = state.outcomes.register_group(ids);
    let mut first = Vec::new();
    let mut answered = HashSet::new();
    let current = match group.current(&state.read_model).await {
        Ok(current) => current,
        Err(error @ herald_read_model::ReadError::Decode { .. }) => return Err(error.into()),
        Err(error) => return Ok(come_back(state, ticket, &error)),
    };
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
    Ok(EventStream::new(ticket, &state.pulse, first, source))
}

/// A stream that only tells the client to come back, because NATS cannot say
/// where its commands stand right now.
fn come_back(
    state: &AppState,
    ticket: crate::sse::Ticket,
    error: &herald_read_model::ReadError,
) -> Frames {
    tracing::warn!(error = %error_chain(error), "a stream cannot be opened now; the client will come back");
    EventStream::new(ticket, &state.pulse, [COME_BACK], None)
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

/// The global feed, resumed after `last_event_id` if the client sent one.
pub async fn feed(state: &AppState, last_event_id: Option<&str>) -> Result<Frames, ApiError> {
    let ticket = state.streams.open().ok_or(ApiError::TooManyStreams)?;
    // A Last-Event-ID this feed did not hand out is ignored: the client starts live.
    let after = last_event_id.and_then(|v| v.trim().parse::<u64>().ok());
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
    Ok(EventStream::new(ticket, &state.pulse, first, source))
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
