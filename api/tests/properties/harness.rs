//! The harness every property runs in: a runtime, a [`Stack`] in it and one
//! pooled client; sending a request; and the checks every answer must pass.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_testkit::Stack;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use reqwest::header::CONTENT_TYPE;
use reqwest::{StatusCode, Url};
use serde_json::Value;
use uuid::Uuid;

/// A request that takes longer than this is a failure (a hang is a defect too).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A runtime, a stack in it, and a client that neither follows redirects nor waits forever.
pub(crate) struct Harness {
    // Field order matters: the stack is dropped before its runtime.
    stack: Stack,
    /// One pooled client for all cases, as a browser would keep its connections.
    pub(crate) client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    /// The previous request and its status: a request that gets no answer may
    /// have been broken by the one before it on the same connection.
    previous: Mutex<String>,
}

impl Harness {
    pub(crate) fn start() -> Self {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a tokio runtime");
        let stack = runtime.block_on(Stack::start());
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(REQUEST_TIMEOUT)
            .build()
            .expect("a reqwest client");
        Self {
            stack,
            client,
            runtime,
            previous: Mutex::new("none".to_owned()),
        }
    }

    /// Sends `request` (described by `description` for failure messages) and
    /// reads the answer.
    pub(crate) fn exchange(
        &self,
        description: impl fmt::Debug,
        request: reqwest::RequestBuilder,
    ) -> Result<Answer, TestCaseError> {
        let result = self.runtime.block_on(send(request));
        let mut previous = self.previous.lock().expect("no test thread panicked");
        match result {
            Ok(answer) => {
                *previous = format!("{description:?} -> {}", answer.status);
                Ok(answer)
            }
            Err(error) => Err(fail(format!(
                "{error}\nthe request before it on the same client: {previous}"
            ))),
        }
    }

    /// A location created and already projected, so its command has finished
    /// (its event stream answers at once and ends).
    pub(crate) fn finished_location(&self, name: &str) -> Uuid {
        self.runtime.block_on(async {
            let id = self.stack.create_location(name).await;
            let outcome = self.stack.outcome(id).await;
            assert_eq!(outcome.event, "completed", "{outcome:?}");
            id
        })
    }

    pub(crate) fn url(&self, path_and_query: &str) -> Option<Url> {
        Url::parse(&self.stack.url(path_and_query)).ok()
    }
}

fn runner(default_cases: u32) -> TestRunner {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_cases);
    TestRunner::new(Config {
        cases,
        failure_persistence: None,
        // Shrinking sends a request per step; keep it bounded.
        max_shrink_iters: 512,
        ..Config::default()
    })
}

/// Runs `property` and panics with the minimal failing input.
pub(crate) fn check<S: Strategy>(
    name: &str,
    cases: u32,
    strategy: S,
    property: impl Fn(S::Value) -> Result<(), TestCaseError>,
) where
    S::Value: fmt::Debug,
{
    match runner(cases).run(&strategy, property) {
        Ok(()) => {}
        Err(TestError::Fail(reason, input)) => {
            panic!("property {name} failed: {reason}\nminimal input: {input:#?}")
        }
        Err(TestError::Abort(reason)) => panic!("property {name} aborted: {reason}"),
    }
}

/// What came back, kept for the failure message.
#[derive(Debug)]
pub(crate) struct Answer {
    pub(crate) status: StatusCode,
    pub(crate) content_type: Option<String>,
    pub(crate) allow: Option<String>,
    pub(crate) location: Option<String>,
    /// The body, unless it is an event stream (which may stay open: not read).
    pub(crate) body: Option<String>,
}

impl Answer {
    fn json(&self) -> Option<Value> {
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_str(b).ok())
    }

    fn is_event_stream(&self) -> bool {
        self.content_type
            .as_deref()
            .is_some_and(|ct| ct.starts_with("text/event-stream"))
    }
}

/// Sends `request` and reads the answer; an event stream's body is not read.
async fn send(request: reqwest::RequestBuilder) -> Result<Answer, String> {
    let response = request
        .send()
        .await
        .map_err(|e| format!("no answer: {e:?}"))?;
    let header = |name: reqwest::header::HeaderName| {
        response
            .headers()
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
    };
    let mut answer = Answer {
        status: response.status(),
        content_type: header(CONTENT_TYPE),
        allow: header(reqwest::header::ALLOW),
        location: header(reqwest::header::LOCATION),
        body: None,
    };
    if !answer.is_event_stream() {
        let bytes = response
            .bytes()
            .await
            .map_err(|e| format!("answer {} but its body failed: {e:?}", answer.status))?;
        answer.body = Some(String::from_utf8_lossy(&bytes).into_owned());
    }
    Ok(answer)
}

/// The properties every answer has: never a 5xx; under `/api` every 4xx is
/// problem details (and a 405 names what is allowed).
pub(crate) fn check_answer(answer: &Answer, under_api: bool) -> Result<(), String> {
    if answer.status.is_server_error() {
        return Err(format!("a 5xx answer: {answer:#?}"));
    }
    if under_api && answer.status.is_client_error() {
        check_problem(answer).map_err(|e| format!("{e}; answer: {answer:#?}"))?;
        if answer.status == StatusCode::METHOD_NOT_ALLOWED && answer.allow.is_none() {
            return Err(format!("a 405 without Allow: {answer:#?}"));
        }
    }
    Ok(())
}

/// RFC 9457: `application/problem+json`, `type`, `title`, `status` (= the HTTP
/// status), `detail`; a 422 also lists `errors: [{field, message}]`.
fn check_problem(answer: &Answer) -> Result<(), String> {
    let content_type = answer.content_type.as_deref().unwrap_or_default();
    if !content_type.starts_with("application/problem+json") {
        return Err(format!(
            "a {} that is not application/problem+json",
            answer.status
        ));
    }
    let problem = answer
        .json()
        .ok_or_else(|| format!("a {} whose body is not JSON", answer.status))?;
    let object = problem
        .as_object()
        .ok_or_else(|| "problem details that are not a JSON object".to_owned())?;
    for field in ["type", "title", "detail"] {
        if !object.get(field).is_some_and(Value::is_string) {
            return Err(format!("problem details without a string `{field}`"));
        }
    }
    if object.get("status").and_then(Value::as_u64) != Some(u64::from(answer.status.as_u16())) {
        return Err(format!(
            "problem details whose `status` is not the integer {}",
            answer.status.as_u16()
        ));
    }
    if answer.status == StatusCode::UNPROCESSABLE_ENTITY {
        let errors = object
            .get("errors")
            .and_then(Value::as_array)
            .filter(|errors| !errors.is_empty())
            .ok_or_else(|| "a 422 without a non-empty `errors` array".to_owned())?;
        for error in errors {
            if !(error.get("field").is_some_and(Value::is_string)
                && error.get("message").is_some_and(Value::is_string))
            {
                return Err(format!(
                    "a 422 error that is not {{field, message}}: {error}"
                ));
            }
        }
    }
    Ok(())
}

/// A 202 (or 201 after a server-side wait) names the command and where to look next.
pub(crate) fn check_accepted(answer: &Answer) -> Result<(), String> {
    let body = answer
        .json()
        .ok_or_else(|| format!("a {} whose body is not JSON: {answer:#?}", answer.status))?;
    let id = body["id"].as_str().and_then(|id| Uuid::try_parse(id).ok());
    let links = body["links"].as_object();
    let links_ok = links.is_some_and(|links| {
        ["self", "events", "resource"]
            .iter()
            .all(|k| links.get(*k).is_some_and(Value::is_string))
    });
    if id.is_none() || !links_ok {
        return Err(format!(
            "a {} without a UUID `id` and `links` {{self, events, resource}}: {answer:#?}",
            answer.status
        ));
    }
    if answer.status == StatusCode::ACCEPTED && answer.location.is_none() {
        return Err(format!("a 202 without Location: {answer:#?}"));
    }
    Ok(())
}

pub(crate) fn under_api(url: &Url) -> bool {
    url.path() == "/api" || url.path().starts_with("/api/")
}

pub(crate) fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// Names that are valid and unique within a run.
pub(crate) fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("Property place {}", NEXT.fetch_add(1, Ordering::Relaxed))
}
