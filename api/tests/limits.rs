//! The limits that keep a crowd bounded: open event streams, held `Prefer: wait`
//! POSTs, and connections that never send their headers.

use std::time::{Duration, Instant};

use herald_testkit::{Stack, StackOptions, assert_problem};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test]
async fn over_the_cap_on_event_streams_a_stream_is_refused_with_retry_after() {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        max_event_streams: 2,
        ..StackOptions::default()
    })
    .await;
    let ids = stack.create_locations("Crowded", 3).await;
    let first = stack.open_events(ids[0]).await;
    let _second = stack.open_sse("/api/notifications", &[]).await;
    let refused = stack.get(&format!("/api/commands/{}/events", ids[2])).await;
    assert_eq!(refused.headers()["retry-after"], "1");
    assert_problem(refused, 503).await;
    // A stream that ends gives its place back.
    drop(first);
    herald_testkit::eventually(
        herald_testkit::PATIENCE,
        "a place is free again",
        || async {
            let response = stack.get(&format!("/api/commands/{}/events", ids[2])).await;
            (response.status() == 200).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn over_the_cap_on_held_waits_a_post_is_answered_at_once() {
    let stack = Stack::start_with(StackOptions {
        reactor_delay: Duration::from_millis(1500),
        max_wait_holds: 1,
        ..StackOptions::default()
    })
    .await;
    let post = |name: &'static str| {
        let stack = &stack;
        async move {
            let started = Instant::now();
            let response = stack
                .post_location_with(
                    &json!({"name": name, "category": "Town"}),
                    &[("prefer", "wait=10")],
                )
                .await;
            (response.status(), started.elapsed())
        }
    };
    let (held, at_once) = tokio::join!(post("Held"), async {
        tokio::time::sleep(Duration::from_millis(200)).await;
        post("At once").await
    });
    assert_eq!(held.0, 201, "the first is held until it completes");
    assert!(held.1 >= Duration::from_millis(1400), "{held:?}");
    assert_eq!(at_once.0, 202, "the second is not held");
    assert!(at_once.1 < Duration::from_millis(1000), "{at_once:?}");
}

#[tokio::test]
async fn a_connection_that_never_finishes_its_headers_is_closed() {
    let stack = Stack::start_with(StackOptions {
        header_read_timeout_secs: 1,
        ..StackOptions::default()
    })
    .await;
    let address = stack.api_url.trim_start_matches("http://");
    let mut slow = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    slow.write_all(b"GET /api/locations HTTP/1.1\r\nHost: herald\r\n")
        .await
        .expect("half a request");
    let started = Instant::now();
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(5), slow.read_to_end(&mut rest)).await;
    assert!(read.is_ok(), "the api closed the connection");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    // Meanwhile, and after, everyone else is served.
    assert_eq!(stack.get("/healthz").await.status(), 200);
}

#[tokio::test]
async fn http2_in_clear_text_is_served_to_a_client_that_speaks_it() {
    let stack = Stack::start().await;
    let http2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .build()
        .expect("a client");
    let response = http2
        .get(stack.url("/api/locations"))
        .send()
        .await
        .expect("an answer over HTTP/2");
    assert_eq!(response.version(), reqwest::Version::HTTP_2);
    assert_eq!(response.status(), 200);
}
