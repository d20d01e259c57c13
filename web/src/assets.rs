//! Static files under `/static/`, embedded in the binary with `include_str!`.
//!
//! Embedding keeps a deployment to one file and needs no build step or file
//! server; the UI is small enough that this costs nothing. Files are cached for
//! an hour: a change ships with a new binary, and an hour of a stale stylesheet
//! is harmless.

use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

/// The one stylesheet of the UI.
const HERALD_CSS: &str = include_str!("../static/herald.css");

/// The reusable module that waits for a command: `awaitCommand`.
const HERALD_JS: &str = include_str!("../static/herald.js");

/// The script of `/locations/new`.
const NEW_LOCATION_JS: &str = include_str!("../static/new-location.js");

/// The content type of the scripts (ES modules need a JavaScript MIME type).
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";

/// How long browsers may reuse a static file.
const CACHE_CONTROL: &str = "public, max-age=3600";

/// The routes of the static files.
pub(crate) fn routes() -> Router {
    Router::new()
        .route("/static/herald.css", get(stylesheet))
        .route("/static/herald.js", get(|| script(HERALD_JS)))
        .route("/static/new-location.js", get(|| script(NEW_LOCATION_JS)))
}

async fn script(body: &'static str) -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, JAVASCRIPT),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        body,
    )
}

async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, CACHE_CONTROL),
        ],
        HERALD_CSS,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::{Request, StatusCode};
    use tower::ServiceExt;

    async fn get_path(router: Router, path: &str) -> axum::response::Response {
        let request = Request::get(path).body(Body::empty()).expect("request");
        router.oneshot(request).await.expect("infallible")
    }

    #[tokio::test]
    async fn serves_the_stylesheet_with_type_and_caching() {
        let response = get_path(routes(), "/static/herald.css").await;
        assert_eq!(response.status(), StatusCode::OK);
        let headers = response.headers();
        assert_eq!(headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
        assert_eq!(headers[header::CACHE_CONTROL], "public, max-age=3600");
        let body = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        assert_eq!(body, HERALD_CSS.as_bytes());
    }

    #[tokio::test]
    async fn serves_the_scripts_with_type_and_caching() {
        for (path, source) in [
            ("/static/herald.js", HERALD_JS),
            ("/static/new-location.js", NEW_LOCATION_JS),
        ] {
            let response = get_path(routes(), path).await;
            assert_eq!(response.status(), StatusCode::OK, "{path}");
            let headers = response.headers();
            assert_eq!(headers[header::CONTENT_TYPE], JAVASCRIPT, "{path}");
            assert_eq!(headers[header::CACHE_CONTROL], CACHE_CONTROL, "{path}");
            let body = to_bytes(response.into_body(), usize::MAX)
                .await
                .expect("body");
            assert_eq!(body, source.as_bytes(), "{path}");
        }
        assert!(HERALD_JS.contains("export function awaitCommand"));
        assert!(NEW_LOCATION_JS.contains("from \"./herald.js\""));
        // Data reaches the page as text, never as markup.
        for source in [HERALD_JS, NEW_LOCATION_JS] {
            assert!(!source.contains("innerHTML"));
            assert!(!source.contains("insertAdjacentHTML"));
        }
    }

    #[tokio::test]
    async fn security_headers_are_set_on_static_files() {
        let response = get_path(crate::headers::apply(routes()), "/static/herald.css").await;
        for (name, value) in crate::headers::SECURITY_HEADERS {
            assert_eq!(response.headers()[&name], value, "{name}");
        }
        assert!(!crate::headers::CONTENT_SECURITY_POLICY.contains("unsafe-inline"));
    }

    #[tokio::test]
    async fn unknown_static_files_are_not_found() {
        let response = get_path(routes(), "/static/nope.css").await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
    }
}
