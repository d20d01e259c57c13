//! Property-based tests: arbitrary bodies, headers and paths thrown at a real
//! stack (nats-server, reactor and api) never get a 5xx, and every 4xx under
//! `/api` is RFC 9457 problem details.
//!
//! proptest is synchronous, so each test owns a tokio runtime, starts one
//! [`Stack`] in it and `block_on`s one HTTP request per case. Failure persistence
//! is off (no regression files); a failure prints the shrunk request and answer.
//! `PROPTEST_CASES=N` overrides the number of cases of every property.

use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use herald_testkit::Stack;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestError, TestRunner};
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use reqwest::{Method, StatusCode, Url};
use serde_json::{Value, json};
use uuid::Uuid;

/// The api's body limit (DESIGN: 413 above it).
const MAX_BODY_BYTES: usize = 64 * 1024;

/// A request that takes longer than this is a failure (a hang is a defect too).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

const CATEGORIES: [&str; 5] = ["Town", "City", "County/Region", "Country", "Continent"];

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// A runtime, a stack in it, and a client that neither follows redirects nor waits forever.
struct Harness {
    // Field order matters: the stack is dropped before its runtime.
    stack: Stack,
    /// One pooled client for all cases, as a browser would keep its connections.
    client: reqwest::Client,
    runtime: tokio::runtime::Runtime,
    /// The previous request and its status: a request that gets no answer may
    /// have been broken by the one before it on the same connection.
    previous: Mutex<String>,
}

impl Harness {
    fn start() -> Self {
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
    fn exchange(
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
    fn finished_location(&self, name: &str) -> Uuid {
        self.runtime.block_on(async {
            let id = self.stack.create_location(name).await;
            let outcome = self.stack.outcome(id).await;
            assert_eq!(outcome.event, "completed", "{outcome:?}");
            id
        })
    }

    fn url(&self, path_and_query: &str) -> Option<Url> {
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
fn check<S: Strategy>(
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
struct Answer {
    status: StatusCode,
    content_type: Option<String>,
    allow: Option<String>,
    location: Option<String>,
    /// The body, unless it is an event stream (which may stay open: not read).
    body: Option<String>,
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
fn check_answer(answer: &Answer, under_api: bool) -> Result<(), String> {
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
fn check_accepted(answer: &Answer) -> Result<(), String> {
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

fn under_api(url: &Url) -> bool {
    url.path() == "/api" || url.path().starts_with("/api/")
}

fn fail(message: String) -> TestCaseError {
    TestCaseError::fail(message)
}

/// Names that are valid and unique within a run.
fn unique_name() -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("Property place {}", NEXT.fetch_add(1, Ordering::Relaxed))
}

// ---------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------

/// Any JSON value, nested a few levels.
fn json_value() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f)
            .map(Value::Number)),
        any::<String>().prop_map(Value::String),
        edge_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop_oneof![
                        Just("name".to_owned()),
                        Just("category".to_owned()),
                        Just("description".to_owned()),
                        any::<String>(),
                    ],
                    inner
                ),
                0..6
            )
            .prop_map(|entries| Value::Object(entries.into_iter().collect())),
        ]
    })
    .boxed()
}

/// Strings at and beyond the edges of the rules, and some just random.
fn edge_string() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop_oneof![
            Just(String::new()),
            Just("   ".to_owned()),
            Just("\t\n".to_owned()),
            Just("a".repeat(100)),
            Just("a".repeat(101)),
            Just(format!("  {}  ", "a".repeat(100))),
            Just("é".repeat(100)),
            Just("é".repeat(101)),
            Just("😀".repeat(100)),
            Just("e\u{301}".repeat(60)),
            Just("d".repeat(1000)),
            Just("d".repeat(1001)),
            Just("\u{0}".to_owned()),
            Just("a\u{7}b".to_owned()),
            Just("line\nbreak".to_owned()),
            Just("del\u{7f}".to_owned()),
            Just("c1\u{85}".to_owned()),
            Just("zero\u{200b}width".to_owned()),
            Just("\u{feff}bom".to_owned()),
            Just("\u{202e}rtl".to_owned()),
            Just("\u{2028}sep".to_owned()),
            Just("\u{fffd}".to_owned()),
            Just("<script>alert(1)</script>".to_owned()),
            Just("Robert'); DROP TABLE locations;--".to_owned()),
            Just("commands.>".to_owned()),
            Just("Town".to_owned()),
        ],
        3 => any::<String>(),
        2 => "[ -~]{0,120}",
        1 => "\\PC{90,110}",
        // Around the 64 KiB body limit.
        1 => (60_000usize..72_000).prop_map(|n| "x".repeat(n)),
    ]
    .boxed()
}

/// A value for one field of a location: missing, an edge string, or any JSON.
fn field(valid: BoxedStrategy<String>) -> BoxedStrategy<Option<Value>> {
    prop_oneof![
        1 => Just(None),
        1 => Just(Some(Value::Null)),
        4 => valid.prop_map(|s| Some(Value::String(s))),
        4 => edge_string().prop_map(|s| Some(Value::String(s))),
        1 => json_value().prop_map(Some),
    ]
    .boxed()
}

/// `{name, category, description}` with each field valid, at an edge, wrong or missing.
fn location_object() -> BoxedStrategy<Value> {
    let name = field(
        prop_oneof![
            Just("__unique__".to_owned()),
            "[A-Za-z][A-Za-z ]{0,30}".prop_map(|s| format!("Prop {s}")),
        ]
        .boxed(),
    );
    let category = field(
        prop_oneof![
            4 => prop::sample::select(CATEGORIES.to_vec()).prop_map(str::to_owned),
            1 => Just("town".to_owned()),
            1 => Just(" City ".to_owned()),
            1 => Just("Village".to_owned()),
        ]
        .boxed(),
    );
    let description = field("[ -~]{0,200}".boxed());
    (name, category, description)
        .prop_map(|(name, category, description)| {
            let mut object = serde_json::Map::new();
            for (key, value) in [
                ("name", name),
                ("category", category),
                ("description", description),
            ] {
                if let Some(value) = value {
                    object.insert(key.to_owned(), value);
                }
            }
            Value::Object(object)
        })
        .boxed()
}

/// Bytes that look like JSON in places: tokens and escapes glued at random.
fn json_like_text() -> BoxedStrategy<String> {
    prop::collection::vec(
        prop::sample::select(vec![
            "{",
            "}",
            "[",
            "]",
            "\"",
            ":",
            ",",
            " ",
            "null",
            "true",
            "1",
            "-",
            "1e400",
            "0.5e",
            "\\ud800",
            "\\u0000",
            "\\x",
            "\"name\"",
            "\"category\"",
            "\"City\"",
            "\u{0}",
            "\u{1b}",
            "//",
            "/*",
            "NaN",
            "Infinity",
            "é",
            "\u{feff}",
        ]),
        0..40,
    )
    .prop_map(|tokens| tokens.concat())
    .boxed()
}

/// One request body, described for the failure message.
#[derive(Clone)]
struct Body {
    kind: &'static str,
    bytes: Vec<u8>,
}

impl fmt::Debug for Body {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 400;
        let text = String::from_utf8_lossy(&self.bytes);
        let preview: String = text.chars().take(SHOWN).collect();
        f.debug_struct("Body")
            .field("kind", &self.kind)
            .field("len", &self.bytes.len())
            .field("text", &preview)
            .field("truncated", &(text.chars().count() > SHOWN))
            .finish()
    }
}

fn body() -> BoxedStrategy<Body> {
    let with_kind = |kind: &'static str| move |bytes: Vec<u8>| Body { kind, bytes };
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..256).prop_map(with_kind("bytes")),
        2 => json_like_text().prop_map(|t| t.into_bytes()).prop_map(with_kind("json-like")),
        1 => (100usize..300)
            .prop_map(|n| format!("{}{}", "[".repeat(n), "]".repeat(n)).into_bytes())
            .prop_map(with_kind("deep")),
        3 => json_value()
            .prop_map(|v| serde_json::to_vec(&v).expect("a Value serialises"))
            .prop_map(with_kind("json")),
        8 => location_object()
            .prop_map(|v| serde_json::to_vec(&v).expect("a Value serialises"))
            .prop_map(with_kind("location")),
        1 => (MAX_BODY_BYTES - 64..MAX_BODY_BYTES + 64)
            .prop_map(|n| vec![b' '; n])
            .prop_map(with_kind("spaces around the limit")),
    ]
    .boxed()
}

/// A header value reqwest accepts.
fn header_value(strategy: BoxedStrategy<String>) -> BoxedStrategy<String> {
    strategy
        .prop_filter("reqwest accepts it", |v| HeaderValue::from_str(v).is_ok())
        .boxed()
}

fn content_type() -> BoxedStrategy<Option<String>> {
    prop_oneof![
        6 => Just(Some("application/json".to_owned())),
        2 => Just(Some("application/json; charset=utf-8".to_owned())),
        1 => Just(None),
        1 => Just(Some("text/plain".to_owned())),
        1 => Just(Some("application/x-www-form-urlencoded".to_owned())),
        1 => Just(Some("multipart/form-data; boundary=x".to_owned())),
        1 => prop::sample::select(vec![
            "APPLICATION/JSON",
            "application/problem+json",
            "application/json; charset=latin1",
            "application/jsonx",
            "application/",
            "json",
            ";",
            "",
        ])
        .prop_map(|s| Some(s.to_owned())),
        1 => header_value("[ -~]{0,40}".boxed()).prop_map(Some),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------
// 1. Bodies
// ---------------------------------------------------------------------------

/// What the api must answer a body with the right content type, by the rules
/// of DESIGN.md (name 1–100 chars after trimming, no control characters;
/// category one of five; description at most 1000 chars).
#[derive(Debug, PartialEq)]
enum Expected {
    Accepted,
    Invalid,
    /// Not pinned down by the contract (e.g. control characters in a description).
    Either,
}

fn expected(body: &Value) -> Expected {
    let Some(object) = body.as_object() else {
        return Expected::Invalid;
    };
    let name_ok = match object.get("name") {
        Some(Value::String(name)) => {
            let name = name.trim();
            let chars = name.chars().count();
            (1..=100).contains(&chars) && !name.chars().any(char::is_control)
        }
        _ => false,
    };
    let category_ok = matches!(
        object.get("category"),
        Some(Value::String(c)) if CATEGORIES.contains(&c.as_str())
    );
    let (description_ok, description_clear) = match object.get("description") {
        None | Some(Value::Null) => (true, true),
        Some(Value::String(d)) => (d.chars().count() <= 1000, !d.chars().any(char::is_control)),
        Some(_) => (false, true),
    };
    if !(name_ok && category_ok && description_ok) {
        Expected::Invalid
    } else if description_clear {
        Expected::Accepted
    } else {
        Expected::Either
    }
}

#[derive(Debug, Clone)]
struct BodyCase {
    content_type: Option<String>,
    body: Body,
}

#[test]
fn arbitrary_bodies_get_2xx_or_problem_details() {
    let harness = Harness::start();
    let url = harness.url("/api/locations").expect("a URL");
    let strategy =
        (content_type(), body()).prop_map(|(content_type, body)| BodyCase { content_type, body });
    check("bodies", 128, strategy, |case| {
        // A placeholder name becomes a fresh one, so valid bodies never collide.
        let mut bytes = case.body.bytes.clone();
        if let Ok(Value::Object(mut object)) = serde_json::from_slice::<Value>(&bytes)
            && object.get("name") == Some(&json!("__unique__"))
        {
            object.insert("name".to_owned(), json!(unique_name()));
            bytes = serde_json::to_vec(&object).expect("a Value serialises");
        }
        let mut request = harness.client.post(url.clone()).body(bytes.clone());
        if let Some(content_type) = &case.content_type {
            request = request.header(CONTENT_TYPE, content_type);
        }
        // DEFECT (open): a body the api answers without reading (415 for a
        // ~64 KiB body with a non-JSON content type) makes the server close the
        // connection without `Connection: close`, so the *next* request on the
        // pooled connection gets no answer (IncompleteMessage / broken pipe).
        // It fails this property now and then (the failing input shown is the
        // victim; the culprit is "the request before it"); see
        // `a_body_answered_unread_does_not_break_the_next_request` below.
        let answer = harness.exchange(&case, request)?;
        check_answer(&answer, true).map_err(fail)?;
        if answer.status.is_success() {
            check_accepted(&answer).map_err(fail)?;
        }

        // What DESIGN.md pins down exactly.
        let ct = case.content_type.as_deref();
        let json_typed = matches!(
            ct,
            Some("application/json" | "application/json; charset=utf-8")
        );
        let not_json_typed = matches!(
            ct,
            None | Some(
                "text/plain"
                    | "application/x-www-form-urlencoded"
                    | "multipart/form-data; boundary=x"
            )
        );
        let too_big = bytes.len() > MAX_BODY_BYTES;
        let status = answer.status.as_u16();
        let want: &[u16] = if json_typed && too_big {
            &[413]
        } else if not_json_typed && too_big {
            &[413, 415]
        } else if not_json_typed {
            &[415]
        } else if json_typed {
            match serde_json::from_slice::<Value>(&bytes) {
                Err(_) => &[400],
                Ok(value) => match expected(&value) {
                    Expected::Accepted => &[202],
                    Expected::Invalid => &[422],
                    Expected::Either => &[202, 422],
                },
            }
        } else {
            &[]
        };
        if !want.is_empty() && !want.contains(&status) {
            return Err(fail(format!("expected one of {want:?}, got {answer:#?}")));
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 2. Headers
// ---------------------------------------------------------------------------

#[derive(Debug, Clone, Copy)]
enum Target {
    /// POST a valid body with a fresh name.
    PostValid,
    /// POST a valid body whose name already exists (the command fails).
    PostDuplicate,
    /// POST a body that fails validation.
    PostInvalid,
    /// POST a body that is not JSON.
    PostMalformed,
    GetList,
    GetLocation,
    GetCommand,
    /// The event stream of a finished command: one event, then the end.
    GetEvents,
    GetUnknownEvents,
    /// The global feed (an open stream, or 404 before it exists).
    GetNotifications,
}

#[derive(Debug, Clone)]
struct HeaderCase {
    target: Target,
    headers: Vec<(&'static str, String)>,
}

fn prefer() -> BoxedStrategy<String> {
    prop_oneof![
        3 => (0u32..4).prop_map(|n| format!("wait={n}")),
        1 => any::<i64>().prop_map(|n| format!("wait={n}")),
        1 => any::<u64>().prop_map(|n| format!("wait={n}9999999999")),
        1 => any::<f64>().prop_map(|n| format!("wait={n}")),
        3 => prop::sample::select(vec![
            "wait=", "wait", "wait=abc", "wait=-1", "wait=1.5", "wait=0x10", "wait=+2", "wait= 1",
            "wait=\"1\"", "wait=1, wait=2", "respond-async, wait=1", "wait=1; foo=bar",
            "return=minimal", "handling=strict", "handling=lenient", ",", ";", "=", "wait=30",
            "wait=31", "WAIT=1",
        ])
        .prop_map(str::to_owned),
        2 => "[ -~]{0,64}",
    ]
    .boxed()
}

fn idempotency_key() -> BoxedStrategy<String> {
    prop_oneof![
        // A few shared keys, so some requests reuse a key with another body.
        // DEFECT (open): that 422 ("Idempotency-Key … was used with a different
        // body") has no `errors` array, so this property fails until it does;
        // see `a_reused_idempotency_key_with_another_body_is_a_422_with_errors`.
        2 => prop::sample::select(vec!["k", "key-1", "same"]).prop_map(str::to_owned),
        3 => "[ -~]{0,64}",
        1 => "[ -~]{200,400}",
        1 => (1000usize..8000).prop_map(|n| "k".repeat(n)),
        1 => any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        1 => prop::sample::select(vec!["", " ", "*", ".", ">", "a b", "a.b.>", "\t"])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn last_event_id() -> BoxedStrategy<String> {
    prop_oneof![
        2 => "[ -~]{0,64}",
        1 => any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec!["", "0", "-1", "18446744073709551616", "1e3", "00000000"])
            .prop_map(str::to_owned),
        1 => (1000usize..8000).prop_map(|n| "9".repeat(n)),
    ]
    .boxed()
}

fn accept() -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "application/json", "application/problem+json", "text/event-stream", "*/*",
            "text/html", "application/xml", "application/json;q=0", "", "*", "/",
        ])
        .prop_map(str::to_owned),
        1 => "[ -~]{0,40}",
    ]
    .boxed()
}

fn headers() -> BoxedStrategy<Vec<(&'static str, String)>> {
    let small_number = || {
        prop_oneof![
            (0u32..5).prop_map(|n| n.to_string()),
            "[ -~]{0,20}",
            any::<i64>().prop_map(|n| n.to_string()),
        ]
    };
    (
        proptest::option::weighted(0.6, header_value(prefer())),
        proptest::option::weighted(0.5, header_value(idempotency_key())),
        proptest::option::weighted(0.4, header_value(last_event_id())),
        proptest::option::weighted(0.4, header_value(accept())),
        // The seed's aliases of `Prefer: wait`.
        proptest::option::weighted(
            0.15,
            header_value(prop_oneof![Just("true".to_owned()), "[ -~]{0,20}"].boxed()),
        ),
        proptest::option::weighted(0.15, header_value(small_number().boxed())),
    )
        .prop_map(|(prefer, key, last, accept, await_, timeout)| {
            [
                ("prefer", prefer),
                ("idempotency-key", key),
                ("last-event-id", last),
                ("accept", accept),
                ("x-notification-await", await_),
                ("x-notification-timeout", timeout),
            ]
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (name, v)))
            .collect()
        })
        .boxed()
}

#[test]
fn arbitrary_headers_never_get_a_5xx() {
    let harness = Harness::start();
    let known = harness.finished_location("Header property place");
    let duplicate = "Header property place";
    let targets = prop::sample::select(vec![
        Target::PostValid,
        Target::PostValid,
        Target::PostDuplicate,
        Target::PostInvalid,
        Target::PostMalformed,
        Target::GetList,
        Target::GetLocation,
        Target::GetCommand,
        Target::GetEvents,
        Target::GetUnknownEvents,
        Target::GetNotifications,
    ]);
    let strategy =
        (targets, headers()).prop_map(|(target, headers)| HeaderCase { target, headers });
    check("headers", 128, strategy, |case| {
        let client = &harness.client;
        let url = |path: &str| harness.url(path).expect("a URL");
        let post = |body: Vec<u8>| {
            client
                .post(url("/api/locations"))
                .header(CONTENT_TYPE, "application/json")
                .body(body)
        };
        let location = |name: &str| {
            serde_json::to_vec(&json!({"name": name, "category": "Town", "description": "p"}))
                .expect("a Value serialises")
        };
        let mut request = match case.target {
            Target::PostValid => post(location(&unique_name())),
            Target::PostDuplicate => post(location(duplicate)),
            Target::PostInvalid => post(location("   ")),
            Target::PostMalformed => post(b"{\"name\":".to_vec()),
            Target::GetList => client.get(url("/api/locations?limit=2")),
            Target::GetLocation => client.get(url(&format!("/api/locations/{known}"))),
            Target::GetCommand => client.get(url(&format!("/api/commands/{known}"))),
            Target::GetEvents => client.get(url(&format!("/api/commands/{known}/events"))),
            Target::GetUnknownEvents => {
                client.get(url(&format!("/api/commands/{}/events", Uuid::now_v7())))
            }
            Target::GetNotifications => client.get(url("/api/notifications")),
        };
        for (name, value) in &case.headers {
            request = request.header(*name, value);
        }
        let answer = harness.exchange(&case, request)?;
        check_answer(&answer, true).map_err(fail)?;
        let posted = matches!(
            case.target,
            Target::PostValid | Target::PostDuplicate | Target::PostInvalid | Target::PostMalformed
        );
        if posted && answer.status.is_success() {
            check_accepted(&answer).map_err(fail)?;
        }
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// 3. Paths and query strings
// ---------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct PathCase {
    method: Method,
    path: String,
    body: Option<String>,
}

fn segment(known: Uuid) -> BoxedStrategy<String> {
    prop_oneof![
        3 => prop::sample::select(vec![
            "locations", "commands", "events", "notifications", "openapi.json", "api", "healthz",
            "readyz", "metrics", "static",
        ])
        .prop_map(str::to_owned),
        2 => any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        1 => Just(known.to_string()),
        1 => Just(known.to_string().to_uppercase()),
        1 => Just(known.simple().to_string()),
        3 => prop::sample::select(vec![
            "%FF", "%00", "%2F", "%2e%2e", "%2E", "..", ".", "", "%", "%G1", "%zz", "%C3%28",
            "%ED%A0%80", "%EF%BB%BF", "{id}", "*", "~", "a;b=c", "%20", "+", "null", "-1",
        ])
        .prop_map(str::to_owned),
        3 => "[A-Za-z0-9._~-]{1,20}",
        2 => "(%[0-9A-Fa-f]{2}){1,8}",
        1 => "\\PC{1,8}",
        1 => (256usize..4096).prop_map(|n| "a".repeat(n)),
    ]
    .boxed()
}

fn query_value() -> BoxedStrategy<String> {
    prop_oneof![
        2 => (0u32..600).prop_map(|n| n.to_string()),
        1 => "-?[0-9]{1,25}",
        1 => any::<u128>().prop_map(|n| Uuid::from_u128(n).to_string()),
        2 => "[A-Za-z0-9%+=&._~-]{0,30}",
        1 => prop::sample::select(vec!["", "%FF", "%00", "1.5", "1e3", "0x10", " 5", "5 "])
            .prop_map(str::to_owned),
        1 => "\\PC{0,10}",
    ]
    .boxed()
}

fn query() -> BoxedStrategy<String> {
    prop_oneof![
        2 => Just(String::new()),
        3 => (
            proptest::option::of(query_value()),
            proptest::option::of(query_value())
        )
            .prop_map(|(limit, cursor)| {
                let mut parts = Vec::new();
                if let Some(limit) = limit {
                    parts.push(format!("limit={limit}"));
                }
                if let Some(cursor) = cursor {
                    parts.push(format!("cursor={cursor}"));
                }
                format!("?{}", parts.join("&"))
            }),
        1 => "\\?[ -~]{0,40}",
        1 => prop::sample::select(vec!["?limit", "?limit=1&limit=2", "?cursor", "?&&&", "?=="])
            .prop_map(str::to_owned),
    ]
    .boxed()
}

fn path(known: Uuid) -> BoxedStrategy<String> {
    let segments = move |range: std::ops::Range<usize>| {
        prop::collection::vec(segment(known), range).prop_map(|s| s.join("/"))
    };
    prop_oneof![
        4 => (segments(0..5), query()).prop_map(|(s, q)| format!("/api/{s}{q}")),
        2 => (segment(known), query())
            .prop_map(|(s, q)| format!("/api/commands/{s}/events{q}")),
        2 => (segment(known), query()).prop_map(|(s, q)| format!("/api/commands/{s}{q}")),
        2 => (segment(known), query()).prop_map(|(s, q)| format!("/api/locations/{s}{q}")),
        3 => query().prop_map(|q| format!("/api/locations{q}")),
        1 => (segments(0..4), query()).prop_map(|(s, q)| format!("/{s}{q}")),
        1 => (segment(known), query()).prop_map(|(s, q)| format!("/locations/{s}{q}")),
    ]
    .boxed()
}

#[test]
fn arbitrary_paths_never_get_a_5xx() {
    let harness = Harness::start();
    let known = harness.finished_location("Path property place");
    let methods = prop::sample::select(vec![
        Method::GET,
        Method::GET,
        Method::GET,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::PATCH,
        Method::OPTIONS,
    ]);
    let bodies = proptest::option::of(prop_oneof![
        Just("{}".to_owned()),
        Just(r#"{"name":"x","category":"Nowhere"}"#.to_owned()),
        "[ -~]{0,40}",
    ]);
    let strategy = (methods, path(known), bodies)
        .prop_filter("a URL reqwest accepts", |(_, path, _)| {
            harness.url(path).is_some()
        })
        .prop_map(|(method, path, body)| PathCase { method, path, body });
    check("paths", 128, strategy, |case| {
        let url = harness.url(&case.path).expect("filtered to valid URLs");
        let mut request = harness.client.request(case.method.clone(), url.clone());
        if let Some(body) = &case.body {
            request = request
                .header(CONTENT_TYPE, "application/json")
                .body(body.clone());
        }
        let answer = harness.exchange(format!("{} {url}", case.method), request)?;
        check_answer(&answer, under_api(&url))
            .map_err(|e| fail(format!("{e}\nURL sent: {url}")))?;
        Ok(())
    });
}

// ---------------------------------------------------------------------------
// Defects the properties found, pinned as plain tests until they are fixed
// ---------------------------------------------------------------------------

/// DEFECT (open), found by `arbitrary_headers_never_get_a_5xx`: the 422 for a
/// reused `Idempotency-Key` with another body is problem details without the
/// `errors: [{field, message}]` every 422 carries. Fails until it has one.
#[test]
fn a_reused_idempotency_key_with_another_body_is_a_422_with_errors() {
    let harness = Harness::start();
    let post = |name: &str| {
        let request = harness
            .client
            .post(harness.url("/api/locations").expect("a URL"))
            .header("idempotency-key", "reused-key")
            .json(&json!({"name": name, "category": "Town", "description": ""}));
        harness.exchange(name, request).expect("an answer")
    };
    let first = post("First body");
    assert_eq!(first.status, StatusCode::ACCEPTED, "{first:#?}");
    let second = post("Second body");
    assert_eq!(
        second.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{second:#?}"
    );
    if let Err(problem) = check_answer(&second, true) {
        panic!("{problem}");
    }
}

/// DEFECT (open), found by `arbitrary_bodies_get_2xx_or_problem_details`: a
/// ~64 KiB body answered 415 without being read makes hyper close the
/// connection after the answer, without `Connection: close`; the client puts the
/// connection back in its pool and the next request on it gets no answer
/// (`IncompleteMessage`, or a broken pipe while writing its body). Alone it
/// fails within the first dozen pairs; it tries 300 (cheap) so that it fails
/// reliably under load too. Fails until the api reads (drains) a body before
/// rejecting it, or marks such answers `Connection: close`.
#[test]
fn a_body_answered_unread_does_not_break_the_next_request() {
    let harness = Harness::start();
    let url = harness.url("/api/locations").expect("a URL");
    for round in 0..300 {
        let unread = harness
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "text/plain")
            .body(vec![b' '; 65_000]);
        let answer = harness
            .exchange("POST text/plain, 65,000 spaces", unread)
            .expect("an answer");
        assert_eq!(answer.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let next = harness
            .client
            .post(url.clone())
            .header(CONTENT_TYPE, "application/json")
            .body("{}");
        match harness.exchange("POST application/json {}", next) {
            Ok(answer) => assert_eq!(answer.status, StatusCode::UNPROCESSABLE_ENTITY),
            Err(error) => panic!("round {round}: the next request got no answer: {error}"),
        }
    }
}
