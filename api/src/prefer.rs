//! How long a client asked the POST to wait for the command to finish.
//!
//! RFC 7240 `Prefer: wait=N` (seconds), capped at [`MAX_WAIT`]; a value that does
//! not parse is ignored, as the RFC says. The seed's `X-Notification-Await: true`
//! with `X-Notification-Timeout: <seconds>` is accepted as an alias, so its clients
//! keep working.

use std::time::Duration;

use axum::http::HeaderMap;

/// The longest a POST may be held.
pub const MAX_WAIT: Duration = Duration::from_secs(30);
/// The seed's wait when it asked to wait without saying how long.
const SEED_DEFAULT_WAIT: Duration = Duration::from_secs(5);

/// A wait the client asked for, and how to echo it in `Preference-Applied`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Wait {
    pub duration: Duration,
    /// `Some("wait=N")` when it came from `Prefer`.
    pub applied: Option<String>,
}

/// The requested wait, if any (zero means none).
pub fn requested_wait(headers: &HeaderMap) -> Option<Wait> {
    prefer_wait(headers).or_else(|| seed_wait(headers))
}

fn prefer_wait(headers: &HeaderMap) -> Option<Wait> {
    let seconds = headers
        .get_all("prefer")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|preference| {
            let (name, value) = preference.split_once('=')?;
            if !name.trim().eq_ignore_ascii_case("wait") {
                return None;
            }
            // RFC 7240 preferences may carry `; parameters` after the value.
            let value = value.split(';').next().unwrap_or_default();
            value.trim().trim_matches('"').parse::<u64>().ok()
        })
        .next()?;
    let seconds = seconds.min(MAX_WAIT.as_secs());
    (seconds > 0).then(|| Wait {
        duration: Duration::from_secs(seconds),
        applied: Some(format!("wait={seconds}")),
    })
}

fn seed_wait(headers: &HeaderMap) -> Option<Wait> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if !text("x-notification-await").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return None;
    }
    let duration = match text("x-notification-timeout").map(str::parse::<f64>) {
        Some(Ok(seconds)) if seconds.is_finite() && seconds > 0.0 => {
            Duration::from_secs_f64(seconds.min(MAX_WAIT.as_secs_f64()))
        }
        Some(_) => return None,
        None => SEED_DEFAULT_WAIT,
    };
    Some(Wait {
        duration,
        applied: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn wait(pairs: &[(&'static str, &'static str)]) -> Option<Wait> {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(*name, HeaderValue::from_static(value));
        }
        requested_wait(&headers)
    }

    fn seconds(pairs: &[(&'static str, &'static str)]) -> Option<u64> {
        wait(pairs).map(|w| w.duration.as_secs())
    }

    #[test]
    fn reads_prefer_wait_among_other_preferences() {
        assert_eq!(seconds(&[("prefer", "wait=5")]), Some(5));
        assert_eq!(seconds(&[("prefer", "wait=4; foo=bar")]), Some(4));
        assert_eq!(seconds(&[("prefer", "respond-async, Wait = 7")]), Some(7));
        assert_eq!(
            seconds(&[("prefer", "handling=lenient"), ("prefer", "wait=2")]),
            Some(2)
        );
        assert_eq!(
            wait(&[("prefer", "wait=3")]).and_then(|w| w.applied),
            Some("wait=3".into())
        );
    }

    #[test]
    fn caps_at_thirty_seconds_and_ignores_what_does_not_parse() {
        assert_eq!(seconds(&[("prefer", "wait=3600")]), Some(30));
        assert_eq!(seconds(&[("prefer", "wait=-1")]), None);
        assert_eq!(seconds(&[("prefer", "wait=soon")]), None);
        assert_eq!(seconds(&[("prefer", "wait=0")]), None);
        assert_eq!(seconds(&[("prefer", "wait")]), None);
        assert_eq!(seconds(&[]), None);
    }

    #[test]
    fn accepts_the_seeds_headers() {
        let half = wait(&[
            ("x-notification-await", "true"),
            ("x-notification-timeout", "0.5"),
        ])
        .expect("a wait");
        assert_eq!(half.duration, Duration::from_millis(500));
        assert_eq!(half.applied, None);
        assert_eq!(seconds(&[("x-notification-await", "true")]), Some(5));
        assert_eq!(
            seconds(&[
                ("x-notification-await", "false"),
                ("x-notification-timeout", "3")
            ]),
            None
        );
        assert_eq!(
            seconds(&[
                ("x-notification-await", "true"),
                ("x-notification-timeout", "NaN")
            ]),
            None
        );
    }
}
