//! Unique location names, across any number of reactors.
//!
//! The `location_names` bucket maps each normalized name to the command holding
//! it. A command claims its name with a create-if-absent write, which JetStream
//! performs atomically, so of two racing commands exactly one wins. A redelivered
//! command finds its own id there and is not in conflict with itself.

use async_nats::jetstream::kv;
use herald_contract::NewLocation;
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum NameIndexError {
    #[error("could not claim a name")]
    Claim(#[source] kv::CreateError),
    #[error("could not read who holds a name")]
    Read(#[source] kv::EntryError),
    #[error("could not release a name")]
    Release(#[source] kv::DeleteError),
}

/// The name index.
#[derive(Debug, Clone)]
pub struct NameIndex {
    bucket: kv::Store,
}

impl NameIndex {
    pub fn new(bucket: kv::Store) -> Self {
        Self { bucket }
    }

    /// Claims `location`'s name for `command_id`; `false` if another command holds it.
    pub async fn claim(
        &self,
        location: &NewLocation,
        command_id: Uuid,
    ) -> Result<bool, NameIndexError> {
        let key = location.name_key();
        let id = command_id.to_string();
        match self.bucket.create(&key, id.clone().into()).await {
            Ok(_) => Ok(true),
            Err(error) if error.kind() == kv::CreateErrorKind::AlreadyExists => {
                Ok(self.holder(&key).await?.as_deref() == Some(id.as_str()))
            }
            Err(error) => Err(NameIndexError::Claim(error)),
        }
    }

    /// Gives `location`'s name back if `command_id` holds it, so a command given up
    /// on does not keep its name from the next one.
    pub async fn release(
        &self,
        location: &NewLocation,
        command_id: Uuid,
    ) -> Result<(), NameIndexError> {
        let key = location.name_key();
        if self.holder(&key).await?.as_deref() == Some(command_id.to_string().as_str()) {
            self.bucket
                .delete(&key)
                .await
                .map_err(NameIndexError::Release)?;
        }
        Ok(())
    }

    async fn holder(&self, key: &str) -> Result<Option<String>, NameIndexError> {
        let value = self.bucket.get(key).await.map_err(NameIndexError::Read)?;
        Ok(value.map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
    }
}
