//! The routing of outcomes, without NATS: who is told, what is remembered, and
//! what the feed gets, in which order.

use std::time::Duration;

use herald_contract::{CommandStatus, FailureReason, Notification};

use super::*;

fn payload(command_id: Uuid, revision: u64) -> Bytes {
    let status = CommandStatus::failed(command_id, None, FailureReason::Invalid, vec!["no".into()]);
    let notification = Notification::for_recorded(&status, revision).expect("terminal");
    Bytes::from(serde_json::to_vec(&notification).expect("serializes"))
}

#[tokio::test]
async fn an_outcome_goes_to_the_waiters_of_its_command_only() {
    let outcomes = Outcomes::default();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let first = outcomes.register(a);
    let second = outcomes.register(a);
    let mut other = outcomes.register(b);
    outcomes.receive_payload(&names::notification_subject(a), payload(a, 1));
    assert_eq!(first.await.expect("told").command_id, a);
    assert_eq!(second.await.expect("told").command_id, a);
    assert!(futures::poll!(&mut other).is_pending());
    assert_eq!(outcomes.waiting(), 1);
    drop(other);
    assert_eq!(
        outcomes.waiting(),
        0,
        "a dropped waiter leaves nothing behind"
    );
}

#[tokio::test]
async fn a_payload_for_another_command_or_garbage_is_ignored() {
    let outcomes = Outcomes::default();
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    let mut waiter = outcomes.register(a);
    outcomes.receive_payload(&names::notification_subject(a), payload(b, 1));
    outcomes.receive_payload(&names::notification_subject(a), Bytes::from_static(b"nope"));
    outcomes.receive_payload("notifications.nope", payload(a, 2));
    assert!(futures::poll!(&mut waiter).is_pending());
}

#[tokio::test]
async fn a_group_is_told_once_per_command_and_ends() {
    let outcomes = Outcomes::default();
    let ids = vec![Uuid::now_v7(), Uuid::now_v7()];
    let mut group = outcomes.register_group(ids.clone());
    assert_eq!(outcomes.waiting(), 2);
    for (n, id) in ids.iter().enumerate() {
        outcomes.receive_payload(
            &names::notification_subject(*id),
            payload(*id, n as u64 + 1),
        );
    }
    let mut told = Vec::new();
    while let Some(finished) = futures::future::poll_fn(|cx| group.poll_next(cx)).await {
        told.push(finished.command_id);
    }
    assert_eq!(told, ids);
    drop(group);
    assert_eq!(outcomes.waiting(), 0);
}

#[test]
fn accepted_counts_as_pending_only_once_revisions_are_followed() {
    let outcomes = Outcomes::default();
    let early = Uuid::now_v7();
    outcomes.accepted(early);
    assert!(
        outcomes.knowledge(&early).is_none(),
        "before the start: read NATS"
    );
    outcomes.start_at(0);
    let id = Uuid::now_v7();
    outcomes.accepted(id);
    assert!(matches!(outcomes.knowledge(&id), Some(Knowledge::Pending)));
    outcomes.receive_payload(&names::notification_subject(id), payload(id, 1));
    assert!(matches!(
        outcomes.knowledge(&id),
        Some(Knowledge::Finished(_))
    ));
}

#[test]
fn the_feed_gets_outcomes_in_revision_order_and_a_hole_is_overdue() {
    let outcomes = Outcomes::default();
    outcomes.start_at(10);
    let (mut catch, mut live) = (None, outcomes.feed().join(None).1);
    let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
    outcomes.receive_payload(&names::notification_subject(ids[1]), payload(ids[1], 12));
    assert!(live.try_recv().is_err(), "11 first");
    assert_eq!(outcomes.overdue(Duration::ZERO), Some(11));
    outcomes.receive_payload(&names::notification_subject(ids[0]), payload(ids[0], 11));
    for revision in [11, 12] {
        assert_eq!(live.try_recv().expect("in order").revision, Some(revision));
    }
    // Lost: 13 never comes; reading the bucket finds it, or finds nothing there.
    outcomes.receive_payload(&names::notification_subject(ids[2]), payload(ids[2], 14));
    outcomes.read_up_to(13);
    assert_eq!(live.try_recv().expect("14").revision, Some(14));
    assert_eq!(outcomes.next_revision(), Some(15));
    catch.replace(outcomes.feed().join(Some(11)).0);
    assert!(matches!(catch, Some(feed::Catch::Ring(backlog)) if backlog.len() == 2));
}
