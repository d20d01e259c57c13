//! What a load came to, checked against what the cluster recorded.
//!
//! A client's word is not enough: a command its client saw "completed" must be
//! recorded completed, its location must be there, and no name may have two
//! locations. So the report reads the buckets back, from their leaders, once
//! the load has stopped, and counts every way the system could have let a user
//! down. A sound run has zeros everywhere but `accepted` and `completed`.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;
use herald_contract::names::{COMMANDS_BUCKET, LOCATIONS_BUCKET};
use herald_contract::{CommandState, CommandStatus, FailureReason, Location};
use herald_runtime::leader;
use herald_testkit::{PATIENCE, eventually};
use tokio::time::Instant;
use uuid::Uuid;

use crate::{Sent, System};

/// The longest a client should wait for an outcome, whatever the fault.
pub const PROMPT: Duration = Duration::from_secs(10);

/// The counts; see the fields for what each means.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Report {
    /// Commands sent.
    pub sent: usize,
    /// Commands an api accepted (202 or 201).
    pub accepted: usize,
    /// Accepted and recorded completed, with their location in the bucket.
    pub completed: usize,
    /// Sent, never accepted although retried for 30 s.
    pub unaccepted: usize,
    /// Answered with a 4xx: every command of a load is valid.
    pub refused: usize,
    /// Accepted, and no outcome recorded.
    pub lost: usize,
    /// Recorded failed for another reason than a conflict.
    pub failed: usize,
    /// Recorded as a conflict: every name of a load is unique, so each is wrong.
    pub wrong_conflicts: usize,
    /// Recorded completed, without its location in the bucket.
    pub missing_locations: usize,
    /// Names with more than one location, and commands stored that no client
    /// was given (a retry stored twice).
    pub doubled: usize,
    /// Accepted, and its client never told the outcome (or told "unknown").
    pub uninformed: usize,
    /// Told something other than what was recorded.
    pub misinformed: usize,
    /// The longest a client waited to be accepted, retries included.
    pub longest_acceptance: Duration,
    /// The longest between acceptance and being told the outcome.
    pub longest_wait: Duration,
    /// Clients that waited more than [`PROMPT`] for their outcome.
    pub late: usize,
    /// The longest time in which no command was accepted: the outage as a
    /// sender saw it.
    pub acceptance_paused: Duration,
    /// The longest time in which no client was told an outcome: the outage as
    /// a waiting browser saw it.
    pub telling_paused: Duration,
}

impl Report {
    /// Reads back what the cluster recorded for `sent` and counts.
    pub async fn gather(system: &System, sent: &[Sent]) -> Self {
        let nats = system.nats().await;
        let jetstream = jetstream::new(nats);
        let statuses = jetstream
            .get_key_value(COMMANDS_BUCKET)
            .await
            .expect("the commands bucket");
        let locations = jetstream
            .get_key_value(LOCATIONS_BUCKET)
            .await
            .expect("the locations bucket");
        let names: HashSet<&str> = sent.iter().map(|command| command.name.as_str()).collect();

        let mut report = Report {
            sent: sent.len(),
            ..Report::default()
        };
        let mut given = HashSet::new();
        for command in sent {
            if command.refused.is_some() {
                report.refused += 1;
                continue;
            }
            let (Some(id), Some(accepted_at)) = (command.id, command.accepted_at) else {
                report.unaccepted += 1;
                continue;
            };
            report.accepted += 1;
            given.insert(id);
            report.longest_acceptance =
                report.longest_acceptance.max(accepted_at - command.sent_at);

            let recorded: Option<CommandStatus> = read(&statuses, &id.to_string()).await;
            match &command.told {
                Some((event, data, told_at)) if event != "unknown" => {
                    let waited = *told_at - accepted_at;
                    report.longest_wait = report.longest_wait.max(waited);
                    if waited > PROMPT {
                        report.late += 1;
                    }
                    let agrees = recorded.as_ref().is_some_and(|status| {
                        status.status.as_str() == event
                            && status
                                .resource
                                .as_ref()
                                .map(|location| location.id.to_string())
                                == data["data"]["location"]["id"].as_str().map(str::to_owned)
                    });
                    if !agrees {
                        report.misinformed += 1;
                    }
                }
                _ => report.uninformed += 1,
            }
            let Some(status) = recorded else {
                report.lost += 1;
                continue;
            };
            match (status.status, status.reason) {
                (CommandState::Completed, _) => {
                    let location: Option<Location> = read(&locations, &id.to_string()).await;
                    if location.is_some_and(|location| location.name == command.name) {
                        report.completed += 1;
                    } else {
                        report.missing_locations += 1;
                    }
                }
                (CommandState::Failed, Some(FailureReason::Conflict)) => {
                    report.wrong_conflicts += 1
                }
                (CommandState::Failed, _) => report.failed += 1,
                (CommandState::Pending, _) => report.lost += 1,
            }
        }

        // Everything in the buckets that carries one of this load's names.
        let mut per_name: HashMap<String, usize> = HashMap::new();
        for key in keys(&locations).await {
            let location: Option<Location> = read(&locations, &key).await;
            if let Some(location) =
                location.filter(|location| names.contains(location.name.as_str()))
            {
                *per_name.entry(location.name).or_default() += 1;
            }
        }
        report.acceptance_paused =
            longest_pause(sent.iter().filter_map(|command| command.accepted_at));
        report.telling_paused = longest_pause(
            sent.iter()
                .filter_map(|command| command.told.as_ref().map(|(_, _, at)| *at)),
        );

        report.doubled += per_name.values().filter(|&&count| count > 1).count();
        for key in keys(&statuses).await {
            let Ok(id) = Uuid::try_parse(&key) else {
                continue;
            };
            if given.contains(&id) {
                continue;
            }
            let status: Option<CommandStatus> = read(&statuses, &key).await;
            let ours = status
                .and_then(|status| status.resource)
                .is_some_and(|location| names.contains(location.name.as_str()));
            if ours {
                report.doubled += 1;
            }
        }
        report
    }

    /// How long after `fault` Herald worked again: from the fault to the first
    /// outcome told for a command sent after it.
    pub fn recovery(sent: &[Sent], fault: Instant) -> Option<Duration> {
        sent.iter()
            .filter(|command| command.sent_at >= fault)
            .filter_map(|command| command.told.as_ref())
            .filter(|(event, _, _)| event == "completed")
            .map(|(_, _, told_at)| *told_at - fault)
            .min()
    }

    /// Whether nothing went wrong: every command accepted, recorded completed
    /// once, and its client told so.
    pub fn is_sound(&self) -> bool {
        self.accepted == self.sent
            && self.completed == self.accepted
            && self.doubled == 0
            && self.uninformed == 0
            && self.misinformed == 0
    }
}

/// The longest gap between consecutive `instants`.
fn longest_pause(instants: impl Iterator<Item = Instant>) -> Duration {
    let mut instants: Vec<Instant> = instants.collect();
    instants.sort();
    instants
        .windows(2)
        .map(|pair| pair[1] - pair[0])
        .max()
        .unwrap_or_default()
}

/// `key`'s value in `bucket`, read from the leader (waiting out an election).
async fn read<T: serde::de::DeserializeOwned>(bucket: &kv::Store, key: &str) -> Option<T> {
    let entry = eventually(PATIENCE, &format!("read {key} from the leader"), || async {
        leader::entry(bucket, key).await.ok()
    })
    .await;
    entry.map(|entry| serde_json::from_slice(&entry.value).expect("a value Herald wrote"))
}

/// Every key in `bucket`.
async fn keys(bucket: &kv::Store) -> Vec<String> {
    eventually(PATIENCE, "list a bucket's keys", || async {
        bucket.keys().await.ok()?.try_collect().await.ok()
    })
    .await
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sent {} · accepted {} · completed {} · unaccepted {} · refused {} · lost {} · \
             failed {} · wrong conflicts {} · missing locations {} · doubled {} · \
             uninformed {} · misinformed {} · late {} · longest acceptance {:.1} s · longest wait {:.1} s · \
             acceptance paused {:.1} s · telling paused {:.1} s",
            self.sent,
            self.accepted,
            self.completed,
            self.unaccepted,
            self.refused,
            self.lost,
            self.failed,
            self.wrong_conflicts,
            self.missing_locations,
            self.doubled,
            self.uninformed,
            self.misinformed,
            self.late,
            self.longest_acceptance.as_secs_f64(),
            self.longest_wait.as_secs_f64(),
            self.acceptance_paused.as_secs_f64(),
            self.telling_paused.as_secs_f64(),
        )
    }
}
