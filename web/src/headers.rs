//! Security headers on every response of the web UI.
//!
//! They are layered on the web router only: the JSON api and its event streams
//! have no use for a Content-Security-Policy. The policy allows resources from our
//! own origin and nothing inline, which is why the templates carry no `style=` or
//! `<script>` bodies: an injected script would not run even if escaping failed.

use axum::Router;
use axum::http::{HeaderMap, HeaderName, HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// The Content-Security-Policy of every page.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'self'; style-src 'self'; \
     script-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'self'; \
     frame-ancestors 'none'";

/// The headers and their values, in the order they are applied.
pub(crate) const SECURITY_HEADERS: [(HeaderName, &str); 3] = [
    (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::REFERRER_POLICY, "same-origin"),
];

/// Adds the security headers to every response of `routes` that does not set
/// its own.
pub(crate) fn apply(routes: Router) -> Router {
    SECURITY_HEADERS
        .into_iter()
        .fold(routes, |routes, (name, value)| {
            routes.layer(SetResponseHeaderLayer::if_not_present(
                name,
                HeaderValue::from_static(value),
            ))
        })
}

/// Adds the security headers to one response's headers (for pages answered
/// outside the web router, such as the api's fallback).
pub(crate) fn insert(headers: &mut HeaderMap) {
    for (name, value) in SECURITY_HEADERS {
        headers
            .entry(name)
            .or_insert(HeaderValue::from_static(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use axum::routing::get;
    use tower::ServiceExt;

    #[tokio::test]
    async fn pages_and_static_files_carry_the_security_headers() {
        let routes = Router::new()
            .route(
                "/missing",
                get(|| async { crate::pages::PageError::NotFound }),
            )
            .merge(crate::assets::routes());
        for path in ["/missing".to_owned(), crate::assets::href("herald.css")] {
            let request = Request::get(&path).body(Body::empty()).expect("request");
            let response = apply(routes.clone())
                .oneshot(request)
                .await
                .expect("infallible");
            for (name, value) in SECURITY_HEADERS {
                assert_eq!(response.headers()[&name], value, "{path} {name}");
            }
        }
        assert!(!CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    }

    #[test]
    fn the_error_page_carries_them_too() {
        let response = crate::error_page(StatusCode::NOT_FOUND);
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        for (name, value) in SECURITY_HEADERS {
            assert_eq!(response.headers()[&name], value, "{name}");
        }
    }
}
