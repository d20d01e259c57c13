//! The bodies the api answers with for a command: accepted (`202`), and its
//! status (`201` after a wait, and `GET /api/commands/{id}`), with links to where
//! a client goes next.
//!
//! They sit apart from the handlers and from [`crate::accept`] because both
//! answer with them, and the OpenAPI document describes them.

use herald_contract::{CommandState, CommandStatus};
use serde::Serialize;
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
