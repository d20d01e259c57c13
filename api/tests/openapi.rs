//! `GET /api/openapi.json` describes the api that is actually served.

use std::collections::BTreeSet;

use herald_testkit::Stack;
use serde_json::Value;

#[tokio::test]
async fn the_document_lists_every_route_and_every_route_in_it_exists() {
    let stack = Stack::start().await;
    let response = stack.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    let document: Value = response.json().await.expect("JSON");
    assert!(
        document["openapi"]
            .as_str()
            .expect("version")
            .starts_with("3.")
    );

    let operations: BTreeSet<(String, String)> = document["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .map(move |method| (method.to_uppercase(), path.clone()))
        })
        .collect();
    let expected: BTreeSet<(String, String)> = [
        ("POST", "/api/locations"),
        ("GET", "/api/locations"),
        ("GET", "/api/locations/{id}"),
        ("GET", "/api/commands/{id}"),
        ("GET", "/api/commands/{id}/events"),
        ("GET", "/api/commands/events"),
        ("GET", "/api/notifications"),
        ("GET", "/api/openapi.json"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(operations, expected);

    // Each documented operation is routed: neither the 404 fallback nor a 405.
    for (method, path) in &operations {
        if path.ends_with("/events") || path == "/api/notifications" {
            continue; // Streams: covered by their own tests.
        }
        let path = path.replace("{id}", &uuid::Uuid::now_v7().to_string());
        let request = stack
            .http
            .request(method.parse().expect("method"), stack.url(&path));
        let request = match method.as_str() {
            "POST" => request.json(&serde_json::json!({"name": "Doc", "category": "Town"})),
            _ => request,
        };
        let response = request.send().await.expect("request");
        assert_ne!(response.status(), 405, "{method} {path}");
        if response.status() == 404 {
            let problem: Value = response.json().await.expect("JSON");
            assert!(
                !problem["detail"]
                    .as_str()
                    .expect("detail")
                    .starts_with("no route"),
                "{method} {path} is not routed"
            );
        }
    }

    // Every schema the operations refer to is defined.
    let text = document.to_string();
    let schemas = document["components"]["schemas"]
        .as_object()
        .expect("schemas");
    for reference in text.split("\"#/components/schemas/").skip(1) {
        let name = reference.split('"').next().expect("a name");
        assert!(
            schemas.contains_key(name),
            "{name} is referenced but not defined"
        );
    }
}
