//! Refusing requests that change something when a page of another origin sent them.
//!
//! Herald has no cookies, so this is not classic CSRF; but without it any site
//! could make its visitors' browsers create locations, with a plain form post.
//! The check is the one browsers make possible (and Go's `CrossOriginProtection`
//! makes): for a method that is not safe,
//!
//! 1. `Sec-Fetch-Site: same-origin` or `none` (typed, bookmarked) passes;
//! 2. any other `Sec-Fetch-Site` passes only from an origin allowed by CORS;
//! 3. without `Sec-Fetch-Site` (an older browser), an `Origin` must match the
//!    `Host` the request was sent to, or be allowed by CORS;
//! 4. with neither header the request did not come from a browser page (curl, a
//!    server): it passes.
//!
//! A refused request answers `403` and changes nothing: problem details under
//! `/api/`, the HTML error page elsewhere.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::Problem;

/// Origins whose pages may send commands besides our own: the CORS ones.
#[derive(Debug, Clone, Default)]
pub struct TrustedOrigins(Arc<Vec<HeaderValue>>);

impl TrustedOrigins {
    pub fn new(origins: Vec<HeaderValue>) -> Self {
        Self(Arc::new(origins))
    }

    fn contains(&self, origin: &HeaderValue) -> bool {
        self.0.iter().any(|trusted| trusted == origin)
    }

    /// Whether a request with `method` and `headers` may go on.
    pub fn allows(&self, method: &axum::http::Method, headers: &HeaderMap) -> bool {
        if method.is_safe() {
            return true;
        }
        let origin = headers.get(header::ORIGIN);
        if let Some(site) = headers.get("sec-fetch-site") {
            return matches!(site.as_bytes(), b"same-origin" | b"none")
                || origin.is_some_and(|origin| self.contains(origin));
        }
        let Some(origin) = origin else {
            return true;
        };
        self.contains(origin) || same_host(origin, headers.get(header::HOST))
    }
}

/// Whether `origin` (`scheme://host[:port]`) names the `host` the request was sent to.
fn same_host(origin: &HeaderValue, host: Option<&HeaderValue>) -> bool {
    let (Ok(origin), Some(Ok(host))) = (origin.to_str(), host.map(|h| h.to_str())) else {
        return false;
    };
    origin
        .split_once("://")
        .is_some_and(|(_, authority)| authority.eq_ignore_ascii_case(host))
}

/// The middleware: refuses what [`TrustedOrigins::allows`] does not allow.
pub async fn refuse_cross_origin(
    State(trusted): State<TrustedOrigins>,
    request: Request,
    next: Next,
) -> Response {
    if trusted.allows(request.method(), request.headers()) {
        return next.run(request).await;
    }
    tracing::info!(
        method = %request.method(),
        path = request.uri().path(),
        origin = ?request.headers().get(header::ORIGIN),
        "refused a request sent from another origin"
    );
    if crate::error::is_api_path(request.uri().path()) {
        Problem::new(
            StatusCode::FORBIDDEN,
            "requests that change something are accepted only from Herald's own pages \
             and the origins it allows (CORS_ALLOWED_ORIGINS)",
        )
        .into_response()
    } else {
        herald_web::error_page(StatusCode::FORBIDDEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::Method;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.insert(*name, HeaderValue::from_static(value));
        }
        headers
    }

    fn allows(trusted: &TrustedOrigins, pairs: &[(&'static str, &'static str)]) -> bool {
        trusted.allows(&Method::POST, &headers(pairs))
    }

    #[test]
    fn our_own_pages_and_non_browsers_pass() {
        let none = TrustedOrigins::default();
        assert!(allows(&none, &[("sec-fetch-site", "same-origin")]));
        assert!(allows(&none, &[("sec-fetch-site", "none")]));
        assert!(allows(&none, &[]), "curl sends neither header");
        assert!(allows(
            &none,
            &[
                ("origin", "http://127.0.0.1:3000"),
                ("host", "127.0.0.1:3000")
            ]
        ));
        assert!(none.allows(&Method::GET, &headers(&[("sec-fetch-site", "cross-site")])));
    }

    #[test]
    fn other_origins_are_refused_unless_trusted() {
        let none = TrustedOrigins::default();
        let cross = [
            ("sec-fetch-site", "cross-site"),
            ("origin", "https://evil.example"),
        ];
        assert!(!allows(&none, &cross));
        // Another port of the same host is the same site, not the same origin.
        assert!(!allows(
            &none,
            &[
                ("sec-fetch-site", "same-site"),
                ("origin", "http://127.0.0.1:8080")
            ]
        ));
        assert!(!allows(
            &none,
            &[
                ("origin", "https://evil.example"),
                ("host", "127.0.0.1:3000")
            ]
        ));
        assert!(!allows(
            &none,
            &[("origin", "null"), ("host", "127.0.0.1:3000")]
        ));

        let app = TrustedOrigins::new(vec![HeaderValue::from_static("https://evil.example")]);
        assert!(allows(&app, &cross));
        assert!(allows(&app, &[("origin", "https://evil.example")]));
    }
}
