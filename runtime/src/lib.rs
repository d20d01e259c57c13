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

pub use backoff::{Backoff, Delays, Stopped, retry};
pub use connection::NatsConfig;

/// An error and its causes on one line, for logs: `a: b: c`.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
