//! `/api/locations`: accepting create commands, and reading the read model.

use axum::Json;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use herald_contract::location::{
    DESCRIPTION_MAX_CHARS, DESCRIPTION_PATTERN, NAME_MAX_CHARS, NAME_PATTERN,
};
use herald_contract::messages::CommandBody;
use herald_contract::{Category, Location, NewLocation};
use serde::Deserialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Ref, Schema, SchemaType, Type};
use utoipa::{PartialSchema, ToSchema};

use super::{IdParam, parse_id};
use crate::accept::accept;
use crate::body::JsonBody;
use crate::error::{ApiError, Problem};
use crate::state::SharedState;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// A location to create: the body of `POST /api/locations`, as the OpenAPI
/// document describes it. The handler reads the JSON itself
/// ([`NewLocation::from_json`]) so that it can report every bad field at once;
/// this schema states the same rules, from the same constants.
#[derive(Debug)]
pub struct CreateLocation;

impl PartialSchema for CreateLocation {
    fn schema() -> RefOr<Schema> {
        let text = |max: usize, pattern: &str, description: &str| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .max_length(Some(max))
                .pattern(Some(pattern))
                .description(Some(description))
        };
        let name = text(
            NAME_MAX_CHARS,
            NAME_PATTERN,
            "1–100 characters, at least one of them not white space, no control characters. \
             Stored trimmed; unique, compared trimmed and case-insensitively.",
        )
        .min_length(Some(1));
        let description = text(
            DESCRIPTION_MAX_CHARS,
            DESCRIPTION_PATTERN,
            "At most 1000 characters; line breaks and tabs are the only control characters \
             allowed. Absent or null: no description.",
        )
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]));
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some("A location to create. Other fields are ignored."))
            .property("name", name)
            .required("name")
            .property("category", Ref::from_schema_name(Category::name()))
            .required("category")
            .property("description", description)
            .into()
    }
}

impl ToSchema for CreateLocation {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push((Category::name().into(), Category::schema()));
    }
}

/// Create a location.
///
/// Validates the body, stores the command in the stream, and answers 202 with
/// where to follow it. With `Prefer: wait=N` the answer waits up to N seconds
/// (at most 30) for the command to finish.
#[utoipa::path(
    post,
    path = "/api/locations",
    tag = "locations",
    request_body(content = CreateLocation, content_type = "application/json"),
    params(
        ("Prefer" = Option<String>, Header, description = "`wait=N`: hold the answer up to N seconds (capped at 30) for the outcome"),
        ("Idempotency-Key" = Option<String>, Header, pattern = r"^[\x21-\x7E]{1,255}$",
            description = "1–255 visible ASCII characters; a retry with the same key and body within 2 minutes returns the same command"),
        ("X-Notification-Await" = Option<String>, Header, description = "The seed's alias: `true` to wait"),
        ("X-Notification-Timeout" = Option<String>, Header, description = "The seed's alias: seconds to wait (default 5)"),
    ),
    responses(
        (status = 202, description = "Accepted: the command is stored and will be processed", body = crate::answers::Accepted,
            headers(("Location" = String, description = "/api/commands/{id}"))),
        (status = 201, description = "Completed within the requested wait", body = crate::answers::StatusBody,
            headers(("Location" = String, description = "/api/locations/{id}"), ("Preference-Applied" = String, description = "wait=N"))),
        (status = 400, description = "Malformed JSON or Idempotency-Key", body = Problem, content_type = "application/problem+json"),
        (status = 403, description = "Sent from a page of another origin", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Failed within the wait: a business rule refused it", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body over 64 KiB", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (one entry each), or an Idempotency-Key reused with another body", body = Problem, content_type = "application/problem+json"),
        (status = 500, description = "Failed within the wait: it could not be processed", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS unavailable; see Retry-After", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn create(
    State(state): State<SharedState>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let location = NewLocation::from_json(&body).map_err(ApiError::Validation)?;
    accept(&state, &headers, CommandBody::CreateLocation(location)).await
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// List locations, newest first.
///
/// The next page, if any, is in the `Link` header (`rel="next"`).
#[utoipa::path(
    get,
    path = "/api/locations",
    tag = "locations",
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 500, description = "1–500, default 50"),
        ("cursor" = Option<uuid::Uuid>, Query, description = "From the previous page's Link header: the id of the last location of that page"),
    ),
    responses(
        (status = 200, description = "A page of locations", body = Vec<Location>,
            headers(("Link" = String, description = "`</api/locations?limit=N&cursor=C>; rel=\"next\"`"))),
        (status = 400, description = "Bad limit or cursor", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn list(
    State(state): State<SharedState>,
    query: Result<Query<ListQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    let Query(query) = query?;
    let limit = query.limit.unwrap_or(DEFAULT_LIMIT);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(ApiError::BadRequest(format!(
            "limit must be between 1 and {MAX_LIMIT}"
        )));
    }
    let cursor = query.cursor.as_deref().map(parse_id).transpose()?;
    let page = state.read_model.locations(limit, cursor).await?;
    let mut response = Json(page.locations).into_response();
    if let Some(next) = page.next {
        let link = format!("</api/locations?limit={limit}&cursor={next}>; rel=\"next\"");
        if let Ok(value) = HeaderValue::try_from(link) {
            response.headers_mut().insert(header::LINK, value);
        }
    }
    Ok(response)
}

/// One location.
#[utoipa::path(
    get,
    path = "/api/locations/{id}",
    tag = "locations",
    params(("id" = uuid::Uuid, Path, description = "Location id (= the id of the command that created it)")),
    responses(
        (status = 200, description = "The location", body = Location),
        (status = 400, description = "Not a UUID", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such location", body = Problem, content_type = "application/problem+json"),
        (status = 503, description = "NATS unavailable", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn show(
    State(state): State<SharedState>,
    IdParam(id): IdParam,
) -> Result<Json<Location>, ApiError> {
    state
        .read_model
        .location(id)
        .await?
        .map(Json)
        .ok_or_else(|| ApiError::NotFound(format!("no location {id}")))
}
