//! The commands this process knows about: those it accepted lately, and the
//! outcomes it has seen lately, in one bounded map.
//!
//! A client opens a command's event stream right after the `202`. If this process
//! accepted the command and has not seen its outcome, the outcome cannot have
//! happened unseen: the process follows every notification, and replays the
//! bucket whenever one may have been lost. So the stream waits without asking
//! NATS anything. An outcome seen lately is answered from memory, also for
//! commands another instance accepted. Anything else (evicted, accepted
//! elsewhere, older than the process) is read from NATS as before.
//!
//! Accepted ids and outcomes share one queue, oldest out first: an evicted
//! outcome can never leave behind an "accepted, so pending" that is no longer true.
//!
//! Memory agrees with the retention horizon: an entry counts only for a while
//! shorter than the horizon, so the process never answers an outcome the bucket
//! no longer has, nor "pending" for a command the stream has dropped.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::finished::Finished;

/// What the process knows of one command.
#[derive(Debug, Clone)]
pub enum Knowledge {
    /// Accepted here, outcome not seen yet: it is pending.
    Pending,
    /// Its outcome.
    Finished(Arc<Finished>),
}

#[derive(Debug)]
enum Entry {
    Accepted(Instant),
    Finished(Arc<Finished>, Instant),
}

/// A bounded map of command id → [`Entry`], evicting the oldest first.
#[derive(Debug)]
pub struct Known {
    entries: HashMap<Uuid, Entry>,
    order: VecDeque<Uuid>,
    capacity: usize,
    /// An entry counts only this long; after it the command is read again,
    /// whatever this process believes.
    trust: Duration,
}

impl Known {
    pub fn new(capacity: usize, trust: Duration) -> Self {
        Self {
            entries: HashMap::with_capacity(capacity),
            order: VecDeque::with_capacity(capacity),
            capacity,
            trust,
        }
    }

    /// This process stored command `id` in the stream; unless its outcome is known.
    pub fn accepted(&mut self, id: Uuid) {
        if !self.entries.contains_key(&id) {
            self.insert(id, Entry::Accepted(Instant::now()));
        }
    }

    /// An outcome was seen (it replaces "accepted").
    pub fn finished(&mut self, finished: Arc<Finished>) {
        let id = finished.command_id;
        match self.entries.get_mut(&id) {
            Some(entry) => *entry = Entry::Finished(finished, Instant::now()),
            None => self.insert(id, Entry::Finished(finished, Instant::now())),
        }
    }

    /// What is known of `id`; `None`: ask NATS.
    pub fn get(&self, id: &Uuid) -> Option<Knowledge> {
        match self.entries.get(id)? {
            Entry::Accepted(at) if at.elapsed() < self.trust => Some(Knowledge::Pending),
            Entry::Finished(finished, at) if at.elapsed() < self.trust => {
                Some(Knowledge::Finished(finished.clone()))
            }
            _ => None,
        }
    }

    /// Forgets every "accepted" entry: after outcomes may have been missed for
    /// good, those commands are read from NATS again.
    pub fn forget_pending(&mut self) {
        self.entries
            .retain(|_, entry| matches!(entry, Entry::Finished(..)));
        let entries = &self.entries;
        self.order.retain(|id| entries.contains_key(id));
    }

    fn insert(&mut self, id: Uuid, entry: Entry) {
        while self.order.len() >= self.capacity {
            match self.order.pop_front() {
                Some(oldest) => {
                    self.entries.remove(&oldest);
                }
                None => break,
            }
        }
        self.entries.insert(id, entry);
        self.order.push_back(id);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_contract::{CommandStatus, FailureReason};

    fn finished(id: Uuid) -> Arc<Finished> {
        let status = CommandStatus::failed(id, None, FailureReason::Invalid, vec![]);
        Arc::new(Finished::from_status(&status, Some(1)).expect("terminal"))
    }

    #[test]
    fn accepted_is_pending_until_the_outcome_is_seen() {
        let mut known = Known::new(8, Duration::from_secs(60));
        let id = Uuid::now_v7();
        assert!(known.get(&id).is_none());
        known.accepted(id);
        assert!(matches!(known.get(&id), Some(Knowledge::Pending)));
        known.finished(finished(id));
        assert!(matches!(known.get(&id), Some(Knowledge::Finished(_))));
        // An outcome seen before the publish was acknowledged stays.
        let fast = Uuid::now_v7();
        known.finished(finished(fast));
        known.accepted(fast);
        assert!(matches!(known.get(&fast), Some(Knowledge::Finished(_))));
    }

    #[test]
    fn the_oldest_go_first_so_an_evicted_outcome_is_read_again() {
        let mut known = Known::new(2, Duration::from_secs(60));
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        known.accepted(ids[0]);
        known.finished(finished(ids[0]));
        known.accepted(ids[1]);
        known.accepted(ids[2]);
        assert!(known.get(&ids[0]).is_none(), "evicted: ask NATS");
        assert_eq!(known.len(), 2);
    }

    #[test]
    fn accepted_long_ago_or_forgotten_is_read_again() {
        let mut known = Known::new(8, Duration::ZERO);
        let id = Uuid::now_v7();
        known.accepted(id);
        assert!(known.get(&id).is_none());
        known.finished(finished(id));
        assert!(known.get(&id).is_none(), "past the horizon: ask NATS");

        let mut known = Known::new(8, Duration::from_secs(60));
        let (pending, done) = (Uuid::now_v7(), Uuid::now_v7());
        known.accepted(pending);
        known.finished(finished(done));
        known.forget_pending();
        assert!(known.get(&pending).is_none());
        assert!(known.get(&done).is_some());
    }
}
