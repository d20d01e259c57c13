//! The api when NATS goes away and comes back: quick 503s, and nothing lost.

use std::time::{Duration, Instant};

use herald_testkit::{PATIENCE, Stack, StackOptions, eventually};
use serde_json::json;
use uuid::Uuid;

/// DESIGN.md: NATS unreachable is a 503 with `Retry-After` within 2 s.
const WITHIN: Duration = Duration::from_secs(2);

#[tokio::test]
async fn while_nats_is_down_the_api_answers_503_quickly_and_recovers() {
    let mut stack = Stack::start().await;
    let done = stack.create_location("Before").await;
    assert_eq!(stack.outcome(done).await.event, "completed");

    stack.nats.stop().await;
    let started = Instant::now();
    let response = stack
        .post_location(&json!({"name": "During", "category": "Town"}))
        .await;
    assert!(started.elapsed() < WITHIN, "took {:?}", started.elapsed());
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    for path in [
        format!("/api/locations/{done}"),
        format!("/api/commands/{done}"),
        "/readyz".to_owned(),
    ] {
        let started = Instant::now();
        let response = stack.get(&path).await;
        assert!(
            started.elapsed() < WITHIN,
            "{path} took {:?}",
            started.elapsed()
        );
        assert_eq!(response.status(), 503, "{path}");
    }
    assert_eq!(stack.get("/healthz").await.status(), 200);
    // An event stream is not an error (EventSource would give up for good): the
    // client is told to come back, and the command may well exist.
    let started = Instant::now();
    let response = stack
        .get(&format!("/api/commands/{}/events", Uuid::now_v7()))
        .await;
    assert_eq!(response.status(), 200);
    let body = response.text().await.expect("the stream ends");
    assert_eq!(body, "retry: 1000\n\n");
    assert!(started.elapsed() < WITHIN, "took {:?}", started.elapsed());

    stack.nats.restart().await;
    stack.wait_ready().await;
    let after = stack.create_location("After").await;
    assert_eq!(stack.outcome(after).await.event, "completed");
}

#[tokio::test]
async fn a_nats_restart_loses_no_command_and_no_waiter() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let before = stack.create_locations("Before", 10).await;
    // A client waiting across the restart.
    let mut waiting = stack.open_events(before[9]).await;

    stack.nats.restart().await;
    stack.start_reactor();
    let event = waiting
        .next_event()
        .await
        .expect("the outcome after the restart");
    assert_eq!(event.event, "completed");
    assert_eq!(event.data["command_id"], before[9].to_string());

    let mut after = Vec::new();
    for n in 0..10 {
        // The api's connection may still be coming back: retry a 503 as a client would.
        let accepted = eventually(PATIENCE, "the api accepts again", || async {
            let response = stack
                .post_location(&json!({"name": format!("After {n}"), "category": "Town"}))
                .await;
            if response.status() == 503 {
                return None;
            }
            assert_eq!(response.status(), 202);
            let body: serde_json::Value = response.json().await.expect("JSON");
            Some(Uuid::try_parse(body["id"].as_str().expect("id")).expect("uuid"))
        })
        .await;
        after.push(accepted);
    }
    for id in before.iter().chain(&after) {
        assert_eq!(stack.outcome(*id).await.event, "completed", "{id}");
    }
}
