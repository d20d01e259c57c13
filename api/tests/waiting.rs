//! `Prefer: wait` (RFC 7240): the POST holds its answer until the command finishes.

use std::time::{Duration, Instant};

use herald_testkit::{Stack, StackOptions};
use serde_json::{Value, json};

fn lisbon() -> Value {
    json!({"name": "Lisbon", "category": "City", "description": "by the sea"})
}

#[tokio::test]
async fn a_wait_answered_within_the_window_is_201_with_the_resource() {
    let stack = Stack::start().await;
    let response = stack
        .post_location_with(&lisbon(), &[("prefer", "wait=5")])
        .await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["preference-applied"], "wait=5");
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("id");
    assert_eq!(location, format!("/api/locations/{id}"));
    assert_eq!(body["status"], "completed");
    assert_eq!(body["resource"]["name"], "Lisbon");
    assert_eq!(body["resource"]["id"], id);
    assert!(body["accepted_at"].is_string() && body["completed_at"].is_string());
    assert_eq!(
        body["links"]["events"],
        format!("/api/commands/{id}/events")
    );
    // The resource is there to follow.
    assert_eq!(stack.get(&location).await.status(), 200);
}

#[tokio::test]
async fn a_wait_that_times_out_is_an_ordinary_202() {
    let stack = Stack::start_with(StackOptions {
        reactor_delay: Duration::from_millis(2500),
        ..StackOptions::default()
    })
    .await;
    let started = Instant::now();
    let response = stack
        .post_location_with(&lisbon(), &[("prefer", "wait=1")])
        .await;
    let waited = started.elapsed();
    assert_eq!(response.status(), 202);
    assert!(!response.headers().contains_key("preference-applied"));
    assert!(
        waited >= Duration::from_secs(1) && waited < Duration::from_millis(2400),
        "waited {waited:?}"
    );
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "pending");
    let id = uuid::Uuid::try_parse(body["id"].as_str().expect("id")).expect("uuid");
    // It still completes, and its stream says so.
    assert_eq!(stack.outcome(id).await.event, "completed");
}

#[tokio::test]
async fn the_seeds_wait_headers_still_work() {
    let stack = Stack::start().await;
    let response = stack
        .post_location_with(
            &lisbon(),
            &[
                ("x-notification-await", "true"),
                ("x-notification-timeout", "5"),
            ],
        )
        .await;
    assert_eq!(response.status(), 201);
    let body: Value = response.json().await.expect("JSON");
    assert_eq!(body["status"], "completed");
}

#[tokio::test]
async fn a_wait_that_is_not_understood_is_ignored() {
    let stack = Stack::start().await;
    for prefer in ["wait=soon", "wait=-3", "wait="] {
        let response = stack
            .post_location_with(&lisbon(), &[("prefer", prefer)])
            .await;
        assert_eq!(response.status(), 202, "{prefer}");
    }
}
