//! `/api/locations`: accepting create commands, and reading the read model.

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_contract::messages::CommandBody;
use herald_contract::{Command, Location, NewLocation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{CommandLinks, IdParam, parse_id};
use crate::error::ApiError;
use crate::publish::PublishError;
use crate::state::SharedState;

const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;

/// The 202 answer: the command is in the stream and will be processed.
#[derive(Debug, Serialize)]
struct Accepted {
    id: uuid::Uuid,
    status: &'static str,
    links: CommandLinks,
}

/// `POST /api/locations`: validate, publish, answer 202 once the stream has it.
pub async fn create(
    State(state): State<SharedState>,
    body: Result<Json<Value>, JsonRejection>,
) -> Result<Response, ApiError> {
    let Json(body) = body?;
    let location = NewLocation::from_json(&body).map_err(ApiError::Validation)?;
    let command = Command::new(CommandBody::CreateLocation(location));
    state
        .publisher
        .publish(&command)
        .await
        .map_err(|error| match error {
            PublishError::Encode(_) => ApiError::Internal(error.into()),
            _ => ApiError::Unavailable(error.into()),
        })?;
    state.recent.insert(command.id);
    let links = CommandLinks::for_command(command.id);
    let location =
        HeaderValue::try_from(&links.status).map_err(|error| ApiError::Internal(error.into()))?;
    let body = Accepted {
        id: command.id,
        status: "pending",
        links,
    };
    Ok((
        StatusCode::ACCEPTED,
        [(header::LOCATION, location)],
        Json(body),
    )
        .into_response())
}

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

/// `GET /api/locations`: newest first, paged by cursor.
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

/// `GET /api/locations/{id}`.
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
