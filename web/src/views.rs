//! The askama templates of the pages and the view types they render.
//!
//! Templates live in `templates/` and extend `base.html`. They are `.html` files,
//! so askama escapes every value written into them: names and descriptions that
//! users typed cannot inject markup. Keeping rendering apart from the handlers
//! lets tests render every page from sample data without a NATS server.

use askama::Template;
use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, Utc};
use herald_contract::{Category, FieldError, Location};

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

/// `GET /locations`: the newest locations.
#[derive(Debug, Template)]
#[template(path = "locations.html")]
pub(crate) struct LocationsPage {
    pub(crate) locations: Vec<LocationView>,
}

/// `GET /locations/{id}`: one location.
#[derive(Debug, Template)]
#[template(path = "location.html")]
pub(crate) struct LocationPage {
    pub(crate) location: LocationView,
}

/// The default browser timeout of the form, in seconds.
pub(crate) const DEFAULT_TIMEOUT_SECS: f64 = 5.0;

/// One option of the category select.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CategoryOption {
    pub(crate) value: &'static str,
    pub(crate) selected: bool,
}

/// `GET /locations/new`, and the form again after invalid input (422).
#[derive(Debug, Default, Template)]
#[template(path = "new_location.html")]
pub(crate) struct NewLocationPage {
    /// What the user typed, kept on a re-render.
    pub(crate) name: String,
    pub(crate) category: String,
    pub(crate) description: String,
    /// The browser's timeout in seconds, as the input shows it.
    pub(crate) timeout: String,
    /// Whether the server waits (`Prefer: wait`) rather than the browser.
    pub(crate) wait_server: bool,
    pub(crate) name_error: String,
    pub(crate) category_error: String,
    pub(crate) description_error: String,
    /// Errors that belong to no one field.
    pub(crate) form_errors: Vec<String>,
}

impl NewLocationPage {
    /// The empty form with the demo controls' starting values: `timeout` in
    /// seconds (default 5; anything but a finite number ≥ 0 falls back to it) and
    /// `wait` (`server`, else the browser waits).
    pub(crate) fn new(timeout: Option<&str>, wait: Option<&str>) -> Self {
        let timeout = timeout
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|secs| secs.is_finite() && *secs >= 0.0 && *secs <= 86_400.0)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        Self {
            timeout: format!("{timeout}"),
            wait_server: wait == Some("server"),
            ..Self::default()
        }
    }

    /// Puts each validation error next to its field; the rest above the form.
    pub(crate) fn with_errors(mut self, errors: Vec<FieldError>) -> Self {
        for error in errors {
            let slot = match error.field.as_str() {
                "name" => &mut self.name_error,
                "category" => &mut self.category_error,
                "description" => &mut self.description_error,
                _ => {
                    self.form_errors.push(error.message);
                    continue;
                }
            };
            if !slot.is_empty() {
                slot.push_str("; ");
            }
            slot.push_str(&error.message);
        }
        self
    }

    /// The category options, the one typed selected.
    pub(crate) fn categories(&self) -> Vec<CategoryOption> {
        Category::ALL
            .iter()
            .map(|category| CategoryOption {
                value: category.as_str(),
                selected: category.as_str() == self.category,
            })
            .collect()
    }

    /// Whether no category (or an unknown one) is selected.
    pub(crate) fn no_category(&self) -> bool {
        self.categories().iter().all(|option| !option.selected)
    }
}

/// `GET /commands/{id}` while the command is pending or after it failed (the
/// page of the no-JavaScript path).
#[derive(Debug, Template)]
#[template(path = "command.html")]
pub(crate) struct CommandPage {
    pub(crate) id: String,
    /// Pending: the page refreshes itself every second.
    pub(crate) pending: bool,
    /// Why it failed.
    pub(crate) errors: Vec<String>,
}

/// A page that explains why the request could not be answered.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub(crate) struct ErrorPage {
    /// The status the page is sent with; also shown on it.
    pub(crate) status: StatusCode,
    pub(crate) heading: &'static str,
    pub(crate) message: &'static str,
}

impl ErrorPage {
    /// The page for an unknown or malformed location id, or any unknown page.
    pub(crate) const NOT_FOUND: Self = Self {
        status: StatusCode::NOT_FOUND,
        heading: "Not found",
        message: "There is no such page: the location may not exist, or the link is mistyped.",
    };

    /// The page for a read model that cannot be read right now.
    pub(crate) const UNAVAILABLE: Self = Self {
        status: StatusCode::SERVICE_UNAVAILABLE,
        heading: "Temporarily unavailable",
        message: "The read model is unavailable at the moment. Please try again shortly.",
    };

    /// The page for a command that cannot be sent right now.
    pub(crate) const COMMANDS_UNAVAILABLE: Self = Self {
        status: StatusCode::SERVICE_UNAVAILABLE,
        heading: "Temporarily unavailable",
        message: "Herald cannot accept new locations at the moment. Please try again shortly.",
    };

    /// The page for a form post that is not a form.
    pub(crate) const BAD_REQUEST: Self = Self {
        status: StatusCode::BAD_REQUEST,
        heading: "Bad request",
        message: "The form could not be read. Please go back and submit it again.",
    };

    /// The page for a bug on our side.
    pub(crate) const INTERNAL: Self = Self {
        status: StatusCode::INTERNAL_SERVER_ERROR,
        heading: "Something went wrong",
        message: "The request could not be completed. Please try again.",
    };
}

#[cfg(test)]
mod tests {
    use super::*;
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

    /// Every page shares the layout: language, viewport, stylesheet, header and nav.
    fn assert_layout(html: &str) {
        assert!(html.starts_with("<!doctype html>"), "{html}");
        assert!(html.contains(r#"<html lang="en">"#));
        assert!(html.contains(r#"<meta name="viewport""#));
        assert!(html.contains(r#"<link rel="stylesheet" href="/static/herald.css">"#));
        assert!(html.contains(">Herald</a>"));
        assert!(html.contains(r#"<a href="/locations""#));
        assert!(html.contains("<main"));
        assert!(html.contains(r#"<a href="/locations/new""#));
        // The Content-Security-Policy forbids inline styles and scripts: the only
        // scripts are files.
        assert!(!html.contains("style="));
        assert!(!html.contains("<style"));
        assert_eq!(
            html.matches("<script").count(),
            html.matches(r#"<script type="module" src="/static/"#)
                .count(),
            "{html}"
        );
        for handler in ["onclick=", "onsubmit=", "onload=", "onchange=", "oninput="] {
            assert!(!html.contains(handler), "no inline event handlers");
        }
    }

    fn new_page() -> NewLocationPage {
        NewLocationPage::new(None, None)
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
        assert!(!html.contains("<script"));
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

    #[test]
    fn the_form_has_every_control_with_a_label() {
        let html = render(&new_page());
        assert_layout(&html);
        assert!(html.contains(r#"<script type="module" src="/static/new-location.js"></script>"#));
        assert!(html.contains(
            r#"<form id="create-location" class="card form" method="post" action="/locations""#
        ));
        for id in [
            "name",
            "category",
            "description",
            "timeout",
            "wait-browser",
            "wait-server",
        ] {
            assert!(html.contains(&format!(r#"<label for="{id}">"#)), "{id}");
            assert!(html.contains(&format!(r#"id="{id}""#)), "{id}");
        }
        assert!(html.contains(r#"<input id="name" name="name" type="text" value="""#));
        assert!(html.contains(r#"<select id="category" name="category""#));
        assert!(html.contains(r#"<textarea id="description" name="description""#));
        assert!(html.contains(
            r#"<input id="timeout" name="timeout" type="number" step="0.1" min="0" value="5""#
        ));
        assert!(html.contains(
            r#"<input id="wait-browser" name="wait" type="radio" value="browser" checked>"#
        ));
        assert!(
            html.contains(r#"<input id="wait-server" name="wait" type="radio" value="server">"#)
        );
        assert!(html.contains(r#"<option value="" selected>"#));
        for category in ["Town", "City", "County/Region", "Country", "Continent"] {
            assert!(html.contains(&format!(
                r#"<option value="{category}">{category}</option>"#
            )));
        }
        assert!(html.contains(
            r#"<button id="submit" type="submit" class="button">Create location</button>"#
        ));
        for id in ["name-error", "category-error", "description-error"] {
            assert!(
                html.contains(&format!(r#"<p id="{id}" class="field-error"></p>"#)),
                "{id}"
            );
        }
        assert!(html.contains(r#"<div id="form-error" class="form-error" role="alert"></div>"#));
        assert!(html.contains(
            r#"<div id="notice" class="notice" role="status" aria-live="polite"></div>"#
        ));
        assert!(html.contains(r#"<div id="log" class="log"></div>"#));
        assert!(!html.contains("aria-invalid"));
        assert!(html.contains(r#"<a href="/locations/new" aria-current="page">"#));
    }

    #[test]
    fn the_query_sets_the_controls_starting_values() {
        let page = NewLocationPage::new(Some("0.5"), Some("server"));
        assert_eq!(page.timeout, "0.5");
        assert!(page.wait_server);
        let html = render(&page);
        assert!(html.contains(r#"step="0.1" min="0" value="0.5""#));
        assert!(html.contains(r#"value="server" checked>"#));
        assert!(html.contains(r#"value="browser">"#));
        for bad in ["-1", "abc", "NaN", "inf", ""] {
            let page = NewLocationPage::new(Some(bad), Some("nope"));
            assert_eq!(page.timeout, "5", "{bad}");
            assert!(!page.wait_server);
        }
        assert_eq!(NewLocationPage::new(Some("0"), None).timeout, "0");
        assert_eq!(NewLocationPage::new(Some("12"), None).timeout, "12");
    }

    #[test]
    fn the_form_keeps_the_input_and_shows_the_errors_escaped() {
        let page = NewLocationPage {
            name: XSS.to_owned(),
            category: "County/Region".to_owned(),
            description: XSS.to_owned(),
            ..new_page()
        }
        .with_errors(vec![
            FieldError {
                field: "name".into(),
                message: "name is <bad>".into(),
            },
            FieldError {
                field: "description".into(),
                message: "too long".into(),
            },
            FieldError {
                field: "".into(),
                message: "the body must be an object".into(),
            },
        ]);
        let html = render(&page);
        assert_layout(&html);
        assert!(!html.contains(XSS));
        assert!(!html.contains("<bad>"));
        assert!(html.contains(r#"value="&#60;script&#62;alert(1)&#60;/script&#62;""#));
        assert!(html.contains(">&#60;script&#62;alert(1)&#60;/script&#62;</textarea>"));
        assert!(
            html.contains(r#"<p id="name-error" class="field-error">name is &#60;bad&#62;</p>"#)
        );
        assert!(html.contains(r#"<p id="description-error" class="field-error">too long</p>"#));
        assert!(html.contains(r#"<p id="category-error" class="field-error"></p>"#));
        assert!(html.contains(r#"aria-describedby="name-error" aria-invalid="true""#));
        assert!(html.contains(r#"aria-describedby="description-error" aria-invalid="true""#));
        assert!(!html.contains(r#"aria-describedby="category-error" aria-invalid"#));
        assert!(html.contains("<li>the body must be an object</li>"));
        assert!(html.contains(r#"<option value="County/Region" selected>"#));
        assert!(!html.contains(r#"<option value="" selected>"#));
    }

    #[test]
    fn a_pending_command_page_refreshes_itself() {
        let html = render(&CommandPage {
            id: "0196b0f8-5c1e-7d2a-9b3c-4d5e6f708192".into(),
            pending: true,
            errors: vec![],
        });
        assert_layout(&html);
        assert!(html.contains(r#"<meta http-equiv="refresh" content="1">"#));
        assert!(html.contains(r#"id="command-status""#));
        assert!(html.contains("0196b0f8-5c1e-7d2a-9b3c-4d5e6f708192"));
        assert!(html.contains("being created"));
    }

    #[test]
    fn a_failed_command_page_says_why_and_links_back() {
        let html = render(&CommandPage {
            id: "0196b0f8-5c1e-7d2a-9b3c-4d5e6f708192".into(),
            pending: false,
            errors: vec![format!("a location named \"{XSS}\" already exists")],
        });
        assert_layout(&html);
        assert!(!html.contains("http-equiv"));
        assert!(html.contains(r#"id="command-status""#));
        assert!(!html.contains(XSS));
        assert!(html.contains(
            "a location named &#34;&#60;script&#62;alert(1)&#60;/script&#62;&#34; already exists"
        ));
        assert!(html.contains(r#"href="/locations/new""#));
    }

    #[test]
    fn error_pages_name_their_status_and_nothing_internal() {
        let html = render(&ErrorPage::NOT_FOUND);
        assert_layout(&html);
        assert!(html.contains("404"));
        assert!(html.contains("Not found"));
        let html = render(&ErrorPage::UNAVAILABLE);
        assert_layout(&html);
        assert!(html.contains("503"));
        assert!(html.contains("read model is unavailable"));
    }
}
