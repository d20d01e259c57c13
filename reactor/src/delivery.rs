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
    /// How many times this delivery has been tried again in place after NATS
    /// failed it (see [`Disposition::TryAgain`]).
    pub retries: u32,
}

impl Delivery {
    /// Whether JetStream will not deliver this command again.
    pub fn is_last(&self) -> bool {
        self.attempt >= self.max_attempts
    }

    /// Whether an earlier try may have recorded an outcome: every try but a
    /// first delivery's first.
    pub fn may_have_run(&self) -> bool {
        self.attempt > 1 || self.retries > 0
    }
}

/// What to do with a message once it has been handled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// Done: its outcome is recorded and announced.
    Ack,
    /// Not yet (its name is held by a command that has not decided): deliver it
    /// again after `delay`. This spends a delivery.
    Retry { delay: Duration },
    /// NATS failed a read or a write (a timeout, an election, a lost
    /// connection): try again here after `delay`, keeping the message. This
    /// spends no delivery, so an outage of any length never runs a command out
    /// of deliveries and into a `failed` it did not earn; deliveries count what
    /// happens to reactors (deaths, stalls past the ack wait) and waits.
    TryAgain { delay: Duration },
    /// Never deliver it again (it cannot be decoded, or has failed for good).
    Terminate,
}
