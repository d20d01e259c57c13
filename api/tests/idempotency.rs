//! `Idempotency-Key`: a client's retry creates nothing twice, across api restarts.

use herald_testkit::{Stack, StackOptions};
use serde_json::{Value, json};

fn body(name: &str) -> Value {
    json!({"name": name, "category": "Town", "description": ""})
}

async fn id_of(response: reqwest::Response, status: u16) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.expect("JSON");
    body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn a_retry_with_the_same_key_returns_the_same_command() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let key = [("idempotency-key", "order-7f3a")];
    let first = id_of(stack.post_location_with(&body("Aveiro"), &key).await, 202).await;
    let again = id_of(stack.post_location_with(&body("Aveiro"), &key).await, 202).await;
    assert_eq!(first, again);
    assert_eq!(stack.stored("COMMANDS").await, 1);

    // A new api process knows nothing in memory: JetStream remembers.
    stack.stop_api().await.expect("api stopped");
    stack.start_api().await;
    let after_restart = id_of(stack.post_location_with(&body("Aveiro"), &key).await, 202).await;
    assert_eq!(first, after_restart);
    assert_eq!(stack.stored("COMMANDS").await, 1);

    // Once processed, a retry that waits gets the finished command at once.
    stack.start_reactor();
    let id = uuid::Uuid::try_parse(&first).expect("uuid");
    assert_eq!(stack.outcome(id).await.event, "completed");
    let waited = stack
        .post_location_with(&body("Aveiro"), &[key[0], ("prefer", "wait=5")])
        .await;
    assert_eq!(id_of(waited, 201).await, first);
    // So does a retry that does not ask to wait: it has finished.
    let plain = stack.post_location_with(&body("Aveiro"), &key).await;
    assert_eq!(id_of(plain, 201).await, first);
    let listed: Vec<Value> = stack.get_json("/api/locations").await;
    assert_eq!(listed.len(), 1, "created once");
}

#[tokio::test]
async fn the_same_key_with_another_body_is_422() {
    let stack = Stack::start().await;
    let key = [("idempotency-key", "k-1")];
    let first = id_of(stack.post_location_with(&body("Braga"), &key).await, 202).await;
    let response = stack.post_location_with(&body("Coimbra"), &key).await;
    assert_eq!(response.status(), 422);
    assert_eq!(
        response.headers()["content-type"],
        "application/problem+json"
    );
    let problem: Value = response.json().await.expect("JSON");
    assert_eq!(problem["command_id"], first);
    assert!(
        problem["detail"]
            .as_str()
            .expect("detail")
            .contains("different body")
    );
    assert_eq!(stack.stored("COMMANDS").await, 1);
}

#[tokio::test]
async fn different_keys_are_different_commands_and_bad_keys_are_400() {
    let stack = Stack::start().await;
    let a = id_of(
        stack
            .post_location_with(&body("Faro"), &[("idempotency-key", "a")])
            .await,
        202,
    )
    .await;
    let b = id_of(
        stack
            .post_location_with(&body("Faro"), &[("idempotency-key", "b")])
            .await,
        202,
    )
    .await;
    assert_ne!(a, b);
    let too_long = "k".repeat(256);
    for key in ["", too_long.as_str()] {
        let response = stack
            .post_location_with(&body("Faro"), &[("idempotency-key", key)])
            .await;
        assert_eq!(response.status(), 400, "{key:?}");
    }
    assert_eq!(stack.stored("COMMANDS").await, 2);
}
