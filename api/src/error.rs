//! Every error the api answers with, turned into RFC 9457 problem details in one place.
//!
//! Handlers return [`ApiError`]; the client gets a status and a clear message, the
//! log gets the cause chain. Nothing here has side effects beyond logging.

use axum::extract::rejection::{PathRejection, QueryRejection};
use axum::http::{HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use herald_contract::{FailureReason, FieldError, Notification};
use herald_read_model::ReadError;
use herald_runtime::error_chain;
use serde::Serialize;
use uuid::Uuid;

/// Seconds a client should wait before retrying after a 503.
const RETRY_AFTER_SECS: &str = "1";

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The body could not be read (too large: 413).
    #[error(transparent)]
    Body(axum::extract::rejection::BytesRejection),
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is not valid")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    NotFound(String),
    /// The same `Idempotency-Key` came with another body.
    #[error("Idempotency-Key {key:?} was used with a different body")]
    IdempotencyMismatch { key: String, command_id: Uuid },
    /// A waited-for command finished as failed.
    #[error("the command failed")]
    CommandFailed(Box<Notification>),
    #[error("NATS is unavailable")]
    Unavailable(#[source] anyhow::Error),
    /// The command was sent but its storing could not be confirmed: it may be
    /// stored later (a server that froze reads it when it wakes).
    #[error("NATS did not confirm storing the command")]
    MaybeStored {
        command_id: Uuid,
        #[source]
        cause: anyhow::Error,
    },
    /// The cap on open event streams is reached.
    #[error("too many event streams are open")]
    TooManyStreams,
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
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Problem {
    /// `about:blank`: the title is the HTTP status's name.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    pub kind: &'static str,
    #[schema(value_type = String)]
    pub title: &'static str,
    pub status: u16,
    pub detail: String,
    /// The command a failure is about.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command_id: Option<Uuid>,
    /// One entry per problem: a bad field, or one reason a command failed.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ProblemEntry>,
}

/// One entry of [`Problem::errors`].
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ProblemEntry {
    /// The request field at fault, for validation errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Self {
        Self {
            kind: "about:blank",
            title: status.canonical_reason().unwrap_or("Error"),
            status: status.as_u16(),
            detail: detail.into(),
            command_id: None,
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
            ApiError::Body(rejection) => {
                let mut response =
                    Problem::new(rejection.status(), rejection.body_text()).into_response();
                // The rest of an oversized body is left unread: the connection cannot
                // carry another request.
                response
                    .headers_mut()
                    .insert(header::CONNECTION, HeaderValue::from_static("close"));
                return response;
            }
            ApiError::UnsupportedMediaType => {
                Problem::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, self.to_string())
            }
            ApiError::Validation(errors) => Problem {
                errors: errors
                    .iter()
                    .map(|e| ProblemEntry {
                        field: Some(e.field.clone()),
                        message: e.message.clone(),
                    })
                    .collect(),
                ..Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "one or more fields are invalid; see errors",
                )
            },
            ApiError::BadRequest(detail) => Problem::new(StatusCode::BAD_REQUEST, detail.clone()),
            ApiError::NotFound(detail) => Problem::new(StatusCode::NOT_FOUND, detail.clone()),
            ApiError::IdempotencyMismatch { command_id, .. } => Problem {
                command_id: Some(*command_id),
                errors: vec![ProblemEntry {
                    field: Some("Idempotency-Key".into()),
                    message: "already used for another request body; use a new key".into(),
                }],
                ..Problem::new(StatusCode::UNPROCESSABLE_ENTITY, self.to_string())
            },
            ApiError::CommandFailed(notification) => {
                let (status, detail) = match notification.reason {
                    Some(FailureReason::Conflict) => (
                        StatusCode::CONFLICT,
                        "the command conflicts with the current state",
                    ),
                    Some(FailureReason::Invalid) => (
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "the command was rejected as invalid",
                    ),
                    Some(FailureReason::Unprocessable) | None => (
                        StatusCode::INTERNAL_SERVER_ERROR,
                        "the command could not be processed",
                    ),
                };
                Problem {
                    command_id: Some(notification.command_id),
                    errors: notification
                        .errors
                        .iter()
                        .map(|message| ProblemEntry {
                            field: None,
                            message: message.clone(),
                        })
                        .collect(),
                    ..Problem::new(status, detail)
                }
            }
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
            ApiError::MaybeStored { command_id, cause } => {
                tracing::warn!(%command_id, error = %error_chain(cause.as_ref()), "answering 503");
                let mut response = Problem {
                    command_id: Some(*command_id),
                    ..Problem::new(
                        StatusCode::SERVICE_UNAVAILABLE,
                        format!(
                            "the message system did not confirm storing the command; it may still \
                             be stored: GET /api/commands/{command_id} tells, and a retry with the \
                             same Idempotency-Key stores it once"
                        ),
                    )
                }
                .into_response();
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                return response;
            }
            ApiError::TooManyStreams => {
                metrics::counter!("herald_event_streams_refused_total").increment(1);
                let mut response = Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "this instance holds as many event streams as it may; retry shortly",
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

/// Whether `path` belongs to the machine-facing api, which answers errors with
/// problem details; everything else is the web UI, which answers HTML pages.
pub fn is_api_path(path: &str) -> bool {
    ["/api", "/healthz", "/readyz", "/metrics"]
        .iter()
        .any(|prefix| {
            path.strip_prefix(prefix)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        })
}

/// The fallback for a path nothing routes.
pub async fn not_found(uri: Uri) -> Response {
    if is_api_path(uri.path()) {
        Problem::new(
            StatusCode::NOT_FOUND,
            format!("no route for {}", uri.path()),
        )
        .into_response()
    } else {
        herald_web::error_page(StatusCode::NOT_FOUND)
    }
}

/// The fallback for a method a routed path does not take.
pub async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    if is_api_path(uri.path()) {
        Problem::new(
            StatusCode::METHOD_NOT_ALLOWED,
            format!("{method} is not allowed on {}", uri.path()),
        )
        .into_response()
    } else {
        herald_web::error_page(StatusCode::METHOD_NOT_ALLOWED)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_contract::CommandStatus;

    async fn problem(error: ApiError) -> (StatusCode, serde_json::Value) {
        let response = error.into_response();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        (status, serde_json::from_slice(&body).expect("JSON"))
    }

    fn failed(reason: FailureReason) -> ApiError {
        let status =
            CommandStatus::failed(Uuid::now_v7(), None, reason, vec!["name is taken".into()]);
        ApiError::CommandFailed(Box::new(
            Notification::for_status(&status).expect("terminal"),
        ))
    }

    #[tokio::test]
    async fn a_failed_command_maps_to_its_status_and_carries_its_id_and_errors() {
        let (status, body) = problem(failed(FailureReason::Conflict)).await;
        assert_eq!(status, StatusCode::CONFLICT);
        assert_eq!(body["status"], 409);
        assert!(body["command_id"].is_string());
        assert_eq!(
            body["errors"],
            serde_json::json!([{"message": "name is taken"}])
        );
        assert_eq!(problem(failed(FailureReason::Invalid)).await.0, 422);
        assert_eq!(problem(failed(FailureReason::Unprocessable)).await.0, 500);
    }

    #[test]
    fn api_paths_are_told_from_pages() {
        for path in [
            "/api",
            "/api/",
            "/api/nope",
            "/healthz",
            "/readyz/x",
            "/metrics",
        ] {
            assert!(is_api_path(path), "{path}");
        }
        for path in [
            "/",
            "/apix",
            "/healthzz",
            "/locations",
            "/static/x.css",
            "/nope",
        ] {
            assert!(!is_api_path(path), "{path}");
        }
    }

    #[tokio::test]
    async fn unavailable_says_when_to_retry() {
        let response = ApiError::Unavailable(anyhow::anyhow!("down")).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()["retry-after"], "1");
    }
}
