//! The web UI's form against the real stack: the no-JavaScript path (form post,
//! `/commands/{id}`, the location page), validation with the input kept, the
//! failure of a duplicate, the demo controls from the query string, and the
//! scripts served as JavaScript.

use std::time::{Duration, Instant};

use herald_testkit::{PATIENCE, Stack, StackOptions, eventually};
use reqwest::{Client, Response, StatusCode, header};
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
    eventually(PATIENCE, &format!("{page} stops being pending"), || async {
        let response = get(stack, page).await;
        let pending = response.status() == StatusCode::OK
            && response
                .headers()
                .get(header::CONTENT_TYPE)
                .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
        if !pending {
            return Some(response);
        }
        let html = response.text().await.expect("a page");
        if !html.contains(r#"http-equiv="refresh""#) {
            return Some(get(stack, page).await);
        }
        None
    })
    .await
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
async fn a_pending_command_page_holds_then_reloads_itself_holding_longer() {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let page = submit(&stack, "Porto", "").await;
    let started = Instant::now();
    let response = get(&stack, &page).await;
    assert!(
        started.elapsed() >= Duration::from_secs(4),
        "held like Prefer: wait"
    );
    assert_eq!(response.status(), StatusCode::OK);
    assert!(content_type(&response).starts_with("text/html"));
    let html = response.text().await.expect("a page");
    assert!(html.contains(&format!(
        r#"<meta http-equiv="refresh" content="1; url={page}?held=4">"#
    )));
    assert!(html.contains(r#"id="command-status""#));
    assert!(html.contains(page.trim_start_matches("/commands/")));
}

#[tokio::test]
async fn a_held_command_page_answers_the_moment_the_command_lands() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let page = submit(&stack, "Braga", "").await;
    let started = Instant::now();
    let held = tokio::spawn({
        let url = stack.url(&format!("{page}?held=16"));
        async move { client().get(url).send().await.expect("GET the page") }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.start_reactor();
    let response = held.await.expect("the held request");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    let id = page.trim_start_matches("/commands/");
    assert_eq!(location_header(&response), format!("/locations/{id}"));
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "answered when it landed, not after the 24 s hold: {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_form_sent_twice_with_its_key_creates_one_location() {
    let stack = Stack::start().await;
    let key = Uuid::new_v4().to_string();
    let fields = [
        ("name", "Coimbra"),
        ("category", "City"),
        ("idempotency_key", key.as_str()),
    ];
    let first = post_form(&stack, &fields).await;
    let second = post_form(&stack, &fields).await;
    assert_eq!(first.status(), StatusCode::SEE_OTHER);
    assert_eq!(second.status(), StatusCode::SEE_OTHER);
    let page = location_header(&first);
    assert_eq!(location_header(&second), page, "the same command");
    assert_eq!(
        until_done(&stack, &page).await.status(),
        StatusCode::SEE_OTHER
    );
    assert_eq!(stack.stored("KV_commands").await, 1);

    // The same key with other values: the form again, to be sent with a new key.
    let edited = [
        ("name", "Aveiro"),
        ("category", "City"),
        ("idempotency_key", key.as_str()),
    ];
    let response = post_form(&stack, &edited).await;
    assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = response.text().await.expect("a page");
    assert!(html.contains("already sent with other values"), "{html}");
    assert!(html.contains(r#"value="Aveiro""#));
    assert!(!html.contains(&key));
}

#[tokio::test]
async fn a_form_posted_from_another_site_is_refused_and_changes_nothing() {
    let stack = Stack::start().await;
    let response = client()
        .post(stack.url("/locations"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "cross-site")
        .header(header::ORIGIN, "https://evil.example")
        .body("name=Forged&category=Town")
        .send()
        .await
        .expect("POST /locations");
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    assert!(content_type(&response).starts_with("text/html"));
    assert!(response.text().await.expect("a page").contains("Forbidden"));

    // An older browser without Sec-Fetch-Site gives itself away by its Origin.
    let response = client()
        .post(stack.url("/api/locations"))
        .header(header::ORIGIN, "https://evil.example")
        .json(&serde_json::json!({"name": "Forged", "category": "Town"}))
        .send()
        .await
        .expect("POST /api/locations");
    herald_testkit::assert_problem(response, 403).await;
    assert_eq!(stack.stored("COMMANDS").await, 0);

    // Our own pages pass.
    let response = client()
        .post(stack.url("/locations"))
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .header("sec-fetch-site", "same-origin")
        .header(header::ORIGIN, stack.api_url.as_str())
        .body("name=Genuine&category=Town")
        .send()
        .await
        .expect("POST /locations");
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn unknown_pages_are_html_and_unknown_api_paths_problem_details() {
    let stack = Stack::start().await;
    for (method, path) in [
        ("GET", "/nope"),
        ("DELETE", "/locations/new"),
        ("GET", "/locations/x/y"),
    ] {
        let response = client()
            .request(method.parse().expect("method"), stack.url(path))
            .send()
            .await
            .expect("a request");
        assert!(response.status().is_client_error(), "{method} {path}");
        assert!(
            content_type(&response).starts_with("text/html"),
            "{method} {path}"
        );
        assert!(
            response
                .headers()
                .get(header::CONTENT_SECURITY_POLICY)
                .is_some()
        );
    }
    for (method, path, status) in [
        ("GET", "/api/nope", 404),
        ("DELETE", "/api/locations", 405),
        ("GET", "/healthz/x", 404),
    ] {
        let response = client()
            .request(method.parse().expect("method"), stack.url(path))
            .send()
            .await
            .expect("a request");
        herald_testkit::assert_problem(response, status).await;
    }
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
    let script = html
        .split(r#"<script type="module" src=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form's script");
    assert!(script.starts_with("/static/new-location.") && script != "/static/new-location.js");
    assert_eq!(get(&stack, script).await.status(), StatusCode::OK);

    let html = get(&stack, "/locations/new")
        .await
        .text()
        .await
        .expect("a page");
    assert!(html.contains(r#"step="0.1" min="0" value="5""#));
    assert!(html.contains(r#"value="browser" checked>"#));
}

#[tokio::test]
async fn the_pages_point_at_hashed_static_files_cached_for_good() {
    let stack = Stack::start().await;
    let html = get(&stack, "/locations/new")
        .await
        .text()
        .await
        .expect("a page");
    let linked: Vec<&str> = html
        .split("\"/static/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .collect();
    assert_eq!(
        linked.len(),
        4,
        "stylesheet, preloaded modules, script: {linked:?}"
    );
    for file in linked {
        let response = get(&stack, &format!("/static/{file}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert_eq!(
            response.headers()[header::CACHE_CONTROL],
            "public, max-age=31536000, immutable"
        );
        assert_eq!(
            response.headers()[header::X_CONTENT_TYPE_OPTIONS],
            "nosniff"
        );
        let expected = if file.ends_with(".css") {
            "text/css; charset=utf-8"
        } else {
            "text/javascript; charset=utf-8"
        };
        assert_eq!(content_type(&response), expected, "{file}");
    }
    // The plain name, for other frontends to import, is revalidated on each use.
    let response = get(&stack, "/static/herald.js").await;
    assert_eq!(response.headers()[header::CACHE_CONTROL], "no-cache");
    let source = response.text().await.expect("the module");
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
