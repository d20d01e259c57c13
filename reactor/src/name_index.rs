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
//! and a name whose location exists can never be taken.

use async_nats::jetstream::kv;
use herald_contract::{CommandState, CommandStatus, NewLocation};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum NameIndexError {
    #[error("could not claim a name")]
    Claim(#[source] kv::CreateError),
    #[error("could not read a name's holder or its outcome")]
    Read(#[source] kv::EntryError),
}

/// The name index, and what it needs to know whether a holder gave up.
#[derive(Debug, Clone)]
pub struct NameIndex {
    names: kv::Store,
    statuses: kv::Store,
    locations: kv::Store,
}

impl NameIndex {
    pub fn new(names: kv::Store, statuses: kv::Store, locations: kv::Store) -> Self {
        Self {
            names,
            statuses,
            locations,
        }
    }

    /// Claims `location`'s name for `command_id`; `false` if another command holds it.
    pub async fn claim(
        &self,
        location: &NewLocation,
        command_id: Uuid,
    ) -> Result<bool, NameIndexError> {
        let key = location.name_key();
        let id = command_id.to_string();
        // Twice at most: a holder's entry can vanish between the create and the read
        // only if the bucket was purged by hand.
        for _ in 0..2 {
            match self.names.create(&key, id.clone().into()).await {
                Ok(_) => return Ok(true),
                Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {}
                Err(error) => return Err(NameIndexError::Claim(error)),
            }
            let Some(entry) = self.names.entry(&key).await.map_err(NameIndexError::Read)? else {
                continue;
            };
            let holder = String::from_utf8_lossy(&entry.value).into_owned();
            if holder == id {
                return Ok(true);
            }
            if !self.gave_up(&holder).await? {
                return Ok(false);
            }
            // Take it over, unless another claimant was quicker.
            return Ok(self
                .names
                .update(&key, id.into(), entry.revision)
                .await
                .is_ok());
        }
        Ok(false)
    }

    /// Whether the command `holder` ended failed without creating its location.
    async fn gave_up(&self, holder: &str) -> Result<bool, NameIndexError> {
        let status = self
            .statuses
            .get(holder)
            .await
            .map_err(NameIndexError::Read)?
            .and_then(|bytes| serde_json::from_slice::<CommandStatus>(&bytes).ok());
        if status.is_none_or(|status| status.status != CommandState::Failed) {
            return Ok(false);
        }
        let location = self
            .locations
            .get(holder)
            .await
            .map_err(NameIndexError::Read)?;
        Ok(location.is_none())
    }
}
