//! The page handlers: `/`, `/locations`, `/locations/{id}`, the form
//! (`/locations/new`, `POST /locations`) and the no-JavaScript command page
//! (`/commands/{id}`).
//!
//! Each handler reads the read model (or sends a command), renders a template
//! from [`crate::views`] and answers with HTML. Failures become HTML pages too (never a bare text
//! body): a missing or malformed id is a 404 page, a read model that cannot be
//! read is a 503 page, whose cause goes to the log and never to the browser.

use std::time::Duration;

use askama::Template;
use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{FromRef, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::get;
use axum::{Form, Router};
use herald_contract::read_model::ReadError;
use herald_contract::{CommandState, NewLocation, ReadModel, error_chain};
use serde::Deserialize;
use uuid::Uuid;

use crate::commands::{Commands, CommandsError};
use crate::views::{
    CommandPage, ErrorPage, LocationPage, LocationView, LocationsPage, NewLocationPage,
};

/// How many locations the list shows.
const LIST_LIMIT: usize = 50;

/// How long a page waits for the read model before it answers 503, so a lost
/// NATS connection does not leave the browser spinning (the contract promises a
/// 503 within 2 s; this leaves room for rendering and the network).
const READ_TIMEOUT: Duration = Duration::from_millis(1500);

/// Seconds a browser is asked to wait before retrying a 503.
const RETRY_AFTER_SECS: &str = "5";

/// What the page handlers share.
#[derive(Debug, Clone)]
pub(crate) struct WebState<C> {
    read_model: ReadModel,
    commands: C,
}

impl<C> FromRef<WebState<C>> for ReadModel {
    fn from_ref(state: &WebState<C>) -> Self {
        state.read_model.clone()
    }
}

/// The commands of [`WebState`], extractable on their own so the form handler
/// can be tested without a read model.
#[derive(Debug, Clone)]
pub(crate) struct Sender<C>(C);

impl<C: Clone> FromRef<WebState<C>> for Sender<C> {
    fn from_ref(state: &WebState<C>) -> Self {
        Sender(state.commands.clone())
    }
}

/// The page routes.
pub(crate) fn routes<C: Commands>(read_model: ReadModel, commands: C) -> Router {
    Router::new()
        .route("/", get(home))
        .route("/locations", get(list).post(create::<C>))
        .route("/locations/new", get(new_location))
        .route("/locations/{id}", get(show))
        .route("/commands/{id}", get(command))
        .with_state(WebState {
            read_model,
            commands,
        })
}

/// Why a page could not be shown.
#[derive(Debug)]
pub(crate) enum PageError {
    /// No such location, or not a location id at all.
    NotFound,
    /// The read model could not be read; the cause is logged where it happened.
    Unavailable,
    /// A command could not be sent; the cause is logged where it happened.
    Commands(CommandsError),
    /// The form post could not be read.
    BadRequest,
}

impl IntoResponse for PageError {
    fn into_response(self) -> Response {
        match self {
            PageError::NotFound => render(ErrorPage::NOT_FOUND),
            PageError::Unavailable => retry_later(render(ErrorPage::UNAVAILABLE)),
            PageError::Commands(CommandsError::Unavailable) => {
                retry_later(render(ErrorPage::COMMANDS_UNAVAILABLE))
            }
            PageError::Commands(CommandsError::Internal) => render(ErrorPage::INTERNAL),
            PageError::BadRequest => render(ErrorPage::BAD_REQUEST),
        }
    }
}

/// Adds `Retry-After` to a 503 page.
fn retry_later(mut response: Response) -> Response {
    response.headers_mut().insert(
        header::RETRY_AFTER,
        HeaderValue::from_static(RETRY_AFTER_SECS),
    );
    response
}

/// Renders an error page with its status.
fn render(page: ErrorPage) -> Response {
    let status = page.status;
    (status, html(&page)).into_response()
}

/// Renders a template, or a plain 500 if the template itself fails (a bug: all
/// our templates render any data their types can hold).
fn html(template: &impl Template) -> Response {
    match template.render() {
        Ok(body) => Html(body).into_response(),
        Err(error) => {
            tracing::error!(error = %error_chain(&error), "could not render a page");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Html("<!doctype html><title>Error</title><p>Internal server error.</p>"),
            )
                .into_response()
        }
    }
}

/// `GET /`: the locations are the home page.
async fn home() -> Redirect {
    Redirect::to("/locations")
}

/// `GET /locations`: the newest locations, newest first.
async fn list(State(read_model): State<ReadModel>) -> Result<Response, PageError> {
    let page = read(read_model.locations(LIST_LIMIT, None)).await?;
    let locations = page.locations.into_iter().map(LocationView::from).collect();
    Ok(html(&LocationsPage { locations }))
}

/// `GET /locations/{id}`: one location.
async fn show(
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

/// The query of `GET /locations/new`: the demo controls' starting values.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub(crate) struct FormQuery {
    timeout: Option<String>,
    wait: Option<String>,
}

/// `GET /locations/new`: the form. A malformed query is ignored, not an error:
/// the controls fall back to their defaults.
async fn new_location(query: Result<Query<FormQuery>, QueryRejection>) -> Response {
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
}

/// `POST /locations` (the form without JavaScript): validates like the api,
/// then sends the command and answers `303` to its page; invalid input gets
/// the form again, `422`, with the errors and what was typed.
async fn create<C: Commands>(
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
    let location = match NewLocation::from_json(&body) {
        Ok(location) => location,
        Err(errors) => {
            let page = NewLocationPage {
                name: fields.name,
                category: fields.category,
                description: fields.description,
                ..NewLocationPage::new(fields.timeout.as_deref(), fields.wait.as_deref())
            }
            .with_errors(errors);
            return Ok((StatusCode::UNPROCESSABLE_ENTITY, html(&page)).into_response());
        }
    };
    let id = commands
        .create_location(location)
        .await
        .map_err(PageError::Commands)?;
    Ok(Redirect::to(&format!("/commands/{id}")).into_response())
}

/// `GET /commands/{id}`: the no-JavaScript wait. Pending: a page that refreshes
/// itself; completed: `303` to the location; failed: why.
async fn command(
    State(read_model): State<ReadModel>,
    Path(id): Path<String>,
) -> Result<Response, PageError> {
    let id = parse_id(&id)?;
    let status = read(read_model.status_or_pending(id))
        .await?
        .ok_or(PageError::NotFound)?;
    Ok(match status.status {
        CommandState::Completed => {
            let location = status.resource.map_or(id, |location| location.id);
            Redirect::to(&format!("/locations/{location}")).into_response()
        }
        CommandState::Pending => html(&CommandPage {
            id: id.to_string(),
            pending: true,
            errors: Vec::new(),
        }),
        CommandState::Failed => html(&CommandPage {
            id: id.to_string(),
            pending: false,
            errors: status.errors,
        }),
    })
}

/// A location id from the URL; anything else names no page, hence 404 not 400.
pub(crate) fn parse_id(text: &str) -> Result<Uuid, PageError> {
    Uuid::try_parse(text).map_err(|_| PageError::NotFound)
}

/// Awaits a read within [`READ_TIMEOUT`], logging why it failed.
async fn read<T>(read: impl Future<Output = Result<T, ReadError>>) -> Result<T, PageError> {
    match tokio::time::timeout(READ_TIMEOUT, read).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(error)) => {
            tracing::error!(error = %error_chain(&error), "web page could not read the read model");
            Err(PageError::Unavailable)
        }
        Err(_) => {
            tracing::error!(timeout = ?READ_TIMEOUT, "web page timed out reading the read model");
            Err(PageError::Unavailable)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::{Body, to_bytes};
    use axum::http::Request;
    use tower::ServiceExt;

    async fn body_text(response: Response) -> String {
        let bytes = to_bytes(response.into_body(), usize::MAX)
            .await
            .expect("body");
        String::from_utf8(bytes.to_vec()).expect("utf-8")
    }

    #[test]
    fn malformed_ids_are_not_found() {
        for text in ["nope", "", "123", "0196b0f8-5c1e-7d2a-9b3c-4d5e6f70819"] {
            assert!(matches!(parse_id(text), Err(PageError::NotFound)), "{text}");
        }
        let id = Uuid::now_v7();
        assert_eq!(parse_id(&id.to_string()).expect("valid"), id);
    }

    #[tokio::test]
    async fn not_found_is_an_html_page() {
        let response = PageError::NotFound.into_response();
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(body_text(response).await.contains("Not found"));
    }

    #[tokio::test]
    async fn unavailable_is_an_html_page_with_retry_after() {
        let response = PageError::Unavailable.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            "text/html; charset=utf-8"
        );
        assert!(
            body_text(response)
                .await
                .contains("read model is unavailable")
        );
    }

    #[tokio::test]
    async fn pages_carry_the_security_headers() {
        // A stand-in for a page handler, since the real ones need a read model.
        let routes = Router::new().route("/missing", get(|| async { PageError::NotFound }));
        let request = Request::get("/missing")
            .body(Body::empty())
            .expect("request");
        let response = crate::headers::apply(routes)
            .oneshot(request)
            .await
            .expect("infallible");
        assert_eq!(response.status(), StatusCode::NOT_FOUND);
        for (name, value) in crate::headers::SECURITY_HEADERS {
            assert_eq!(response.headers()[&name], value, "{name}");
        }
    }

    /// Records what it was asked to create, or fails as told.
    #[derive(Debug, Clone, Default)]
    struct FakeCommands {
        sent: std::sync::Arc<std::sync::Mutex<Vec<NewLocation>>>,
        fail: Option<CommandsError>,
    }

    impl Commands for FakeCommands {
        async fn create_location(&self, location: NewLocation) -> Result<Uuid, CommandsError> {
            if let Some(error) = self.fail {
                return Err(error);
            }
            self.sent.lock().expect("not poisoned").push(location);
            Ok(Uuid::nil())
        }
    }

    fn form_router(commands: FakeCommands) -> Router {
        Router::new()
            .route("/locations", axum::routing::post(create::<FakeCommands>))
            .route("/locations/new", get(new_location))
            .with_state(Sender(commands))
    }

    async fn post_form(router: Router, body: &str) -> Response {
        let request = Request::post("/locations")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .body(Body::from(body.to_owned()))
            .expect("request");
        router.oneshot(request).await.expect("infallible")
    }

    #[tokio::test]
    async fn a_valid_form_sends_the_command_and_redirects_to_its_page() {
        let commands = FakeCommands::default();
        let response = post_form(
            form_router(commands.clone()),
            "name=+Lisbon+&category=County%2FRegion&description=by+the+sea&timeout=5&wait=browser",
        )
        .await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(
            response.headers()[header::LOCATION],
            format!("/commands/{}", Uuid::nil()).as_str()
        );
        let sent = commands.sent.lock().expect("not poisoned").clone();
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].name, "Lisbon");
        assert_eq!(sent[0].category.as_str(), "County/Region");
        assert_eq!(sent[0].description, "by the sea");
    }

    #[tokio::test]
    async fn an_invalid_form_is_shown_again_with_its_errors() {
        let commands = FakeCommands::default();
        let response = post_form(
            form_router(commands.clone()),
            "name=&category=&description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&timeout=0.5&wait=server",
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
        assert!(commands.sent.lock().expect("not poisoned").is_empty());
    }

    #[tokio::test]
    async fn a_form_that_cannot_be_sent_is_a_503_page() {
        let commands = FakeCommands {
            fail: Some(CommandsError::Unavailable),
            ..FakeCommands::default()
        };
        let response = post_form(form_router(commands), "name=Lisbon&category=City").await;
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(response.headers()[header::RETRY_AFTER], RETRY_AFTER_SECS);
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

    #[tokio::test]
    async fn home_redirects_to_the_locations() {
        let response = home().await.into_response();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        assert_eq!(response.headers()[header::LOCATION], "/locations");
    }
}
