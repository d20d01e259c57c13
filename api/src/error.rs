//! Every error the api answers with, turned into RFC 9457 problem details in one place.
//!
//! Handlers return [`ApiError`]; the client gets a status and a clear message, the
//! log gets the cause chain. Nothing here has side effects beyond logging.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use herald_contract::{FieldError, error_chain, read_model::ReadError};
use serde::Serialize;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error(transparent)]
    Json(#[from] JsonRejection),
    #[error("the request body is not valid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    #[error("NATS is unavailable")]
    Unavailable(#[source] anyhow::Error),
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl From<ReadError> for ApiError {
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Decode { .. } => ApiError::Internal(error.into()),
            _ => ApiError::Unavailable(error.into()),
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(rejection: PathRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        ApiError::BadRequest(rejection.body_text())
    }
}

/// An RFC 9457 problem details document.
#[derive(Debug, Serialize)]
pub struct Problem {
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            errors: Vec::new(),
        }
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(&self).unwrap_or_default();
        (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/problem+json"),
            )],
            body,
        )
            .into_response()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = match &self {
            ApiError::Json(rejection) => Problem::new(rejection.status(), rejection.body_text()),
            ApiError::Validation(errors) => Problem {
                errors: errors.clone(),
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "one or more fields are invalid; see errors",
                )
            },
            ApiError::BadRequest(detail) => Problem::new(StatusCode::BAD_REQUEST, detail.clone()),
            ApiError::NotFound(detail) => Problem::new(StatusCode::NOT_FOUND, detail.clone()),
            ApiError::Unavailable(cause) => {
                tracing::warn!(error = %error_chain(cause.as_ref()), "answering 503");
                let mut response = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "the message system is unavailable; retry shortly",
                )
                .into_response();
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                return response;
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %error_chain(cause.as_ref()), "answering 500");
                Problem::new(StatusCode::INTERNAL_SERVER_ERROR, "internal error")
            }
        };
        problem.into_response()
    }
}
