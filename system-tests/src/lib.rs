//! Herald as an operator runs it, put through faults and counted.
//!
//! [`System`] is a three-node nats-server cluster (JetStream, streams and buckets
//! at three replicas), two api processes and three reactor processes, the
//! binaries `cargo build --bins` made. [`Load`] sends commands at a steady rate,
//! alternating between the apis, and for each accepted command a client waits
//! for its outcome on the *other* api's event stream, coming back (to either)
//! whenever its stream breaks, as EventSource does. After a fault, [`Report`]
//! counts what an operator must never see: commands accepted and lost, doubled
//! outcomes or locations, conflicts of a name with nobody, clients never told.
//!
//! The scenarios are in `tests/cluster.rs`; `./task test:cluster` runs them.

pub mod load;
pub mod report;
pub mod system;

pub use load::{Load, Sent};
pub use report::Report;
pub use system::System;
