//! Unique location names, across any number of reactors, with no outcome that
//! depends on an expiring status.
//!
//! The `location_names` bucket maps each normalized name to its claim: the
//! command holding it, and where that command stands ([`ClaimState`]):
//!
//! - a command claims a free name with a create-if-absent write, which JetStream
//!   performs atomically, so of two racing commands exactly one wins;
//! - once its holder's `completed` is recorded, its location is written, and
//!   the location, kept for good, is what keeps the name taken: the claim is not
//!   written again (one write fewer per command), and nothing depends on a
//!   status that expires;
//! - once its holder's `failed` is recorded, the claim says `released`, and the
//!   next claimant takes it with a compare-and-set on the entry's revision;
//! - a claim still `claimed` is read against its holder: a recorded outcome
//!   decides (the holder may have died between recording `failed` and releasing
//!   the claim), then its location (a `completed` whose status expired); a
//!   holder with neither is waited for, not lost to, while it is in the stream;
//!   one no longer in the stream (past its retention, undecided) will never
//!   decide, and its claim is taken over.
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
                None if records.location_exists(claim.holder).await? => return Ok(Name::Taken),
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

/// Gives name `key` back after its holder `command_id` failed. `revision` is
/// the claim's, when the caller holds it and knows it; otherwise the claim is
/// read first. A claim that is not (or no longer) this command's is left alone.
/// (A completed holder's claim stays as it is: its location keeps the name.)
pub async fn release(
    records: &impl Records,
    key: &str,
    command_id: Uuid,
    revision: Option<u64>,
) -> Result<(), StoreError> {
    let state = ClaimState::Released;
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
