//! `GET /api/notifications`: every outcome, resumable with `Last-Event-ID`.

use std::time::Duration;

use herald_testkit::Stack;

#[tokio::test]
async fn the_feed_carries_every_outcome_and_resumes_after_a_reconnect() {
    let stack = Stack::start().await;
    let mut feed = stack.open_sse("/api/notifications", &[]).await;
    let first = stack.create_location("One").await;
    let event = feed.next_event().await.expect("an event");
    assert_eq!(event.event, "notification");
    assert_eq!(event.data["command_id"], first.to_string());
    assert_eq!(event.data["status"], "completed");
    let last_seen = event.id.clone();
    drop(feed);

    // While the client is away, two more commands finish.
    let second = stack.create_location("Two").await;
    let third = stack.create_location("Three").await;
    stack.outcome(second).await;
    stack.outcome(third).await;

    let mut feed = stack
        .open_sse("/api/notifications", &[("last-event-id", &last_seen)])
        .await;
    let missed: Vec<String> = vec![
        feed.next_event().await.expect("missed 1").data["command_id"].to_string(),
        feed.next_event().await.expect("missed 2").data["command_id"].to_string(),
    ];
    assert_eq!(
        missed,
        [format!("\"{second}\""), format!("\"{third}\"")],
        "exactly what it missed, in order"
    );
    feed.assert_quiet(Duration::from_millis(300)).await;

    // And it goes on live.
    let fourth = stack.create_location("Four").await;
    let live = feed.next_event().await.expect("live event");
    assert_eq!(live.data["command_id"], fourth.to_string());
    assert!(live.id.parse::<u64>().expect("numeric id") > last_seen.parse::<u64>().expect("id"));
}

#[tokio::test]
async fn without_last_event_id_the_feed_starts_live() {
    let stack = Stack::start().await;
    let old = stack.create_location("Old").await;
    stack.outcome(old).await;
    let mut feed = stack.open_sse("/api/notifications", &[]).await;
    feed.assert_quiet(Duration::from_millis(300)).await;
    let new = stack.create_location("New").await;
    assert_eq!(
        feed.next_event().await.expect("event").data["command_id"],
        new.to_string()
    );
}

#[tokio::test]
async fn any_last_event_id_is_answered_without_harm() {
    let stack = Stack::start().await;
    for id in ["18446744073709551615", "-1", "abc"] {
        let mut feed = stack
            .open_sse("/api/notifications", &[("last-event-id", id)])
            .await;
        let new = stack.create_location(&format!("After {id}")).await;
        let event = feed.next_event().await.expect("event");
        assert_eq!(event.data["command_id"], new.to_string(), "{id}");
    }
}

#[tokio::test]
async fn while_nats_is_down_the_feed_stays_open_and_goes_on_when_it_is_back() {
    let mut stack = Stack::start().await;
    stack.nats.stop().await;
    // Served from the process's own feed, which needs no NATS to be joined.
    let mut feed = stack.open_sse("/api/notifications", &[]).await;
    stack.nats.restart().await;
    stack.wait_ready().await;
    let id = stack.create_location("Back").await;
    assert_eq!(
        feed.next_event().await.expect("event").data["command_id"],
        id.to_string()
    );
}

#[tokio::test]
async fn a_resume_older_than_the_process_knows_is_told_to_come_back_while_nats_is_down() {
    let mut stack = Stack::start().await;
    let before = stack.create_location("Before").await;
    stack.outcome(before).await;
    // A new api process: the outcome before it is in the bucket only.
    stack.stop_api().await.expect("the api stops");
    stack.start_api().await;
    stack.nats.stop().await;
    // A resume from before it can only be served from the bucket: 200, not an
    // error status (EventSource gives up for good on those), and it ends at once.
    let response = stack
        .http
        .get(stack.url("/api/notifications"))
        .header("last-event-id", "0")
        .send()
        .await
        .expect("GET the feed");
    assert_eq!(response.status(), 200);
    let body = tokio::time::timeout(Duration::from_secs(5), response.text())
        .await
        .expect("the response ends")
        .expect("body");
    assert_eq!(body, "retry: 1000\n\n");
}

#[tokio::test]
async fn feed_clients_cost_no_consumer_on_the_server() {
    let stack = Stack::start().await;
    let done = stack.create_location("Before").await;
    stack.outcome(done).await;
    let mut feeds = Vec::new();
    for _ in 0..50 {
        feeds.push(stack.open_sse("/api/notifications", &[]).await);
    }
    // Resuming from the process's ring costs nothing either.
    let mut resumed = stack
        .open_sse("/api/notifications", &[("last-event-id", "1")])
        .await;
    assert_eq!(stack.consumers("KV_commands").await, 0);
    let id = stack.create_location("Seen by all").await;
    for feed in feeds.iter_mut().chain([&mut resumed]) {
        assert_eq!(
            feed.next_event().await.expect("event").data["command_id"],
            id.to_string()
        );
    }
}
