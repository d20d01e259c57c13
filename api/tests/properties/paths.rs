//! Property 3: arbitrary methods, paths and query strings never get a 5xx, and
//! every 4xx under `/api` is problem details.

use proptest::prelude::*;
use reqwest::Method;
use reqwest::header::CONTENT_TYPE;
use uuid::Uuid;

use crate::harness::{Harness, check, check_answer, fail, under_api};

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
