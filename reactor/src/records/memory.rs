//! [`Records`] in memory, for the projector's unit tests: the same operations as
//! NATS, each of which can be told to fail a number of times.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use herald_contract::{CommandStatus, Location, Notification};
use uuid::Uuid;

use super::{Claim, ClaimState, Recorded, Records, StoreError};
use crate::delivery::Delivery;

/// What was stored, and which operations are to fail next.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) statuses: HashMap<Uuid, Recorded>,
    pub(crate) locations: HashMap<Uuid, Location>,
    /// Name key → claim.
    pub(crate) names: HashMap<String, Claim>,
    /// Commands in the stream (all of them unless a test says otherwise).
    pub(crate) expired: HashSet<Uuid>,
    pub(crate) announced: Vec<Notification>,
    /// (stream sequence, reason) of each dead letter.
    pub(crate) dead_letters: Vec<(u64, String)>,
    /// Operation name → how many more calls of it fail.
    failures: HashMap<&'static str, u32>,
    revision: u64,
}

impl State {
    fn next_revision(&mut self) -> u64 {
        self.revision += 1;
        self.revision
    }
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
        let recorded = Recorded {
            status: status.clone(),
            revision: state.next_revision(),
        };
        state.statuses.insert(status.id, recorded.clone());
        Ok(recorded)
    }

    async fn put_location(&self, location: &Location) -> Result<(), StoreError> {
        self.attempt("put_location")?
            .locations
            .insert(location.id, location.clone());
        Ok(())
    }

    async fn location_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(self.attempt("location_exists")?.locations.contains_key(&id))
    }

    async fn claim(&self, key: &str) -> Result<Option<Claim>, StoreError> {
        Ok(self.attempt("claim")?.names.get(key).cloned())
    }

    async fn create_claim(&self, key: &str, holder: Uuid) -> Result<Option<u64>, StoreError> {
        let mut state = self.attempt("create_claim")?;
        if state.names.contains_key(key) {
            return Ok(None);
        }
        let revision = state.next_revision();
        state.names.insert(
            key.to_owned(),
            Claim {
                holder,
                state: ClaimState::Claimed,
                revision,
            },
        );
        Ok(Some(revision))
    }

    async fn set_claim(
        &self,
        key: &str,
        holder: Uuid,
        claim: ClaimState,
        revision: u64,
    ) -> Result<bool, StoreError> {
        let mut state = self.attempt("set_claim")?;
        if state.names.get(key).map(|claim| claim.revision) != Some(revision) {
            return Ok(false);
        }
        let revision = state.next_revision();
        state.names.insert(
            key.to_owned(),
            Claim {
                holder,
                state: claim,
                revision,
            },
        );
        Ok(true)
    }

    async fn command_exists(&self, id: Uuid) -> Result<bool, StoreError> {
        Ok(!self.attempt("command_exists")?.expired.contains(&id))
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
        let mut state = self.attempt("dead_letter")?;
        // Stored once per stream sequence, as NATS does by its message id.
        if !state
            .dead_letters
            .iter()
            .any(|(sequence, _)| *sequence == delivery.stream_sequence)
        {
            state
                .dead_letters
                .push((delivery.stream_sequence, reason.to_owned()));
        }
        Ok(())
    }
}
