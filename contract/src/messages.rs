//! The messages on the wire: commands into the stream, statuses in the bucket, and
//! notifications on core subjects.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::location::{Location, NewLocation};
use crate::names;

/// Longest `Idempotency-Key`, in characters (all visible ASCII, so also bytes).
pub const IDEMPOTENCY_KEY_MAX: usize = 255;

/// Whether `key` can be an `Idempotency-Key`: 1–255 visible ASCII characters
/// (no spaces). The api answers 400 to any other; the web form drops it.
pub fn is_valid_idempotency_key(key: &str) -> bool {
    (1..=IDEMPOTENCY_KEY_MAX).contains(&key.len()) && key.bytes().all(|b| b.is_ascii_graphic())
}

/// One accepted command, as stored in the `COMMANDS` stream.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Command {
    /// UUID v7, so ids sort by acceptance time; also the id of what the command creates.
    pub id: Uuid,
    /// Set once by the api. The projection takes its timestamps from here, so a
    /// redelivered command writes exactly the same read model.
    pub accepted_at: DateTime<Utc>,
    /// The client's `Idempotency-Key`, if it sent one: a retry with the same key
    /// finds this command in the stream and compares its body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(flatten)]
    pub body: CommandBody,
}

/// What a command asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", content = "payload", rename_all = "snake_case")]
pub enum CommandBody {
    CreateLocation(NewLocation),
}

impl CommandBody {
    /// The command type, as it appears in the stream subject.
    pub fn kind(&self) -> &'static str {
        match self {
            CommandBody::CreateLocation(_) => "create_location",
        }
    }

    /// Every command type, for looking a command up in the stream by subject.
    pub const KINDS: [&'static str; 1] = ["create_location"];
}

impl Command {
    /// A new command with a fresh v7 id, accepted now.
    pub fn new(body: CommandBody) -> Self {
        Self {
            id: Uuid::now_v7(),
            accepted_at: Utc::now(),
            idempotency_key: None,
            body,
        }
    }

    /// The `Nats-Msg-Id` it is published with: JetStream stores one message per id
    /// within the duplicate window. A keyed command is de-duplicated by its key, so
    /// a client's retry is stored once; others by their own id, so our retries are.
    pub fn message_id(&self) -> String {
        match &self.idempotency_key {
            // Scoped by command type: the same key for another kind of request is
            // another request.
            Some(key) => format!("idempotency-key:{}:{key}", self.body.kind()),
            None => self.id.to_string(),
        }
    }

    /// The stream subject this command is published on.
    pub fn subject(&self) -> String {
        names::command_subject(self.body.kind(), self.id)
    }
}

/// Where a command is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CommandState {
    Pending,
    Completed,
    Failed,
}

impl CommandState {
    /// The name used in JSON and as the SSE event name.
    pub fn as_str(self) -> &'static str {
        match self {
            CommandState::Pending => "pending",
            CommandState::Completed => "completed",
            CommandState::Failed => "failed",
        }
    }

    pub fn is_terminal(self) -> bool {
        self != CommandState::Pending
    }
}

/// Why a command failed, which decides the HTTP status a waiting client gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FailureReason {
    /// A business rule refused it (a duplicate name): 409.
    Conflict,
    /// Its content breaks the rules of the resource: 422.
    Invalid,
    /// It could not be read or processed at all: 500.
    Unprocessable,
}

impl FailureReason {
    /// As it is spelled in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conflict => "conflict",
            Self::Invalid => "invalid",
            Self::Unprocessable => "unprocessable",
        }
    }
}

/// A command's status as the reactor records it in the `commands` bucket.
/// The api adds hypermedia links when it serves one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommandStatus {
    pub id: Uuid,
    pub status: CommandState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource: Option<Location>,
    /// Set when the status is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    #[serde(default)]
    pub errors: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accepted_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

impl CommandStatus {
    /// The status of a command that created `location`.
    pub fn completed(command: &Command, location: Location) -> Self {
        Self {
            id: command.id,
            status: CommandState::Completed,
            resource: Some(location),
            reason: None,
            errors: Vec::new(),
            accepted_at: Some(command.accepted_at),
            completed_at: Some(Utc::now()),
        }
    }

    /// The status a notification announces (a notification carries all of it but
    /// the acceptance time, which the caller may know).
    pub fn announced(notification: &Notification, accepted_at: Option<DateTime<Utc>>) -> Self {
        Self {
            id: notification.command_id,
            status: notification.status,
            resource: notification.data.location.clone(),
            reason: notification.reason,
            errors: notification.errors.clone(),
            accepted_at,
            completed_at: Some(notification.created_at),
        }
    }

    /// The status of a command that failed for `reason`, described by `errors`.
    pub fn failed(
        id: Uuid,
        accepted_at: Option<DateTime<Utc>>,
        reason: FailureReason,
        errors: Vec<String>,
    ) -> Self {
        Self {
            id,
            status: CommandState::Failed,
            resource: None,
            reason: Some(reason),
            errors,
            accepted_at,
            completed_at: Some(Utc::now()),
        }
    }
}

/// What a client is told when a command has finished.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Notification {
    /// Derived from the command id and outcome, so a notification published again
    /// after a redelivery, or rebuilt from the status, carries the same id.
    pub id: Uuid,
    pub command_id: Uuid,
    /// The outcome; serialized for clients that read the JSON without the SSE event name.
    pub status: CommandState,
    pub created_at: DateTime<Utc>,
    /// Why it failed; absent when it completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<FailureReason>,
    pub errors: Vec<String>,
    pub actions: Vec<Action>,
    pub data: NotificationData,
    /// The revision of the command's status in the `commands` bucket. Statuses
    /// are numbered in the order they were recorded, so a process that sees the
    /// numbers skip knows a notification was lost and reads it from the bucket.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<u64>,
}

/// The resource a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NotificationData {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub location: Option<Location>,
}

/// What the client should do next.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum Action {
    /// Go to this page of the web UI.
    Redirect(String),
}

/// Namespace for notification ids (a fixed random UUID).
const NOTIFICATION_NAMESPACE: Uuid = Uuid::from_u128(0x6d1f_5b0e_93c4_4c47_a8a2_0b7e_2f41_c9d3);

impl Notification {
    /// The notification announcing a finished status; `None` while it is pending.
    pub fn for_status(status: &CommandStatus) -> Option<Self> {
        if !status.status.is_terminal() {
            return None;
        }
        let actions = match (&status.status, &status.resource) {
            (CommandState::Completed, Some(location)) => {
                vec![Action::Redirect(format!("/locations/{}", location.id))]
            }
            _ => Vec::new(),
        };
        let key = format!("{}/{}", status.id, status.status.as_str());
        Some(Self {
            id: Uuid::new_v5(&NOTIFICATION_NAMESPACE, key.as_bytes()),
            command_id: status.id,
            status: status.status,
            created_at: status
                .completed_at
                .or(status.accepted_at)
                .unwrap_or_else(Utc::now),
            reason: status.reason,
            errors: status.errors.clone(),
            actions,
            data: NotificationData {
                location: status.resource.clone(),
            },
            revision: None,
        })
    }

    /// The notification announcing a status recorded at `revision` of the
    /// `commands` bucket; `None` while it is pending.
    pub fn for_recorded(status: &CommandStatus, revision: u64) -> Option<Self> {
        Self::for_status(status).map(|notification| Self {
            revision: Some(revision),
            ..notification
        })
    }

    /// The core subject this notification is published on.
    pub fn subject(&self) -> String {
        names::notification_subject(self.command_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::location::Category;
    use serde_json::json;

    fn command() -> Command {
        Command::new(CommandBody::CreateLocation(NewLocation {
            name: "Lisbon".into(),
            category: Category::City,
            description: String::new(),
        }))
    }

    #[test]
    fn commands_round_trip_with_their_type_tag() {
        let command = command();
        let json = serde_json::to_value(&command).expect("serializes");
        assert_eq!(json["type"], "create_location");
        assert_eq!(json["payload"]["name"], "Lisbon");
        let back: Command = serde_json::from_value(json).expect("deserializes");
        assert_eq!(back, command);
        assert_eq!(
            command.subject(),
            format!("commands.create_location.{}", command.id)
        );
    }

    #[test]
    fn notifications_are_deterministic_and_carry_the_redirect() {
        let command = command();
        let location = Location {
            id: command.id,
            name: "Lisbon".into(),
            category: Category::City,
            description: String::new(),
            created_at: command.accepted_at,
        };
        let status = CommandStatus::completed(&command, location);
        let first = Notification::for_status(&status).expect("terminal");
        let second = Notification::for_status(&status).expect("terminal");
        assert_eq!(first.id, second.id);
        assert_eq!(CommandStatus::announced(&first, status.accepted_at), status);
        let json = serde_json::to_value(&first).expect("serializes");
        assert_eq!(
            json["actions"],
            json!([{"type": "redirect", "data": format!("/locations/{}", command.id)}])
        );
        assert_eq!(json["data"]["location"]["name"], "Lisbon");
    }

    #[test]
    fn a_failed_command_has_errors_and_no_redirect() {
        let status = CommandStatus::failed(
            Uuid::now_v7(),
            None,
            FailureReason::Conflict,
            vec!["taken".into()],
        );
        let notification = Notification::for_status(&status).expect("terminal");
        assert!(notification.actions.is_empty());
        assert_eq!(notification.errors, ["taken"]);
    }

    #[test]
    fn idempotency_keys_are_visible_ascii() {
        assert!(is_valid_idempotency_key("order-7f3a"));
        assert!(is_valid_idempotency_key(&"k".repeat(IDEMPOTENCY_KEY_MAX)));
        for bad in ["", " ", "a b", "é", "tab\t"] {
            assert!(!is_valid_idempotency_key(bad), "{bad:?}");
        }
        assert!(!is_valid_idempotency_key(
            &"k".repeat(IDEMPOTENCY_KEY_MAX + 1)
        ));
    }

    #[test]
    fn a_pending_status_has_no_notification() {
        let status = CommandStatus {
            status: CommandState::Pending,
            ..CommandStatus::failed(Uuid::now_v7(), None, FailureReason::Invalid, vec![])
        };
        assert!(Notification::for_status(&status).is_none());
    }
}
