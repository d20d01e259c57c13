//! The OpenAPI document of the HTTP api, generated from the handlers' annotations
//! and the types they exchange. A test checks it against the list of routes in
//! DESIGN.md and that every operation in it is routed.

use axum::Json;
use utoipa::OpenApi;

use crate::routes::{commands, health, locations, notifications};

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Accepts commands, serves the read model, and tells clients the moment a command has finished (Server-Sent Events, or `Prefer: wait`). Every error is RFC 9457 problem details."
    ),
    paths(
        locations::create,
        locations::list,
        locations::show,
        commands::status,
        commands::events,
        notifications::feed,
        health::live,
        health::ready,
        document,
    ),
    components(schemas(
        herald_contract::Location,
        herald_contract::Category,
        herald_contract::CommandStatus,
        herald_contract::CommandState,
        herald_contract::FailureReason,
        herald_contract::Notification,
        herald_contract::messages::NotificationData,
        herald_contract::Action,
        crate::accept::Accepted,
        crate::accept::StatusBody,
        crate::routes::CommandLinks,
        crate::error::Problem,
        crate::error::ProblemEntry,
        herald_contract::NewLocation,
    )),
    tags(
        (name = "locations", description = "The demo resource: create one, read the read model"),
        (name = "commands", description = "Follow a command to its outcome"),
        (name = "operations", description = "Health and this document"),
    )
)]
pub struct ApiDoc;

/// This document.
#[utoipa::path(get, path = "/api/openapi.json", tag = "operations",
    responses((status = 200, description = "The OpenAPI document", body = Object)))]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
