//! Command ids this api process accepted lately.
//!
//! A client opens a command's event stream right after the 202, usually before
//! the reactor is done. Without this set the api would have to ask JetStream
//! whether the command exists (a round trip on every such request) before
//! waiting; with it, the api that accepted the command knows already. Another
//! instance behind a load balancer, or an id older than the set's capacity, falls
//! back to asking the stream.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use uuid::Uuid;

/// A bounded set that forgets its oldest ids first, and ids older than `max_age`
/// (the status TTL: past it, "accepted here" no longer means "still pending").
#[derive(Debug)]
pub struct RecentCommands {
    capacity: usize,
    max_age: Duration,
    inner: Mutex<(HashMap<Uuid, Instant>, VecDeque<Uuid>)>,
}

impl RecentCommands {
    pub fn new(capacity: usize, max_age: Duration) -> Self {
        Self {
            capacity,
            max_age,
            inner: Mutex::new((
                HashMap::with_capacity(capacity),
                VecDeque::with_capacity(capacity),
            )),
        }
    }

    pub fn insert(&self, id: Uuid) {
        let mut guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let (accepted, order) = &mut *guard;
        if accepted.insert(id, Instant::now()).is_none() {
            order.push_back(id);
            if order.len() > self.capacity
                && let Some(oldest) = order.pop_front()
            {
                accepted.remove(&oldest);
            }
        }
    }

    /// Whether this process accepted `id` less than `max_age` ago.
    pub fn contains(&self, id: &Uuid) -> bool {
        let guard = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        guard
            .0
            .get(id)
            .is_some_and(|accepted| accepted.elapsed() < self.max_age)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forgets_the_oldest_beyond_capacity() {
        let recent = RecentCommands::new(2, Duration::from_secs(60));
        let ids: Vec<Uuid> = (0..3).map(|_| Uuid::now_v7()).collect();
        for id in &ids {
            recent.insert(*id);
        }
        recent.insert(ids[2]);
        assert!(!recent.contains(&ids[0]));
        assert!(recent.contains(&ids[1]) && recent.contains(&ids[2]));
    }

    #[test]
    fn forgets_ids_older_than_the_status_ttl() {
        let recent = RecentCommands::new(8, Duration::ZERO);
        let id = Uuid::now_v7();
        recent.insert(id);
        assert!(!recent.contains(&id));
    }
}
