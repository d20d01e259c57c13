//! Following the outcomes: the one subscription to `notifications.>`, and reading
//! the `commands` bucket when a notification may have been lost.
//!
//! Two tasks, so that a slow read of the bucket never holds up live notifications:
//!
//! - [`listen`] hands every notification to [`Outcomes`];
//! - [`keep_up`] learns where the bucket stands when the process starts, and then
//!   reads the bucket from the first revision not accounted for whenever
//!   - a reconnect or a slow-consumer event says notifications may have been lost,
//!   - a revision has been missing for [`GRACE`] while later ones came, or
//!   - the bucket has moved past what the process heard (checked every
//!     [`CHECK_EVERY`]: the last notification of a burst has no later one to
//!     show it missing).
//!
//! A read of the bucket is an ordered consumer from that revision to the end,
//! one per process and only when needed: nothing here grows with the clients.

use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use herald_contract::{CommandStatus, names};
use herald_runtime::{Streak, error_chain, leader};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Finished, Outcomes};

/// How long a missing revision may wait for its notification (out of order, or
/// late) before it is read from the bucket.
pub const GRACE: Duration = Duration::from_millis(500);
/// How often the bucket's last revision is compared with what was heard.
pub const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The most revisions one read of the bucket goes back. Further behind (the
/// process was cut off for long), what it believed pending is read again by each
/// command's next client instead.
const REPLAY_LIMIT: u64 = 100_000;
/// A read of the bucket ends when nothing comes for this long.
const READ_IDLE: Duration = Duration::from_secs(2);

/// Hands every notification of `subscription` to `outcomes` until `shutdown`.
pub async fn listen(
    outcomes: Outcomes,
    mut subscription: async_nats::Subscriber,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            () = shutdown.cancelled() => break,
            message = subscription.next() => match message {
                Some(message) => outcomes.receive_payload(message.subject.as_str(), message.payload),
                None => {
                    tracing::error!("the notification subscription ended");
                    break;
                }
            },
        }
    }
    let _ = subscription.unsubscribe().await;
}

/// Keeps the outcomes complete by reading the bucket when needed, until `shutdown`.
pub async fn keep_up(
    outcomes: Outcomes,
    jetstream: jetstream::Context,
    shutdown: CancellationToken,
) {
    let mut bucket: Option<kv::Store> = None;
    let mut tick = tokio::time::interval(CHECK_EVERY.min(GRACE) / 2);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next_check = Instant::now();
    // The revision the bucket had reached at the last check: if the process has
    // still not heard of it one check later, it was lost.
    let mut seen_at_check: Option<u64> = None;
    let mut asked = false;
    let mut reads = Streak::default();
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            () = outcomes.replay_requested() => asked = true,
            _ = tick.tick() => {}
        }
        let from = if asked {
            outcomes.next_revision()
        } else {
            outcomes.overdue(GRACE)
        };
        let check = Instant::now() >= next_check;
        if from.is_none() && !check && outcomes.next_revision().is_some() {
            continue;
        }
        let work = async {
            let store = match &bucket {
                Some(store) => store.clone(),
                None => {
                    let store = jetstream.get_key_value(names::COMMANDS_BUCKET).await?;
                    bucket.insert(store).clone()
                }
            };
            let last = store.stream.get_info().await?.state.last_sequence;
            let Some(next) = outcomes.next_revision() else {
                outcomes.start_at(last);
                tracing::debug!(last, "following the command statuses");
                // Who started waiting before this point looked at a status the
                // revisions followed from now on may not cover: read theirs once.
                read_statuses(&outcomes, &store, outcomes.waited_for()).await?;
                return Ok::<_, async_nats::Error>(());
            };
            let mut from = from;
            if check {
                // Still not heard of what the bucket held a whole check ago: lost.
                if seen_at_check.is_some_and(|seen| next <= seen) {
                    from = from.or(Some(next));
                }
                seen_at_check = (last >= next).then_some(last);
                next_check = Instant::now() + CHECK_EVERY;
            }
            if let Some(from) = from {
                metrics::counter!("herald_notification_replays_total").increment(1);
                read_bucket(&outcomes, &store, from, last).await?;
            }
            Ok(())
        };
        let worked = tokio::select! {
            () = shutdown.cancelled() => return,
            worked = work => worked,
        };
        match worked {
            Ok(()) => {
                asked = false;
                if reads.worked() {
                    tracing::info!("reading the command statuses again");
                }
            }
            Err(error) => {
                // Tried again at the next tick; the bucket handle may be stale.
                bucket = None;
                let error = error_chain(&*error);
                if outcomes.next_revision().is_none() {
                    // Starting up: NATS, or the bucket, may not be there yet.
                    tracing::debug!(%error, "the command statuses are not there yet");
                } else if reads.failed() {
                    tracing::warn!(%error, "could not read the command statuses; trying again quietly");
                } else {
                    tracing::debug!(%error, "still cannot read the command statuses");
                }
            }
        }
    }
}

/// Reads the statuses of `commands` into `outcomes` (those recorded: the others
/// are still to come, and will be heard of). From the leader: a lagging
/// replica could miss one recorded before the revision followed from, and its
/// waiter would hear nothing.
async fn read_statuses(
    outcomes: &Outcomes,
    bucket: &kv::Store,
    commands: Vec<uuid::Uuid>,
) -> Result<(), async_nats::Error> {
    for id in commands {
        if let Some(entry) = leader::entry(bucket, &id.to_string()).await?
            && let Ok(status) = serde_json::from_slice::<CommandStatus>(&entry.value)
            && let Some(finished) = Finished::from_status(&status, Some(entry.revision))
        {
            outcomes.receive(std::sync::Arc::new(finished));
        }
    }
    Ok(())
}

/// Reads the statuses recorded from revision `from` to `last` into `outcomes`.
async fn read_bucket(
    outcomes: &Outcomes,
    bucket: &kv::Store,
    from: u64,
    last: u64,
) -> Result<(), async_nats::Error> {
    if last < from {
        return Ok(());
    }
    let start = if last - from >= REPLAY_LIMIT {
        tracing::warn!(
            missing = last - from + 1,
            "too many outcomes missed to read them all; pending commands will be read again"
        );
        outcomes.forget_pending();
        read_statuses(outcomes, bucket, outcomes.waited_for()).await?;
        last - REPLAY_LIMIT + 1
    } else {
        from
    };
    tracing::info!(
        from = start,
        to = last,
        "reading outcomes that were not heard"
    );
    let mut entries = bucket.watch_all_from_revision(start).await?;
    let mut read = 0_u64;
    while let Ok(Some(entry)) = tokio::time::timeout(READ_IDLE, entries.next()).await {
        let entry = entry?;
        if entry.operation == kv::Operation::Put
            && let Ok(status) = serde_json::from_slice::<CommandStatus>(&entry.value)
            && let Some(finished) = Finished::from_status(&status, Some(entry.revision))
        {
            outcomes.receive(std::sync::Arc::new(finished));
            read += 1;
        }
        if entry.revision >= last || entry.delta == 0 {
            break;
        }
    }
    outcomes.read_up_to(last);
    tracing::debug!(read, "outcomes read from the bucket");
    Ok(())
}
