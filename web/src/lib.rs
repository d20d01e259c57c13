//! Herald's web UI: server-rendered HTML pages over the read model, mounted by
//! the api at `/`.
//!
//! The layout follows the URLs:
//!
//! - `pages` holds the page handlers (`/`, `/locations`, `/locations/{id}`) and
//!   the HTML error pages they fall back to;
//! - `views` holds the askama templates (in `templates/`) and the small view
//!   types they render, so pages can be tested without a NATS server;
//! - `assets` serves the static files under `/static/`, embedded in the binary
//!   so a deployment is one file;
//! - `headers` adds the security headers every response of the UI carries.
//!
//! Everything a user typed reaches the browser through askama's HTML escaping;
//! the Content-Security-Policy forbids inline scripts and styles as a second line
//! of defence.

mod assets;
mod headers;
mod pages;
mod views;

use axum::Router;
use herald_contract::ReadModel;

/// The web UI's routes: `/`, `/locations`, `/locations/{id}`, `/static/*`.
///
/// The router has no fallback of its own, so the api can `merge` it with its own
/// router and keep a single fallback.
pub fn router(read_model: ReadModel) -> Router {
    headers::apply(pages::routes(read_model).merge(assets::routes()))
}
