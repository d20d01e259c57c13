//! The JSON and SSE routes under `/api`, plus health checks. One file per resource.

mod commands;
mod health;
mod locations;

use axum::Router;
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use crate::state::SharedState;

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route(
            "/api/locations",
            get(locations::list).post(locations::create),
        )
        .route("/api/locations/{id}", get(locations::show))
        .route("/api/commands/{id}", get(commands::status))
        .route("/api/commands/{id}/events", get(commands::events))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
}

/// Where a client goes next for a command.
#[derive(Debug, Serialize)]
pub struct CommandLinks {
    #[serde(rename = "self")]
    pub status: String,
    pub events: String,
    pub resource: String,
}

impl CommandLinks {
    pub fn for_command(id: Uuid) -> Self {
        Self {
            status: format!("/api/commands/{id}"),
            events: format!("/api/commands/{id}/events"),
            resource: format!("/api/locations/{id}"),
        }
    }
}

/// Parses a path id, answering 400 for anything that is not a UUID.
pub fn parse_id(raw: &str) -> Result<Uuid, crate::error::ApiError> {
    Uuid::try_parse(raw)
        .map_err(|_| crate::error::ApiError::BadRequest(format!("{raw:?} is not a UUID")))
}
