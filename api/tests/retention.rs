//! One retention horizon: a command older than `COMMAND_RETENTION_SECS` is
//! unknown (404), never `pending`, and a name never stays locked by a command
//! that is gone. Run with a two-second horizon.

use std::time::Duration;

use herald_contract::{NewLocation, names};
use herald_testkit::{Stack, StackOptions, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

const RETENTION_SECS: u64 = 2;

/// Long enough for the stream and the status bucket to drop a command (the
/// status is kept twice the horizon here; NATS expires about once a second).
const PAST_THE_HORIZON: Duration = Duration::from_secs(4 * RETENTION_SECS + 10);

async fn short_lived(reactors: usize) -> Stack {
    Stack::start_with(StackOptions {
        reactors,
        command_retention_secs: RETENTION_SECS,
        ..StackOptions::default()
    })
    .await
}

/// Polls `GET /api/commands/{id}` until it answers 404, asserting that every
/// answer before is `expected`: the command never reads `pending` on its way out.
async fn fades_to_unknown(stack: &Stack, id: Uuid, expected: &str) {
    let path = format!("/api/commands/{id}");
    eventually(PAST_THE_HORIZON, "the command is forgotten", || async {
        let response = stack.get(&path).await;
        if response.status() == 404 {
            return Some(());
        }
        assert_eq!(response.status(), 200, "GET {path}");
        let body: Value = response.json().await.expect("JSON");
        assert_eq!(body["status"], expected, "{body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
        None
    })
    .await;
    let events = stack.get(&format!("/api/commands/{id}/events")).await;
    assert_eq!(
        events.status(),
        404,
        "the event stream of a forgotten command"
    );
}

#[tokio::test]
async fn a_completed_command_past_the_horizon_is_unknown_and_its_location_stays() {
    let stack = short_lived(1).await;
    let id = stack.create_location("Évora").await;
    assert_eq!(stack.outcome(id).await.event, "completed");

    fades_to_unknown(&stack, id, "completed").await;

    // The location is the read model, kept for good, and its name stays taken.
    let listing: Value = stack.get_json("/api/locations").await;
    assert_eq!(listing[0]["name"], "Évora", "{listing}");
    let again = stack.create_location("évora").await;
    assert_eq!(stack.outcome(again).await.event, "failed");
}

#[tokio::test]
async fn a_failed_command_past_the_horizon_is_unknown_not_pending() {
    let stack = short_lived(1).await;
    let first = stack.create_location("Braga").await;
    assert_eq!(stack.outcome(first).await.event, "completed");
    let second = stack.create_location("Braga").await;
    let failed = stack.outcome(second).await;
    assert_eq!(failed.event, "failed");
    assert_eq!(failed.data["reason"], "conflict", "{:?}", failed.data);

    fades_to_unknown(&stack, second, "failed").await;
}

#[tokio::test]
async fn a_name_claimed_by_a_command_past_the_horizon_is_taken_over() {
    let stack = short_lived(1).await;
    // A claim whose holder never decided and is no longer in the stream: what
    // a reactor that died after claiming leaves once the horizon has passed.
    let body = json!({"name": "Faro", "category": "City", "description": ""});
    let key = NewLocation::from_json(&body).expect("valid").name_key();
    let names = stack
        .jetstream()
        .await
        .get_key_value(names::LOCATION_NAMES_BUCKET)
        .await
        .expect("the name index exists once the api is ready");
    let gone = Uuid::now_v7();
    names
        .create(
            &key,
            json!({"holder": gone, "state": "claimed"})
                .to_string()
                .into(),
        )
        .await
        .expect("write the stale claim");

    let id = stack.create_location("Faro").await;
    assert_eq!(stack.outcome(id).await.event, "completed");
}

#[tokio::test]
async fn a_command_never_processed_within_the_horizon_is_unknown() {
    // No reactor: the command waits in the stream until the horizon drops it.
    let stack = short_lived(0).await;
    let id = stack.create_location("Lagos").await;
    fades_to_unknown(&stack, id, "pending").await;
}
