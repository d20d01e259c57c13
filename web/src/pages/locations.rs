//! `GET /locations` (the newest locations) and `GET /locations/{id}` (one).
//!
//! Templates are `.html` files, so askama escapes every value written into them:
//! names and descriptions that users typed cannot inject markup.

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, SecondsFormat, Utc};
use herald_contract::Location;
use herald_read_model::ReadModel;

use super::{PageError, html, parse_id, read};

/// How many locations the list shows.
const LIST_LIMIT: usize = 50;

/// A moment shown to people, with its machine-readable form for `<time>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timestamp {
    /// RFC 3339, for the `datetime` attribute.
    pub(crate) machine: String,
    /// For example `2026-11-25 08:12 UTC`.
    pub(crate) human: String,
}

impl From<DateTime<Utc>> for Timestamp {
    fn from(at: DateTime<Utc>) -> Self {
        Self {
            machine: at.to_rfc3339_opts(SecondsFormat::Secs, true),
            human: at.format("%Y-%m-%d %H:%M UTC").to_string(),
        }
    }
}

/// One location as the pages show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocationView {
    pub(crate) href: String,
    pub(crate) name: String,
    pub(crate) category: &'static str,
    pub(crate) description: String,
    pub(crate) created: Timestamp,
}

impl From<Location> for LocationView {
    fn from(location: Location) -> Self {
        Self {
            href: format!("/locations/{}", location.id),
            name: location.name,
            category: location.category.as_str(),
            description: location.description,
            created: location.created_at.into(),
        }
    }
}

/// `GET /locations`.
#[derive(Debug, Template)]
#[template(path = "locations.html")]
pub(crate) struct LocationsPage {
    pub(crate) locations: Vec<LocationView>,
}

/// `GET /locations/{id}`.
#[derive(Debug, Template)]
#[template(path = "location.html")]
pub(crate) struct LocationPage {
    pub(crate) location: LocationView,
}

/// `GET /locations`: the newest locations, newest first.
pub(crate) async fn list(State(read_model): State<ReadModel>) -> Result<Response, PageError> {
    let page = read(read_model.locations(LIST_LIMIT, None)).await?;
    let locations = page.locations.into_iter().map(LocationView::from).collect();
    Ok(html(&LocationsPage { locations }))
}

/// `GET /locations/{id}`: one location.
pub(crate) async fn show(
    State(read_model): State<ReadModel>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let location = read(read_model.location(id))
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(html(&LocationPage {
        location: location.into(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::test_support::assert_layout;
    use chrono::TimeZone;
    use herald_contract::Category;
    use uuid::Uuid;

    const XSS: &str = "<script>alert(1)</script>";

    fn location(name: &str, description: &str) -> Location {
        Location {
            id: Uuid::parse_str("0196b0f8-5c1e-7d2a-9b3c-4d5e6f708192").expect("uuid"),
            name: name.to_owned(),
            category: Category::CountyRegion,
            description: description.to_owned(),
            created_at: Utc
                .with_ymd_and_hms(2026, 11, 25, 8, 12, 37)
                .single()
                .expect("valid date"),
        }
    }

    fn render(template: &impl Template) -> String {
        template.render().expect("renders")
    }

    #[test]
    fn timestamps_are_human_and_machine_readable() {
        let created = Timestamp::from(location("x", "").created_at);
        assert_eq!(created.human, "2026-11-25 08:12 UTC");
        assert_eq!(created.machine, "2026-11-25T08:12:37Z");
    }

    #[test]
    fn the_list_shows_every_location_with_a_link() {
        let first = location("Lisbon", "By the sea");
        let href = format!("/locations/{}", first.id);
        let html = render(&LocationsPage {
            locations: vec![first.into(), location("Porto", "").into()],
        });
        assert_layout(&html);
        assert!(html.contains(&format!(r#"<a href="{href}">Lisbon</a>"#)));
        assert!(html.contains("Porto"));
        assert!(html.contains("County/Region"));
        assert!(html.contains("By the sea"));
        assert!(
            html.contains(r#"<time datetime="2026-11-25T08:12:37Z">2026-11-25 08:12 UTC</time>"#)
        );
        assert!(html.contains(r#"aria-current="page""#));
        assert!(!html.contains("No locations yet"));
    }

    #[test]
    fn the_empty_list_says_so() {
        let html = render(&LocationsPage { locations: vec![] });
        assert_layout(&html);
        assert!(html.contains("No locations yet"));
        assert!(!html.contains("<table"));
    }

    #[test]
    fn what_users_typed_is_escaped_in_the_list() {
        let html = render(&LocationsPage {
            locations: vec![location(XSS, XSS).into()],
        });
        assert!(!html.contains(XSS));
        assert!(!html.contains("<script>"));
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;"));
    }

    #[test]
    fn what_users_typed_is_escaped_on_the_location_page() {
        let html = render(&LocationPage {
            location: location(XSS, r#"" onmouseover="alert(1)"#).into(),
        });
        assert_layout(&html);
        assert!(!html.contains(XSS));
        assert!(!html.contains(r#"" onmouseover"#));
        // The title shows the name too, escaped as well.
        assert!(html.contains("<title>&#60;script&#62;"));
    }

    #[test]
    fn the_location_page_shows_the_location() {
        let html = render(&LocationPage {
            location: location("Lisbon", "Line one\nLine two").into(),
        });
        assert_layout(&html);
        assert!(html.contains("<h1>Lisbon</h1>"));
        assert!(html.contains("Line one\nLine two"));
        assert!(html.contains(r#"<time datetime="2026-11-25T08:12:37Z">"#));
        assert!(!html.contains("No description"));
        let html = render(&LocationPage {
            location: location("Lisbon", "").into(),
        });
        assert!(html.contains("No description"));
    }
}
