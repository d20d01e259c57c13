//! `GET /commands/{id}`: where the no-JavaScript form waits for its command.
//!
//! The request itself waits, like `Prefer: wait`: it answers the moment the
//! command finishes (a `303` to the new location, or why it failed), or after a
//! hold with a page that reloads itself. Each reload holds twice as long as the
//! one before, up to [`LONGEST_HOLD`], so a slow command costs a request every
//! half minute rather than every second, and a screen reader is not made to read
//! the page out again and again.

use std::time::Duration;

use askama::Template;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use herald_contract::CommandState;
use serde::Deserialize;

use super::{PageError, Sender, html, parse_id};
use crate::commands::{Commands, CommandsError};

/// The first hold, in seconds.
const FIRST_HOLD: u64 = 4;
/// The longest hold, in seconds: under the minute that browsers and proxies give
/// a quiet request.
const LONGEST_HOLD: u64 = 24;

/// The page while the command is pending, or after it failed.
#[derive(Debug, Template)]
#[template(path = "command.html")]
pub(crate) struct CommandPage {
    pub(crate) id: String,
    /// Pending: the page reloads itself (to `refresh_url`).
    pub(crate) pending: bool,
    pub(crate) refresh_url: String,
    /// Why it failed.
    pub(crate) errors: Vec<String>,
}

/// `?held=N`: how long the previous request held, so this one holds longer.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct HoldQuery {
    held: Option<u64>,
}

/// The hold after one of `held` seconds: doubled, between the first and the longest.
fn next_hold(held: Option<u64>) -> u64 {
    held.map_or(FIRST_HOLD, |held| held.saturating_mul(2))
        .clamp(FIRST_HOLD, LONGEST_HOLD)
}

/// `GET /commands/{id}`: `303` to the location once completed; the failure; or,
/// after the hold, a page that reloads itself.
pub(crate) async fn show<C: Commands>(
    State(Sender(commands)): State<Sender<C>>,
    Path(id): Path<String>,
    query: Result<Query<HoldQuery>, QueryRejection>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let held = query.ok().and_then(|Query(query)| query.held);
    let hold = next_hold(held);
    let status = commands
        .outcome_within(id, Duration::from_secs(hold))
        .await
        .map_err(|error| match error {
            CommandsError::Unavailable => PageError::Unavailable,
            other => PageError::Commands(other),
        })?
        .ok_or(PageError::NotFound)?;
    let page = |pending, errors| CommandPage {
        id: id.to_string(),
        pending,
        refresh_url: format!("/commands/{id}?held={hold}"),
        errors,
    };
    Ok(match status.status {
        CommandState::Completed => {
            let location = status.resource.map_or(id, |location| location.id);
            Redirect::to(&format!("/locations/{location}")).into_response()
        }
        CommandState::Pending => html(&page(true, Vec::new())),
        CommandState::Failed => html(&page(false, status.errors)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::test_support::assert_layout;

    const XSS: &str = "<script>alert(1)</script>";
    const ID: &str = "0196b0f8-5c1e-7d2a-9b3c-4d5e6f708192";

    fn render(page: &CommandPage) -> String {
        page.render().expect("renders")
    }

    #[test]
    fn each_hold_doubles_up_to_the_longest() {
        let holds: Vec<u64> = [
            None,
            Some(4),
            Some(8),
            Some(16),
            Some(24),
            Some(0),
            Some(u64::MAX),
        ]
        .into_iter()
        .map(next_hold)
        .collect();
        assert_eq!(holds, [4, 8, 16, 24, 24, 4, 24]);
    }

    #[test]
    fn a_pending_command_page_reloads_itself_holding_longer() {
        let html = render(&CommandPage {
            id: ID.into(),
            pending: true,
            refresh_url: format!("/commands/{ID}?held=8"),
            errors: vec![],
        });
        assert_layout(&html);
        assert!(html.contains(&format!(
            r#"<meta http-equiv="refresh" content="1; url=/commands/{ID}?held=8">"#
        )));
        assert!(html.contains(r#"id="command-status""#));
        assert!(html.contains(ID));
        assert!(html.contains("being created"));
    }

    #[test]
    fn a_failed_command_page_says_why_and_links_back() {
        let html = render(&CommandPage {
            id: ID.into(),
            pending: false,
            refresh_url: String::new(),
            errors: vec![format!("a location named \"{XSS}\" already exists")],
        });
        assert_layout(&html);
        assert!(!html.contains("http-equiv"));
        assert!(!html.contains(XSS));
        assert!(html.contains(
            "a location named &#34;&#60;script&#62;alert(1)&#60;/script&#62;&#34; already exists"
        ));
        assert!(html.contains(r#"href="/locations/new""#));
    }
}
