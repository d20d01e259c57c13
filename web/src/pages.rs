//! The page handlers: `/`, `/locations` and `/locations/{id}`.
//!
//! Each handler reads the read model, renders a template from [`crate::views`]
//! and answers with HTML. Failures become HTML pages too (never a bare text
//! body): a missing or malformed id is a 404 page, a read model that cannot be
//! read is a 503 page, whose cause goes to the log and never to the browser.

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use herald_contract::read_model::ReadError;
use herald_contract::{ReadModel, error_chain};
use uuid::Uuid;

use crate::views::{ErrorPage, LocationPage, LocationView, LocationsPage};

/// How many locations the list shows.
const LIST_LIMIT: usize = 50;

/// How long a page waits for the read model before it answers 503, so a lost
/// NATS connection does not leave the browser spinning (the contract promises a
/// 503 within 2 s; this leaves room for rendering and the network).
const READ_TIMEOUT: Duration = Duration::from_millis(1500);

/// Seconds a browser is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "5";

/// The page routes.
pub(crate) fn routes(read_model: ReadModel) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/locations", get(list))
        .route("/locations/{id}", get(show))
        .with_state(read_model)
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No such location, or not a location id at all.
    NotFound,
    /// The read model could not be read; the cause is logged where it happened.
    Unavailable,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::NotFound => render(ErrorPage::NOT_FOUND),
            PageError::Unavailable => {
                let mut response = render(ErrorPage::UNAVAILABLE);
                response.headers_mut().insert(
                    header::RETRY_AFTER,
                    HeaderValue::from_static(RETRY_AFTER_SECS),
                );
                response
            }
        }
    }
}

/// Renders an error page with its status.
fn render(page: ErrorPage) -> Response {
    let status = page.status;
    (status, html(&page)).into_response()
}

/// Renders a template, or a plain 500 if the template itself fails (a bug: all
/// our templates render any data their types can hold).
fn html(template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => Html(body).into_response(),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Internal server error.</p>"),
            )
                .into_response()
        }
    }
}

/// `GET /`: the locations are the home page.
async fn home() -> Redirect {
    Redirect::to("/locations")
}

/// `GET /locations`: the newest locations, newest first.
async fn list(State(read_model): State<ReadModel>) -> Result<Response, PageError> {
    let page = read(read_model.locations(LIST_LIMIT, None)).await?;
    let locations = page.locations.into_iter().map(LocationView::from).collect();
    Ok(html(&LocationsPage { locations }))
}

/// `GET /locations/{id}`: one location.
async fn show(
    State(read_model): State<ReadModel>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let location = read(read_model.location(id))
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(html(&LocationPage {
        location: location.into(),
    }))
}

/// A location id from the URL; anything else names no page, hence 404 not 400.
pub(crate) fn parse_id(text: &str) -> Result<Uuid, PageError> {
    Uuid::try_parse(text).map_err(|_| PageError::NotFound)
}

/// Awaits a read within [`READ_TIMEOUT`], logging why it failed.
async fn read<T>(read: impl Future<Output = Result<T, ReadError>>) -> Result<T, PageError> {
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(error = %error_chain(&error), "web page could not read the read model");
            Err(PageError::Unavailable)
        }
        Err(_) => {
            tracing::error!(timeout = ?READ_TIMEOUT, "web page timed out reading the read model");
            Err(PageError::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn body_text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn malformed_ids_are_not_found() {
        for text in ["nope", "", "123", "0196b0f8-5c1e-7d2a-9b3c-4d5e6f70819"] {
            assert!(matches!(parse_id(text), Err(PageError::NotFound)), "{text}");
        }
        let id = Uuid::now_v7();
        assert_eq!(parse_id(&id.to_string()).expect("valid"), id);
    }

    #[tokio::test]
    async fn not_found_is_an_html_page() {
        let response = PageError::NotFound.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(body_text(response).await.contains("Not found"));
    }

    #[tokio::test]
    async fn unavailable_is_an_html_page_with_retry_after() {
        let response = PageError::Unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(
            body_text(response)
                .await
                .contains("read model is unavailable")
        );
    }

    #[tokio::test]
    async fn pages_carry_the_security_headers() {
        // A stand-in for a page handler, since the real ones need a read model.
        let routes = Router::new().route("/missing", get(|| async { PageError::NotFound }));
        let request = Request::get("/missing")
            .body(Body::empty())
            .expect("request");
        let response = crate::headers::apply(routes)
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        for (name, value) in crate::headers::SECURITY_HEADERS {
            assert_eq!(response.headers()[&name], value, "{name}");
        }
    }

    #[tokio::test]
    async fn home_redirects_to_the_locations() {
        let response = home().await.into_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/locations");
    }
}
