//! The pages, one module each, and what they share: the routes, rendering, and
//! the HTML error pages every failure becomes (never a bare text body).
//!
//! - [`locations`]: `/locations` (the list) and `/locations/{id}`;
//! - [`new_location`]: the form at `/locations/new` and its no-JavaScript post,
//!   `POST /locations`;
//! - [`command`]: `/commands/{id}`, where the no-JavaScript path waits;
//! - [`error`]: the error pages, also used by the api for unknown paths.
//!
//! A missing or malformed id is a 404 page; a read model that cannot be read is
//! a 503 page, whose cause goes to the log and never to the browser.

pub(crate) mod command;
pub(crate) mod error;
pub(crate) mod locations;
pub(crate) mod new_location;

use std::time::Duration;

use askama::Template;
use axum::Router;
use axum::extract::FromRef;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use herald_read_model::{ReadError, ReadModel};
use herald_runtime::error_chain;
use uuid::Uuid;

use crate::commands::Commands;
pub(crate) use error::PageError;

/// How long a page waits for the read model before it answers 503, so a lost
/// NATS connection does not leave the browser spinning (the contract promises a
/// 503 within 2 s; this leaves room for rendering and the network).
const READ_TIMEOUT: Duration = Duration::from_millis(1500);

/// What the page handlers share.
#[derive(Debug, Clone)]
pub(crate) struct WebState<C> {
    read_model: ReadModel,
    commands: C,
}

impl<C> FromRef<WebState<C>> for ReadModel {
    fn from_ref(state: &WebState<C>) -> Self {
        state.read_model.clone()
    }
}

/// The commands of [`WebState`], extractable on their own so the handlers that
/// only send or wait can be tested without a read model.
#[derive(Debug, Clone)]
pub(crate) struct Sender<C>(pub(crate) C);

impl<C: Clone> FromRef<WebState<C>> for Sender<C> {
    fn from_ref(state: &WebState<C>) -> Self {
        Sender(state.commands.clone())
    }
}

/// The page routes.
pub(crate) fn routes<C: Commands>(read_model: ReadModel, commands: C) -> Router {
    Router::new()
        .route("/", get(home))
        .route(
            "/locations",
            get(locations::list).post(new_location::create::<C>),
        )
        .route("/locations/new", get(new_location::form))
        .route("/locations/{id}", get(locations::show))
        .route("/commands/{id}", get(command::show::<C>))
        .with_state(WebState {
            read_model,
            commands,
        })
}

/// `GET /`: the locations are the home page.
async fn home() -> Redirect {
    Redirect::to("/locations")
}

/// Renders a template, or a plain 500 if the template itself fails (a bug: all
/// our templates render any data their types can hold).
pub(crate) fn html(template: &impl Template) -> Response {
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

/// An id from the URL; anything else names no page, hence 404 not 400.
pub(crate) fn parse_id(text: &str) -> Result<Uuid, PageError> {
    herald_contract::parse_id(text).ok_or(PageError::NotFound)
}

/// Awaits a read within [`READ_TIMEOUT`], logging why it failed.
pub(crate) async fn read<T>(
    read: impl Future<Output = Result<T, ReadError>>,
) -> Result<T, PageError> {
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
pub(crate) mod test_support {
    use axum::body::to_bytes;
    use axum::response::Response;

    pub(crate) async fn body_text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    /// Every page shares the layout: language, viewport, stylesheet, header and nav.
    pub(crate) fn assert_layout(html: &str) {
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(html.contains(r#"<html lang="en">"#));
        assert!(html.contains(r#"<meta name="viewport""#));
        let stylesheet = crate::assets::href("herald.css");
        assert!(html.contains(&format!(r#"<link rel="stylesheet" href="{stylesheet}">"#)));
        assert!(html.contains(">Herald</a>"));
        assert!(html.contains(r#"<a href="/locations""#));
        assert!(html.contains("<main"));
        assert!(html.contains(r#"<a href="/locations/new""#));
        // The Content-Security-Policy forbids inline styles and scripts: the only
        // scripts are files, under their hashed names.
        assert!(!html.contains("style="));
        assert!(!html.contains("<style"));
        assert_eq!(
            html.matches("<script").count(),
            html.matches(r#"<script type="module" src="/static/"#)
                .count(),
            "{html}"
        );
        for handler in ["onclick=", "onsubmit=", "onload=", "onchange=", "oninput="] {
            assert!(!html.contains(handler), "no inline event handlers");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_ids_are_not_found() {
        for text in ["nope", "", "123", "0196b0f8-5c1e-7d2a-9b3c-4d5e6f70819"] {
            assert!(matches!(parse_id(text), Err(PageError::NotFound)), "{text}");
        }
        let id = Uuid::now_v7();
        assert_eq!(parse_id(&id.to_string()).expect("valid"), id);
    }

    #[tokio::test]
    async fn home_redirects_to_the_locations() {
        let response = home().await.into_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[axum::http::header::LOCATION],
            "/locations"
        );
    }
}
