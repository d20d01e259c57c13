//! Herald's web UI: server-rendered HTML pages over the read model, mounted by
//! the api at `/`.
//!
//! The layout follows the URLs:
//!
//! - `pages` holds the page handlers (`/`, `/locations`, `/locations/{id}`, the
//!   form at `/locations/new` and `/commands/{id}`) and the HTML error pages they
//!   fall back to;
//! - `commands` is the trait through which the api sends the form's commands
//!   (the web crate does not depend on the api);
//! - `views` holds the askama templates (in `templates/`) and the small view
//!   types they render, so pages can be tested without a NATS server;
//! - `assets` serves the static files under `/static/`, embedded in the binary
//!   so a deployment is one file;
//! - `headers` adds the security headers every response of the UI carries.
//!
//! Everything a user typed reaches the browser through askama's HTML escaping;
//! the Content-Security-Policy forbids inline scripts and styles as a second line
//! of defence, and the scripts under `static/` write data with `textContent` only.

mod assets;
mod commands;
mod headers;
mod pages;
mod views;

use axum::Router;
use herald_contract::ReadModel;

pub use commands::{Commands, CommandsError};

/// The web UI's routes: `/`, `/locations` (and its form post),
/// `/locations/new`, `/locations/{id}`, `/commands/{id}`, `/static/*`.
/// `commands` sends the commands of the form posted without JavaScript.
///
/// The router has no fallback of its own, so the api can `merge` it with its own
/// router and keep a single fallback.
pub fn router(read_model: ReadModel, commands: impl Commands) -> Router {
    headers::apply(pages::routes(read_model, commands).merge(assets::routes()))
}
