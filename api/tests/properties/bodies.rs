//! Property 1: arbitrary bodies posted to `/api/locations` get a 2xx or problem
//! details, and exactly the status DESIGN.md pins down where it does.

use proptest::strategy::Strategy;
use reqwest::StatusCode;
use reqwest::header::CONTENT_TYPE;
use serde_json::{Value, json};

use crate::harness::{Harness, check, check_accepted, check_answer, fail, unique_name};
use crate::strategies::{Body, CATEGORIES, MAX_BODY_BYTES, body, content_type};

/// What the api must answer a body with the right content type, by the rules
/// of DESIGN.md and the OpenAPI document (name 1–100 chars as sent, not all
/// white space, no control characters anywhere, even where trimming would drop
/// them; category one of five; description at most 1000 chars).
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
            name.chars().count() <= 100
                && !name.trim().is_empty()
                && !name.chars().any(char::is_control)
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
        // A request that gets no answer may be the victim of the one before it
        // on the same pooled connection (the failure names both): a ~64 KiB
        // body answered 415 unread once broke the next request that way; see
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

/// Regression test for a defect `arbitrary_bodies_get_2xx_or_problem_details`
/// found: a ~64 KiB body answered 415 without being read made hyper close the
/// connection after the answer, without `Connection: close`, so the client put
/// the connection back in its pool and the next request on it got no answer
/// (`IncompleteMessage`, or a broken pipe while writing its body). Guards that
/// a body rejected before it is read never breaks the connection it came on.
/// It tries 300 pairs (cheap): the defect showed within the first dozen alone,
/// but only now and then under load.
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
