//! Putting outcomes back in the order they were recorded, and noticing when one
//! is missing.
//!
//! Every status gets the next revision of the `commands` bucket, and its
//! notification carries it. Notifications from several reactors arrive a little
//! out of order; one lost on the way (a reconnect, a slow consumer, a route
//! between cluster nodes that broke) leaves a hole. [`Sequence`] keeps what came
//! early until the revisions before it are accounted for, hands out outcomes in
//! revision order (for the global feed), and says since when a hole has been
//! open, so the process reads the missing revisions from the bucket.
//!
//! Not every revision is an outcome (a purge writes a marker), so a hole can be
//! closed by reading the bucket and finding nothing: [`Sequence::account_up_to`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::finished::Finished;

/// Outcomes in revision order; see the module docs.
#[derive(Debug, Default)]
pub struct Sequence {
    /// The first revision not yet accounted for; `None` before [`Sequence::start_at`].
    next: Option<u64>,
    /// Outcomes that came before the revisions ahead of them.
    early: BTreeMap<u64, Arc<Finished>>,
    /// Since when `early` has been waiting for a hole to close.
    hole_since: Option<Instant>,
}

impl Sequence {
    /// Starts counting at `next` (the bucket's last revision, plus one, when the
    /// process starts following it). Outcomes held for earlier revisions are dropped.
    pub fn start_at(&mut self, next: u64, now: Instant) -> Vec<Arc<Finished>> {
        self.next = Some(next);
        self.early = self.early.split_off(&next);
        self.hole_since = None;
        self.release(now)
    }

    /// Whether counting has started.
    pub fn started(&self) -> bool {
        self.next.is_some()
    }

    /// The first revision not yet accounted for.
    pub fn next(&self) -> Option<u64> {
        self.next
    }

    /// An outcome recorded at `revision` came: the outcomes now in order.
    pub fn receive(
        &mut self,
        revision: u64,
        finished: Arc<Finished>,
        now: Instant,
    ) -> Vec<Arc<Finished>> {
        if self.next.is_some_and(|next| revision < next) {
            return Vec::new(); // Accounted for already (announced again after a redelivery).
        }
        self.early.insert(revision, finished);
        self.release(now)
    }

    /// The bucket was read up to `end`: every revision up to it is accounted for,
    /// outcome or not. The outcomes now in order.
    pub fn account_up_to(&mut self, end: u64, now: Instant) -> Vec<Arc<Finished>> {
        let Some(next) = self.next else {
            return Vec::new();
        };
        let mut released = Vec::new();
        let mut next = next;
        while next <= end {
            if let Some(finished) = self.early.remove(&next) {
                released.push(finished);
            }
            next += 1;
        }
        self.next = Some(next);
        self.hole_since = None;
        released.extend(self.release(now));
        released
    }

    /// Where to read the bucket from if a hole has been open for `grace`.
    pub fn overdue(&self, now: Instant, grace: Duration) -> Option<u64> {
        let since = self.hole_since?;
        (now.duration_since(since) >= grace).then_some(self.next?)
    }

    fn release(&mut self, now: Instant) -> Vec<Arc<Finished>> {
        let Some(mut next) = self.next else {
            return Vec::new();
        };
        let mut released = Vec::new();
        while let Some(finished) = self.early.remove(&next) {
            released.push(finished);
            next += 1;
        }
        self.next = Some(next);
        self.hole_since = if self.early.is_empty() {
            None
        } else {
            self.hole_since.or(Some(now))
        };
        released
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_contract::{CommandStatus, FailureReason};
    use uuid::Uuid;

    fn at(revision: u64) -> Arc<Finished> {
        let status = CommandStatus::failed(Uuid::now_v7(), None, FailureReason::Invalid, vec![]);
        Arc::new(Finished::from_status(&status, Some(revision)).expect("terminal"))
    }

    fn revisions(released: &[Arc<Finished>]) -> Vec<u64> {
        released.iter().filter_map(|f| f.revision).collect()
    }

    const GRACE: Duration = Duration::from_millis(500);

    #[test]
    fn out_of_order_outcomes_come_out_in_order() {
        let now = Instant::now();
        let mut sequence = Sequence::default();
        assert!(sequence.start_at(10, now).is_empty());
        assert!(sequence.receive(11, at(11), now).is_empty());
        assert!(
            sequence.overdue(now, Duration::ZERO).is_some(),
            "10 is missing"
        );
        assert_eq!(revisions(&sequence.receive(10, at(10), now)), [10, 11]);
        assert_eq!(sequence.overdue(now, Duration::ZERO), None);
        assert!(
            sequence.receive(10, at(10), now).is_empty(),
            "a repeat is dropped"
        );
        assert_eq!(sequence.next(), Some(12));
    }

    #[test]
    fn a_hole_is_overdue_after_the_grace_and_closed_by_reading_the_bucket() {
        let start = Instant::now();
        let mut sequence = Sequence::default();
        sequence.start_at(1, start);
        assert_eq!(revisions(&sequence.receive(1, at(1), start)), [1]);
        assert!(sequence.receive(4, at(4), start).is_empty());
        assert_eq!(sequence.overdue(start + GRACE / 2, GRACE), None);
        assert_eq!(sequence.overdue(start + GRACE, GRACE), Some(2));
        // The replay finds 2 (3 was a purge marker) and reads on to 5.
        assert_eq!(revisions(&sequence.receive(2, at(2), start)), [2]);
        assert_eq!(revisions(&sequence.account_up_to(5, start)), [4]);
        assert_eq!(sequence.next(), Some(6));
        assert_eq!(sequence.overdue(start + GRACE * 4, GRACE), None);
    }

    #[test]
    fn outcomes_before_the_start_are_held_then_dropped_if_older() {
        let now = Instant::now();
        let mut sequence = Sequence::default();
        assert!(sequence.receive(3, at(3), now).is_empty());
        assert!(sequence.receive(5, at(5), now).is_empty());
        assert!(!sequence.started());
        assert_eq!(revisions(&sequence.start_at(5, now)), [5]);
    }
}
