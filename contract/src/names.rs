//! NATS names shared by the api and the reactor (see DESIGN.md, "NATS names").

use uuid::Uuid;

/// The stream every accepted command is stored in.
pub const COMMANDS_STREAM: &str = "COMMANDS";
/// Subjects captured by [`COMMANDS_STREAM`].
pub const COMMANDS_SUBJECTS: &str = "commands.>";
/// The durable pull consumer all reactors share.
pub const REACTOR_CONSUMER: &str = "reactor";
/// The read model: location id → Location JSON.
pub const LOCATIONS_BUCKET: &str = "locations";
/// Command status: command id → CommandStatus JSON.
pub const COMMANDS_BUCKET: &str = "commands";
/// Which command holds each location name: normalized-name key → command id.
/// Written create-if-absent, which makes names unique across any number of reactors.
pub const LOCATION_NAMES_BUCKET: &str = "location_names";
/// Commands given up on, kept for inspection with why and when.
pub const DEAD_LETTERS_STREAM: &str = "DEAD_COMMANDS";
/// Subjects captured by [`DEAD_LETTERS_STREAM`].
pub const DEAD_LETTERS_SUBJECTS: &str = "dead.commands.>";

/// JetStream's advisory that a command ran out of deliveries on the reactors'
/// consumer, without being acknowledged or terminated.
pub const MAX_DELIVERIES_ADVISORY: &str =
    "$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.COMMANDS.reactor";
/// Keeps those advisories (core messages otherwise), so a reactor deals with each
/// even if none was running when it was published.
pub const ADVISORIES_STREAM: &str = "COMMAND_ADVISORIES";
/// The reactors' shared consumer of [`ADVISORIES_STREAM`].
pub const ADVISORIES_CONSUMER: &str = "reactor-max-deliveries";

/// The stream behind [`LOCATIONS_BUCKET`] (JetStream names a bucket's stream `KV_<bucket>`).
pub const LOCATIONS_STREAM: &str = "KV_locations";
/// The stream behind [`COMMANDS_BUCKET`].
pub const STATUSES_STREAM: &str = "KV_commands";
/// Wildcard covering every notification.
pub const NOTIFICATIONS_ALL: &str = "notifications.>";

const NOTIFICATIONS_PREFIX: &str = "notifications.";

/// The subject a command of `kind` with this id is published on.
pub fn command_subject(kind: &str, id: Uuid) -> String {
    format!("commands.{kind}.{id}")
}

/// Where a command published on `subject` goes when it is given up on.
pub fn dead_letter_subject(subject: &str) -> String {
    format!("dead.{subject}")
}

/// Header of a stored command naming its id, so every process's log lines for
/// it can be found by it.
pub const COMMAND_ID_HEADER: &str = "Herald-Command-Id";
/// Header of a stored command naming the id of the HTTP request that sent it.
pub const REQUEST_ID_HEADER: &str = "Herald-Request-Id";

/// The core subject a command's outcome is announced on.
pub fn notification_subject(command_id: Uuid) -> String {
    format!("{NOTIFICATIONS_PREFIX}{command_id}")
}

/// The command id a notification subject names, if it names one.
///
/// The api routes notifications by subject, so it never has to decode a payload
/// nobody is waiting for.
pub fn command_id_of_notification(subject: &str) -> Option<Uuid> {
    subject
        .strip_prefix(NOTIFICATIONS_PREFIX)
        .and_then(|id| Uuid::try_parse(id).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notification_subjects_round_trip() {
        let id = Uuid::now_v7();
        assert_eq!(
            command_id_of_notification(&notification_subject(id)),
            Some(id)
        );
        assert_eq!(command_id_of_notification("notifications.nope"), None);
        assert_eq!(command_id_of_notification("other.subject"), None);
    }
}
