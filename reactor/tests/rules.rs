//! The reactor's business rule (unique names) and what happens when it cannot
//! write (it tries again until it can) or its reactors keep dying (a failed
//! outcome and a dead letter).

use std::collections::HashMap;
use std::sync::Arc;

use async_nats::jetstream;
use futures::StreamExt;
use herald_testkit::{PATIENCE, Stack, StackOptions, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

/// A stack whose reactor (`max_deliver` deliveries) has completed a command, so
/// it has set the buckets up: its start-up would undo changes made before.
async fn warmed_up(max_deliver: i64) -> Stack {
    let stack = Stack::start_with(StackOptions {
        max_deliver,
        ..StackOptions::default()
    })
    .await;
    let warm_up = stack.create_location("Warm-up").await;
    assert_eq!(stack.outcome(warm_up).await.event, "completed");
    stack
}

/// Sets a stream's largest message (-1: no limit); 1 makes a bucket unwritable.
async fn limit_message_size(jetstream: &jetstream::Context, stream: &str, bytes: i32) {
    let mut stream = jetstream.get_stream(stream).await.expect("stream");
    let mut config = stream.info().await.expect("info").config.clone();
    config.max_message_size = bytes;
    jetstream.update_stream(config).await.expect("update");
}

#[tokio::test]
async fn of_500_commands_reusing_50_names_with_three_reactors_exactly_450_complete() {
    let stack = Arc::new(
        Stack::start_with(StackOptions {
            reactors: 3,
            ..StackOptions::default()
        })
        .await,
    );
    // 450 distinct names, and 50 more commands reusing some of them, written
    // differently (case, spaces), all sent at once so the reactors race.
    let mut names: Vec<String> = (0..450).map(|n| format!("Place {n}")).collect();
    names.extend((0..50).map(|n| format!("  pLACE {}  ", n * 9)));
    let tasks: Vec<_> = names
        .into_iter()
        .map(|name| {
            let stack = stack.clone();
            tokio::spawn(async move {
                let id = stack.create_location(&name).await;
                (name, stack.outcome(id).await)
            })
        })
        .collect();
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    let mut winners: HashMap<String, usize> = HashMap::new();
    for task in tasks {
        let (name, event) = task.await.expect("task");
        *outcomes.entry(event.event.clone()).or_default() += 1;
        let key = name.trim().to_lowercase();
        match event.event.as_str() {
            "completed" => *winners.entry(key).or_default() += 1,
            "failed" => {
                assert_eq!(event.data["reason"], "conflict");
                let error = event.data["errors"][0].as_str().expect("an error");
                assert!(error.contains("already exists"), "{error}");
            }
            other => panic!("unexpected event {other}"),
        }
    }
    assert_eq!(outcomes["completed"], 450);
    assert_eq!(outcomes["failed"], 50);
    assert!(winners.values().all(|&n| n == 1), "one winner per name");
    let listed: Vec<Value> = stack.get_json("/api/locations?limit=500").await;
    assert_eq!(listed.len(), 450);
}

#[tokio::test]
async fn a_duplicate_name_under_prefer_wait_is_a_409() {
    let stack = Stack::start().await;
    let body = json!({"name": "Sagres", "category": "Town"});
    let first = stack
        .post_location_with(&body, &[("prefer", "wait=5")])
        .await;
    assert_eq!(first.status(), 201);
    let again = json!({"name": " SAGRES", "category": "City"});
    let second = stack
        .post_location_with(&again, &[("prefer", "wait=5")])
        .await;
    assert_eq!(second.status(), 409);
    assert_eq!(second.headers()["content-type"], "application/problem+json");
    let problem: Value = second.json().await.expect("JSON");
    let command_id =
        Uuid::try_parse(problem["command_id"].as_str().expect("command_id")).expect("uuid");
    assert!(
        problem["errors"][0]["message"]
            .as_str()
            .expect("message")
            .contains("\"SAGRES\" already exists")
    );
    let status: Value = stack.get_json(&format!("/api/commands/{command_id}")).await;
    assert_eq!(status["status"], "failed");
    assert_eq!(status["reason"], "conflict");
}

#[tokio::test]
async fn an_outcome_that_cannot_be_recorded_waits_without_spending_deliveries() {
    let stack = warmed_up(2).await;
    let jetstream = stack.jetstream().await;
    // The outcome cannot be recorded: a bucket refuses values over its size limit.
    limit_message_size(&jetstream, "KV_commands", 1).await;
    let id = stack.create_location("Unwritable").await;
    let mut events = stack.open_events(id).await;
    // Tried again and again in place (well past two deliveries' worth of
    // tries): held by its reactor, never redelivered, nothing decided or told.
    events.assert_quiet(std::time::Duration::from_secs(3)).await;
    wait_for_consumer(&stack, 1, 0).await;
    let status: Value = stack.get_json(&format!("/api/commands/{id}")).await;
    assert_eq!(status["status"], "pending");
    assert_eq!(stack.stored("DEAD_COMMANDS").await, 0, "not given up on");
    limit_message_size(&jetstream, "KV_commands", -1).await;

    // Within a second of NATS taking it, it goes through.
    let event = events.next_event().await.expect("an outcome");
    assert_eq!(event.event, "completed");
    assert_eq!(
        stack.get(&format!("/api/locations/{id}")).await.status(),
        200
    );
}

#[tokio::test]
async fn a_completion_whose_location_cannot_be_written_is_told_once_it_is() {
    let stack = warmed_up(3).await;
    let jetstream = stack.jetstream().await;
    limit_message_size(&jetstream, "KV_locations", 1).await;
    let id = stack.create_location("Halfway").await;
    let mut events = stack.open_events(id).await;
    // Completed is recorded, but nobody is told before the location is there.
    eventually(PATIENCE, "the outcome is recorded", || async {
        let status: Value = stack.get_json(&format!("/api/commands/{id}")).await;
        (status["status"] == "completed").then_some(())
    })
    .await;
    events.assert_quiet(std::time::Duration::from_secs(1)).await;
    limit_message_size(&jetstream, "KV_locations", -1).await;

    let event = events.next_event().await.expect("an outcome");
    assert_eq!(event.event, "completed");
    assert_eq!(
        stack.get(&format!("/api/locations/{id}")).await.status(),
        200
    );
    // It keeps its name.
    let again = stack.create_location("halfway").await;
    let event = stack.outcome(again).await;
    assert_eq!(event.event, "failed");
    assert_eq!(event.data["reason"], "conflict");
}

#[tokio::test]
async fn unreadable_commands_are_dead_letters_too() {
    let stack = Stack::start().await;
    let jetstream = stack.jetstream().await;
    jetstream
        .publish("commands.create_location.garbage", "garbage".into())
        .await
        .expect("publish")
        .await
        .expect("stored");
    let dead = jetstream
        .get_stream("DEAD_COMMANDS")
        .await
        .expect("dead letters");
    let mut messages = dead
        .create_consumer(jetstream::consumer::pull::OrderedConfig::default())
        .await
        .expect("consumer")
        .messages()
        .await
        .expect("messages");
    let letter = tokio::time::timeout(PATIENCE, messages.next())
        .await
        .expect("a dead letter in time")
        .expect("a message")
        .expect("readable");
    assert_eq!(
        letter.subject.as_str(),
        "dead.commands.create_location.garbage"
    );
    assert_eq!(letter.payload.as_ref(), b"garbage");
    assert_eq!(
        letter
            .headers
            .as_ref()
            .and_then(|h| h.get("Herald-Reason"))
            .map(|v| v.as_str()),
        Some("undecodable")
    );
}

/// Waits until the reactors' consumer has `ack_pending` commands delivered and
/// unacknowledged, `redelivered` of them more than once.
async fn wait_for_consumer(stack: &Stack, ack_pending: usize, redelivered: usize) {
    let jetstream = stack.jetstream().await;
    let wanted = format!("{ack_pending} commands held, {redelivered} redelivered");
    eventually(PATIENCE, &wanted, || async {
        let stream = jetstream.get_stream("COMMANDS").await.expect("stream");
        let info = stream.consumer_info("reactor").await.ok()?;
        (info.num_ack_pending == ack_pending && info.num_redelivered == redelivered).then_some(())
    })
    .await;
}

#[tokio::test]
async fn a_command_whose_reactors_all_die_ends_failed_when_deliveries_run_out() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        reactor_delay: std::time::Duration::from_secs(60),
        ack_wait_secs: 2,
        max_deliver: 2,
        ..StackOptions::default()
    })
    .await;
    let id = stack.create_location("Cursed").await;
    // Each reactor that gets it dies holding it.
    let first = stack.start_reactor();
    wait_for_consumer(&stack, 1, 0).await;
    stack.kill_reactor(first).await;
    let second = stack.start_reactor();
    wait_for_consumer(&stack, 1, 1).await;
    stack.kill_reactor(second).await;
    // JetStream gives up on it and says so; a reactor running now hears of it.
    stack.start_reactor();
    let event = stack.outcome(id).await;
    assert_eq!(event.event, "failed");
    assert_eq!(event.data["reason"], "unprocessable");

    let dead = stack
        .jetstream()
        .await
        .get_stream("DEAD_COMMANDS")
        .await
        .expect("dead letters");
    let letter = dead
        .get_last_raw_message_by_subject(&format!("dead.commands.create_location.{id}"))
        .await
        .expect("a dead letter");
    let error = letter
        .headers
        .get("Herald-Error")
        .map(|v| v.as_str().to_owned())
        .unwrap_or_default();
    assert!(error.contains("died or stalled"), "{error}");
}

#[tokio::test]
async fn a_command_that_cannot_be_read_ends_failed_and_the_reactor_goes_on() {
    let stack = Stack::start().await;
    let id = Uuid::now_v7();
    let jetstream = stack.jetstream().await;
    // What a newer api might publish during a rolling deploy.
    let unknown = json!({"id": id, "accepted_at": "2026-11-25T08:00:00Z", "type": "teleport_location", "payload": {}});
    jetstream
        .publish(
            format!("commands.create_location.{id}"),
            unknown.to_string().into(),
        )
        .await
        .expect("publish")
        .await
        .expect("stored");
    // Not JSON at all: terminated without an id to report.
    jetstream
        .publish("commands.create_location.garbage", "garbage".into())
        .await
        .expect("publish")
        .await
        .expect("stored");

    let event = stack.outcome(id).await;
    assert_eq!(event.event, "failed");
    assert_eq!(
        event.data["errors"],
        json!(["the command could not be read"])
    );
    assert_eq!(event.data["actions"], json!([]));

    let next = stack.create_location("After the poison").await;
    assert_eq!(stack.outcome(next).await.event, "completed");
}
