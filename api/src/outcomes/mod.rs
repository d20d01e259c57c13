//! Telling waiting clients that their command finished, at a cost that grows with
//! commands, not with clients.
//!
//! One NATS subscription per api process (`notifications.>`, in [`follow`]) feeds
//! [`Outcomes`], which hands each outcome to the clients waiting for that command
//! and to nobody else, keeps the recent ones ([`known`]), and puts them in
//! revision order for the global feed ([`sequence`], [`feed`]). A client
//! registers a [`Waiter`] *before* it looks at the command's status, so an
//! outcome can never fall between the look and the wait.
//!
//! Core NATS does not keep messages, so a notification can be lost (a reconnect,
//! a slow consumer, a cluster route that broke). Nobody's waiter re-reads its
//! status for that: the process notices that a revision is missing, or that the
//! bucket has moved past what it heard, and reads the missing statuses from the
//! bucket once, for everybody ([`follow`]). However many clients wait, the load
//! on NATS is one notification per command and one small request a second.

pub mod feed;
pub mod finished;
pub mod follow;
pub mod known;
pub mod sequence;

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use herald_contract::names;
use herald_read_model::{ReadError, ReadModel};
use tokio::sync::{Notify, mpsc, oneshot};
use uuid::Uuid;

pub use feed::Feed;
pub use finished::Finished;
use known::{Knowledge, Known};
use sequence::Sequence;

/// Commands (accepted here, or finished lately) the process remembers.
const KNOWN: usize = 16_384;
/// How long what the process remembers is trusted (shorter if the retention is).
const TRUST: Duration = Duration::from_secs(3600);

/// Where a waiter is told its outcome.
#[derive(Debug)]
enum To {
    One(oneshot::Sender<Arc<Finished>>),
    /// A stream waiting for several commands: each sends at most once.
    Group(mpsc::Sender<Arc<Finished>>),
}

type Waiting = HashMap<Uuid, Vec<(u64, To)>>;

/// The process's outcomes; cheap to clone.
#[derive(Debug, Clone)]
pub struct Outcomes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    waiting: Mutex<Waiting>,
    next_key: AtomicU64,
    known: Mutex<Known>,
    sequence: Mutex<Sequence>,
    feed: Feed,
    /// Asks the follower to read the bucket: notifications may have been lost.
    replay: Notify,
}

impl Default for Outcomes {
    fn default() -> Self {
        Self::new(herald_contract::TopologyConfig::default().command_retention())
    }
}

impl Outcomes {
    /// Outcomes of commands kept for `retention`: what the process remembers
    /// counts for half of it at most, well inside the horizon.
    pub fn new(retention: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                waiting: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(0),
                known: Mutex::new(Known::new(KNOWN, TRUST.min(retention / 2))),
                sequence: Mutex::new(Sequence::default()),
                feed: Feed::default(),
                replay: Notify::new(),
            }),
        }
    }
}

/// From a command's acceptance to its outcome reaching its waiters here. The
/// command id is a UUID v7, stamped with its acceptance in milliseconds.
fn record_latency(finished: &Finished) {
    let Some((seconds, nanos)) = finished
        .command_id
        .get_timestamp()
        .map(|stamp| stamp.to_unix())
    else {
        return;
    };
    let accepted = std::time::UNIX_EPOCH + Duration::new(seconds, nanos);
    if let Ok(latency) = std::time::SystemTime::now().duration_since(accepted) {
        metrics::histogram!("herald_command_latency_seconds").record(latency.as_secs_f64());
    }
}

/// Locks a mutex whose data stays consistent even if a holder panicked: every
/// change is one call.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Outcomes {
    /// Starts waiting for `command_id`'s outcome. Dropping the waiter unregisters it.
    pub fn register(&self, command_id: Uuid) -> Waiter {
        let (sender, receiver) = oneshot::channel();
        let key = self.add(command_id, To::One(sender));
        Waiter {
            command_id,
            key,
            receiver,
            outcomes: self.clone(),
        }
    }

    /// Starts waiting for each of `command_ids` (distinct) at once.
    pub fn register_group(&self, command_ids: Vec<Uuid>) -> Group {
        let (sender, receiver) = mpsc::channel(command_ids.len().max(1));
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let mut waiting = lock(&self.inner.waiting);
        for id in &command_ids {
            waiting
                .entry(*id)
                .or_default()
                .push((key, To::Group(sender.clone())));
        }
        drop(waiting);
        Group {
            command_ids,
            key,
            receiver,
            outcomes: self.clone(),
        }
    }

    fn add(&self, command_id: Uuid, to: To) -> u64 {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        lock(&self.inner.waiting)
            .entry(command_id)
            .or_default()
            .push((key, to));
        key
    }

    fn remove(&self, command_id: &Uuid, key: u64) {
        let mut waiting = lock(&self.inner.waiting);
        if let Some(slots) = waiting.get_mut(command_id) {
            slots.retain(|(slot, _)| *slot != key);
            if slots.is_empty() {
                waiting.remove(command_id);
            }
        }
    }

    /// The commands somebody waits for.
    pub fn waited_for(&self) -> Vec<Uuid> {
        lock(&self.inner.waiting).keys().copied().collect()
    }

    /// How many clients wait, counting each command of a group.
    pub fn waiting(&self) -> usize {
        lock(&self.inner.waiting).values().map(Vec::len).sum()
    }

    /// This process stored `command_id` in the stream: until its outcome is seen,
    /// a client opening its stream here waits without asking NATS. Only once the
    /// process follows the bucket's revisions, so that no outcome can be missed.
    pub fn accepted(&self, command_id: Uuid) {
        if lock(&self.inner.sequence).started() {
            lock(&self.inner.known).accepted(command_id);
        }
    }

    /// What the process knows of `command_id` without asking NATS.
    fn knowledge(&self, command_id: &Uuid) -> Option<Knowledge> {
        lock(&self.inner.known).get(command_id)
    }

    /// A notification as published on `subject`.
    pub fn receive_payload(&self, subject: &str, payload: Bytes) {
        metrics::counter!("herald_notifications_received_total").increment(1);
        let Some(command_id) = names::command_id_of_notification(subject) else {
            tracing::warn!(subject, "notification on a subject without a command id");
            return;
        };
        match Finished::from_payload(command_id, payload) {
            Ok(finished) => self.receive(Arc::new(finished)),
            Err(error) => tracing::warn!(subject, %error, "notification ignored"),
        }
    }

    /// An outcome, from a notification or read from the bucket: to its waiters,
    /// to memory, and in revision order to the feed.
    pub fn receive(&self, finished: Arc<Finished>) {
        lock(&self.inner.known).finished(finished.clone());
        let slots = lock(&self.inner.waiting).remove(&finished.command_id);
        if slots.is_some() {
            record_latency(&finished);
        }
        for (_, to) in slots.unwrap_or_default() {
            // A waiter that has gone away is not an error.
            match to {
                To::One(sender) => {
                    let _ = sender.send(finished.clone());
                }
                To::Group(sender) => {
                    let _ = sender.try_send(finished.clone());
                }
            }
        }
        if let Some(revision) = finished.revision {
            let released = lock(&self.inner.sequence).receive(revision, finished, Instant::now());
            self.to_feed(released);
        }
    }

    /// The bucket stands at `last_revision` as the process starts following it.
    pub fn start_at(&self, last_revision: u64) {
        self.inner.feed.start_after(last_revision);
        let released = lock(&self.inner.sequence).start_at(last_revision + 1, Instant::now());
        self.to_feed(released);
    }

    /// The bucket was read up to `revision`: nothing before it is missing any more.
    pub fn read_up_to(&self, revision: u64) {
        let released = lock(&self.inner.sequence).account_up_to(revision, Instant::now());
        self.to_feed(released);
    }

    /// The first revision not yet accounted for; `None` before the start.
    pub fn next_revision(&self) -> Option<u64> {
        lock(&self.inner.sequence).next()
    }

    /// Where to read the bucket from, if a missing revision has waited `grace`.
    pub fn overdue(&self, grace: Duration) -> Option<u64> {
        lock(&self.inner.sequence).overdue(Instant::now(), grace)
    }

    /// Outcomes may have been lost beyond recall: what this process believed
    /// pending is read from NATS again.
    pub fn forget_pending(&self) {
        lock(&self.inner.known).forget_pending();
    }

    /// Asks for the bucket to be read: notifications may have been lost (a
    /// reconnect, a slow consumer).
    pub fn request_replay(&self) {
        self.inner.replay.notify_one();
    }

    /// Resolves when a replay has been asked for.
    pub async fn replay_requested(&self) {
        self.inner.replay.notified().await;
    }

    /// The global feed.
    pub fn feed(&self) -> &Feed {
        &self.inner.feed
    }

    fn to_feed(&self, released: Vec<Arc<Finished>>) {
        for finished in released {
            self.inner.feed.push(finished);
        }
    }

    /// The outcome of `command_id` as it stands: from memory when the process
    /// knows it, otherwise from NATS. `None` while it is pending.
    async fn current(
        &self,
        command_id: Uuid,
        read_model: &ReadModel,
    ) -> Result<Option<Outcome>, ReadError> {
        match self.knowledge(&command_id) {
            Some(Knowledge::Finished(finished)) => return Ok(Some(Outcome::Finished(finished))),
            Some(Knowledge::Pending) => return Ok(None),
            None => {}
        }
        Ok(match read_model.status_at(command_id).await? {
            None => Some(Outcome::Unknown),
            Some(known) => Finished::from_status(&known.status, known.revision)
                .map(|finished| Outcome::Finished(Arc::new(finished))),
        })
    }
}

/// How a wait ended, or where a command stands.
#[derive(Debug, Clone)]
pub enum Outcome {
    /// The command finished.
    Finished(Arc<Finished>),
    /// Neither the command nor its status exists.
    Unknown,
    /// The wait was stopped (shutdown, or the caller's deadline) first.
    StillPending,
}

/// One client's wait for one command. As a future, it resolves with the outcome
/// (`None` only if the process is going away).
#[derive(Debug)]
pub struct Waiter {
    command_id: Uuid,
    key: u64,
    receiver: oneshot::Receiver<Arc<Finished>>,
    outcomes: Outcomes,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        self.outcomes.remove(&self.command_id, self.key);
    }
}

impl Waiter {
    /// Where the command stands now: finished, unknown, or `None` while pending.
    /// Call it after registering, never before.
    pub async fn current(&self, read_model: &ReadModel) -> Result<Option<Outcome>, ReadError> {
        self.outcomes.current(self.command_id, read_model).await
    }

    /// Waits until the command finishes or `stop` fires.
    pub async fn outcome(self, stop: impl Future<Output = ()>) -> Outcome {
        tokio::select! {
            biased;
            finished = self => match finished {
                Some(finished) => Outcome::Finished(finished),
                None => Outcome::StillPending,
            },
            () = stop => Outcome::StillPending,
        }
    }
}

impl Future for Waiter {
    type Output = Option<Arc<Finished>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        Pin::new(&mut self.receiver).poll(cx).map(Result::ok)
    }
}

/// A wait for several commands at once (one stream for many commands).
#[derive(Debug)]
pub struct Group {
    command_ids: Vec<Uuid>,
    key: u64,
    receiver: mpsc::Receiver<Arc<Finished>>,
    outcomes: Outcomes,
}

impl Drop for Group {
    fn drop(&mut self) {
        for id in &self.command_ids {
            self.outcomes.remove(id, self.key);
        }
    }
}

impl Group {
    /// The commands waited for.
    pub fn command_ids(&self) -> &[Uuid] {
        &self.command_ids
    }

    /// Where each command stands now, in the order of [`Group::command_ids`];
    /// read from NATS together for those the process does not know.
    pub async fn current(&self, read_model: &ReadModel) -> Result<Vec<Option<Outcome>>, ReadError> {
        let reads = self
            .command_ids
            .iter()
            .map(|id| self.outcomes.current(*id, read_model));
        futures::future::try_join_all(reads).await
    }

    /// The next outcome of one of the commands; `None` once none can come.
    pub fn poll_next(&mut self, cx: &mut Context<'_>) -> Poll<Option<Arc<Finished>>> {
        self.receiver.poll_recv(cx)
    }
}

#[cfg(test)]
mod tests;
