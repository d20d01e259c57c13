//! Unique location names, across any number of reactors.
//!
//! The `location_names` bucket maps each normalized name to the command holding
//! it. A command claims its name with a create-if-absent write, which JetStream
//! performs atomically, so of two racing commands exactly one wins. A redelivered
//! command finds its own id there and is not in conflict with itself.
//!
//! Names are never deleted. A holder that ended failed without creating its
//! location gives its name up implicitly: the next claim takes the name over with
//! a compare-and-set on the entry's revision, so two claimants cannot both win,
//! and a name whose location exists can never be taken. Only a lost
//! compare-and-set is a lost race: any error talking to NATS is passed up, to be
//! retried, and never read as "taken".

use herald_contract::{CommandState, NewLocation};
use uuid::Uuid;

use crate::records::{NameClaim, Records, StoreError};

/// Claims `location`'s name for `command_id`; `false` if another command holds it.
pub async fn claim(
    records: &impl Records,
    location: &NewLocation,
    command_id: Uuid,
) -> Result<bool, StoreError> {
    let key = location.name_key();
    let (holder, revision) = match records.claim_name(&key, command_id).await? {
        NameClaim::Claimed => return Ok(true),
        NameClaim::HeldBy { holder, revision } => (holder, revision),
    };
    if holder == command_id.to_string() {
        return Ok(true);
    }
    if !gave_up(records, &holder).await? {
        return Ok(false);
    }
    // Take it over, unless another claimant was quicker.
    records.take_over_name(&key, command_id, revision).await
}

/// Whether the command `holder` ended failed without creating its location.
async fn gave_up(records: &impl Records, holder: &str) -> Result<bool, StoreError> {
    let Ok(holder) = Uuid::try_parse(holder) else {
        // Not written by Herald: leave it be.
        return Ok(false);
    };
    let failed = records
        .status(holder)
        .await?
        .is_some_and(|recorded| recorded.status.status == CommandState::Failed);
    Ok(failed && records.location(holder).await?.is_none())
}
