//! Static files under `/static/`, embedded in the binary, each served under a
//! name that carries a hash of its content.
//!
//! Embedding keeps a deployment to one file and needs no build step or file
//! server. The pages link to `/static/<name>.<hash>.<ext>`, which never changes
//! its content and is cached for a year (`immutable`): a new version ships under
//! a new name, so a browser never mixes an old script with a new page. Modules
//! import one another by relative path (`./herald.js`); those references are
//! rewritten to the hashed names, dependencies first, so the hash of a module
//! covers what it imports.
//!
//! The plain names stay served too, revalidated on every use (`no-cache` with
//! an `ETag`), for frontends that import `/static/herald.js` themselves.

use std::sync::LazyLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The content type of the scripts (ES modules need a JavaScript MIME type).
const JAVASCRIPT: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// How long browsers keep a hashed file: a year, without asking again.
const IMMUTABLE: &str = "public, max-age=31536000, immutable";
/// Plain names: keep, but check with the server before each use.
const REVALIDATE: &str = "no-cache";

/// The sources, each after the files it refers to.
const SOURCES: [(&str, &str, &str); 5] = [
    ("herald.css", CSS, include_str!("../static/herald.css")),
    // One stream for many commands, run by the worker or by a leading tab.
    (
        "herald-stream.js",
        JAVASCRIPT,
        include_str!("../static/herald-stream.js"),
    ),
    (
        "herald-worker.js",
        JAVASCRIPT,
        include_str!("../static/herald-worker.js"),
    ),
    ("herald.js", JAVASCRIPT, include_str!("../static/herald.js")),
    (
        "new-location.js",
        JAVASCRIPT,
        include_str!("../static/new-location.js"),
    ),
];

/// One static file, as served.
#[derive(Debug)]
pub(crate) struct Asset {
    /// Its plain name, `herald.js`.
    pub(crate) name: &'static str,
    /// Its name with the content hash, `herald.1a2b3c4d5e.js`.
    pub(crate) hashed: String,
    /// The hash alone, also its `ETag`.
    pub(crate) hash: String,
    pub(crate) content_type: &'static str,
    /// The source with its references to other files rewritten to hashed names.
    pub(crate) body: String,
}

static ASSETS: LazyLock<Vec<Asset>> = LazyLock::new(|| {
    let mut assets: Vec<Asset> = Vec::with_capacity(SOURCES.len());
    for (name, content_type, source) in SOURCES {
        let body = assets.iter().fold(source.to_owned(), |body, earlier| {
            body.replace(
                &format!("\"./{}\"", earlier.name),
                &format!("\"./{}\"", earlier.hashed),
            )
        });
        let hash = format!("{:016x}", fnv1a(body.as_bytes()));
        let hash = hash[..10].to_owned();
        let hashed = match name.rsplit_once('.') {
            Some((stem, extension)) => format!("{stem}.{hash}.{extension}"),
            None => format!("{name}.{hash}"),
        };
        assets.push(Asset {
            name,
            hashed,
            hash,
            content_type,
            body,
        });
    }
    assets
});

/// FNV-1a, 64 bits: enough to tell versions of a file apart, and stable across
/// builds and platforms (unlike `std`'s hasher).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The URL the pages use for static file `name`: its hashed name.
///
/// # Panics
///
/// If `name` is not one of the embedded files (a typo in a template, caught by
/// the page tests).
pub fn href(name: &str) -> String {
    let asset = ASSETS
        .iter()
        .find(|asset| asset.name == name)
        .unwrap_or_else(|| panic!("no static file {name}"));
    format!("/static/{}", asset.hashed)
}

/// The routes of the static files.
pub(crate) fn routes() -> Router {
    Router::new().route("/static/{file}", get(serve))
}

async fn serve(Path(file): Path<String>, request: HeaderMap) -> Response {
    let found = ASSETS.iter().find_map(|asset| {
        if asset.hashed == file {
            Some((asset, IMMUTABLE))
        } else if asset.name == file {
            Some((asset, REVALIDATE))
        } else {
            None
        }
    });
    let Some((asset, cache)) = found else {
        return crate::error_page(StatusCode::NOT_FOUND);
    };
    let etag = format!("\"{}\"", asset.hash);
    let headers = [
        (
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        ),
        (header::CACHE_CONTROL, HeaderValue::from_static(cache)),
        (
            header::ETAG,
            HeaderValue::from_str(&etag).unwrap_or(HeaderValue::from_static("\"\"")),
        ),
    ];
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',')
                .any(|tag| tag.trim() == etag || tag.trim() == "*")
        });
    if unchanged {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    (headers, asset.body.as_str()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn get_path(path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = Request::get(path);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let request = request.body(Body::empty()).expect("request");
        routes().oneshot(request).await.expect("infallible")
    }

    async fn body(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[tokio::test]
    async fn hashed_names_are_cached_for_good_and_plain_names_revalidated() {
        for (name, content_type, _) in SOURCES {
            let hashed = href(name);
            assert_ne!(hashed, format!("/static/{name}"));
            let response = get_path(&hashed, &[]).await;
            assert_eq!(response.status(), StatusCode::OK, "{hashed}");
            assert_eq!(response.headers()[header::CONTENT_TYPE], content_type);
            assert_eq!(response.headers()[header::CACHE_CONTROL], IMMUTABLE);
            let etag = response.headers()[header::ETAG].clone();

            let plain = get_path(&format!("/static/{name}"), &[]).await;
            assert_eq!(plain.status(), StatusCode::OK);
            assert_eq!(plain.headers()[header::CACHE_CONTROL], REVALIDATE);
            assert_eq!(plain.headers()[header::ETAG], etag);
            let again = get_path(
                &format!("/static/{name}"),
                &[("if-none-match", etag.to_str().expect("ascii"))],
            )
            .await;
            assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
        }
    }

    #[tokio::test]
    async fn the_worker_is_found_by_its_hashed_name_too() {
        let herald = body(get_path(&href("herald.js"), &[]).await).await;
        let worker = href("herald-worker.js");
        let file = worker.trim_start_matches("/static/");
        assert!(
            herald.contains(&format!("new URL(\"./{file}\", import.meta.url)")),
            "{herald}"
        );
        let worker = body(get_path(&worker, &[]).await).await;
        let stream = href("herald-stream.js");
        assert!(worker.contains(stream.trim_start_matches("/static/")));
    }

    #[tokio::test]
    async fn modules_import_each_other_by_hashed_name() {
        let herald = href("herald.js");
        let script = body(get_path(&href("new-location.js"), &[]).await).await;
        let file = herald.trim_start_matches("/static/");
        assert!(script.contains(&format!("from \"./{file}\"")), "{script}");
        assert!(!script.contains("from \"./herald.js\""));
        // The plain name serves the same rewritten module.
        let plain = body(get_path("/static/new-location.js", &[]).await).await;
        assert_eq!(plain, script);
    }

    #[tokio::test]
    async fn scripts_write_data_as_text_only() {
        for (_, _, source) in SOURCES {
            assert!(!source.contains("innerHTML"));
            assert!(!source.contains("insertAdjacentHTML"));
        }
        let herald = body(get_path(&href("herald.js"), &[]).await).await;
        assert!(herald.contains("export function awaitCommand"));
    }

    #[tokio::test]
    async fn unknown_static_files_are_the_html_not_found_page() {
        let response = get_path("/static/nope.css", &[]).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert!(body(response).await.contains("Not found"));
    }

    #[test]
    fn the_hash_follows_the_content() {
        assert_ne!(fnv1a(b"a"), fnv1a(b"b"));
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
    }
}
