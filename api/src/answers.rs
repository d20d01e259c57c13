//! The bodies the api answers with for a command: accepted (`202`), and its
//! status (`201` after a wait, and `GET /api/commands/{id}`), with links to where
//! a client goes next.
//!
//! They sit apart from the handlers and from [`crate::accept`] because both
//! answer with them, and the OpenAPI document describes them; so are the events
//! of the streams, as the document describes them.

use herald_contract::{CommandState, CommandStatus, Notification};
use serde::Serialize;
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    KnownFormat, ObjectBuilder, OneOfBuilder, Ref, Schema, SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};
use uuid::Uuid;

/// The 202 answer: the command is in the stream and will be processed.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Accepted {
    pub id: Uuid,
    pub status: CommandState,
    pub links: CommandLinks,
}

impl Accepted {
    pub fn pending(id: Uuid) -> Self {
        Self {
            id,
            status: CommandState::Pending,
            links: CommandLinks::for_command(id),
        }
    }
}

/// A command's status with its links (the 201 answer, and `GET /api/commands/{id}`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct StatusBody {
    #[serde(flatten)]
    pub status: CommandStatus,
    pub links: CommandLinks,
}

impl From<CommandStatus> for StatusBody {
    fn from(status: CommandStatus) -> Self {
        let links = CommandLinks::for_command(status.id);
        Self { status, links }
    }
}

/// Where a client goes next for a command.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CommandLinks {
    /// The command's status: `/api/commands/{id}`.
    #[serde(rename = "self")]
    pub status: String,
    /// Its event stream: `/api/commands/{id}/events`.
    pub events: String,
    /// What it creates: `/api/locations/{id}`.
    pub resource: String,
}

impl CommandLinks {
    pub fn for_command(id: Uuid) -> Self {
        Self {
            status: format!("/api/commands/{id}"),
            events: format!("/api/commands/{id}/events"),
            resource: format!("/api/locations/{id}"),
        }
    }
}

/// One event of a command's own stream (`GET /api/commands/{id}/events`), as
/// OpenAPI describes Server-Sent Events: the event name, its id, and its data,
/// a string holding the Notification as JSON.
#[derive(Debug)]
pub struct CommandEvent;

/// One event of the global feed (`GET /api/notifications`): `notification`, the
/// status's revision as id (to resume from with `Last-Event-ID`), the Notification.
#[derive(Debug)]
pub struct FeedEvent;

/// The schema of an event named one of `names`, with `id`, and `data` as JSON
/// text of the given schema.
fn event_schema(
    names: &[&str],
    id: ObjectBuilder,
    data: impl Into<RefOr<Schema>>,
    description: &str,
) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::Object)
        .description(Some(description))
        .property(
            "event",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(names.iter().copied())),
        )
        .required("event")
        .property("id", id)
        .required("id")
        .property(
            "data",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .content_media_type("application/json")
                .content_schema(Some(data)),
        )
        .required("data")
        .into()
}

/// The Notification schema, by reference: the data of every outcome's event.
fn notification() -> Ref {
    Ref::from_schema_name(Notification::name())
}

impl PartialSchema for CommandEvent {
    fn schema() -> RefOr<Schema> {
        event_schema(
            &["completed", "failed"],
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid)))
                .description(Some(
                    "The notification id: the same for every delivery of it",
                )),
            notification(),
            "The one event of a command's stream, named after its outcome",
        )
    }
}

impl PartialSchema for FeedEvent {
    fn schema() -> RefOr<Schema> {
        event_schema(
            &["notification"],
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[0-9]+$"))
                .description(Some(
                    "The status's revision; send it as Last-Event-ID to resume",
                )),
            notification(),
            "One outcome on the global feed",
        )
    }
}

/// Both refer to the Notification schema, which must be in the document.
fn notification_schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
    schemas.push((Notification::name().into(), Notification::schema()));
    <Notification as ToSchema>::schemas(schemas);
}

impl ToSchema for CommandEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        notification_schemas(schemas);
    }
}

impl ToSchema for FeedEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        notification_schemas(schemas);
    }
}

/// One event of a stream for many commands (`GET /api/commands/events`): as
/// [`CommandEvent`] for each command that finished, or `unknown` for an id that
/// names no command, with `{"command_id"}` as data.
#[derive(Debug)]
pub struct GroupEvent;

impl PartialSchema for GroupEvent {
    fn schema() -> RefOr<Schema> {
        let unknown = ObjectBuilder::new()
            .schema_type(Type::Object)
            .property(
                "command_id",
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
            )
            .required("command_id");
        event_schema(
            &["completed", "failed", "unknown"],
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(KnownFormat::Uuid))),
            OneOfBuilder::new().item(notification()).item(unknown),
            "One command's event: its outcome, or `unknown` for an id that names no command",
        )
    }
}

impl ToSchema for GroupEvent {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        notification_schemas(schemas);
    }
}
