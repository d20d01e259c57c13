//! The JSON and SSE routes under `/api`, plus health checks. One file per resource.

pub(crate) mod commands;
pub(crate) mod health;
pub(crate) mod locations;
pub(crate) mod notifications;

use axum::Router;
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use axum::routing::get;
use serde::Serialize;
use uuid::Uuid;

use crate::error::ApiError;
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
        .route("/api/notifications", get(notifications::feed))
        .route("/api/openapi.json", get(crate::openapi::document))
        .route("/healthz", get(health::live))
        .route("/readyz", get(health::ready))
}

/// Where a client goes next for a command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
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

/// Parses an id, answering 400 for anything that is not a UUID.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::try_parse(raw).map_err(|_| ApiError::BadRequest(format!("{raw:?} is not a UUID")))
}

/// The `{id}` of a path, as a UUID; anything else is a 400 problem.
#[derive(Debug, Clone, Copy)]
pub struct IdParam(pub Uuid);

impl<S: Send + Sync> FromRequestParts<S> for IdParam {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Path(raw) = Path::<String>::from_request_parts(parts, state).await?;
        parse_id(&raw).map(IdParam)
    }
}
