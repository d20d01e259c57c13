//! An in-memory copy of the `locations` bucket, for listing.
//!
//! Listing by reading every key of the bucket costs a round trip per location, so
//! a page of 50 out of 100,000 took seconds. Instead each api process keeps the
//! whole bucket in a `BTreeMap` ordered by id (UUID v7, so by creation time) and
//! serves pages from it under a read lock.
//!
//! One KV watch per process keeps the map current. It starts with the bucket's
//! current values (`watch_with_history`) and, if the watch ends or fails (a NATS
//! restart, a vanished consumer), is created again after a short back-off, from
//! the revision after the last one applied. It is polled all the time: a watch
//! that is not polled may not resume after a server restart (async-nats issue 1596).
//!
//! The view knows when it has caught up with the bucket as it was when the watch
//! started, so readers can wait for that instead of seeing a partial list, and the
//! last applied revision, so a writer's revision can be waited for (read your writes).

use std::collections::BTreeMap;
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard};
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use herald_contract::{Location, names};
use herald_runtime::{Backoff, Streak, error_chain};

/// Pauses before the watch is created again after it ended or failed.
const BACKOFF: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(2));

/// A page of locations, newest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationPage {
    pub locations: Vec<Location>,
    /// Pass as `before` to get the next page; `None` on the last page.
    pub next: Option<Uuid>,
}

/// The `locations` bucket in memory. Cheap to clone: clones share one map.
#[derive(Debug, Clone, Default)]
pub struct LocationsView {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    locations: RwLock<BTreeMap<Uuid, Location>>,
    progress: watch::Sender<Progress>,
}

/// How far the view has followed the bucket.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Progress {
    /// The last bucket revision (stream sequence) applied to the map.
    revision: u64,
    /// Set once the map holds everything the bucket held when the watch started.
    caught_up: bool,
}

impl LocationsView {
    /// An empty view; it fills once [`spawn`](Self::spawn)ed.
    pub fn new() -> Self {
        Self::default()
    }

    /// Follows the bucket until `shutdown` fires. Await the handle at shutdown.
    pub fn spawn(
        &self,
        jetstream: jetstream::Context,
        shutdown: CancellationToken,
    ) -> JoinHandle<()> {
        tokio::spawn(self.clone().run(jetstream, shutdown))
    }

    /// Follows the bucket until `shutdown` fires, creating the watch again whenever
    /// it ends or fails (also while the bucket does not exist yet).
    pub async fn run(self, jetstream: jetstream::Context, shutdown: CancellationToken) {
        let mut delays = BACKOFF.delays();
        let mut failures = Streak::default();
        loop {
            let before = self.revision();
            let outcome = tokio::select! {
                () = shutdown.cancelled() => return,
                outcome = self.follow(&jetstream) => outcome,
            };
            match outcome {
                Ok(()) => tracing::debug!("the locations watch ended; creating it again"),
                Err(error) if failures.failed() => tracing::warn!(
                    error = error_chain(&*error),
                    revision = self.revision(),
                    "the locations watch failed; creating it again, quietly until it works"
                ),
                Err(error) => tracing::debug!(
                    error = error_chain(&*error),
                    "the locations watch failed again"
                ),
            }
            if self.revision() > before {
                delays.reset();
                failures.worked();
            }
            if !delays.sleep(&shutdown).await {
                return;
            }
        }
    }

    /// One watch, from the last applied revision on, until it ends or fails.
    async fn follow(&self, jetstream: &jetstream::Context) -> Result<(), async_nats::Error> {
        let bucket = jetstream.get_key_value(names::LOCATIONS_BUCKET).await?;
        let applied = self.revision();
        // A watch on an empty bucket (or one with nothing new) yields no entry to
        // say so, so ask the stream first.
        let state = bucket.stream.get_info().await?.state;
        if state.messages == 0 || state.last_sequence <= applied {
            self.mark_caught_up();
        }
        let mut entries = if applied == 0 {
            bucket.watch_with_history(">").await?
        } else {
            bucket.watch_all_from_revision(applied + 1).await?
        };
        tracing::debug!(from = applied + 1, "following the locations bucket");
        while let Some(entry) = entries.next().await {
            self.apply(entry?);
        }
        Ok(())
    }

    /// Applies one change of the bucket, then publishes its revision.
    fn apply(&self, entry: kv::Entry) {
        if let Ok(id) = Uuid::try_parse(&entry.key) {
            let mut locations = self
                .inner
                .locations
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            match entry.operation {
                kv::Operation::Put => match serde_json::from_slice::<Location>(&entry.value) {
                    Ok(location) => {
                        locations.insert(id, location);
                    }
                    Err(error) => {
                        tracing::warn!(key = entry.key, %error, "skipping an undecodable location");
                        locations.remove(&id);
                    }
                },
                kv::Operation::Delete | kv::Operation::Purge => {
                    locations.remove(&id);
                }
            }
        }
        // `seen_current`: nothing was pending behind this entry when it came.
        let caught_up = entry.seen_current;
        self.inner.progress.send_if_modified(|progress| {
            let before = *progress;
            progress.revision = progress.revision.max(entry.revision);
            progress.caught_up |= caught_up;
            *progress != before
        });
    }

    fn mark_caught_up(&self) {
        self.inner
            .progress
            .send_if_modified(|progress| !std::mem::replace(&mut progress.caught_up, true));
    }

    /// The last bucket revision applied; 0 before the first.
    pub fn revision(&self) -> u64 {
        self.inner.progress.borrow().revision
    }

    /// Whether the view holds everything the bucket held when it started following it.
    pub fn is_caught_up(&self) -> bool {
        self.inner.progress.borrow().caught_up
    }

    /// Waits up to `timeout` for the initial catch-up; `false` if it did not happen.
    pub async fn wait_caught_up(&self, timeout: Duration) -> bool {
        self.wait_until(timeout, |progress| progress.caught_up)
            .await
    }

    /// Waits up to `timeout` until bucket revision `revision` has been applied;
    /// `false` if it was not.
    pub async fn wait_for_revision(&self, revision: u64, timeout: Duration) -> bool {
        self.wait_until(timeout, |progress| progress.revision >= revision)
            .await
    }

    async fn wait_until(&self, timeout: Duration, done: impl FnMut(&Progress) -> bool) -> bool {
        let mut progress = self.inner.progress.subscribe();
        // The sender lives in `self`, so the wait ends only by `done` or the timeout.
        matches!(
            tokio::time::timeout(timeout, progress.wait_for(done)).await,
            Ok(Ok(_))
        )
    }

    /// Up to `limit` locations older than `before` (or the newest), newest first.
    pub fn page(&self, limit: usize, before: Option<Uuid>) -> LocationPage {
        let locations = self.read();
        let mut older = match before {
            Some(before) => locations.range(..before),
            None => locations.range(..),
        }
        .rev()
        .map(|(_, location)| location);
        let page: Vec<Location> = older.by_ref().take(limit).cloned().collect();
        let next = match older.next() {
            Some(_) => page.last().map(|location| location.id),
            None => None,
        };
        LocationPage {
            locations: page,
            next,
        }
    }

    /// One location, if the view has it.
    pub fn get(&self, id: Uuid) -> Option<Location> {
        self.read().get(&id).cloned()
    }

    /// How many locations the view holds.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the view holds no location.
    pub fn is_empty(&self) -> bool {
        self.read().is_empty()
    }

    fn read(&self) -> RwLockReadGuard<'_, BTreeMap<Uuid, Location>> {
        self.inner
            .locations
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }
}
