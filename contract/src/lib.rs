//! The contract between Herald's processes: everything that crosses NATS.
//!
//! The api publishes [`Command`]s to the `COMMANDS` stream; the reactor projects
//! them into the `locations` and `commands` buckets and announces each outcome as a
//! [`Notification`] on `notifications.<command-id>`. Both sides name those things
//! through [`names`], build the messages from [`messages`] and [`location`], and set
//! up the stream and buckets through [`topology`], so the two binaries can never
//! disagree about them.
//!
//! How a process connects and stops lives in `herald-runtime`; how the buckets are
//! read lives in `herald-read-model`.

pub mod location;
pub mod messages;
pub mod names;
pub mod topology;

pub use location::{Category, FieldError, Location, NewLocation};
pub use messages::{Action, Command, CommandState, CommandStatus, FailureReason, Notification};
pub use topology::{Topology, TopologyConfig};

/// An id as clients write it: a UUID in its hyphenated form (`8-4-4-4-12` hex
/// digits, either case), as the OpenAPI document's `format: uuid` says. The
/// other forms `uuid` would accept (braces, `urn:uuid:`, no hyphens) are not ids.
pub fn parse_id(text: &str) -> Option<uuid::Uuid> {
    if text.len() != 36 {
        return None;
    }
    uuid::Uuid::try_parse(text).ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn ids_are_hyphenated_uuids_only() {
        let id = uuid::Uuid::now_v7();
        assert_eq!(super::parse_id(&id.to_string()), Some(id));
        assert_eq!(super::parse_id(&id.to_string().to_uppercase()), Some(id));
        for other in [
            id.simple().to_string(),
            id.braced().to_string(),
            id.urn().to_string(),
            "nope".to_owned(),
        ] {
            assert_eq!(super::parse_id(&other), None, "{other}");
        }
    }
}
