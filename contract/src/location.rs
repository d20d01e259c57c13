//! The Location, Herald's demo resource, and the rules a new one must follow.
//!
//! Validation lives here, on the domain type, so the api rejects bad input at the
//! edge and the reactor can check a decoded command against the very same rules.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// Longest name, counted in characters as sent (it is stored trimmed).
pub const NAME_MAX_CHARS: usize = 100;
/// Longest description, counted in characters.
pub const DESCRIPTION_MAX_CHARS: usize = 1000;

/// The name rule as a regular expression (ECMA-262, for the OpenAPI document):
/// no control characters (Unicode `Cc`), and at least one character that is not
/// white space (the characters `str::trim` removes).
pub const NAME_PATTERN: &str = r"^[^\u0000-\u001F\u007F-\u009F]*[^\u0000-\u0020\u007F-\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000][^\u0000-\u001F\u007F-\u009F]*$";

/// The description rule as a regular expression: no control characters but
/// line breaks and tabs.
pub const DESCRIPTION_PATTERN: &str = r"^[^\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]*$";

/// What kind of place a location is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub enum Category {
    Town,
    City,
    #[serde(rename = "County/Region")]
    CountyRegion,
    Country,
    Continent,
}

impl Category {
    /// Every category, in the order a form lists them.
    pub const ALL: [Category; 5] = [
        Category::Town,
        Category::City,
        Category::CountyRegion,
        Category::Country,
        Category::Continent,
    ];

    /// The name clients send and see.
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Town => "Town",
            Category::City => "City",
            Category::CountyRegion => "County/Region",
            Category::Country => "Country",
            Category::Continent => "Continent",
        }
    }

    fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

impl std::fmt::Display for Category {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A location in the read model.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Location {
    /// Equal to the id of the command that created it.
    pub id: Uuid,
    pub name: String,
    pub category: Category,
    pub description: String,
    pub created_at: DateTime<Utc>,
}

/// A request to create a location whose fields have passed validation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct NewLocation {
    /// Trimmed, no control characters; 1–100 characters as the client sent it.
    pub name: String,
    pub category: Category,
    /// At most 1000 characters; line breaks and tabs allowed, other control characters not.
    #[serde(default)]
    pub description: String,
}

/// One field that failed validation, as reported to clients.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.to_owned(),
            message: message.into(),
        }
    }
}

/// Namespace of name keys (a fixed random UUID).
const NAME_NAMESPACE: Uuid = Uuid::from_u128(0x2b8e_6f04_7d1a_4e59_9c3b_51f0_a7d2_e468);

impl NewLocation {
    /// The key of this location's name in the name index: names compare trimmed
    /// and case-insensitively, and any name maps to a valid KV key.
    pub fn name_key(&self) -> String {
        let normalized = self.name.trim().to_lowercase();
        Uuid::new_v5(&NAME_NAMESPACE, normalized.as_bytes()).to_string()
    }

    /// Validates a JSON request body, reporting every bad field rather than the first.
    pub fn from_json(body: &Value) -> Result<Self, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError::new(
                "",
                "the body must be a JSON object with name, category and description",
            )]);
        };
        let text = |field: &str, required: bool| match object.get(field) {
            None | Some(Value::Null) if required => {
                Err(FieldError::new(field, format!("{field} is required")))
            }
            None | Some(Value::Null) => Ok(String::new()),
            Some(Value::String(s)) => Ok(s.clone()),
            Some(_) => Err(FieldError::new(field, format!("{field} must be a string"))),
        };
        Self::validate(
            text("name", true),
            text("category", true),
            text("description", false),
        )
    }

    /// Checks a decoded value against the same rules as [`NewLocation::from_json`].
    pub fn check(&self) -> Result<(), Vec<FieldError>> {
        Self::validate(
            Ok(self.name.clone()),
            Ok(self.category.as_str().to_owned()),
            Ok(self.description.clone()),
        )
        .map(|_| ())
    }

    fn validate(
        name: Result<String, FieldError>,
        category: Result<String, FieldError>,
        description: Result<String, FieldError>,
    ) -> Result<Self, Vec<FieldError>> {
        let name = name.and_then(|n| parse_name(&n));
        let category = category.and_then(|c| {
            Category::parse(&c).ok_or_else(|| {
                let all: Vec<_> = Category::ALL.iter().map(|c| c.as_str()).collect();
                FieldError::new(
                    "category",
                    format!("category must be one of {}", all.join(", ")),
                )
            })
        });
        let description = description.and_then(parse_description);
        match (name, category, description) {
            (Ok(name), Ok(category), Ok(description)) => Ok(Self {
                name,
                category,
                description,
            }),
            (name, category, description) => Err([name.err(), category.err(), description.err()]
                .into_iter()
                .flatten()
                .collect()),
        }
    }
}

fn parse_name(raw: &str) -> Result<String, FieldError> {
    let name = raw.trim();
    let chars = raw.chars().count();
    if name.is_empty() && !raw.chars().any(char::is_control) {
        Err(FieldError::new("name", "name must not be empty"))
    } else if chars > NAME_MAX_CHARS {
        Err(FieldError::new(
            "name",
            format!("name must be at most {NAME_MAX_CHARS} characters (it has {chars})"),
        ))
    } else if raw.chars().any(char::is_control) {
        Err(FieldError::new(
            "name",
            "name must not contain control characters",
        ))
    } else {
        Ok(name.to_owned())
    }
}

fn parse_description(raw: String) -> Result<String, FieldError> {
    let chars = raw.chars().count();
    if chars > DESCRIPTION_MAX_CHARS {
        Err(FieldError::new(
            "description",
            format!(
                "description must be at most {DESCRIPTION_MAX_CHARS} characters (it has {chars})"
            ),
        ))
    } else if raw
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        Err(FieldError::new(
            "description",
            "description must not contain control characters other than line breaks and tabs",
        ))
    } else {
        Ok(raw)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn fields(errors: Vec<FieldError>) -> Vec<String> {
        errors.into_iter().map(|e| e.field).collect()
    }

    #[test]
    fn accepts_a_valid_body_and_trims_the_name() {
        let parsed = NewLocation::from_json(&json!({
            "name": "  Lisbon ", "category": "County/Region", "description": "by the sea\n"
        }))
        .expect("valid");
        assert_eq!(parsed.name, "Lisbon");
        assert_eq!(parsed.category, Category::CountyRegion);
        assert!(parsed.check().is_ok());
    }

    #[test]
    fn description_may_be_omitted() {
        let parsed =
            NewLocation::from_json(&json!({"name": "Porto", "category": "City"})).expect("valid");
        assert_eq!(parsed.description, "");
    }

    #[test]
    fn reports_every_bad_field() {
        let errors = NewLocation::from_json(&json!({
            "name": "   ", "category": "Village", "description": "x".repeat(1001)
        }))
        .expect_err("invalid");
        assert_eq!(fields(errors), ["name", "category", "description"]);
    }

    #[test]
    fn rejects_wrong_types_missing_fields_and_control_characters() {
        let errors = NewLocation::from_json(&json!({"name": 5})).expect_err("invalid");
        assert_eq!(fields(errors), ["name", "category"]);
        let errors = NewLocation::from_json(&json!({"name": "a\u{0}b", "category": "Town"}))
            .expect_err("invalid");
        assert_eq!(fields(errors), ["name"]);
        // As sent: a line break at either end is no less a control character.
        for name in ["Lisbon\n", "\tLisbon", "Lisbon\u{85}"] {
            let errors = NewLocation::from_json(&json!({"name": name, "category": "Town"}))
                .expect_err("invalid");
            assert_eq!(
                errors[0].message,
                "name must not contain control characters"
            );
        }
        assert!(NewLocation::from_json(&json!([1, 2])).is_err());
    }

    #[test]
    fn names_compare_trimmed_and_case_insensitively() {
        let named = |name: &str| NewLocation {
            name: name.into(),
            category: Category::Town,
            description: String::new(),
        };
        assert_eq!(named("Évora").name_key(), named("  éVORA ").name_key());
        assert_ne!(named("Evora").name_key(), named("Évora").name_key());
    }

    #[test]
    fn the_length_counts_what_was_sent() {
        let name = format!(" {} ", "x".repeat(NAME_MAX_CHARS - 2));
        assert!(NewLocation::from_json(&json!({"name": name, "category": "Town"})).is_ok());
        let name = format!(" {} ", "x".repeat(NAME_MAX_CHARS - 1));
        assert!(NewLocation::from_json(&json!({"name": name, "category": "Town"})).is_err());
    }

    #[test]
    fn the_patterns_say_what_validation_does() {
        // The patterns are written for ECMA-262 and Python (schemathesis); here a
        // hand check of the characters they name against the Rust rules.
        let white_space: Vec<char> = (0..=0x3000u32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_whitespace() && !c.is_control())
            .collect();
        for c in white_space {
            let code = format!("{:04X}", c as u32);
            assert!(
                NAME_PATTERN.contains(&code)
                    || [0x20, 0xA0].contains(&(c as u32))
                    || (0x2000..=0x200A).contains(&(c as u32)),
                "U+{code} is white space but not in the name pattern"
            );
            let name = format!("{c}x{c}");
            assert!(NewLocation::from_json(&json!({"name": name, "category": "Town"})).is_ok());
            let blank = c.to_string();
            assert!(NewLocation::from_json(&json!({"name": blank, "category": "Town"})).is_err());
        }
        for c in (0..=0x9Fu32)
            .filter_map(char::from_u32)
            .filter(|c| c.is_control())
        {
            let name = format!("a{c}b");
            assert!(NewLocation::from_json(&json!({"name": name, "category": "Town"})).is_err());
            let description = format!("a{c}b");
            let allowed = matches!(c, '\n' | '\r' | '\t');
            assert_eq!(
                NewLocation::from_json(
                    &json!({"name": "n", "category": "Town", "description": description})
                )
                .is_ok(),
                allowed,
                "U+{:04X}",
                c as u32
            );
        }
    }

    #[test]
    fn counts_characters_not_bytes() {
        let name = "é".repeat(NAME_MAX_CHARS);
        assert!(NewLocation::from_json(&json!({"name": name, "category": "Town"})).is_ok());
        let name = "é".repeat(NAME_MAX_CHARS + 1);
        assert!(NewLocation::from_json(&json!({"name": name, "category": "Town"})).is_err());
    }

    #[test]
    fn categories_serialize_as_clients_see_them() {
        for category in Category::ALL {
            let json = serde_json::to_value(category).expect("serializes");
            assert_eq!(json, Value::String(category.as_str().to_owned()));
        }
    }
}
