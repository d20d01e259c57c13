//! Bad input gets a clear 4xx problem details answer and changes nothing.

use herald_testkit::{Stack, StackOptions, assert_problem};
use serde_json::json;

#[tokio::test]
async fn bad_bodies_are_rejected_and_nothing_is_published() {
    let stack = Stack::start_with(StackOptions {
        reactors: 0,
        ..StackOptions::default()
    })
    .await;
    let post = |body: &'static str, content_type: &'static str| {
        stack
            .http
            .post(stack.url("/api/locations"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };

    assert_problem(
        post("{not json", "application/json").await.expect("POST"),
        400,
    )
    .await;
    assert_problem(post("", "application/json").await.expect("POST"), 400).await;
    assert_problem(
        post(r#"{"name":"x","category":"Town"}"#, "text/plain")
            .await
            .expect("POST"),
        415,
    )
    .await;
    let huge = json!({"name": "x", "category": "Town", "description": "y".repeat(70 * 1024)});
    assert_problem(stack.post_location(&huge).await, 413).await;

    let invalid = assert_problem(
        stack
            .post_location(
                &json!({"name": "  ", "category": "Village", "description": "z".repeat(1001)}),
            )
            .await,
        422,
    )
    .await;
    let fields: Vec<&str> = invalid["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect();
    assert_eq!(fields, ["name", "category", "description"]);
    for error in invalid["errors"].as_array().expect("errors") {
        assert!(!error["message"].as_str().expect("message").is_empty());
    }

    for body in [
        json!([1, 2, 3]),
        json!({"name": 12, "category": "Town"}),
        json!({"name": "x".repeat(101), "category": "Town"}),
        json!({"name": "tab\tinside", "category": "Town"}),
        json!({"category": "Town"}),
        json!({"name": "Nowhere", "category": "town"}),
    ] {
        assert_problem(stack.post_location(&body).await, 422).await;
    }

    assert_eq!(stack.stored("COMMANDS").await, 0, "nothing was published");

    // The valid body still goes through.
    stack.create_location("Valid").await;
    assert_eq!(stack.stored("COMMANDS").await, 1);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_details() {
    let stack = Stack::start().await;
    assert_problem(stack.get("/api/nowhere").await, 404).await;
    let response = stack
        .http
        .delete(stack.url("/api/locations"))
        .send()
        .await
        .expect("DELETE");
    assert!(response.headers().contains_key("allow"));
    assert_problem(response, 405).await;
    assert_problem(stack.get("/api/locations/not-a-uuid").await, 400).await;
    assert_problem(
        stack
            .get(&format!("/api/locations/{}", uuid::Uuid::now_v7()))
            .await,
        404,
    )
    .await;
    assert_problem(stack.get("/api/locations?limit=0").await, 400).await;
    assert_problem(stack.get("/api/locations?limit=501").await, 400).await;
    assert_problem(stack.get("/api/locations?limit=abc").await, 400).await;
    assert_problem(stack.get("/api/locations?cursor=abc").await, 400).await;
}

#[tokio::test]
async fn health_answers_while_the_api_is_up() {
    let stack = Stack::start().await;
    assert_eq!(stack.get("/healthz").await.status(), 200);
    assert_eq!(stack.get("/readyz").await.status(), 200);
}
