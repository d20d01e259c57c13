//! The global feed's memory: the latest outcomes in revision order, shared by every
//! client of `/api/notifications` in the process.
//!
//! One ring of the last [`RING`] outcomes and one broadcast channel, fed once per
//! outcome by the process's own subscription: a feed client costs a receiver, not
//! a JetStream consumer. A client that reconnects with `Last-Event-ID` resumes from
//! the ring when the ring reaches back that far ([`Catch::Ring`]); otherwise it reads
//! the bucket from there until the ring takes over. A client too slow to keep up
//! with the broadcast is told to come back (its `Last-Event-ID` then resumes it):
//! it never holds the others back.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::broadcast;

use super::finished::Finished;

/// Outcomes kept for clients that resume.
pub const RING: usize = 16_384;
/// Outcomes a live client may fall behind by before it is told to reconnect.
pub const LAG: usize = 4_096;

#[derive(Debug)]
struct Ring {
    entries: VecDeque<Arc<Finished>>,
    /// Every outcome recorded after this revision is in `entries` (or still to come).
    floor: Option<u64>,
}

/// The ring and the broadcast; see the module docs.
#[derive(Debug)]
pub struct Feed {
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Finished>>,
}

/// Where a new client's first events come from.
#[derive(Debug)]
pub enum Catch {
    /// Live only: it sent no `Last-Event-ID`.
    Live,
    /// The ring's outcomes after its `Last-Event-ID`, then live.
    Ring(Vec<Arc<Finished>>),
    /// The ring does not reach back to its `Last-Event-ID`: read the bucket from
    /// the revision after it up to `until` (inclusive), then these, then live.
    Bucket {
        until: u64,
        then: Vec<Arc<Finished>>,
    },
}

impl Default for Feed {
    fn default() -> Self {
        Self {
            ring: Mutex::new(Ring {
                entries: VecDeque::with_capacity(RING),
                floor: None,
            }),
            live: broadcast::channel(LAG).0,
        }
    }
}

impl Feed {
    /// The feed starts after `revision`: everything later passes through it.
    pub fn start_after(&self, revision: u64) {
        self.lock().floor.get_or_insert(revision);
    }

    /// Appends an outcome (in revision order) and sends it to every live client.
    pub fn push(&self, finished: Arc<Finished>) {
        let mut ring = self.lock();
        if ring.entries.len() == RING
            && let Some(oldest) = ring.entries.pop_front()
        {
            ring.floor = oldest.revision.or(ring.floor);
        }
        ring.entries.push_back(finished.clone());
        // Under the ring's lock, so a new client sees each outcome either in the
        // ring or live, never both and never neither. No receiver is not an error.
        let _ = self.live.send(finished);
    }

    /// A new client, with the `Last-Event-ID` it sent: its first events, and its
    /// receiver of what comes next.
    pub fn join(&self, after: Option<u64>) -> (Catch, broadcast::Receiver<Arc<Finished>>) {
        let ring = self.lock();
        let receiver = self.live.subscribe();
        let Some(after) = after else {
            return (Catch::Live, receiver);
        };
        let newer = |entries: &VecDeque<Arc<Finished>>| {
            entries
                .iter()
                .filter(|finished| finished.revision.is_some_and(|revision| revision > after))
                .cloned()
                .collect()
        };
        let catch = match ring.floor {
            Some(floor) if after < floor => Catch::Bucket {
                until: floor,
                then: newer(&ring.entries),
            },
            // Before the process knows where the bucket stands, an old id can only
            // be served from the bucket: up to where it stands now.
            None => Catch::Bucket {
                until: u64::MAX,
                then: Vec::new(),
            },
            Some(_) => Catch::Ring(newer(&ring.entries)),
        };
        (catch, receiver)
    }

    /// How many live clients there are.
    pub fn clients(&self) -> usize {
        self.live.receiver_count()
    }

    fn lock(&self) -> MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(PoisonError::into_inner)
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

    fn revisions(finished: &[Arc<Finished>]) -> Vec<u64> {
        finished.iter().filter_map(|f| f.revision).collect()
    }

    #[test]
    fn a_client_resumes_from_the_ring_then_goes_on_live() {
        let feed = Feed::default();
        feed.start_after(9);
        for revision in 10..=12 {
            feed.push(at(revision));
        }
        let (catch, mut live) = feed.join(Some(10));
        assert!(matches!(&catch, Catch::Ring(backlog) if revisions(backlog) == [11, 12]));
        feed.push(at(13));
        assert_eq!(live.try_recv().expect("live").revision, Some(13));
        assert!(matches!(feed.join(None).0, Catch::Live));
    }

    #[test]
    fn a_client_older_than_the_ring_reads_the_bucket_first() {
        let feed = Feed::default();
        feed.start_after(100);
        feed.push(at(101));
        let (catch, _) = feed.join(Some(50));
        assert!(matches!(&catch, Catch::Bucket { until: 100, then } if revisions(then) == [101]));
        let fresh = Feed::default();
        assert!(matches!(
            fresh.join(Some(5)).0,
            Catch::Bucket {
                until: u64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn the_ring_keeps_the_latest_and_raises_its_floor() {
        let feed = Feed::default();
        feed.start_after(0);
        for revision in 1..=(RING as u64 + 2) {
            feed.push(at(revision));
        }
        let (catch, _) = feed.join(Some(1));
        assert!(matches!(catch, Catch::Bucket { until: 2, .. }));
        let (catch, _) = feed.join(Some(2));
        assert!(matches!(&catch, Catch::Ring(backlog) if backlog.len() == RING));
    }
}
