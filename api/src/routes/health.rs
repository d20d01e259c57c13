//! Liveness and readiness, for process supervisors and load balancers.

use std::sync::atomic::Ordering;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::SharedState;

/// The process is up and serving HTTP.
#[utoipa::path(get, path = "/healthz", tag = "operations",
    responses((status = 200, description = "Alive", body = Object)))]
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The api can accept commands: NATS is connected, the stream and buckets are
/// there (checked with the server on every call), and the process follows them.
#[utoipa::path(get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Ready to accept commands", body = Object),
        (status = 503, description = "Not ready, with the reason", body = Object),
    ))]
pub async fn ready(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let connection = state.client.connection_state();
    let problem = if connection != async_nats::connection::State::Connected {
        Some(format!("NATS is {connection}"))
    } else if !state.topology_ready.load(Ordering::Acquire) {
        Some("the stream and buckets are being set up".to_owned())
    } else if !state.read_model.locations_view().is_caught_up() {
        Some("the locations view is loading".to_owned())
    } else if state.outcomes.next_revision().is_none() {
        // Until the process knows where the statuses stand, an outcome it hears
        // cannot be placed in the global feed's order.
        Some("the command statuses are not followed yet".to_owned())
    } else {
        state.read_model.check().await.err().map(|e| e.to_string())
    };
    match problem {
        None => (StatusCode::OK, Json(json!({"status": "ready"}))),
        Some(reason) => (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({"status": "unavailable", "reason": reason})),
        ),
    }
}
