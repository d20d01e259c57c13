//! Handling one command: the reactor's business logic, free of the consumer loop.
//!
//! [`Projector::handle`] takes a delivered payload and says what to do with the
//! message ([`Disposition`]), so tests drive it without timing, and the loop in
//! [`crate::consumer`] only moves messages. What it reads and writes goes through
//! [`Records`].
//!
//! # One commit point
//!
//! A command's outcome is decided once, by one write: the create-if-absent of its
//! status in the `commands` bucket. Everything else follows from that record and
//! is written after it, idempotently, by whichever delivery gets there:
//!
//! 1. **Decide** (no lasting effect but the name's claim): valid? name free?
//! 2. **Commit**: create the status. If one exists (an earlier delivery, a write
//!    whose answer was lost, a reactor that gave up on it), that one stands.
//! 3. **Project** the recorded outcome: a completed command's location is
//!    written (which keeps its name taken for good); a failed command's claim, if
//!    it held one, is released.
//! 4. **Announce** the recorded outcome, then acknowledge.
//!
//! So no sequence of timeouts, late answers, redeliveries or reactor deaths can
//! leave a failed command with a location (a location is written only for a
//! recorded `completed`), a completed command without one (its next delivery, or
//! the max-deliveries advisory, finds the record and projects it again), or two
//! locations with one name (a claim passes to another command only after its
//! holder's `failed` is recorded, or when the holder left the stream undecided).
//! The message is acknowledged only after step 4: until then it comes back.
//!
//! A transient error anywhere is a retry, never an outcome: only a lost
//! compare-and-set on a name decides "taken". It is retried in place
//! ([`Disposition::TryAgain`]), for as long as it takes, so it spends none of
//! the command's deliveries: those run out only when reactors die or stall on
//! it again and again (then the max-deliveries advisory ends it `failed`), or
//! when its name stays held by a command that never decides.

use std::sync::Arc;
use std::time::Duration;

use herald_contract::messages::CommandBody;
use herald_contract::{
    Command, CommandState, CommandStatus, FailureReason, Location, Notification,
};
use herald_runtime::{Backoff, error_chain};
use uuid::Uuid;

use crate::delivery::{Delivery, Disposition};
use crate::lag::Lag;
use crate::name_index::{self, Name};
use crate::records::{Recorded, Records, StoreError};

/// Pauses before a command whose name is held by an undecided command is
/// delivered again: 100 ms doubling to 10 s.
pub const REDELIVERY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(10));

/// Pauses before a command NATS failed is tried again in place: 100 ms
/// doubling to 500 ms. Capped low because the failures this meets are elections
/// and reconnections, over in seconds: a command should go through within a
/// moment of NATS being back, not after a long back-off it earned during the
/// outage. Every command in flight (at most `REACTOR_CONCURRENCY` per reactor)
/// retries, so an outage costs NATS about two tries per held command a second.
pub const STORE_RETRY: Backoff =
    Backoff::new(Duration::from_millis(100), Duration::from_millis(500));

/// A command still failing after this many tries in place is logged again (and
/// so about every half minute), rather than on every try.
const RETRIES_BETWEEN_WARNINGS: u32 = 60;

/// What a delivery came to.
#[derive(Debug)]
enum Step {
    /// The outcome is recorded, projected and announced.
    Done,
    /// Another command holds the name and has not decided: look again later.
    Wait,
}

/// Decides each command's outcome, records it, projects it into the read model
/// and announces it.
#[derive(Debug, Clone)]
pub struct Projector<R> {
    records: R,
    lag: Arc<Lag>,
    delay: Duration,
}

impl<R: Records> Projector<R> {
    /// Writes through `records`; `delay` is the artificial processing time of
    /// `REACTOR_DELAY_MS`.
    pub fn new(records: R, lag: Arc<Lag>, delay: Duration) -> Self {
        Self {
            records,
            lag,
            delay,
        }
    }

    /// Handles one delivered command.
    pub async fn handle(&self, payload: &[u8], delivery: &Delivery) -> Disposition {
        let command = match serde_json::from_slice::<Command>(payload) {
            Ok(command) => command,
            Err(error) => return self.unreadable(payload, delivery, &error).await,
        };
        let stepped = async {
            // A redelivered command may have its outcome recorded already (its
            // acknowledgement was lost, or its reactor died after the commit): that
            // outcome stands, and is projected and announced again. A first
            // delivery cannot have one.
            if delivery.may_have_run()
                && let Some(recorded) = self.recorded(command.id).await?
            {
                self.project(&command, &recorded, None).await?;
                return Ok(Step::Done);
            }
            if !self.delay.is_zero() {
                tokio::time::sleep(self.delay).await;
            }
            let Some((status, claim)) = self.decide(&command, delivery.is_last()).await? else {
                return Ok(Step::Wait);
            };
            let recorded = self.records.create_status(&status).await?;
            tracing::debug!(
                command_id = %command.id,
                status = recorded.status.status.as_str(),
                "outcome recorded"
            );
            self.project(&command, &recorded, claim).await?;
            Ok::<_, StoreError>(Step::Done)
        };
        match stepped.await {
            Ok(Step::Done) => {
                self.lag.record(command.accepted_at);
                Disposition::Ack
            }
            Ok(Step::Wait) => {
                let delay = REDELIVERY.after(attempt(delivery));
                tracing::debug!(command_id = %command.id, ?delay, "its name is held by an undecided command");
                Disposition::Retry { delay }
            }
            Err(error) => try_again(command.id, delivery, &error),
        }
    }

    /// The outcome the command should have, and its name's claim revision if it
    /// holds the name; `None` to look again later (the name's holder has not
    /// decided). On the `last` delivery there is no later: a name still held by
    /// another command is a conflict.
    async fn decide(
        &self,
        command: &Command,
        last: bool,
    ) -> Result<Option<(CommandStatus, Option<u64>)>, StoreError> {
        let CommandBody::CreateLocation(new) = &command.body;
        let accepted = Some(command.accepted_at);
        // The api validates too; this guards against other publishers.
        if let Err(errors) = new.check() {
            let errors = errors
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            let failed =
                CommandStatus::failed(command.id, accepted, FailureReason::Invalid, errors);
            return Ok(Some((failed, None)));
        }
        let conflict = |error: String| {
            let failed =
                CommandStatus::failed(command.id, accepted, FailureReason::Conflict, vec![error]);
            Ok(Some((failed, None)))
        };
        let name = new.name.trim();
        match name_index::claim(&self.records, &new.name_key(), command.id).await? {
            Name::Ours { revision } => {
                let location = Location {
                    id: command.id,
                    name: new.name.clone(),
                    category: new.category,
                    description: new.description.clone(),
                    created_at: command.accepted_at,
                };
                Ok(Some((
                    CommandStatus::completed(command, location),
                    Some(revision),
                )))
            }
            Name::Taken => conflict(format!("a location named {name:?} already exists")),
            Name::Undecided if last => conflict(format!(
                "a location named {name:?} is being created by another command"
            )),
            Name::Undecided => Ok(None),
        }
    }

    /// Makes the read model agree with a recorded outcome, then announces it:
    /// completed, its location written (which keeps its name); failed, its name
    /// (if it held it) given back. `claim` is the name's claim revision when the caller
    /// holds it. Idempotent: every delivery that finds the record does it again.
    async fn project(
        &self,
        command: &Command,
        recorded: &Recorded,
        claim: Option<u64>,
    ) -> Result<(), StoreError> {
        let CommandBody::CreateLocation(new) = &command.body;
        let status = &recorded.status;
        let release = async {
            // Only a failed command that may hold the name has a claim to give
            // back: one that claimed it, or one given up on after claiming. A
            // completed command's location keeps its name.
            let may_hold = claim.is_some() || status.reason == Some(FailureReason::Unprocessable);
            if status.status == CommandState::Failed && may_hold {
                name_index::release(&self.records, &new.name_key(), command.id, claim).await?;
            }
            Ok::<_, StoreError>(())
        };
        let locate = async {
            match (&status.status, &status.resource) {
                (CommandState::Completed, Some(location)) => {
                    self.records.put_location(location).await
                }
                _ => Ok(()),
            }
        };
        tokio::try_join!(release, locate)?;
        self.announce(recorded).await
    }

    /// Publishes the notification of a recorded outcome, with its revision.
    async fn announce(&self, recorded: &Recorded) -> Result<(), StoreError> {
        match Notification::for_recorded(&recorded.status, recorded.revision) {
            Some(notification) => self.records.announce(&notification).await,
            None => Ok(()),
        }
    }

    /// The recorded outcome of a command, if it has one.
    async fn recorded(&self, id: Uuid) -> Result<Option<Recorded>, StoreError> {
        Ok(self
            .records
            .status(id)
            .await?
            .filter(|recorded| recorded.status.status.is_terminal()))
    }

    /// A command whose deliveries ran out with no outcome acknowledged: every
    /// reactor that had it died or stalled. It is given up on like one whose last
    /// delivery failed; an error means "try again later".
    pub async fn exhausted(&self, payload: &[u8], delivery: &Delivery) -> Result<(), GiveUpError> {
        let disposition = match serde_json::from_slice::<Command>(payload) {
            Ok(command) => {
                let reason =
                    "every delivery ended without an outcome (its reactors died or stalled)";
                self.give_up(&command, payload, delivery, reason).await
            }
            Err(error) => self.unreadable(payload, delivery, &error).await,
        };
        match disposition {
            Disposition::Retry { .. } | Disposition::TryAgain { .. } => Err(GiveUpError),
            Disposition::Ack | Disposition::Terminate => Ok(()),
        }
    }

    /// Ends a command that ran out of deliveries. A recorded outcome stands (and
    /// is projected and announced again). Otherwise the command is kept as a dead
    /// letter and `failed` (reason `unprocessable`) is committed like any outcome,
    /// its name given back; should another delivery commit first, that stands. If
    /// any of it fails, the advisory is delivered again later.
    async fn give_up(
        &self,
        command: &Command,
        payload: &[u8],
        delivery: &Delivery,
        error: &str,
    ) -> Disposition {
        let settled = async {
            if let Some(recorded) = self.recorded(command.id).await? {
                self.project(command, &recorded, None).await?;
                return Ok(Disposition::Ack);
            }
            tracing::error!(
                command_id = %command.id,
                stream_sequence = delivery.stream_sequence,
                error,
                "giving up on a command; it ends failed"
            );
            self.records
                .dead_letter(delivery, payload, "gave up after the last delivery", error)
                .await?;
            let failed = CommandStatus::failed(
                command.id,
                Some(command.accepted_at),
                FailureReason::Unprocessable,
                vec!["the command could not be processed".into()],
            );
            let recorded = self.records.create_status(&failed).await?;
            self.project(command, &recorded, None).await?;
            Ok::<_, StoreError>(match recorded.status.status {
                CommandState::Completed => Disposition::Ack,
                _ => Disposition::Terminate,
            })
        };
        settled
            .await
            .unwrap_or_else(|error| try_again(command.id, delivery, &error))
    }

    /// A command that does not decode: never processed, kept as a dead letter,
    /// and, where its id can be found, ended failed so whoever waits hears so.
    async fn unreadable(
        &self,
        payload: &[u8],
        delivery: &Delivery,
        error: &serde_json::Error,
    ) -> Disposition {
        tracing::error!(
            stream_sequence = delivery.stream_sequence,
            %error,
            "undecodable command"
        );
        let id = readable_id(payload, &delivery.subject);
        let settled = async {
            self.records
                .dead_letter(delivery, payload, "undecodable", &error.to_string())
                .await?;
            if let Some(id) = id {
                let errors = vec!["the command could not be read".into()];
                let failed = CommandStatus::failed(id, None, FailureReason::Unprocessable, errors);
                let recorded = self.records.create_status(&failed).await?;
                self.announce(&recorded).await?;
            }
            Ok::<_, StoreError>(Disposition::Terminate)
        };
        settled
            .await
            .unwrap_or_else(|error| try_again(id.unwrap_or_default(), delivery, &error))
    }
}

/// Giving up on an exhausted command did not complete; it is tried again later.
#[derive(Debug, thiserror::Error)]
#[error("giving up on the command did not complete")]
pub struct GiveUpError;

fn attempt(delivery: &Delivery) -> u32 {
    u32::try_from(delivery.attempt).unwrap_or(1)
}

/// NATS failed `command_id`'s projection: it is tried again in place.
fn try_again(command_id: Uuid, delivery: &Delivery, error: &StoreError) -> Disposition {
    let delay = STORE_RETRY.after(delivery.retries.saturating_add(1));
    if delivery.retries.is_multiple_of(RETRIES_BETWEEN_WARNINGS) {
        tracing::warn!(
            %command_id,
            attempt = delivery.attempt,
            retries = delivery.retries,
            error = %error_chain(error),
            ?delay,
            "projection failed; trying again"
        );
    } else {
        tracing::debug!(%command_id, retries = delivery.retries, error = %error_chain(error), "projection failed again");
    }
    Disposition::TryAgain { delay }
}

/// The `id` of a command that does not decode as a whole (an unknown type from a
/// newer api during a rolling deploy, say), from its payload or else its subject
/// (`commands.<type>.<id>`).
fn readable_id(payload: &[u8], subject: &str) -> Option<Uuid> {
    #[derive(serde::Deserialize)]
    struct JustTheId {
        id: Uuid,
    }
    serde_json::from_slice::<JustTheId>(payload)
        .ok()
        .map(|c| c.id)
        .or_else(|| {
            subject
                .rsplit('.')
                .next()
                .and_then(|id| Uuid::try_parse(id).ok())
        })
}

#[cfg(test)]
mod tests;
