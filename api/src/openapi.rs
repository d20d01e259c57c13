//! The OpenAPI document's frame: title, description and tags.
//!
//! The operations come from the routes themselves: `routes::router` registers
//! each handler with utoipa-axum, which both routes it and adds its annotation
//! (and the schemas it refers to) to this document, so what is served and what
//! is documented are one list.

use utoipa::OpenApi;

#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Herald",
        description = "Accepts commands, serves the read model, and tells clients the moment a command has finished (Server-Sent Events, or `Prefer: wait`). Every error is RFC 9457 problem details."
    ),
    tags(
        (name = "locations", description = "The demo resource: create one, read the read model"),
        (name = "commands", description = "Follow a command to its outcome"),
        (name = "operations", description = "Health and this document"),
    )
)]
pub struct ApiDoc;
