//! Liveness and readiness, for process supervisors and load balancers.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::state::SharedState;

/// The process is up and serving HTTP.
pub async fn live() -> Json<Value> {
    Json(json!({"status": "ok"}))
}

/// The api can accept commands: its NATS connection is up.
pub async fn ready(State(state): State<SharedState>) -> (StatusCode, Json<Value>) {
    let connection = state.client.connection_state();
    let ready = connection == async_nats::connection::State::Connected;
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(
            json!({"status": if ready { "ready" } else { "unavailable" }, "nats": connection.to_string()}),
        ),
    )
}
