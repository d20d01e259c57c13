//! Unique location names, across any number of reactors, with no outcome that
//! depends on an expiring status.
//!
//! The `location_names` bucket maps each normalized name to its claim: the
//! command holding it, and where that command stands ([`ClaimState`]):
//!
//! - a command claims a free name with a create-if-absent write, which JetStream
//!   performs atomically, so of two racing commands exactly one wins;
//! - once its holder's `completed` is recorded, the claim says `completed`: the
//!   name is taken for good, whatever happens to the holder's status later;
//! - once its holder's `failed` is recorded, the claim says `released`, and the
//!   next claimant takes it with a compare-and-set on the entry's revision;
//! - a claim still `claimed` is read against its holder's recorded outcome (the
//!   holder may have died between recording it and marking the claim); a holder
//!   with no outcome yet is waited for, not lost to; a holder no longer in the
//!   stream (past its retention, with no outcome) will never decide, and its
//!   claim is taken over.
//!
//! A redelivered command finds its own claim and is not in conflict with itself.
//! Only a lost compare-and-set or an existing claim is a lost race: any error
//! talking to NATS is passed up, to be retried, and never read as "taken".

use uuid::Uuid;

use crate::records::{ClaimState, Records, StoreError};
use herald_contract::CommandState;

/// Where a command stands with its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Name {
    /// It holds the name (its claim is at `revision`).
    Ours { revision: u64 },
    /// Another command completed with it.
    Taken,
    /// Another command holds it and has not decided yet.
    Undecided,
}

/// How many times a claim is read again after losing a compare-and-set.
const ATTEMPTS: usize = 4;

/// Claims name `key` for `command_id`.
pub async fn claim(
    records: &impl Records,
    key: &str,
    command_id: Uuid,
) -> Result<Name, StoreError> {
    for _ in 0..ATTEMPTS {
        // The usual case first: a free name, one round trip.
        if let Some(revision) = records.create_claim(key, command_id).await? {
            return Ok(Name::Ours { revision });
        }
        let Some(claim) = records.claim(key).await? else {
            continue; // Removed by hand meanwhile: claim it again.
        };
        if claim.holder == command_id {
            return Ok(Name::Ours {
                revision: claim.revision,
            });
        }
        let free = match claim.state {
            ClaimState::Completed => return Ok(Name::Taken),
            ClaimState::Released => true,
            ClaimState::Claimed => match records.status(claim.holder).await? {
                Some(recorded) if recorded.status.status == CommandState::Completed => {
                    return Ok(Name::Taken);
                }
                Some(_) => true, // Failed: it will release the name, or already would have.
                None => !records.command_exists(claim.holder).await?,
            },
        };
        if !free {
            return Ok(Name::Undecided);
        }
        // Take it over, unless another claimant was quicker (then look again).
        records
            .set_claim(key, command_id, ClaimState::Claimed, claim.revision)
            .await?;
    }
    // Somebody changed the claim every time: the race is lost for now.
    Ok(Name::Undecided)
}

/// Marks name `key`'s claim by `command_id` with its recorded outcome:
/// `completed` keeps it for good, `failed` releases it. `revision` is the claim's,
/// when the caller holds it and knows it; otherwise the claim is read first. A
/// claim that is not (or no longer) this command's is left alone.
pub async fn settle(
    records: &impl Records,
    key: &str,
    command_id: Uuid,
    outcome: CommandState,
    revision: Option<u64>,
) -> Result<(), StoreError> {
    let state = match outcome {
        CommandState::Completed => ClaimState::Completed,
        CommandState::Failed => ClaimState::Released,
        CommandState::Pending => return Ok(()),
    };
    if let Some(revision) = revision
        && records.set_claim(key, command_id, state, revision).await?
    {
        return Ok(());
    }
    if let Some(claim) = records.claim(key).await?
        && claim.holder == command_id
        && claim.state != state
    {
        records
            .set_claim(key, command_id, state, claim.revision)
            .await?;
    }
    Ok(())
}
