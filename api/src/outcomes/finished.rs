//! One command's outcome as the api holds it: the notification's JSON as it came
//! over NATS, and the Server-Sent Events frames made of it, rendered once.
//!
//! However many clients wait for a command, or watch the global feed, the event
//! is encoded once and each client's stream writes the same bytes.

use bytes::{BufMut, Bytes, BytesMut};
use herald_contract::{CommandState, CommandStatus, Notification};
use serde::Deserialize;
use uuid::Uuid;

/// A finished command: what its waiters and the feed are sent.
#[derive(Debug)]
pub struct Finished {
    pub command_id: Uuid,
    /// `Completed` or `Failed`.
    pub state: CommandState,
    /// The status's revision in the `commands` bucket, when known.
    pub revision: Option<u64>,
    /// The notification, as JSON on one line.
    pub json: Bytes,
    /// The frame of the command's own event stream:
    /// `event: completed`, `id:` the notification id, `data:` the notification.
    pub event: Bytes,
    /// The frame of the global feed, when the revision is known (its event id).
    feed: Option<Bytes>,
}

/// Why a payload is not a notification this api can pass on.
#[derive(Debug, thiserror::Error)]
pub enum NotANotification {
    #[error("it does not decode")]
    Decode(#[from] serde_json::Error),
    #[error("it names command {named}, not {subject}")]
    OtherCommand { named: Uuid, subject: Uuid },
    #[error("it announces no outcome")]
    Pending,
}

/// The fields of a notification the api routes by; the rest is passed on as is.
#[derive(Debug, Deserialize)]
struct Head {
    id: Uuid,
    command_id: Uuid,
    status: CommandState,
    #[serde(default)]
    revision: Option<u64>,
}

impl Finished {
    /// The notification published for `command_id` (from its subject), as received.
    pub fn from_payload(command_id: Uuid, payload: Bytes) -> Result<Self, NotANotification> {
        let head: Head = serde_json::from_slice(&payload)?;
        if head.command_id != command_id {
            return Err(NotANotification::OtherCommand {
                named: head.command_id,
                subject: command_id,
            });
        }
        if !head.status.is_terminal() {
            return Err(NotANotification::Pending);
        }
        // An event's data is one line: a payload with line breaks (not ours) is
        // written again, compactly.
        let json = if payload.iter().any(|&b| b == b'\n' || b == b'\r') {
            let value: serde_json::Value = serde_json::from_slice(&payload)?;
            Bytes::from(serde_json::to_vec(&value)?)
        } else {
            payload
        };
        Ok(Self::new(
            head.command_id,
            head.status,
            head.revision,
            head.id,
            json,
        ))
    }

    /// The outcome a recorded status announces (read from the bucket).
    pub fn from_status(status: &CommandStatus, revision: Option<u64>) -> Option<Self> {
        let notification = match revision {
            Some(revision) => Notification::for_recorded(status, revision)?,
            None => Notification::for_status(status)?,
        };
        let json = Bytes::from(serde_json::to_vec(&notification).ok()?);
        Some(Self::new(
            notification.command_id,
            notification.status,
            revision,
            notification.id,
            json,
        ))
    }

    fn new(
        command_id: Uuid,
        state: CommandState,
        revision: Option<u64>,
        notification_id: Uuid,
        json: Bytes,
    ) -> Self {
        let event = frame(state.as_str(), &notification_id.to_string(), &json);
        let feed = revision.map(|revision| frame("notification", &revision.to_string(), &json));
        Self {
            command_id,
            state,
            revision,
            json,
            event,
            feed,
        }
    }

    /// The frame of the global feed: `event: notification`, `id:` the revision.
    /// Encoded once, however many clients the feed has.
    pub fn feed_event(&self) -> Option<Bytes> {
        self.feed.clone()
    }

    /// The notification itself, for answers that are not events (a `201`).
    pub fn notification(&self) -> Result<Notification, serde_json::Error> {
        serde_json::from_slice(&self.json)
    }
}

/// One Server-Sent Event: `event`, `id` and one line of `data`.
pub fn frame(event: &str, id: &str, data: &[u8]) -> Bytes {
    let mut frame = BytesMut::with_capacity(event.len() + id.len() + data.len() + 24);
    frame.put_slice(b"event: ");
    frame.put_slice(event.as_bytes());
    frame.put_slice(b"\nid: ");
    frame.put_slice(id.as_bytes());
    frame.put_slice(b"\ndata: ");
    frame.put_slice(data);
    frame.put_slice(b"\n\n");
    frame.freeze()
}

#[cfg(test)]
mod tests {
    use super::*;
    use herald_contract::FailureReason;

    fn failed(id: Uuid) -> CommandStatus {
        CommandStatus::failed(id, None, FailureReason::Conflict, vec!["taken".into()])
    }

    #[test]
    fn a_payload_becomes_the_events_of_its_command() {
        let id = Uuid::now_v7();
        let notification = Notification::for_recorded(&failed(id), 7).expect("terminal");
        let payload = Bytes::from(serde_json::to_vec(&notification).expect("JSON"));
        let finished = Finished::from_payload(id, payload.clone()).expect("a notification");
        assert_eq!(finished.state, CommandState::Failed);
        assert_eq!(finished.revision, Some(7));
        assert_eq!(finished.json, payload, "passed on as it came");
        let event = String::from_utf8(finished.event.to_vec()).expect("UTF-8");
        assert_eq!(
            event,
            format!(
                "event: failed\nid: {}\ndata: {}\n\n",
                notification.id,
                String::from_utf8_lossy(&payload)
            )
        );
        let feed = finished.feed_event().expect("a revision");
        assert!(feed.starts_with(b"event: notification\nid: 7\ndata: {"));
        assert_eq!(finished.notification().expect("decodes"), notification);
    }

    #[test]
    fn a_payload_for_another_command_or_not_json_is_refused() {
        let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
        let notification = Notification::for_status(&failed(b)).expect("terminal");
        let payload = Bytes::from(serde_json::to_vec(&notification).expect("JSON"));
        assert!(matches!(
            Finished::from_payload(a, payload),
            Err(NotANotification::OtherCommand { .. })
        ));
        assert!(Finished::from_payload(a, Bytes::from_static(b"nope")).is_err());
    }

    #[test]
    fn line_breaks_in_a_payload_never_break_the_frame() {
        let id = Uuid::now_v7();
        let notification = Notification::for_status(&failed(id)).expect("terminal");
        let pretty = serde_json::to_vec_pretty(&notification).expect("JSON");
        let finished = Finished::from_payload(id, Bytes::from(pretty)).expect("a notification");
        let data = finished
            .event
            .split(|&b| b == b'\n')
            .nth(2)
            .expect("data line");
        assert!(data.starts_with(b"data: {") && data.ends_with(b"}"));
        assert_eq!(finished.notification().expect("decodes"), notification);
        assert_eq!(
            finished.feed_event(),
            None,
            "no revision, no place in the feed"
        );
    }
}
