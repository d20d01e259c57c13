//! Herald's web UI: server-rendered HTML pages over the read model, mounted by
//! the api at `/`.
//!
//! - [`pages`](crate::pages): one module per page, with its handler, its
//!   template type and its tests (`/locations`, `/locations/{id}`, the form, the
//!   no-JavaScript command page, the error pages);
//! - [`commands`]: the trait through which the api sends the form's commands and
//!   waits for them (the web crate does not depend on the api);
//! - `assets`: the static files under `/static/`, embedded in the binary and
//!   served under content-hashed names;
//! - `headers`: the security headers every response of the UI carries.
//!
//! Everything a user typed reaches the browser through askama's HTML escaping;
//! the Content-Security-Policy forbids inline scripts and styles as a second line
//! of defence, and the scripts under `static/` write data with `textContent` only.

mod assets;
mod commands;
mod headers;
mod pages;

use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use herald_read_model::ReadModel;

pub use assets::href as asset_href;
pub use commands::{Commands, CommandsError};

/// The web UI's routes: `/`, `/locations` (and its form post),
/// `/locations/new`, `/locations/{id}`, `/commands/{id}`, `/static/*`.
/// `commands` sends the commands of the form posted without JavaScript.
///
/// The router has no fallback of its own, so the api can `merge` it with its own
/// router and keep a single fallback, which answers with [`error_page`] outside
/// `/api/`.
pub fn router(read_model: ReadModel, commands: impl Commands) -> Router {
    headers::apply(pages::routes(read_model, commands).merge(assets::routes()))
}

/// The HTML page for an error `status` (404, 405, 403, …), with the UI's
/// security headers: what a person gets for a path outside the JSON api.
pub fn error_page(status: StatusCode) -> Response {
    let mut response = pages::error::ErrorPage::for_status(status).into_response();
    headers::insert(response.headers_mut());
    response
}
