//! What an operator sees of each request: one log line at its end, its metrics,
//! and a request id that ties them to the client.
//!
//! The id is the client's `X-Request-Id` when it sends a valid one (1–64 of
//! `A-Z a-z 0-9 - _ .`), otherwise a fresh UUID; it is answered in
//! `X-Request-Id` and logged as `request_id`. Routes are logged and counted by
//! their pattern (`/api/commands/{id}`), never by the path a client chose, so
//! the metrics' label values stay few.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::SharedState;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id of a request: the client's if valid, else a new one.
pub fn request_id(sent: Option<&HeaderValue>) -> HeaderValue {
    sent.filter(|value| is_valid(value.as_bytes()))
        .cloned()
        .unwrap_or_else(|| {
            HeaderValue::try_from(uuid::Uuid::new_v4().to_string()).expect("a UUID is a header")
        })
}

pub fn is_valid(id: &[u8]) -> bool {
    (1..=64).contains(&id.len())
        && id
            .iter()
            .all(|byte| byte.is_ascii_alphanumeric() || b"-_.".contains(byte))
}

/// Records one finished request: a log line and its metrics.
pub fn record(method: &str, route: &str, status: u16, started: Instant, request_id: &str) {
    let latency = started.elapsed();
    metrics::counter!(
        "herald_http_requests_total",
        "method" => method.to_owned(),
        "route" => route.to_owned(),
        "status" => status.to_string()
    )
    .increment(1);
    metrics::histogram!("herald_http_request_duration_seconds", "route" => route.to_owned())
        .record(latency.as_secs_f64());
    tracing::info!(
        target: "herald::request",
        method,
        route,
        status,
        // To the microsecond: a float of the nanoseconds prints as 0.015797000000000002.
        latency_ms = latency.as_micros() as f64 / 1000.0,
        request_id,
        "request"
    );
}

/// The middleware: an id in, the same id out, one line and the metrics at the end.
pub async fn requests(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request_id(request.headers().get(&REQUEST_ID));
    request.headers_mut().insert(REQUEST_ID, id.clone());
    let method = request.method().as_str().to_owned();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    // `command_id` is filled in by a handler that stores a command.
    let span = tracing::info_span!(
        "request",
        request_id = %id.to_str().unwrap_or_default(),
        command_id = tracing::field::Empty
    );
    let mut response = tracing::Instrument::instrument(next.run(request), span.clone()).await;
    response.headers_mut().insert(REQUEST_ID, id.clone());
    span.in_scope(|| {
        record(
            &method,
            &route,
            response.status().as_u16(),
            started,
            id.to_str().unwrap_or_default(),
        );
    });
    response
}

/// `GET /metrics`: Prometheus text. Gauges of what is open now are set as it
/// is scraped, from the counts the process keeps anyway.
pub async fn metrics(State(state): State<SharedState>) -> impl IntoResponse {
    // Feed clients are event streams too: counted in both.
    metrics::gauge!("herald_event_streams_open").set(state.streams.count() as f64);
    metrics::gauge!("herald_feed_clients").set(state.outcomes.feed().clients() as f64);
    metrics::gauge!("herald_wait_holds_open").set(state.holds.count() as f64);
    metrics::gauge!("herald_waiters").set(state.outcomes.waiting() as f64);
    let connected = state.client.connection_state() == async_nats::connection::State::Connected;
    metrics::gauge!("herald_nats_connected").set(if connected { 1.0 } else { 0.0 });
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        herald_runtime::metrics::render(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_client_id_is_kept_and_anything_else_replaced() {
        let kept = HeaderValue::from_static("checkout-42.a_b");
        assert_eq!(request_id(Some(&kept)), kept);
        for bad in ["", "has space", "ünï", &"x".repeat(65)] {
            let sent = HeaderValue::from_str(bad).unwrap_or(HeaderValue::from_static("bad value"));
            let made = request_id(Some(&sent));
            assert_ne!(made, sent);
            assert!(uuid::Uuid::try_parse(made.to_str().expect("ascii")).is_ok());
        }
        assert!(request_id(None).len() == 36);
    }
}
