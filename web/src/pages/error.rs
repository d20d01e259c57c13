//! The HTML error pages: what a person sees instead of a bare status.
//!
//! Pages fail through [`PageError`]; the api's fallbacks for unknown paths and
//! methods outside `/api/` answer through [`crate::error_page`].

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::html;
use crate::commands::CommandsError;

/// Seconds a browser is asked to wait before retrying a 503.
pub(crate) const RETRY_AFTER_SECS: &str = "5";

/// A page that explains why the request could not be answered.
#[derive(Debug, Clone, Copy, Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    /// The status the page is sent with; also shown on it.
    pub(crate) status: StatusCode,
    pub(crate) heading: &'static str,
    pub(crate) message: &'static str,
}

impl ErrorPage {
    /// An unknown or malformed location id, or any unknown page.
    pub(crate) const NOT_FOUND: Self = Self {
        status: StatusCode::NOT_FOUND,
        heading: "Not found",
        message: "There is no such page: the location may not exist, or the link is mistyped.",
    };

    /// A method the page does not take.
    pub(crate) const METHOD_NOT_ALLOWED: Self = Self {
        status: StatusCode::METHOD_NOT_ALLOWED,
        heading: "Not allowed",
        message: "This page cannot be used that way.",
    };

    /// A form posted from another site.
    pub(crate) const FORBIDDEN: Self = Self {
        status: StatusCode::FORBIDDEN,
        heading: "Forbidden",
        message: "Herald accepts forms only from its own pages.",
    };

    /// A read model that cannot be read right now.
    pub(crate) const UNAVAILABLE: Self = Self {
        status: StatusCode::SERVICE_UNAVAILABLE,
        heading: "Temporarily unavailable",
        message: "The read model is unavailable at the moment. Please try again shortly.",
    };

    /// A command that cannot be sent right now.
    pub(crate) const COMMANDS_UNAVAILABLE: Self = Self {
        status: StatusCode::SERVICE_UNAVAILABLE,
        heading: "Temporarily unavailable",
        message: "Herald cannot accept new locations at the moment. Please try again shortly.",
    };

    /// A form post that is not a form.
    pub(crate) const BAD_REQUEST: Self = Self {
        status: StatusCode::BAD_REQUEST,
        heading: "Bad request",
        message: "The form could not be read. Please go back and submit it again.",
    };

    /// A bug on our side.
    pub(crate) const INTERNAL: Self = Self {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        heading: "Something went wrong",
        message: "The request could not be completed. Please try again.",
    };

    /// The page for `status`; an unexpected status gets the generic page.
    pub(crate) fn for_status(status: StatusCode) -> Self {
        [
            Self::NOT_FOUND,
            Self::METHOD_NOT_ALLOWED,
            Self::FORBIDDEN,
            Self::UNAVAILABLE,
            Self::BAD_REQUEST,
        ]
        .into_iter()
        .find(|page| page.status == status)
        .unwrap_or(Self {
            status,
            ..Self::INTERNAL
        })
    }
}

impl IntoResponse for ErrorPage {
    fn into_response(self) -> Response {
        let mut response = (self.status, html(&self)).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(
                header::RETRY_AFTER,
                HeaderValue::from_static(RETRY_AFTER_SECS),
            );
        }
        response
    }
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No such location or command, or not an id at all.
    NotFound,
    /// The read model could not be read; the cause is logged where it happened.
    Unavailable,
    /// A command could not be sent; the cause is logged where it happened.
    Commands(CommandsError),
    /// The form post could not be read.
    BadRequest,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::NotFound => ErrorPage::NOT_FOUND,
            PageError::Unavailable => ErrorPage::UNAVAILABLE,
            PageError::Commands(CommandsError::Unavailable) => ErrorPage::COMMANDS_UNAVAILABLE,
            PageError::Commands(CommandsError::Internal | CommandsError::KeyReused) => {
                ErrorPage::INTERNAL
            }
            PageError::BadRequest => ErrorPage::BAD_REQUEST,
        }
        .into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::test_support::{assert_layout, body_text};

    #[tokio::test]
    async fn not_found_is_an_html_page() {
        let response = PageError::NotFound.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = body_text(response).await;
        assert_layout(&html);
        assert!(html.contains("404") && html.contains("Not found"));
    }

    #[tokio::test]
    async fn unavailable_is_an_html_page_with_retry_after() {
        let response = PageError::Unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        let html = body_text(response).await;
        assert!(html.contains("503") && html.contains("read model is unavailable"));
    }

    #[test]
    fn every_status_has_a_page() {
        for status in [403, 404, 405, 400, 503, 500, 418] {
            let status = StatusCode::from_u16(status).expect("status");
            assert_eq!(ErrorPage::for_status(status).status, status);
        }
    }
}
