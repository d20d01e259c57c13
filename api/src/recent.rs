//! Command ids this api process accepted lately.
//!
//! A client opens a command's event stream right after the 202, usually before
//! the reactor is done. Without this set the api would have to ask JetStream
//! whether the command exists (a round trip on every such request) before
//! waiting; with it, the api that accepted the command knows already. Another
//! instance behind a load balancer, or an id older than the set's capacity, falls
//! back to asking the stream.

use std::collections::{HashSet, VecDeque};
use std::sync::{Mutex, PoisonError};

use uuid::Uuid;

/// A bounded set that forgets its oldest ids first.
#[derive(Debug)]
pub struct RecentCommands {
    capacity: usize,
    inner: Mutex<(HashSet<Uuid>, VecDeque<Uuid>)>,
}

impl RecentCommands {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            inner: Mutex::new((
                HashSet::with_capacity(capacity),
                VecDeque::with_capacity(capacity),
            )),
        }
    }

    pub fn insert(&self, id: Uuid) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (set, order) = &mut *guard;
        if set.insert(id) {
            order.push_back(id);
            if order.len() > self.capacity
                && let Some(oldest) = order.pop_front()
            {
                set.remove(&oldest);
            }
        }
    }

    pub fn contains(&self, id: &Uuid) -> bool {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard.0.contains(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let recent = RecentCommands::new(2);
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for id in &ids {
            recent.insert(*id);
        }
        recent.insert(ids[2]);
        assert!(!recent.contains(&ids[0]));
        assert!(recent.contains(&ids[1]) && recent.contains(&ids[2]));
    }
}
