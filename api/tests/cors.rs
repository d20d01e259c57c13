//! CORS: off by default (same origin), on for the configured origins.

use herald_testkit::{Stack, StackOptions};

async fn preflight(stack: &Stack, origin: &str) -> reqwest::Response {
    stack
        .http
        .request(reqwest::Method::OPTIONS, stack.url("/api/locations"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "content-type, prefer, idempotency-key",
        )
        .send()
        .await
        .expect("OPTIONS")
}

#[tokio::test]
async fn other_origins_are_not_allowed_by_default() {
    let stack = Stack::start().await;
    let response = preflight(&stack, "https://elsewhere.example").await;
    assert!(
        !response
            .headers()
            .contains_key("access-control-allow-origin")
    );
}

#[tokio::test]
async fn configured_origins_may_call_the_api() {
    let stack = Stack::start_with(StackOptions {
        cors_allowed_origins: vec!["https://app.example".into()],
        ..StackOptions::default()
    })
    .await;
    let allowed = preflight(&stack, "https://app.example").await;
    assert_eq!(
        allowed.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let allowed_headers = allowed.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed_headers.contains("idempotency-key") && allowed_headers.contains("prefer"));

    let other = preflight(&stack, "https://evil.example").await;
    assert!(!other.headers().contains_key("access-control-allow-origin"));

    let get = stack
        .http
        .get(stack.url("/api/locations"))
        .header("origin", "https://app.example")
        .send()
        .await
        .expect("GET");
    assert_eq!(
        get.headers()["access-control-allow-origin"],
        "https://app.example"
    );
    let exposed = get.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(exposed.contains("location"));
}
