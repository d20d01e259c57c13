//! Lost notifications are made good by the process, once, not by every waiter:
//! the load on NATS does not grow with the number of clients waiting.

use std::time::{Duration, Instant};

use futures::StreamExt;
use herald_testkit::{Stack, StackOptions};
use serde_json::json;
use uuid::Uuid;

/// Records outcomes as the reactor does, but publishes no notification: exactly
/// what waiting clients see when the core messages are lost.
async fn record_without_notifying(stack: &Stack, ids: &[Uuid]) {
    let statuses = stack
        .jetstream()
        .await
        .get_key_value("commands")
        .await
        .expect("bucket");
    for id in ids {
        let status = json!({"id": id, "status": "failed", "reason": "invalid", "errors": ["lost in transit"]});
        statuses
            .create(id.to_string(), status.to_string().into())
            .await
            .expect("create");
    }
}

/// `waiters` clients wait on `waiters` commands whose notifications are lost;
/// answers how long the last took to learn its outcome after the statuses were
/// recorded, and how many messages the api sent to NATS meanwhile.
async fn lose_notifications(waiters: usize) -> (Duration, u64) {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let ids = stack.create_locations("Lost", waiters).await;
    let mut streams = Vec::new();
    for id in &ids {
        streams.push(stack.open_events(*id).await);
    }
    let before = stack.messages_sent_by("herald-api").await;
    let recorded = Instant::now();
    record_without_notifying(&stack, &ids).await;
    let outcomes: Vec<_> = futures::stream::iter(streams.iter_mut())
        .then(|events| async move { events.next_event().await.expect("an outcome") })
        .collect()
        .await;
    let took = recorded.elapsed();
    for (event, id) in outcomes.iter().zip(&ids) {
        assert_eq!(event.event, "failed");
        assert_eq!(event.data["command_id"], id.to_string());
        assert_eq!(event.data["errors"], json!(["lost in transit"]));
    }
    let sent = stack.messages_sent_by("herald-api").await - before;
    (took, sent)
}

#[tokio::test]
async fn lost_notifications_reach_every_waiter_with_load_that_does_not_grow_with_them() {
    let (few_took, few_sent) = lose_notifications(5).await;
    let (many_took, many_sent) = lose_notifications(300).await;
    eprintln!("5 waiters: {few_took:?}, {few_sent} messages; 300: {many_took:?}, {many_sent}");
    // Noticed by the process's check of the bucket (every second), read once.
    assert!(few_took < Duration::from_secs(4), "{few_took:?}");
    assert!(many_took < Duration::from_secs(4), "{many_took:?}");
    // A handful of requests either way (bucket checks, one read of the bucket);
    // 300 waiters re-reading their statuses would be 300 or more.
    assert!(few_sent < 40, "{few_sent} messages for 5 waiters");
    assert!(many_sent < 40, "{many_sent} messages for 300 waiters");
}

#[tokio::test]
async fn a_status_recorded_while_the_api_was_cut_off_reaches_its_waiter() {
    let mut stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let id = stack.create_location("Cut off").await;
    let mut events = stack.open_events(id).await;
    // The notification would be lost with the connection; the status is not.
    stack.nats.restart().await;
    record_without_notifying(&stack, &[id]).await;
    let event = events.next_event().await.expect("the outcome");
    assert_eq!(event.event, "failed");
    events.assert_ended().await;
}
