//! The form: `GET /locations/new`, and `POST /locations` where it posts when
//! JavaScript is off (with JavaScript, `new-location.js` posts to the api).
//!
//! Each rendering of the form carries a fresh idempotency key in a hidden field,
//! so a double submit or a resubmission after a lost answer is stored once: the
//! second post is answered with the command of the first.

use askama::Template;
use axum::Form;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use herald_contract::messages::is_valid_idempotency_key;
use herald_contract::{Category, FieldError, NewLocation};
use serde::Deserialize;
use uuid::Uuid;

use super::{PageError, Sender, html};
use crate::commands::{Commands, CommandsError};

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
    /// The `Idempotency-Key` this rendering of the form submits with.
    pub(crate) idempotency_key: String,
    pub(crate) name_error: String,
    pub(crate) category_error: String,
    pub(crate) description_error: String,
    /// Errors that belong to no one field.
    pub(crate) form_errors: Vec<String>,
}

impl NewLocationPage {
    /// The empty form with a fresh idempotency key and the demo controls'
    /// starting values: `timeout` in seconds (default 5; anything but a finite
    /// number ≥ 0 falls back to it) and `wait` (`server`, else the browser waits).
    pub(crate) fn new(timeout: Option<&str>, wait: Option<&str>) -> Self {
        let timeout = timeout
            .and_then(|text| text.trim().parse::<f64>().ok())
            .filter(|secs| secs.is_finite() && *secs >= 0.0 && *secs <= 86_400.0)
            .unwrap_or(DEFAULT_TIMEOUT_SECS);
        Self {
            timeout: format!("{timeout}"),
            wait_server: wait == Some("server"),
            idempotency_key: Uuid::new_v4().to_string(),
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

    /// Whether any error is shown, so the summary above the form is announced.
    pub(crate) fn has_errors(&self) -> bool {
        !(self.form_errors.is_empty()
            && self.name_error.is_empty()
            && self.category_error.is_empty()
            && self.description_error.is_empty())
    }
}

/// The query of `GET /locations/new`: the demo controls' starting values.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FormQuery {
    timeout: Option<String>,
    wait: Option<String>,
}

/// `GET /locations/new`: the form. A malformed query is ignored, not an error:
/// the controls fall back to their defaults.
pub(crate) async fn form(query: Result<Query<FormQuery>, QueryRejection>) -> Response {
    let query = query.map(|Query(query)| query).unwrap_or_default();
    html(&NewLocationPage::new(
        query.timeout.as_deref(),
        query.wait.as_deref(),
    ))
}

/// The fields of the form, as posted without JavaScript.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FormFields {
    name: String,
    category: String,
    description: String,
    timeout: Option<String>,
    wait: Option<String>,
    idempotency_key: String,
}

impl FormFields {
    /// The form again, as typed, with `errors`; `key` is the idempotency key it
    /// submits with next.
    fn again(self, key: String, errors: Vec<FieldError>) -> Response {
        let page = NewLocationPage {
            name: self.name,
            category: self.category,
            description: self.description,
            idempotency_key: key,
            ..NewLocationPage::new(self.timeout.as_deref(), self.wait.as_deref())
        }
        .with_errors(errors);
        (StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response()
    }
}

/// `POST /locations` (the form without JavaScript): validates like the api,
/// then sends the command and answers `303` to its page; invalid input gets
/// the form again, `422`, with the errors and what was typed.
pub(crate) async fn create<C: Commands>(
    State(Sender(commands)): State<Sender<C>>,
    form: Result<Form<FormFields>, FormRejection>,
) -> Result<Response, PageError> {
    let Form(fields) = form.map_err(|rejection| {
        tracing::debug!(%rejection, "unreadable form post");
        PageError::BadRequest
    })?;
    let body = serde_json::json!({
        "name": fields.name,
        "category": fields.category,
        "description": fields.description,
    });
    // A key that is not ours (a hand-made post) is dropped, not an error.
    let key = Some(fields.idempotency_key.clone()).filter(|key| is_valid_idempotency_key(key));
    let location = match NewLocation::from_json(&body) {
        Ok(location) => location,
        // The key was not used: the corrected form submits with it again.
        Err(errors) => {
            let key = key.unwrap_or_else(|| Uuid::new_v4().to_string());
            return Ok(fields.again(key, errors));
        }
    };
    match commands.create_location(location, key).await {
        Ok(id) => Ok(Redirect::to(&format!("/commands/{id}")).into_response()),
        Err(CommandsError::KeyReused) => {
            let error = FieldError {
                field: String::new(),
                message: "This form was already sent with other values. \
                          Check them and send it again to create another location."
                    .into(),
            };
            Ok(fields.again(Uuid::new_v4().to_string(), vec![error]))
        }
        Err(error) => Err(PageError::Commands(error)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pages::test_support::{assert_layout, body_text};
    use axum::Router;
    use axum::body::Body;
    use axum::http::{Request, header};
    use axum::routing::{get, post};
    use herald_contract::CommandStatus;
    use std::sync::{Arc, Mutex};
    use tower::ServiceExt;

    const XSS: &str = "<script>alert(1)</script>";

    /// A location the fake was asked to create, with its idempotency key.
    type Sent = (NewLocation, Option<String>);

    /// Records what it was asked to create, or fails as told.
    #[derive(Debug, Clone, Default)]
    struct FakeCommands {
        sent: Arc<Mutex<Vec<Sent>>>,
        fail: Option<CommandsError>,
    }

    impl Commands for FakeCommands {
        async fn create_location(
            &self,
            location: NewLocation,
            key: Option<String>,
        ) -> Result<Uuid, CommandsError> {
            if let Some(error) = self.fail {
                return Err(error);
            }
            self.sent
                .lock()
                .expect("not poisoned")
                .push((location, key));
            Ok(Uuid::nil())
        }

        async fn outcome_within(
            &self,
            _: Uuid,
            _: std::time::Duration,
        ) -> Result<Option<CommandStatus>, CommandsError> {
            unreachable!("the form does not wait")
        }
    }

    fn form_router(commands: FakeCommands) -> Router {
        Router::new()
            .route("/locations", post(create::<FakeCommands>))
            .route("/locations/new", get(form))
            .with_state(Sender(commands))
    }

    async fn post_form(router: Router, body: &str) -> Response {
        let request = Request::post("/locations")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .expect("request");
        router.oneshot(request).await.expect("infallible")
    }

    fn render(page: &NewLocationPage) -> String {
        page.render().expect("renders")
    }

    #[tokio::test]
    async fn a_valid_form_sends_the_command_with_its_key_and_redirects_to_its_page() {
        let commands = FakeCommands::default();
        let response = post_form(
            form_router(commands.clone()),
            "name=+Lisbon+&category=County%2FRegion&description=by+the+sea&timeout=5&wait=browser&idempotency_key=k-1",
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[header::LOCATION],
            format!("/commands/{}", Uuid::nil()).as_str()
        );
        let sent = commands.sent.lock().expect("not poisoned").clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0.name, "Lisbon");
        assert_eq!(sent[0].0.category.as_str(), "County/Region");
        assert_eq!(sent[0].0.description, "by the sea");
        assert_eq!(sent[0].1.as_deref(), Some("k-1"));
    }

    #[tokio::test]
    async fn a_key_that_is_not_a_valid_key_is_dropped() {
        let commands = FakeCommands::default();
        let response = post_form(
            form_router(commands.clone()),
            "name=Porto&category=City&idempotency_key=%20",
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(commands.sent.lock().expect("not poisoned")[0].1, None);
    }

    #[tokio::test]
    async fn an_invalid_form_is_shown_again_with_its_errors_and_the_same_key() {
        let commands = FakeCommands::default();
        let response = post_form(
            form_router(commands.clone()),
            "name=&category=&description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&timeout=0.5&wait=server&idempotency_key=k-2",
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        let html = body_text(response).await;
        assert!(html.contains(r#"aria-describedby="name-error" aria-invalid="true""#));
        assert!(html.contains(r#"aria-describedby="category-error" aria-invalid="true""#));
        assert!(!html.contains("<script>alert(1)"));
        assert!(html.contains("&#60;script&#62;alert(1)&#60;/script&#62;</textarea>"));
        assert!(html.contains(r#"value="0.5""#));
        assert!(html.contains(r#"value="server" checked"#));
        assert!(html.contains(r#"name="idempotency_key" value="k-2""#));
        assert!(commands.sent.lock().expect("not poisoned").is_empty());
    }

    #[tokio::test]
    async fn a_key_reused_with_other_values_asks_to_send_again_with_a_new_key() {
        let commands = FakeCommands {
            fail: Some(CommandsError::KeyReused),
            ..FakeCommands::default()
        };
        let response = post_form(
            form_router(commands),
            "name=Porto&category=City&idempotency_key=k-3",
        )
        .await;
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let html = body_text(response).await;
        assert!(html.contains("already sent with other values"));
        assert!(!html.contains(r#"value="k-3""#));
        assert!(html.contains(r#"value="Porto""#));
    }

    #[tokio::test]
    async fn a_form_that_cannot_be_sent_is_a_503_page() {
        let commands = FakeCommands {
            fail: Some(CommandsError::Unavailable),
            ..FakeCommands::default()
        };
        let response = post_form(form_router(commands), "name=Lisbon&category=City").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[header::RETRY_AFTER],
            super::super::error::RETRY_AFTER_SECS
        );
        assert!(
            body_text(response)
                .await
                .contains("cannot accept new locations")
        );
    }

    #[tokio::test]
    async fn a_post_that_is_not_a_form_is_a_400_page() {
        let request = Request::post("/locations")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from("{}"))
            .expect("request");
        let response = form_router(FakeCommands::default())
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(body_text(response).await.contains("Bad request"));
    }

    #[tokio::test]
    async fn the_form_page_takes_its_controls_from_the_query() {
        let request = Request::get("/locations/new?timeout=0.5&wait=server")
            .body(Body::empty())
            .expect("request");
        let response = form_router(FakeCommands::default())
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::OK);
        let html = body_text(response).await;
        assert!(html.contains(r#"step="0.1" min="0" value="0.5""#));
        assert!(html.contains(r#"value="server" checked"#));
    }

    #[test]
    fn each_rendering_of_the_form_has_its_own_key() {
        let (first, second) = (
            NewLocationPage::new(None, None),
            NewLocationPage::new(None, None),
        );
        assert_ne!(first.idempotency_key, second.idempotency_key);
        assert!(is_valid_idempotency_key(&first.idempotency_key));
        assert!(render(&first).contains(&format!(
            r#"<input type="hidden" name="idempotency_key" value="{}">"#,
            first.idempotency_key
        )));
    }

    #[test]
    fn the_form_has_every_control_with_a_label() {
        let html = render(&NewLocationPage::new(None, None));
        assert_layout(&html);
        let script = crate::assets::href("new-location.js");
        assert!(html.contains(&format!(
            r#"<script type="module" src="{script}"></script>"#
        )));
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
        assert!(html.contains(
            r#"<div id="form-error" class="form-error" role="alert" tabindex="-1"></div>"#
        ));
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
            ..NewLocationPage::new(None, None)
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
        // The summary links each field error to its field.
        assert!(html.contains(r##"<a href="#name">name is &#60;bad&#62;</a>"##));
        assert!(html.contains(r#"<option value="County/Region" selected>"#));
        assert!(!html.contains(r#"<option value="" selected>"#));
    }
}
