//! The projector's rules, against an in-memory store with paused time: no ack
//! waits, no sleeps, and every failure exactly where the test puts it.

use std::time::Duration;

use herald_contract::messages::CommandBody;
use herald_contract::{Category, CommandState, NewLocation};
use tokio::time::Instant;

use super::*;
use crate::records::memory::MemoryRecords;
use crate::records::{Claim, ClaimState, Recorded};

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
        retries: 0,
    }
}

/// `delivery` after `retries` tries in place.
fn retried(command: &Command, attempt: i64, retries: u32) -> Delivery {
    Delivery {
        retries,
        ..delivery(command, attempt, 3)
    }
}

async fn handle_retried(
    records: &MemoryRecords,
    command: &Command,
    attempt: i64,
    retries: u32,
) -> Disposition {
    projector(records)
        .handle(&payload(command), &retried(command, attempt, retries))
        .await
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

fn claim_state(records: &MemoryRecords, name: &str) -> Option<(Uuid, ClaimState)> {
    let key = NewLocation {
        name: name.into(),
        category: Category::Town,
        description: String::new(),
    }
    .name_key();
    records
        .state()
        .names
        .get(&key)
        .map(|claim| (claim.holder, claim.state))
}

#[tokio::test(start_paused = true)]
async fn a_new_command_records_its_outcome_then_writes_its_location_then_announces() {
    let records = MemoryRecords::default();
    let lisbon = command("Lisbon");
    assert_eq!(handle(&records, &lisbon, 1).await, Disposition::Ack);
    {
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
    assert_eq!(
        claim_state(&records, "Lisbon"),
        Some((lisbon.id, ClaimState::Claimed))
    );
}

#[tokio::test(start_paused = true)]
async fn no_location_is_written_before_its_outcome_is_recorded() {
    let records = MemoryRecords::default();
    let porto = command("Porto");
    records.fail("create_status", 1);
    assert!(matches!(
        handle(&records, &porto, 1).await,
        Disposition::TryAgain { .. }
    ));
    assert!(
        records.state().locations.is_empty(),
        "nothing before the commit"
    );
    assert!(records.state().announced.is_empty());
    assert_eq!(
        handle_retried(&records, &porto, 1, 1).await,
        Disposition::Ack
    );
    assert_eq!(status(&records, &porto).status, CommandState::Completed);
    assert!(records.state().locations.contains_key(&porto.id));
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
async fn a_recorded_outcome_stands_and_is_projected_and_announced_again() {
    let records = MemoryRecords::default();
    let braga = command("Braga");
    assert_eq!(handle(&records, &braga, 1).await, Disposition::Ack);
    // Its reactor died after the commit: no location, no notification, unmarked claim.
    {
        let mut state = records.state();
        state.locations.clear();
        state.announced.clear();
    }
    assert_eq!(handle(&records, &braga, 2).await, Disposition::Ack);
    let state = records.state();
    assert!(state.locations.contains_key(&braga.id), "projected again");
    assert_eq!(state.announced.len(), 1);
    assert_eq!(
        state.announced[0].revision,
        Some(state.statuses[&braga.id].revision)
    );
}

#[tokio::test(start_paused = true)]
async fn a_recorded_failure_is_never_decided_anew() {
    let records = MemoryRecords::default();
    let faro = command("Faro");
    let failed = CommandStatus::failed(faro.id, None, FailureReason::Conflict, vec!["no".into()]);
    records.state().statuses.insert(
        faro.id,
        Recorded {
            status: failed.clone(),
            revision: 41,
        },
    );
    assert_eq!(handle(&records, &faro, 2).await, Disposition::Ack);
    let state = records.state();
    assert_eq!(state.statuses[&faro.id].status, failed);
    assert!(state.locations.is_empty());
    assert_eq!(state.announced[0].status, CommandState::Failed);
    assert_eq!(state.announced[0].revision, Some(41));
}

#[tokio::test(start_paused = true)]
async fn a_taken_name_is_a_conflict_but_not_for_its_own_holder() {
    let records = MemoryRecords::default();
    let first = command("Évora");
    assert_eq!(handle(&records, &first, 1).await, Disposition::Ack);
    let second = command("  éVORA ");
    assert_eq!(handle(&records, &second, 1).await, Disposition::Ack);
    let conflict = status(&records, &second);
    assert_eq!(conflict.reason, Some(FailureReason::Conflict));
    assert_eq!(
        conflict.errors,
        [r#"a location named "éVORA" already exists"#]
    );
    // The holder finds its own claim: redelivered, it is not in conflict with itself.
    records.state().statuses.remove(&first.id);
    assert_eq!(handle(&records, &first, 2).await, Disposition::Ack);
    assert_eq!(status(&records, &first).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_completed_holders_name_stays_taken_when_its_status_is_gone() {
    let records = MemoryRecords::default();
    let first = command("Sines");
    assert_eq!(handle(&records, &first, 1).await, Disposition::Ack);
    // Past the horizon its status and its command are gone: its location,
    // kept for good, is what keeps the name.
    records.state().statuses.remove(&first.id);
    records.state().expired.insert(first.id);
    let second = command("Sines");
    assert_eq!(handle(&records, &second, 1).await, Disposition::Ack);
    assert_eq!(
        status(&records, &second).reason,
        Some(FailureReason::Conflict)
    );
}

#[tokio::test(start_paused = true)]
async fn a_holder_still_deciding_is_waited_for_and_a_conflict_only_at_the_end() {
    let records = MemoryRecords::default();
    let holder = command("Tomar");
    // The holder claimed the name and has recorded nothing yet.
    records.fail("create_status", 1);
    assert!(matches!(
        handle(&records, &holder, 1).await,
        Disposition::TryAgain { .. }
    ));
    let second = command("Tomar");
    assert_eq!(
        handle(&records, &second, 1).await,
        Disposition::Retry {
            delay: Duration::from_millis(100)
        }
    );
    assert!(
        !records.state().statuses.contains_key(&second.id),
        "not decided"
    );
    // On its last delivery there is no later: the name is in use.
    assert_eq!(handle(&records, &second, 3).await, Disposition::Ack);
    let failed = status(&records, &second);
    assert_eq!(failed.reason, Some(FailureReason::Conflict));
    assert!(failed.errors[0].contains("being created by another command"));
}

#[tokio::test(start_paused = true)]
async fn a_failed_holder_gives_its_name_back() {
    let records = MemoryRecords::default();
    let first = command("Sintra");
    // Claims the name, then cannot record anything; its reactors die on it
    // until its deliveries run out.
    records.fail("create_status", 1);
    assert!(matches!(
        handle(&records, &first, 3).await,
        Disposition::TryAgain { .. }
    ));
    // The advisory settles it: failed, the claim released.
    projector(&records)
        .exhausted(&payload(&first), &delivery(&first, 3, 3))
        .await
        .expect("settled");
    assert_eq!(
        status(&records, &first).reason,
        Some(FailureReason::Unprocessable)
    );
    assert_eq!(
        claim_state(&records, "Sintra"),
        Some((first.id, ClaimState::Released))
    );
    assert_eq!(records.state().dead_letters.len(), 1);

    let second = command("Sintra");
    assert_eq!(handle(&records, &second, 1).await, Disposition::Ack);
    assert_eq!(status(&records, &second).status, CommandState::Completed);
    assert_eq!(
        claim_state(&records, "Sintra"),
        Some((second.id, ClaimState::Claimed))
    );
}

#[tokio::test(start_paused = true)]
async fn a_holder_that_left_the_stream_undecided_loses_its_name() {
    let records = MemoryRecords::default();
    let gone = command("Lagos");
    records.fail("create_status", 1);
    assert!(matches!(
        handle(&records, &gone, 1).await,
        Disposition::TryAgain { .. }
    ));
    records.state().expired.insert(gone.id);
    let second = command("Lagos");
    assert_eq!(handle(&records, &second, 1).await, Disposition::Ack);
    assert_eq!(status(&records, &second).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_is_tried_again_in_place_never_decided() {
    let records = MemoryRecords::default();
    let viseu = command("Viseu");
    records.fail("create_claim", 2);
    assert_eq!(
        handle(&records, &viseu, 1).await,
        Disposition::TryAgain {
            delay: Duration::from_millis(100)
        }
    );
    assert_eq!(
        handle_retried(&records, &viseu, 1, 1).await,
        Disposition::TryAgain {
            delay: Duration::from_millis(200)
        }
    );
    assert!(records.state().statuses.is_empty(), "nothing decided yet");
    assert_eq!(
        handle_retried(&records, &viseu, 1, 2).await,
        Disposition::Ack
    );
    assert_eq!(status(&records, &viseu).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn tries_in_place_pause_half_a_second_at_most() {
    let records = MemoryRecords::default();
    let tavira = command("Tavira");
    records.fail("create_claim", 1);
    assert_eq!(
        handle_retried(&records, &tavira, 1, 50).await,
        Disposition::TryAgain {
            delay: Duration::from_millis(500)
        }
    );
}

#[tokio::test(start_paused = true)]
async fn a_failed_take_over_or_claim_read_is_retried_not_a_conflict() {
    let records = MemoryRecords::default();
    let first = command("Beja");
    let released = Claim {
        holder: first.id,
        state: ClaimState::Released,
        revision: 1,
    };
    let key = match &first.body {
        CommandBody::CreateLocation(new) => new.name_key(),
    };
    records.state().names.insert(key, released);
    let second = command("Beja");
    for (retries, operation) in ["claim", "set_claim"].into_iter().enumerate() {
        records.fail(operation, 1);
        assert!(matches!(
            handle_retried(&records, &second, 1, retries as u32).await,
            Disposition::TryAgain { .. }
        ));
    }
    assert_eq!(
        handle_retried(&records, &second, 1, 2).await,
        Disposition::Ack
    );
    assert_eq!(status(&records, &second).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn a_transient_failure_on_the_last_delivery_is_tried_again_not_given_up() {
    let records = MemoryRecords::default();
    let leiria = command("Leiria");
    records.fail("create_claim", 1);
    assert!(matches!(
        handle(&records, &leiria, 3).await,
        Disposition::TryAgain { .. }
    ));
    assert!(records.state().statuses.is_empty());
    assert!(records.state().dead_letters.is_empty());
    assert_eq!(
        handle_retried(&records, &leiria, 3, 1).await,
        Disposition::Ack
    );
    assert_eq!(status(&records, &leiria).status, CommandState::Completed);
}

#[tokio::test(start_paused = true)]
async fn running_out_of_deliveries_ends_failed_with_a_dead_letter() {
    let records = MemoryRecords::default();
    let leiria = command("Leiria");
    projector(&records)
        .exhausted(&payload(&leiria), &delivery(&leiria, 3, 3))
        .await
        .expect("settled");
    let state = records.state();
    let failed = &state.statuses[&leiria.id].status;
    assert_eq!(failed.reason, Some(FailureReason::Unprocessable));
    assert_eq!(failed.errors, ["the command could not be processed"]);
    assert_eq!(
        state.dead_letters,
        [(7, "gave up after the last delivery".into())]
    );
    assert_eq!(state.announced.len(), 1, "its client is told");
    assert!(state.locations.is_empty());
}

#[tokio::test(start_paused = true)]
async fn giving_up_that_cannot_be_written_is_tried_again() {
    let records = MemoryRecords::default();
    let elvas = command("Elvas");
    records.fail("dead_letter", 1);
    let exhausted = || async {
        projector(&records)
            .exhausted(&payload(&elvas), &delivery(&elvas, 3, 3))
            .await
    };
    assert!(exhausted().await.is_err(), "the advisory comes back");
    assert!(records.state().statuses.is_empty());
    exhausted().await.expect("settled");
    assert_eq!(
        status(&records, &elvas).reason,
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
        retries: 0,
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
async fn content_that_breaks_the_rules_fails_as_invalid_without_a_claim() {
    let records = MemoryRecords::default();
    let bad = command("a\u{0}b");
    assert_eq!(handle(&records, &bad, 1).await, Disposition::Ack);
    assert_eq!(status(&records, &bad).reason, Some(FailureReason::Invalid));
    let state = records.state();
    assert!(state.locations.is_empty());
    assert!(state.names.is_empty());
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
