//! The JSON and SSE routes under `/api`, plus health checks: one file per
//! resource, and [`router`], the one list that both routes them and documents
//! them in the OpenAPI document.

pub(crate) mod commands;
pub(crate) mod health;
pub(crate) mod locations;
pub(crate) mod notifications;

use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::IntoResponse;
use axum::{Extension, Router};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::error::ApiError;
use crate::openapi::ApiDoc;
use crate::state::SharedState;

/// Every operation of the api, routed and documented; the document itself is
/// served at `/api/openapi.json`.
pub fn router() -> Router<SharedState> {
    let (router, document) = documented();
    // Written once: the document does not change while the process runs.
    let json = serde_json::to_vec(&document).unwrap_or_default();
    router.layer(Extension(Document(Bytes::from(json))))
}

/// The OpenAPI document as served.
#[derive(Debug, Clone)]
struct Document(Bytes);

/// The routes and the OpenAPI document they make.
pub fn documented() -> (Router<SharedState>, utoipa::openapi::OpenApi) {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(locations::create, locations::list))
        .routes(routes!(locations::show))
        .routes(routes!(commands::status))
        .routes(routes!(commands::events))
        .routes(routes!(commands::group_events))
        .routes(routes!(notifications::feed))
        .routes(routes!(health::live))
        .routes(routes!(health::ready))
        .routes(routes!(document))
        .split_for_parts()
}

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
async fn document(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json)
}

/// Parses an id, answering 400 for anything that is not a hyphenated UUID.
pub fn parse_id(raw: &str) -> Result<Uuid, ApiError> {
    herald_contract::parse_id(raw)
        .ok_or_else(|| ApiError::BadRequest(format!("{raw:?} is not a UUID")))
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
