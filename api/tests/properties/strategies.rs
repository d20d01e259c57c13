//! Strategies shared by the properties: JSON values, strings at the edges of
//! the rules, request bodies, content types and header values.

use std::fmt;

use proptest::prelude::*;
use reqwest::header::HeaderValue;
use serde_json::Value;

/// The api's body limit (DESIGN: 413 above it).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// The categories a location may have (DESIGN.md).
pub(crate) const CATEGORIES: [&str; 5] = ["Town", "City", "County/Region", "Country", "Continent"];

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
pub(crate) struct Body {
    kind: &'static str,
    pub(crate) bytes: Vec<u8>,
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

pub(crate) fn body() -> BoxedStrategy<Body> {
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
pub(crate) fn header_value(strategy: BoxedStrategy<String>) -> BoxedStrategy<String> {
    strategy
        .prop_filter("reqwest accepts it", |v| HeaderValue::from_str(v).is_ok())
        .boxed()
}

pub(crate) fn content_type() -> BoxedStrategy<Option<String>> {
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
