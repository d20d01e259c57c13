//! Security headers on every response of the web UI.
//!
//! They are layered on the web router only: the JSON api and its event streams
//! have no use for a Content-Security-Policy. The policy allows resources from our
//! own origin and nothing inline, which is why the templates carry no `style=` or
//! `<script>` bodies: an injected script would not run even if escaping failed.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, header};
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
