//! Telling waiting clients that their command finished.
//!
//! One NATS subscription per api process (`notifications.>`) feeds a [`Hub`]
//! that hands each notification to the clients waiting for that command id, and
//! to nobody else. A client registers a [`Waiter`] *before* it reads the command's
//! status, so a completion can never fall between the read and the wait.
//!
//! Core NATS does not keep messages, so a notification can be lost while the
//! connection is down or the subscription is a slow consumer. The hub therefore
//! tells every waiter to re-read the status after a reconnect or a slow-consumer
//! event, and each waiter re-reads it on a slow timer as a last resort: a lost
//! notification costs at most one recheck interval.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use futures::StreamExt;
use herald_contract::{CommandStatus, Notification, names};
use herald_read_model::{ReadError, ReadModel};
use herald_runtime::error_chain;
use tokio::sync::{oneshot, watch};
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

type Slots = HashMap<Uuid, Vec<(u64, oneshot::Sender<Arc<Notification>>)>>;

/// Where a waiter re-reads its command's recorded status: the `commands` bucket
/// through the [`ReadModel`] (a script of answers in the unit tests).
pub trait Statuses: Sync {
    /// The status recorded for `id`, if any.
    fn recorded(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<CommandStatus>, ReadError>> + Send;
}

impl Statuses for ReadModel {
    async fn recorded(&self, id: Uuid) -> Result<Option<CommandStatus>, ReadError> {
        self.command_status(id).await
    }
}

/// Routes notifications to the waiters registered for their command.
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    slots: Mutex<Slots>,
    next_key: AtomicU64,
    /// Bumped whenever notifications may have been lost.
    recheck: watch::Sender<u64>,
}

impl Default for Hub {
    fn default() -> Self {
        Self {
            inner: Arc::new(Inner {
                slots: Mutex::new(HashMap::new()),
                next_key: AtomicU64::new(0),
                recheck: watch::Sender::new(0),
            }),
        }
    }
}

impl Hub {
    /// Starts waiting for `command_id`'s notification. Dropping the waiter
    /// unregisters it.
    pub fn register(&self, command_id: Uuid) -> Waiter {
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        let (sender, receiver) = oneshot::channel();
        self.inner
            .lock()
            .entry(command_id)
            .or_default()
            .push((key, sender));
        Waiter {
            command_id,
            key,
            receiver,
            recheck: self.inner.recheck.subscribe(),
            hub: self.inner.clone(),
        }
    }

    /// How many clients are waiting; for metrics and tests.
    pub fn waiting(&self) -> usize {
        self.inner.lock().values().map(Vec::len).sum()
    }

    /// Asks every waiter to re-read its command's status, because notifications
    /// may have been lost (reconnect, slow consumer).
    pub fn recheck_all(&self) {
        self.inner.recheck.send_modify(|epoch| *epoch += 1);
    }

    /// Hands the notification published on `subject` to its waiters. The payload
    /// is decoded only when somebody is waiting.
    pub fn deliver(&self, subject: &str, payload: &[u8]) {
        let Some(command_id) = names::command_id_of_notification(subject) else {
            tracing::warn!(subject, "notification on a subject without a command id");
            return;
        };
        if !self.inner.lock().contains_key(&command_id) {
            return;
        }
        let notification = match serde_json::from_slice::<Notification>(payload) {
            Ok(notification) if notification.command_id == command_id => Arc::new(notification),
            Ok(_) => return tracing::warn!(subject, "notification names another command; ignored"),
            Err(error) => {
                return tracing::warn!(subject, %error, "undecodable notification; ignored");
            }
        };
        for (_, sender) in self.inner.lock().remove(&command_id).unwrap_or_default() {
            // A waiter that has gone away is not an error.
            let _ = sender.send(notification.clone());
        }
    }

    /// Feeds the hub from `subscription` until `shutdown`.
    pub async fn run(self, mut subscription: async_nats::Subscriber, shutdown: CancellationToken) {
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                message = subscription.next() => match message {
                    Some(message) => self.deliver(message.subject.as_str(), &message.payload),
                    None => {
                        tracing::error!("notification subscription ended");
                        break;
                    }
                },
            }
        }
        let _ = subscription.unsubscribe().await;
    }
}

impl Inner {
    fn lock(&self) -> std::sync::MutexGuard<'_, Slots> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One client's wait for one command.
#[derive(Debug)]
pub struct Waiter {
    command_id: Uuid,
    key: u64,
    receiver: oneshot::Receiver<Arc<Notification>>,
    recheck: watch::Receiver<u64>,
    hub: Arc<Inner>,
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut slots = self.hub.lock();
        if let Some(waiters) = slots.get_mut(&self.command_id) {
            waiters.retain(|(key, _)| *key != self.key);
            if waiters.is_empty() {
                slots.remove(&self.command_id);
            }
        }
    }
}

/// How a wait ended.
#[derive(Debug)]
pub enum Outcome {
    /// The command finished.
    Finished(Arc<Notification>),
    /// Neither the command nor its status exists.
    Unknown,
    /// The api is shutting down, or the caller's deadline passed.
    StillPending,
}

impl Waiter {
    /// The outcome as recorded now: [`Outcome::Finished`] if the command is done,
    /// [`Outcome::Unknown`] if it is neither recorded nor in the stream, `None` while
    /// it is pending. Call it after registering, never before.
    ///
    /// `accepted_here` says this process published the command, which spares asking
    /// the stream whether it exists.
    pub async fn current(
        &self,
        read_model: &ReadModel,
        accepted_here: bool,
    ) -> Result<Option<Outcome>, ReadError> {
        if accepted_here {
            return self.recorded(read_model).await;
        }
        // Reads the recorded status first, then looks in the stream.
        Ok(match read_model.status_or_pending(self.command_id).await? {
            None => Some(Outcome::Unknown),
            Some(status) => Notification::for_status(&status)
                .map(|notification| Outcome::Finished(Arc::new(notification))),
        })
    }

    /// Waits until the command finishes or `stop` fires.
    ///
    /// Besides the notification it re-reads the status whenever the hub says
    /// notifications may have been lost, and every `recheck_every`. A failed re-read
    /// (NATS down) is logged and tried again later: the wait goes on.
    pub async fn outcome(
        mut self,
        statuses: &impl Statuses,
        recheck_every: Duration,
        stop: impl Future<Output = ()>,
    ) -> Outcome {
        let mut stop = std::pin::pin!(stop);
        let mut timer = tokio::time::interval(recheck_every);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        timer.reset();
        self.recheck.mark_unchanged();
        loop {
            tokio::select! {
                biased;
                notified = &mut self.receiver => match notified {
                    Ok(notification) => return Outcome::Finished(notification),
                    // Unreachable while this waiter is registered: only delivery
                    // removes its sender, and delivery sends first.
                    Err(_) => return Outcome::StillPending,
                },
                () = &mut stop => return Outcome::StillPending,
                changed = self.recheck.changed() => {
                    if changed.is_err() {
                        return Outcome::StillPending;
                    }
                }
                _ = timer.tick() => {}
            }
            match self.recorded(statuses).await {
                Ok(Some(outcome)) => return outcome,
                Ok(None) => {}
                Err(error) => tracing::warn!(
                    command_id = %self.command_id,
                    error = %error_chain(&error),
                    "could not re-read a waiting command's status"
                ),
            }
        }
    }

    /// The outcome if the command's recorded status is final.
    async fn recorded(&self, statuses: &impl Statuses) -> Result<Option<Outcome>, ReadError> {
        Ok(statuses
            .recorded(self.command_id)
            .await?
            .and_then(|status| Notification::for_status(&status))
            .map(|notification| Outcome::Finished(Arc::new(notification))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_contract::FailureReason;
    use std::collections::VecDeque;
    use tokio::time::Instant;

    fn payload(command_id: Uuid) -> Vec<u8> {
        let status =
            CommandStatus::failed(command_id, None, FailureReason::Invalid, vec!["no".into()]);
        let notification = Notification::for_status(&status).expect("terminal");
        serde_json::to_vec(&notification).expect("serializes")
    }

    #[tokio::test]
    async fn delivers_only_to_waiters_of_that_command() {
        let hub = Hub::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut first = hub.register(a);
        let mut second = hub.register(a);
        let mut other = hub.register(b);
        hub.deliver(&names::notification_subject(a), &payload(a));
        assert_eq!(first.receiver.try_recv().expect("delivered").command_id, a);
        assert_eq!(second.receiver.try_recv().expect("delivered").command_id, a);
        assert!(other.receiver.try_recv().is_err());
        assert_eq!(hub.waiting(), 1);
    }

    #[tokio::test]
    async fn a_dropped_waiter_leaves_nothing_behind() {
        let hub = Hub::default();
        let id = Uuid::now_v7();
        let waiter = hub.register(id);
        let kept = hub.register(id);
        drop(waiter);
        assert_eq!(hub.waiting(), 1);
        drop(kept);
        assert_eq!(hub.waiting(), 0);
        assert!(hub.inner.lock().is_empty());
    }

    #[tokio::test]
    async fn ignores_a_payload_for_another_command() {
        let hub = Hub::default();
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let mut waiter = hub.register(a);
        hub.deliver(&names::notification_subject(a), &payload(b));
        hub.deliver(&names::notification_subject(a), b"not json");
        assert_eq!(
            waiter.receiver.try_recv().expect_err("nothing delivered"),
            oneshot::error::TryRecvError::Empty
        );
    }

    /// Answers re-reads from a script, one answer per read (then "not yet").
    #[derive(Debug, Default)]
    struct Script {
        answers: Mutex<VecDeque<Result<Option<CommandStatus>, ()>>>,
        reads: AtomicU64,
    }

    impl Script {
        fn new(answers: impl IntoIterator<Item = Result<Option<CommandStatus>, ()>>) -> Self {
            Self {
                answers: Mutex::new(answers.into_iter().collect()),
                reads: AtomicU64::new(0),
            }
        }

        fn reads(&self) -> u64 {
            self.reads.load(Ordering::Relaxed)
        }
    }

    impl Statuses for Script {
        async fn recorded(&self, _: Uuid) -> Result<Option<CommandStatus>, ReadError> {
            self.reads.fetch_add(1, Ordering::Relaxed);
            let answer = self.answers.lock().expect("lock").pop_front();
            answer.unwrap_or(Ok(None)).map_err(|()| ReadError::Loading {
                what: "a scripted outage",
            })
        }
    }

    fn finished(id: Uuid) -> Option<CommandStatus> {
        Some(CommandStatus::failed(
            id,
            None,
            FailureReason::Conflict,
            vec![],
        ))
    }

    const RECHECK: Duration = Duration::from_secs(15);

    #[tokio::test(start_paused = true)]
    async fn a_notification_ends_the_wait_without_a_read() {
        let hub = Hub::default();
        let id = Uuid::now_v7();
        let waiter = hub.register(id);
        let script = Script::default();
        let started = Instant::now();
        let wait = tokio::spawn({
            let hub = hub.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(2)).await;
                hub.deliver(&names::notification_subject(id), &payload(id));
            }
        });
        let outcome = waiter
            .outcome(&script, RECHECK, std::future::pending())
            .await;
        assert!(matches!(outcome, Outcome::Finished(n) if n.command_id == id));
        assert_eq!(started.elapsed(), Duration::from_secs(2));
        assert_eq!(script.reads(), 0);
        wait.await.expect("delivered");
    }

    #[tokio::test(start_paused = true)]
    async fn a_lost_notification_is_made_good_by_the_timer() {
        let hub = Hub::default();
        let id = Uuid::now_v7();
        let script = Script::new([Ok(None), Ok(finished(id))]);
        let started = Instant::now();
        let outcome = hub
            .register(id)
            .outcome(&script, RECHECK, std::future::pending())
            .await;
        assert!(matches!(outcome, Outcome::Finished(_)));
        assert_eq!(started.elapsed(), RECHECK * 2);
        assert_eq!(script.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn a_recheck_after_a_reconnect_reads_at_once() {
        let hub = Hub::default();
        let id = Uuid::now_v7();
        let script = Script::new([Ok(finished(id))]);
        let waiter = hub.register(id);
        let reconnect = tokio::spawn({
            let hub = hub.clone();
            async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                hub.recheck_all();
            }
        });
        let started = Instant::now();
        let outcome = waiter
            .outcome(&script, RECHECK, std::future::pending())
            .await;
        assert!(matches!(outcome, Outcome::Finished(_)));
        assert_eq!(started.elapsed(), Duration::from_secs(1));
        reconnect.await.expect("rechecked");
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_read_does_not_end_the_wait() {
        let hub = Hub::default();
        let id = Uuid::now_v7();
        let script = Script::new([Err(()), Ok(finished(id))]);
        let outcome = hub
            .register(id)
            .outcome(&script, RECHECK, std::future::pending())
            .await;
        assert!(matches!(outcome, Outcome::Finished(_)));
        assert_eq!(script.reads(), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_stop_ends_the_wait_still_pending_and_unregisters() {
        let hub = Hub::default();
        let id = Uuid::now_v7();
        let script = Script::default();
        let started = Instant::now();
        let outcome = hub
            .register(id)
            .outcome(
                &script,
                RECHECK,
                tokio::time::sleep(Duration::from_secs(40)),
            )
            .await;
        assert!(matches!(outcome, Outcome::StillPending));
        assert_eq!(started.elapsed(), Duration::from_secs(40));
        assert_eq!(script.reads(), 2, "rechecked at 15 s and 30 s");
        assert_eq!(hub.waiting(), 0);
    }
}
