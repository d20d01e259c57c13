//! Waiting for background work in tests: poll a probe until it says yes, with a
//! deadline, instead of sleeping and hoping.

use std::time::Duration;

use tokio::time::Instant;

/// How often a probe is asked again.
const POLL_EVERY: Duration = Duration::from_millis(10);

/// Asks `probe` until it returns `Some`, and returns that; panics naming `what`
/// if `within` passes first.
///
/// ```no_run
/// # async fn f(stack: herald_testkit::Stack) {
/// use herald_testkit::{PATIENCE, eventually};
/// eventually(PATIENCE, "the api is ready", || async {
///     (stack.get("/readyz").await.status() == 200).then_some(())
/// })
/// .await;
/// # }
/// ```
pub async fn eventually<T, Fut>(within: Duration, what: &str, mut probe: impl FnMut() -> Fut) -> T
where
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "{what}: not within {within:?}");
        tokio::time::sleep(POLL_EVERY).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    #[tokio::test(start_paused = true)]
    async fn returns_what_the_probe_found() {
        let calls = Cell::new(0);
        let found = eventually(Duration::from_secs(1), "three calls", || {
            calls.set(calls.get() + 1);
            let n = calls.get();
            async move { (n == 3).then_some(n) }
        })
        .await;
        assert_eq!(found, 3);
    }

    #[tokio::test(start_paused = true)]
    #[should_panic(expected = "never: not within")]
    async fn panics_naming_what_did_not_happen() {
        eventually(Duration::from_millis(100), "never", || async { None::<()> }).await;
    }
}
