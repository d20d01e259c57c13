//! A delivered command's place in the stream, and what becomes of its message.
//!
//! Both sit between the consume loop, which reads them off JetStream and acts on
//! them, and the [`crate::projector`], which decides; neither needs the other.

use std::time::Duration;

/// A delivered command's place in the stream, from its JetStream metadata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    /// The subject it was published on.
    pub subject: String,
    pub stream_sequence: u64,
    /// 1 on the first delivery.
    pub attempt: i64,
    /// The delivery JetStream will not repeat (the consumer's `max_deliver`).
    pub max_attempts: i64,
}

impl Delivery {
    /// Whether JetStream will not deliver this command again.
    pub fn is_last(&self) -> bool {
        self.attempt >= self.max_attempts
    }
}

/// What to do with a message once it has been handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done: its outcome is recorded and announced.
    Ack,
    /// A transient failure: deliver it again after `delay`.
    Retry { delay: Duration },
    /// Never deliver it again (it cannot be decoded, or has failed for good).
    Terminate,
}
