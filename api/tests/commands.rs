//! The command path end to end: POST, the reactor, and the command's own event
//! stream, against a real nats-server.

use std::collections::HashSet;
use std::time::Duration;

use herald_testkit::{PATIENCE, Stack, StackOptions, assert_problem, eventually};
use serde_json::{Value, json};
use uuid::Uuid;

#[tokio::test]
async fn a_created_location_completes_on_its_event_stream() {
    let stack = Stack::start().await;
    let response = stack
        .post_location(&json!({"name": "Lisbon", "category": "City", "description": "by the sea"}))
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"]
        .to_str()
        .expect("ascii")
        .to_owned();
    let body: Value = response.json().await.expect("JSON");
    let id = body["id"].as_str().expect("id").to_owned();
    assert_eq!(location, format!("/api/commands/{id}"));
    assert_eq!(body["status"], "pending");
    assert_eq!(body["links"]["self"], location);
    assert_eq!(
        body["links"]["events"],
        format!("/api/commands/{id}/events")
    );
    assert_eq!(body["links"]["resource"], format!("/api/locations/{id}"));

    let id = Uuid::try_parse(&id).expect("uuid");
    assert_eq!(id.get_version_num(), 7, "command ids are UUID v7");
    let event = stack.outcome(id).await;
    assert_eq!(event.event, "completed");
    assert_eq!(event.id, event.data["id"].as_str().expect("id"));
    assert_eq!(event.data["command_id"], id.to_string());
    assert_eq!(event.data["errors"], json!([]));
    assert_eq!(
        event.data["actions"],
        json!([{"type": "redirect", "data": format!("/locations/{id}")}])
    );
    assert_eq!(event.data["data"]["location"]["name"], "Lisbon");

    // Read your writes: the redirect target's data is there once the event is.
    let location: Value = stack.get_json(&format!("/api/locations/{id}")).await;
    assert_eq!(location["name"], "Lisbon");
    assert_eq!(location["category"], "City");
    assert_eq!(location["description"], "by the sea");
    let status: Value = stack.get_json(&format!("/api/commands/{id}")).await;
    assert_eq!(status["status"], "completed");
    assert_eq!(status["resource"]["id"], id.to_string());
}

#[tokio::test]
async fn a_client_that_connects_after_completion_gets_the_event_at_once() {
    let stack = Stack::start().await;
    let id = stack.create_location("Porto").await;
    wait_until_status(&stack, id, "completed").await;

    let first = stack.outcome(id).await;
    assert_eq!(first.event, "completed");
    // A reconnecting EventSource gets the same outcome, with the same event id.
    let again = stack.outcome(id).await;
    assert_eq!(again.id, first.id);
    assert_eq!(again.data, first.data);
}

#[tokio::test]
async fn each_stream_carries_only_its_own_command() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let a = stack.create_location("Braga").await;
    let b = stack.create_location("Faro").await;
    // Both wait in the stream while their clients connect.
    let mut events_a = stack.open_events(a).await;
    let mut events_b = stack.open_events(b).await;
    let pending = stack.get(&format!("/api/commands/{a}")).await;
    assert_eq!(pending.headers()["retry-after"], "1");
    let status: Value = pending.json().await.expect("JSON");
    assert_eq!(status["status"], "pending");
    assert!(status["accepted_at"].is_string());
    events_a.assert_quiet(Duration::from_millis(200)).await;

    stack.start_reactor();
    let event_a = events_a.next_event().await.expect("event for a");
    let event_b = events_b.next_event().await.expect("event for b");
    assert_eq!(event_a.data["command_id"], a.to_string());
    assert_eq!(event_a.data["data"]["location"]["name"], "Braga");
    assert_eq!(event_b.data["command_id"], b.to_string());
    assert_eq!(event_b.data["data"]["location"]["name"], "Faro");
    events_a.assert_ended().await;
    events_b.assert_ended().await;
}

#[tokio::test]
async fn two_hundred_concurrent_commands_all_complete() {
    let stack = std::sync::Arc::new(Stack::start().await);
    let tasks: Vec<_> = (0..200)
        .map(|n| {
            let stack = stack.clone();
            tokio::spawn(async move {
                let id = stack.create_location(&format!("Place {n}")).await;
                let event = stack.outcome(id).await;
                assert_eq!(event.event, "completed");
                assert_eq!(event.data["command_id"], id.to_string());
                id
            })
        })
        .collect();
    let mut ids = HashSet::new();
    for task in tasks {
        ids.insert(task.await.expect("task succeeded"));
    }
    assert_eq!(ids.len(), 200);
    assert_eq!(listed_ids(&stack).await, ids);
}

#[tokio::test]
async fn a_reactor_killed_mid_stream_loses_nothing() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        reactor_delay: Duration::from_millis(300),
        concurrency: 8,
        ..StackOptions::default()
    })
    .await;
    let ids: HashSet<Uuid> = stack
        .create_locations("Town", 60)
        .await
        .into_iter()
        .collect();
    // 60 commands, 8 at a time, 300 ms each: over two seconds of work. Kill the
    // reactor once it has finished some and holds more.
    stack.start_reactor();
    wait_for_locations(&stack, 1).await;
    stack.kill_reactor(0).await;
    let done_before = listed_ids(&stack).await.len();
    assert!(
        done_before < 60,
        "the reactor finished before it was killed"
    );

    stack.start_reactor();
    for id in &ids {
        assert_eq!(stack.outcome(*id).await.event, "completed");
    }
    assert_eq!(listed_ids(&stack).await, ids);
}

#[tokio::test]
async fn a_reactor_stopped_gracefully_hands_back_what_it_did_not_start() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        reactor_delay: Duration::from_millis(200),
        concurrency: 4,
        // Anything left unacknowledged would come back only after a minute,
        // longer than the test waits.
        ack_wait_secs: 60,
        ..StackOptions::default()
    })
    .await;
    let ids: HashSet<Uuid> = stack
        .create_locations("Village", 30)
        .await
        .into_iter()
        .collect();
    // It pulls a batch ahead of its 4 workers; stopping it must finish the 4 and
    // hand the rest back at once.
    stack.start_reactor();
    wait_for_locations(&stack, 1).await;
    stack.stop_reactor(0).await;
    assert!(listed_ids(&stack).await.len() < 30);
    stack.start_reactor();
    for id in &ids {
        assert_eq!(stack.outcome(*id).await.event, "completed");
    }
    assert_eq!(listed_ids(&stack).await, ids);
}

#[tokio::test]
async fn unknown_and_malformed_command_ids_are_answered() {
    let stack = Stack::start().await;
    let unknown = Uuid::now_v7();
    for path in [
        format!("/api/commands/{unknown}/events"),
        format!("/api/commands/{unknown}"),
    ] {
        let response = stack.get(&path).await;
        assert_eq!(response.status(), 404, "{path}");
        assert_problem(response, 404).await;
    }
    for path in ["/api/commands/nope/events", "/api/commands/nope"] {
        assert_problem(stack.get(path).await, 400).await;
    }
}

#[tokio::test]
async fn open_event_streams_end_when_the_api_shuts_down() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let id = stack.create_location("Sintra").await;
    let mut events = stack.open_events(id).await;
    tokio::time::timeout(Duration::from_secs(5), stack.stop_api())
        .await
        .expect("shutdown does not wait for open streams")
        .expect("api stopped cleanly");
    events.assert_ended().await;
}

async fn listed_ids(stack: &Stack) -> HashSet<Uuid> {
    let locations: Vec<Value> = stack.get_json("/api/locations?limit=500").await;
    let ids: HashSet<Uuid> = locations
        .iter()
        .map(|l| Uuid::try_parse(l["id"].as_str().expect("id")).expect("uuid"))
        .collect();
    assert_eq!(ids.len(), locations.len(), "no location listed twice");
    ids
}

async fn wait_for_locations(stack: &Stack, at_least: usize) {
    eventually(PATIENCE, "locations are listed", || async {
        (listed_ids(stack).await.len() >= at_least).then_some(())
    })
    .await;
}

async fn wait_until_status(stack: &Stack, id: Uuid, wanted: &str) {
    eventually(
        PATIENCE,
        &format!("the command becomes {wanted}"),
        || async {
            let status: Value = stack.get_json(&format!("/api/commands/{id}")).await;
            (status["status"] == wanted).then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn a_waiting_stream_sends_heartbeats() {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        sse_heartbeat_secs: 1,
        ..StackOptions::default()
    })
    .await;
    let id = stack.create_location("Tavira").await;
    let mut body = stack
        .get(&format!("/api/commands/{id}/events"))
        .await
        .bytes_stream();
    let chunk = tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut body))
        .await
        .expect("a heartbeat within the deadline")
        .expect("the stream is open")
        .expect("readable");
    // A comment line: ignored by EventSource, keeps proxies from timing out.
    assert!(chunk.starts_with(b":"), "{chunk:?}");
}

#[tokio::test]
async fn one_stream_waits_for_many_commands_each_told_once() {
    let mut stack = Stack::start().await;
    let done = stack.create_location("Done before").await;
    stack.outcome(done).await;
    stack.stop_reactor(0).await;
    let pending = stack.create_locations("Waited for", 2).await;
    let unknown = Uuid::now_v7();
    let ids = [done, pending[0], unknown, pending[1]];
    let query = ids.map(|id| id.to_string()).join(",");
    let mut events = stack
        .open_sse(&format!("/api/commands/events?ids={query},{done}"), &[])
        .await;
    // Told at once: the finished one and the unknown one; the others when they land.
    let mut told = HashSet::new();
    for _ in 0..2 {
        let event = events.next_event().await.expect("an event");
        told.insert(Uuid::try_parse(event.data["command_id"].as_str().expect("id")).expect("uuid"));
    }
    assert_eq!(told, HashSet::from([done, unknown]));
    stack.start_reactor();
    for _ in 0..2 {
        let event = events.next_event().await.expect("an event per command");
        let id =
            Uuid::try_parse(event.data["command_id"].as_str().expect("command_id")).expect("uuid");
        assert!(told.insert(id), "{id} told twice");
        let expected = if id == unknown {
            "unknown"
        } else {
            "completed"
        };
        assert_eq!(event.event, expected, "{id}");
    }
    assert_eq!(told, HashSet::from(ids));
    events.assert_ended().await;
}

#[tokio::test]
async fn a_stream_for_many_commands_wants_1_to_100_uuids() {
    let stack = Stack::start().await;
    let many = (0..101)
        .map(|_| Uuid::now_v7().to_string())
        .collect::<Vec<_>>()
        .join(",");
    for query in ["", "ids=", "ids=nope", &format!("ids={many}")] {
        let response = stack.get(&format!("/api/commands/events?{query}")).await;
        assert_problem(response, 400).await;
    }
}
