//! [`Records`] in memory, for the projector's unit tests: the same operations as
//! NATS, each of which can be told to fail a number of times.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use herald_contract::{CommandStatus, Location, Notification};
use uuid::Uuid;

use super::{NameClaim, Recorded, Records, StoreError};
use crate::delivery::Delivery;

/// What was stored, and which operations are to fail next.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) statuses: HashMap<Uuid, Recorded>,
    pub(crate) locations: HashMap<Uuid, Location>,
    /// Name key → (holder, revision).
    pub(crate) names: HashMap<String, (String, u64)>,
    pub(crate) announced: Vec<Notification>,
    /// (stream sequence, reason) of each dead letter.
    pub(crate) dead_letters: Vec<(u64, String)>,
    /// Operation name → how many more calls of it fail.
    failures: HashMap<&'static str, u32>,
    revision: u64,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct MemoryRecords {
    state: Arc<Mutex<State>>,
}

impl MemoryRecords {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Makes the next `times` calls of `operation` fail (a NATS timeout, say).
    pub(crate) fn fail(&self, operation: &'static str, times: u32) {
        self.state().failures.insert(operation, times);
    }

    fn attempt(&self, operation: &'static str) -> Result<MutexGuard<'_, State>, StoreError> {
        let mut state = self.state();
        match state.failures.get_mut(operation) {
            Some(left) if *left > 0 => {
                *left -= 1;
                Err(StoreError::new(operation, "timed out (injected)"))
            }
            _ => Ok(state),
        }
    }
}

impl Records for MemoryRecords {
    async fn status(&self, id: Uuid) -> Result<Option<Recorded>, StoreError> {
        Ok(self.attempt("status")?.statuses.get(&id).cloned())
    }

    async fn create_status(&self, status: &CommandStatus) -> Result<Recorded, StoreError> {
        let mut state = self.attempt("create_status")?;
        if let Some(recorded) = state.statuses.get(&status.id) {
            return Ok(recorded.clone());
        }
        state.revision += 1;
        let recorded = Recorded {
            status: status.clone(),
            revision: state.revision,
        };
        state.statuses.insert(status.id, recorded.clone());
        Ok(recorded)
    }

    async fn location(&self, id: Uuid) -> Result<Option<Location>, StoreError> {
        Ok(self.attempt("location")?.locations.get(&id).cloned())
    }

    async fn put_location(&self, location: &Location) -> Result<(), StoreError> {
        self.attempt("put_location")?
            .locations
            .insert(location.id, location.clone());
        Ok(())
    }

    async fn claim_name(&self, key: &str, command_id: Uuid) -> Result<NameClaim, StoreError> {
        let mut state = self.attempt("claim_name")?;
        if let Some((holder, revision)) = state.names.get(key) {
            return Ok(NameClaim::HeldBy {
                holder: holder.clone(),
                revision: *revision,
            });
        }
        state.revision += 1;
        let revision = state.revision;
        state
            .names
            .insert(key.to_owned(), (command_id.to_string(), revision));
        Ok(NameClaim::Claimed)
    }

    async fn take_over_name(
        &self,
        key: &str,
        command_id: Uuid,
        revision: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.attempt("take_over_name")?;
        if state.names.get(key).map(|(_, at)| *at) != Some(revision) {
            return Ok(false);
        }
        state.revision += 1;
        let next = state.revision;
        state
            .names
            .insert(key.to_owned(), (command_id.to_string(), next));
        Ok(true)
    }

    async fn announce(&self, notification: &Notification) -> Result<(), StoreError> {
        self.attempt("announce")?
            .announced
            .push(notification.clone());
        Ok(())
    }

    async fn dead_letter(
        &self,
        delivery: &Delivery,
        _payload: &[u8],
        reason: &str,
        _error: &str,
    ) -> Result<(), StoreError> {
        self.attempt("dead_letter")?
            .dead_letters
            .push((delivery.stream_sequence, reason.to_owned()));
        Ok(())
    }
}
