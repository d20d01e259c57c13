//! Waiting between attempts: the one back-off policy type, and the one retry loop.
//!
//! Herald retries in several places: storing a command, setting up the stream and
//! buckets, reopening a consumer or a watch after NATS went away, and telling
//! JetStream when to redeliver a command. They differ in what ends them (a
//! deadline, shutdown, or never) and in which errors are worth another try, but
//! not in how they wait, so that lives here: a [`Backoff`] policy (a first pause,
//! doubling up to a cap), a [`Delays`] counter for loops that also reset it when
//! things go well, [`retry`] for "do this until it works or we must stop", and
//! [`Streak`] for how loudly a loop says that it failed.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

/// Exponential back-off: `first`, doubling after each failure, at most `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    first: Duration,
    max: Duration,
}

impl Backoff {
    pub const fn new(first: Duration, max: Duration) -> Self {
        Self { first, max }
    }

    /// The pause after `failures` failures in a row (1 after the first): `first`,
    /// doubling, at most `max`. Zero failures pause as long as one.
    pub fn after(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.first.saturating_mul(1 << doublings).min(self.max)
    }

    /// A counter of consecutive failures that hands out the pauses in turn.
    pub fn delays(self) -> Delays {
        Delays {
            policy: self,
            failures: 0,
        }
    }
}

/// Consecutive failures under a [`Backoff`]; [`reset`](Self::reset) after a success.
#[derive(Debug, Clone)]
pub struct Delays {
    policy: Backoff,
    failures: u32,
}

impl Delays {
    /// Counts one more failure and returns the pause before the next attempt.
    pub fn next_delay(&mut self) -> Duration {
        self.failures = self.failures.saturating_add(1);
        self.policy.after(self.failures)
    }

    /// Things went well: the next failure pauses for the shortest time again.
    pub fn reset(&mut self) {
        self.failures = 0;
    }

    /// Sleeps for the next pause, or until `cancel` fires; `false` if it fired.
    pub async fn sleep(&mut self, cancel: &CancellationToken) -> bool {
        let delay = self.next_delay();
        tokio::select! {
            biased;
            () = cancel.cancelled() => false,
            () = tokio::time::sleep(delay) => true,
        }
    }
}

/// Failures in a row of a loop that keeps trying, for its log: the first of a
/// streak is said out loud, the rest quietly until an attempt works, so an
/// outage of minutes is a line, not a line per attempt.
#[derive(Debug, Default)]
pub struct Streak {
    failing: bool,
}

impl Streak {
    /// An attempt failed: whether it is the first of its streak.
    pub fn failed(&mut self) -> bool {
        !std::mem::replace(&mut self.failing, true)
    }

    /// An attempt worked: whether it ended a streak.
    pub fn worked(&mut self) -> bool {
        std::mem::take(&mut self.failing)
    }
}

/// How a [`retry`] ended without success.
#[derive(Debug, PartialEq, Eq)]
pub enum Stopped<E> {
    /// `on_error` said this error is not worth another attempt.
    GaveUp(E),
    /// `stop` fired first; the last error, if an attempt had failed by then.
    Interrupted(Option<E>),
}

/// Runs `attempt` until it succeeds, pausing between failures as `policy` says.
///
/// After each failure `on_error` sees the error and the coming pause (to log it)
/// and says whether to try again. `stop` (shutdown, or a deadline) ends the whole
/// retry at once, also in the middle of an attempt or a pause.
pub async fn retry<T, E, Fut>(
    policy: Backoff,
    stop: impl Future<Output = ()>,
    mut attempt: impl FnMut() -> Fut,
    mut on_error: impl FnMut(&E, Duration) -> bool,
) -> Result<T, Stopped<E>>
where
    Fut: Future<Output = Result<T, E>>,
{
    let mut stop = std::pin::pin!(stop);
    let mut delays = policy.delays();
    let mut last = None;
    loop {
        let error = tokio::select! {
            biased;
            () = &mut stop => return Err(Stopped::Interrupted(last)),
            result = attempt() => match result {
                Ok(value) => return Ok(value),
                Err(error) => error,
            },
        };
        let delay = delays.next_delay();
        if !on_error(&error, delay) {
            return Err(Stopped::GaveUp(error));
        }
        last = Some(error);
        tokio::select! {
            biased;
            () = &mut stop => return Err(Stopped::Interrupted(last)),
            () = tokio::time::sleep(delay) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use tokio::time::Instant;

    const POLICY: Backoff = Backoff::new(Duration::from_millis(100), Duration::from_secs(1));

    #[test]
    fn pauses_double_up_to_the_cap() {
        let pauses: Vec<u128> = (0..7).map(|n| POLICY.after(n).as_millis()).collect();
        assert_eq!(pauses, [100, 100, 200, 400, 800, 1000, 1000]);
        assert_eq!(POLICY.after(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn a_streak_is_said_at_its_first_failure() {
        let mut streak = Streak::default();
        assert!(!streak.worked(), "no streak to end");
        assert!(streak.failed(), "the first failure");
        assert!(!streak.failed(), "the second is quiet");
        assert!(streak.worked(), "it ended a streak");
        assert!(streak.failed(), "a new streak is said again");
    }

    #[test]
    fn a_reset_starts_again_from_the_first_pause() {
        let mut delays = POLICY.delays();
        assert_eq!(delays.next_delay(), Duration::from_millis(100));
        assert_eq!(delays.next_delay(), Duration::from_millis(200));
        delays.reset();
        assert_eq!(delays.next_delay(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn sleep_ends_early_when_cancelled() {
        let cancel = CancellationToken::new();
        let mut delays = POLICY.delays();
        let started = Instant::now();
        assert!(delays.sleep(&cancel).await);
        assert_eq!(started.elapsed(), Duration::from_millis(100));
        cancel.cancel();
        assert!(!delays.sleep(&cancel).await);
        assert_eq!(started.elapsed(), Duration::from_millis(100));
    }

    #[tokio::test(start_paused = true)]
    async fn retries_until_success_pausing_between_failures() {
        let calls = Cell::new(0);
        let mut seen = Vec::new();
        let started = Instant::now();
        let result: Result<u32, Stopped<&str>> = retry(
            POLICY,
            std::future::pending(),
            || {
                calls.set(calls.get() + 1);
                let n = calls.get();
                async move { if n < 4 { Err("not yet") } else { Ok(n) } }
            },
            |_, delay| {
                seen.push(delay.as_millis());
                true
            },
        )
        .await;
        assert_eq!(result, Ok(4));
        assert_eq!(seen, [100, 200, 400]);
        assert_eq!(started.elapsed(), Duration::from_millis(700));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_when_told_and_stops_when_asked() {
        let gave_up: Result<(), _> = retry(
            POLICY,
            std::future::pending(),
            || async { Err("fatal") },
            |_, _| false,
        )
        .await;
        assert_eq!(gave_up, Err(Stopped::GaveUp("fatal")));

        let deadline = tokio::time::sleep(Duration::from_millis(250));
        let started = Instant::now();
        let interrupted: Result<(), _> =
            retry(POLICY, deadline, || async { Err("down") }, |_, _| true).await;
        assert_eq!(interrupted, Err(Stopped::Interrupted(Some("down"))));
        assert_eq!(started.elapsed(), Duration::from_millis(250));

        // A stop that has fired already prevents even the first attempt.
        let never: Result<(), Stopped<&str>> = retry(
            POLICY,
            std::future::ready(()),
            || async { panic!("attempted after the stop") },
            |_, _| true,
        )
        .await;
        assert_eq!(never, Err(Stopped::Interrupted(None)));
    }
}
