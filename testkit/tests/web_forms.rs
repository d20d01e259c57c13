//! The web UI's form against the real stack: the no-JavaScript path (form post,
//! `/commands/{id}`, the location page), validation with the input kept, the
//! failure of a duplicate, the demo controls from the query string, and the
//! scripts served as JavaScript.

use std::time::Duration;

use herald_testkit::{Stack, StackOptions};
use reqwest::{Client, Response, StatusCode, header};
use tokio::time::Instant;
use uuid::Uuid;

const XSS: &str = "<script>alert(1)</script>";

/// A client that shows redirects instead of following them.
fn client() -> Client {
    Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("a client")
}

/// `application/x-www-form-urlencoded` for one value.
fn encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'*' => {
                char::from(byte).to_string()
            }
            b' ' => "+".to_owned(),
            _ => format!("%{byte:02X}"),
        })
        .collect()
}

async fn post_form(stack: &Stack, fields: &[(&str, &str)]) -> Response {
    let body = fields
        .iter()
        .map(|(name, value)| format!("{name}={}", encode(value)))
        .collect::<Vec<_>>()
        .join("&");
    client()
        .post(stack.url("/locations"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .expect("POST /locations")
}

async fn get(stack: &Stack, path: &str) -> Response {
    client()
        .get(stack.url(path))
        .send()
        .await
        .expect("GET a page")
}

fn location_header(response: &Response) -> String {
    response
        .headers()
        .get(header::LOCATION)
        .expect("a Location header")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

fn content_type(response: &Response) -> String {
    response
        .headers()
        .get(header::CONTENT_TYPE)
        .expect("a Content-Type")
        .to_str()
        .expect("ASCII")
        .to_owned()
}

/// Posts a valid form and answers the command page it redirects to.
async fn submit(stack: &Stack, name: &str, description: &str) -> String {
    let response = post_form(
        stack,
        &[
            ("name", name),
            ("category", "City"),
            ("description", description),
            ("timeout", "5"),
            ("wait", "browser"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let page = location_header(&response);
    let id = page
        .strip_prefix("/commands/")
        .expect("redirects to the command page");
    Uuid::try_parse(id).expect("a command id");
    page
}

/// Polls a command page until it stops being the pending page; answers the last
/// response.
async fn until_done(stack: &Stack, page: &str) -> Response {
    let deadline = Instant::now() + herald_testkit::stack::PATIENCE;
    loop {
        let response = get(stack, page).await;
        let pending = response.status() == StatusCode::OK
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
        if !pending {
            return response;
        }
        let html = response.text().await.expect("a page");
        if !html.contains(r#"http-equiv="refresh""#) {
            return get(stack, page).await;
        }
        assert!(
            Instant::now() < deadline,
            "{page} still pending after the deadline"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn the_form_without_javascript_lands_on_the_new_location() {
    let stack = Stack::start().await;
    let page = submit(&stack, "Lisbon", "by the sea").await;
    let id = page.trim_start_matches("/commands/").to_owned();

    let response = until_done(&stack, &page).await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(location_header(&response), format!("/locations/{id}"));

    let response = get(&stack, &format!("/locations/{id}")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("a page");
    assert!(html.contains("<h1>Lisbon</h1>"), "{html}");
    assert!(html.contains("by the sea"));

    let html = get(&stack, "/locations")
        .await
        .text()
        .await
        .expect("the list");
    assert!(html.contains(&format!(r#"<a href="/locations/{id}">Lisbon</a>"#)));
    assert!(html.contains(r#"href="/locations/new""#));
}

#[tokio::test]
async fn a_pending_command_page_refreshes_itself() {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let page = submit(&stack, "Porto", "").await;
    let response = get(&stack, &page).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("text/html"));
    let html = response.text().await.expect("a page");
    assert!(html.contains(r#"<meta http-equiv="refresh" content="1">"#));
    assert!(html.contains(r#"id="command-status""#));
    assert!(html.contains(page.trim_start_matches("/commands/")));
}

#[tokio::test]
async fn an_invalid_form_comes_back_with_its_errors_and_input() {
    let stack = Stack::start().await;
    let response = post_form(
        &stack,
        &[
            ("name", ""),
            ("category", "Village"),
            ("description", XSS),
            ("timeout", "0.5"),
            ("wait", "server"),
        ],
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(content_type(&response).starts_with("text/html"));
    assert!(
        response
            .headers()
            .get(header::CONTENT_SECURITY_POLICY)
            .is_some()
    );
    let html = response.text().await.expect("a page");
    assert!(!html.contains(XSS), "the input is escaped");
    assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;</textarea>"));
    assert!(html.contains(r#"aria-describedby="name-error" aria-invalid="true""#));
    assert!(html.contains(r#"aria-describedby="category-error" aria-invalid="true""#));
    assert!(html.contains("category must be one of"));
    assert!(html.contains(r#"<p id="description-error" class="field-error"></p>"#));
    assert!(html.contains(r#"value="0.5""#));
    assert!(html.contains(r#"value="server" checked"#));

    // Too long a name is the name's error, the rest kept.
    let long = "x".repeat(101);
    let response = post_form(&stack, &[("name", &long), ("category", "Town")]).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("a page");
    assert!(html.contains(&format!(r#"value="{long}""#)));
    assert!(html.contains(r#"<option value="Town" selected>"#));
    assert!(!html.contains(r#"<p id="name-error" class="field-error"></p>"#));
}

#[tokio::test]
async fn a_duplicate_name_shows_the_conflict_on_the_command_page() {
    let stack = Stack::start().await;
    let first = submit(&stack, "Lisbon", "").await;
    assert_eq!(
        until_done(&stack, &first).await.status(),
        StatusCode::SEE_OTHER
    );

    let second = submit(&stack, " lisbon ", "again").await;
    let response = until_done(&stack, &second).await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("a page");
    assert!(html.contains(r#"id="command-status""#), "{html}");
    assert!(
        html.contains("a location named &#34;lisbon&#34; already exists")
            || html.contains("a location named &#34;Lisbon&#34; already exists"),
        "{html}"
    );
    assert!(html.contains(r#"href="/locations/new""#));
    assert!(!html.contains("http-equiv"));
}

#[tokio::test]
async fn unknown_and_malformed_command_pages_are_not_found() {
    let stack = Stack::start().await;
    for path in [
        format!("/commands/{}", Uuid::now_v7()),
        "/commands/nope".into(),
    ] {
        let response = get(&stack, &path).await;
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        assert!(content_type(&response).starts_with("text/html"), "{path}");
        assert!(response.text().await.expect("a page").contains("Not found"));
    }
}

#[tokio::test]
async fn the_query_string_sets_the_demo_controls() {
    let stack = Stack::start().await;
    let response = get(&stack, "/locations/new?timeout=0.5&wait=server").await;
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.expect("a page");
    assert!(html.contains(
        r#"<input id="timeout" name="timeout" type="number" step="0.1" min="0" value="0.5""#
    ));
    assert!(
        html.contains(
            r#"<input id="wait-server" name="wait" type="radio" value="server" checked>"#
        )
    );
    assert!(html.contains(r#"<input id="wait-browser" name="wait" type="radio" value="browser">"#));
    assert!(html.contains(r#"<form id="create-location""#));
    assert!(html.contains(r#"<script type="module" src="/static/new-location.js"></script>"#));

    let html = get(&stack, "/locations/new")
        .await
        .text()
        .await
        .expect("a page");
    assert!(html.contains(r#"step="0.1" min="0" value="5""#));
    assert!(html.contains(r#"value="browser" checked>"#));
}

#[tokio::test]
async fn the_scripts_are_served_as_javascript() {
    let stack = Stack::start().await;
    for path in ["/static/herald.js", "/static/new-location.js"] {
        let response = get(&stack, path).await;
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert_eq!(content_type(&response), "text/javascript; charset=utf-8");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=3600"
        );
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
    }
    let source = get(&stack, "/static/herald.js")
        .await
        .text()
        .await
        .expect("the module");
    assert!(source.contains("export function awaitCommand"));
}

#[tokio::test]
async fn while_nats_is_down_the_form_answers_a_503_page_quickly() {
    let mut stack = Stack::start().await;
    stack.nats.stop().await;
    let started = Instant::now();
    let response = post_form(&stack, &[("name", "Faro"), ("category", "Town")]).await;
    assert!(started.elapsed() < Duration::from_secs(2), "within 2 s");
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(content_type(&response).starts_with("text/html"));
    assert!(response.headers().get(header::RETRY_AFTER).is_some());
    let html = response.text().await.expect("a page");
    assert!(html.contains("cannot accept new locations"));
}
