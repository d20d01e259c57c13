//! The projector's rules, against an in-memory store with paused time: no ack
//! waits, no sleeps, and every failure exactly where the test puts it.

use std::time::Duration;

use herald_contract::messages::CommandBody;
use herald_contract::{Category, CommandState, NewLocation};
use tokio::time::Instant;

use super::*;
use crate::records::memory::MemoryRecords;

fn command(name: &str) -> Command {
    Command::new(CommandBody::CreateLocation(NewLocation {
        name: name.into(),
        category: Category::Town,
        description: String::new(),
    }))
}

fn payload(command: &Command) -> Vec<u8> {
    serde_json::to_vec(command).expect("serializes")
}

fn delivery(command: &Command, attempt: i64, max_attempts: i64) -> Delivery {
    Delivery {
        subject: command.subject(),
        stream_sequence: 7,
        attempt,
        max_attempts,
    }
}

fn projector(records: &MemoryRecords) -> Projector<MemoryRecords> {
    Projector::new(records.clone(), Arc::default(), Duration::ZERO)
}

async fn handle(records: &MemoryRecords, command: &Command, attempt: i64) -> Disposition {
    projector(records)
        .handle(&payload(command), &delivery(command, attempt, 3))
        .await
}

fn status(records: &MemoryRecords, command: &Command) -> CommandStatus {
    records.state().statuses[&command.id].status.clone()
}

#[tokio::test(start_paused = true)]
async fn a_new_command_writes_its_location_and_status_then_announces() {
    let records = MemoryRecords::default();
    let lisbon = command("Lisbon");
    assert_eq!(handle(&records, &lisbon, 1).await, Disposition::Ack);
    let state = records.state();
    assert_eq!(state.locations[&lisbon.id].name, "Lisbon");
    assert_eq!(
        state.statuses[&lisbon.id].status.status,
        CommandState::Completed
    );
    assert_eq!(state.announced.len(), 1);
    assert_eq!(state.announced[0].command_id, lisbon.id);
    assert_eq!(
        state.announced[0].revision,
        Some(state.statuses[&lisbon.id].revision)
    );
    assert!(state.dead_letters.is_empty());
}

#[tokio::test(start_paused = true)]
async fn the_artificial_delay_is_spent_before_deciding() {
    let records = MemoryRecords::default();
    let slow = Projector::new(records.clone(), Arc::default(), Duration::from_secs(30));
    let porto = command("Porto");
    let started = Instant::now();
    let disposition = slow.handle(&payload(&porto), &delivery(&porto, 1, 3)).await;
    assert_eq!(disposition, Disposition::Ack);
    assert_eq!(started.elapsed(), Duration::from_secs(30));
}

#[tokio::test(start_paused = true)]
async fn a_recorded_outcome_stands_and_is_announced_again() {
    let records = MemoryRecords::default();
    let braga = command("Braga");
    let failed = CommandStatus::failed(braga.id, None, FailureReason::Conflict, vec!["no".into()]);
    let recorded = crate::records::Recorded {
        status: failed.clone(),
        revision: 41,
    };
    records.state().statuses.insert(braga.id, recorded);
    assert_eq!(handle(&records, &braga, 2).await, Disposition::Ack);
    let state = records.state();
    assert_eq!(state.statuses[&braga.id].status, failed, "not decided anew");
    assert!(state.locations.is_empty());
    assert_eq!(state.announced.len(), 1);
    assert_eq!(state.announced[0].status, CommandState::Failed);
    assert_eq!(
        state.announced[0].revision,
        Some(41),
        "with its recorded revision"
    );
}

#[tokio::test(start_paused = true)]
async fn a_taken_name_is_a_conflict_but_not_for_its_own_holder() {
    let records = MemoryRecords::default();
    let first = command("Évora");
    assert_eq!(handle(&records, &first, 1).await, Disposition::Ack);
    let second = command("  éVORA ");
    assert_eq!(handle(&records, &second, 1).await, Disposition::Ack);
    let conflict = status(&records, &second);
    assert_eq!(conflict.status, CommandState::Failed);
    assert_eq!(conflict.reason, Some(FailureReason::Conflict));
    assert_eq!(
        conflict.errors,
        [r#"a location named "éVORA" already exists"#]
    );

    // The holder's claim survives losing its status (say, a purge): redelivered,
    // it finds its own claim and completes again rather than conflict with itself.
    records.state().statuses.remove(&first.id);
    assert_eq!(handle(&records, &first, 2).await, Disposition::Ack);
    assert_eq!(status(&records, &first).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn the_name_of_a_holder_that_failed_is_taken_over() {
    let records = MemoryRecords::default();
    let first = command("Sintra");
    // The first holder claims the name, then fails without a location.
    records.fail("put_location", 1);
    let exhausted = handle(&records, &first, 3).await;
    assert_eq!(exhausted, Disposition::Terminate);
    assert_eq!(
        status(&records, &first).reason,
        Some(FailureReason::Unprocessable)
    );

    let second = command("Sintra");
    assert_eq!(handle(&records, &second, 1).await, Disposition::Ack);
    assert_eq!(status(&records, &second).status, CommandState::Completed);
    let key = NewLocation {
        name: "Sintra".into(),
        category: Category::Town,
        description: String::new(),
    }
    .name_key();
    assert_eq!(records.state().names[&key].0, second.id.to_string());
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_retried_with_growing_pauses_never_decided() {
    let records = MemoryRecords::default();
    let faro = command("Faro");
    records.fail("put_location", 2);
    assert_eq!(
        handle(&records, &faro, 1).await,
        Disposition::Retry {
            delay: Duration::from_millis(100)
        }
    );
    assert_eq!(
        handle(&records, &faro, 2).await,
        Disposition::Retry {
            delay: Duration::from_millis(200)
        }
    );
    assert!(records.state().statuses.is_empty(), "nothing decided yet");
    assert_eq!(handle(&records, &faro, 3).await, Disposition::Ack);
    assert_eq!(status(&records, &faro).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_failed_take_over_write_is_retried_not_a_conflict() {
    let records = MemoryRecords::default();
    let first = command("Tomar");
    records.fail("put_location", 1);
    assert_eq!(handle(&records, &first, 3).await, Disposition::Terminate);
    let second = command("Tomar");
    records.fail("take_over_name", 1);
    assert!(matches!(
        handle(&records, &second, 1).await,
        Disposition::Retry { .. }
    ));
    assert_eq!(handle(&records, &second, 2).await, Disposition::Ack);
    assert_eq!(status(&records, &second).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn the_last_delivery_gives_up_with_a_dead_letter_and_a_failure() {
    let records = MemoryRecords::default();
    let beja = command("Beja");
    records.fail("put_location", 1);
    assert_eq!(handle(&records, &beja, 3).await, Disposition::Terminate);
    let state = records.state();
    let failed = &state.statuses[&beja.id].status;
    assert_eq!(failed.reason, Some(FailureReason::Unprocessable));
    assert_eq!(failed.errors, ["the command could not be processed"]);
    assert_eq!(
        state.dead_letters,
        [(7, "gave up after the last delivery".into())]
    );
    assert_eq!(state.announced.len(), 1, "its client is told");
}

#[tokio::test(start_paused = true)]
async fn giving_up_keeps_what_took_effect() {
    let records = MemoryRecords::default();
    let viseu = command("Viseu");
    // The location was written, the status was not, and the deliveries ran out.
    records.fail("create_status", 1);
    assert!(matches!(
        handle(&records, &viseu, 1).await,
        Disposition::Retry { .. }
    ));
    records.fail("create_status", 1);
    assert_eq!(handle(&records, &viseu, 3).await, Disposition::Ack);
    assert_eq!(status(&records, &viseu).status, CommandState::Completed);
    assert!(records.state().dead_letters.is_empty());
}

#[tokio::test(start_paused = true)]
async fn giving_up_that_cannot_be_written_is_tried_again() {
    let records = MemoryRecords::default();
    let leiria = command("Leiria");
    records.fail("put_location", 1);
    records.fail("dead_letter", 1);
    assert!(matches!(
        handle(&records, &leiria, 3).await,
        Disposition::Retry { .. }
    ));
    assert!(records.state().statuses.is_empty());
    // JetStream's max-deliveries advisory brings it back.
    projector(&records)
        .exhausted(&payload(&leiria), &delivery(&leiria, 3, 3))
        .await
        .expect("settled");
    assert_eq!(
        status(&records, &leiria).reason,
        Some(FailureReason::Unprocessable)
    );
}

#[tokio::test(start_paused = true)]
async fn an_unreadable_command_is_a_dead_letter_and_fails_when_its_id_is_known() {
    let records = MemoryRecords::default();
    let id = Uuid::now_v7();
    let garbage = Delivery {
        subject: format!("commands.create_location.{id}"),
        stream_sequence: 9,
        attempt: 1,
        max_attempts: 3,
    };
    let disposition = projector(&records).handle(b"not json", &garbage).await;
    assert_eq!(disposition, Disposition::Terminate);
    let state = records.state();
    assert_eq!(state.dead_letters, [(9, "undecodable".into())]);
    assert_eq!(
        state.statuses[&id].status.errors,
        ["the command could not be read"]
    );
}

#[tokio::test(start_paused = true)]
async fn content_that_breaks_the_rules_fails_as_invalid() {
    let records = MemoryRecords::default();
    let bad = command("a\u{0}b");
    assert_eq!(handle(&records, &bad, 1).await, Disposition::Ack);
    let failed = status(&records, &bad);
    assert_eq!(failed.reason, Some(FailureReason::Invalid));
    assert!(records.state().locations.is_empty());
}

#[test]
fn the_id_of_an_unreadable_command_is_found_where_it_can_be() {
    let id = Uuid::now_v7();
    let future = serde_json::json!({"id": id, "type": "teleport", "payload": {}});
    let subject = "commands.teleport.garbage";
    assert_eq!(
        readable_id(future.to_string().as_bytes(), subject),
        Some(id)
    );
    assert_eq!(readable_id(b"not json", subject), None);
    assert_eq!(readable_id(br#"{"id": "nope"}"#, subject), None);
    let by_subject = format!("commands.create_location.{id}");
    assert_eq!(readable_id(b"not json", &by_subject), Some(id));
}
