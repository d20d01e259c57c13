//! What every Herald process shares, whatever its job.
//!
//! - [`process`]: logging, the signal that ends a process, and one cancellation
//!   token every loop watches;
//! - [`connection`]: connecting to NATS the same way from every binary;
//! - [`backoff`]: the one way Herald waits between attempts, and retries;
//! - [`leader`]: reads that must see the writes before them, on a cluster too.
//!
//! The api and the reactor are thin over this: their `main` reads the config,
//! starts tracing and hands a shutdown future to their `run`.

pub mod backoff;
pub mod connection;
pub mod leader;
pub mod metrics;
pub mod process;

pub use backoff::{Backoff, Delays, Stopped, Streak, retry};
pub use connection::NatsConfig;

/// An error and its causes on one line, for logs: `a: b: c`.
///
/// Many errors (async-nats's among them) already print their source in their
/// own message; a cause whose text is already on the line is not said again, so
/// a timed-out request reads once, not five times.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let said = cause.to_string();
        if !text.contains(&said) {
            text.push_str(": ");
            text.push_str(&said);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    /// An error that says `text`, caused by `source`, and prints it too if `inline`.
    #[derive(Debug)]
    struct Layer {
        text: &'static str,
        source: Option<Box<Layer>>,
        inline: bool,
    }

    impl std::fmt::Display for Layer {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.text)?;
            match &self.source {
                Some(source) if self.inline => write!(f, ": {source}"),
                _ => Ok(()),
            }
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source.as_deref().map(|s| s as _)
        }
    }

    fn chain(texts: &[&'static str], inline: bool) -> Layer {
        texts
            .iter()
            .rev()
            .fold(None, |source, text| {
                Some(Layer {
                    text,
                    source: source.map(Box::new),
                    inline,
                })
            })
            .expect("at least one layer")
    }

    #[test]
    fn says_each_cause_once() {
        let layers = [
            "failed to get the bucket",
            "request timed out",
            "deadline has elapsed",
        ];
        let expected = "failed to get the bucket: request timed out: deadline has elapsed";
        assert_eq!(error_chain(&chain(&layers, false)), expected);
        assert_eq!(error_chain(&chain(&layers, true)), expected);
    }
}
