//! The contract between Herald's processes: everything that crosses NATS.
//!
//! The api publishes [`Command`]s to the `COMMANDS` stream; the reactor projects
//! them into the `locations` and `commands` buckets and announces each outcome as a
//! [`Notification`] on `notifications.<command-id>`. Both sides name those things
//! through [`names`], build the messages from [`messages`] and [`location`], and create
//! the stream and buckets at start-up through [`topology`], so the two binaries can
//! never disagree about them. [`read_model`] is the read side of the buckets, shared
//! by the api's JSON routes and the web pages; [`locations_view`] keeps the
//! `locations` bucket in memory for listing.

pub mod command_log;
pub mod location;
pub mod locations_view;
pub mod messages;
pub mod names;
pub mod process;
pub mod read_model;
pub mod topology;

pub use location::{Category, FieldError, Location, NewLocation};
pub use locations_view::LocationsView;
pub use messages::{Action, Command, CommandState, CommandStatus, FailureReason, Notification};
pub use read_model::ReadModel;
pub use topology::{Topology, TopologyConfig};

pub mod connection;
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
