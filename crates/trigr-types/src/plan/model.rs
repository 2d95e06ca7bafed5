//! The plan as it is written: an [`ExecutionPlan`] of [`Action`]s, each an HTTP request
//! ([`HttpAction`]) with its dependencies, its [`ActionRetry`] and whether the plan goes on
//! when it fails.
//!
//! On the wire every name is camelCase (`dependsOn`, `continueOnFailure`, `timeoutMs`); unknown
//! fields are refused, so a misspelt setting is an error and not a silent default.

use std::collections::BTreeMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A plan: an id chosen by whoever wrote it and the actions to run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionPlan {
    /// The plan's id, from the system that made the plan (1–128 characters: letters, digits,
    /// `_ - . :`).
    pub id: String,
    /// The actions, 1–500; their ids are unique within the plan.
    pub actions: Vec<Action>,
}

/// One step of a plan: an HTTP request that runs once every action it depends on completed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Action {
    /// Unique within the plan (1–64 characters: letters, digits, `_`, `-`).
    pub id: String,
    /// Ids of the actions that must complete first (at most 100).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// The request.
    pub http: HttpAction,
    /// How often the request is tried and how long to wait in between.
    #[serde(default)]
    pub retry: ActionRetry,
    /// When `true`, the actions that depend on this one still run if it fails, and its failure
    /// does not fail the plan. Otherwise they are `skipped`.
    #[serde(default, skip_serializing_if = "is_false")]
    pub continue_on_failure: bool,
}

fn is_false(b: &bool) -> bool {
    !*b
}

/// An HTTP request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpAction {
    /// The method.
    pub method: HttpMethod,
    /// An absolute `http://` or `https://` URL, at most 4096 characters.
    pub url: String,
    /// Request headers (at most 32). `Idempotency-Key` is set by the runner and may not be
    /// given here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON body, sent with `Content-Type: application/json` unless the headers say otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// How long one try may take, from sending to the end of the response body: 1 ms to 10
    /// minutes (default 30 s).
    #[serde(default = "default_timeout_ms")]
    pub timeout_ms: u64,
}

/// The default timeout of one try of a request.
pub const DEFAULT_TIMEOUT_MS: u64 = 30_000;

fn default_timeout_ms() -> u64 {
    DEFAULT_TIMEOUT_MS
}

/// The methods an action may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// `GET`
    Get,
    /// `POST`
    Post,
    /// `PUT`
    Put,
    /// `PATCH`
    Patch,
    /// `DELETE`
    Delete,
    /// `HEAD`
    Head,
}

impl HttpMethod {
    /// The method as HTTP spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            HttpMethod::Get => "GET",
            HttpMethod::Post => "POST",
            HttpMethod::Put => "PUT",
            HttpMethod::Patch => "PATCH",
            HttpMethod::Delete => "DELETE",
            HttpMethod::Head => "HEAD",
        }
    }
}

/// How an action's request is retried: timeouts, connection errors, `429` and `5xx` answers are
/// tried again (after `Retry-After` when the answer has one), other answers are final.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ActionRetry {
    /// All tries, the first included: 1–10 (1 = never retried). Default 3.
    pub attempts: u32,
    /// The waits between tries.
    pub backoff: Backoff,
}

impl Default for ActionRetry {
    fn default() -> Self {
        ActionRetry {
            attempts: 3,
            backoff: Backoff::default(),
        }
    }
}

/// Exponential backoff: `initialMs × factor^(try − 1)`, at most `maxMs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct Backoff {
    /// The wait after the first failed try, 0–60 000 ms (default 500).
    pub initial_ms: u64,
    /// Growth per try, 1–10 (default 2).
    pub factor: f64,
    /// The longest wait, 0–300 000 ms (default 10 000); also caps a `Retry-After`.
    pub max_ms: u64,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_ms: 500,
            factor: 2.0,
            max_ms: 10_000,
        }
    }
}

impl Backoff {
    /// The wait after try `failed` (1-based) failed.
    pub fn delay_ms(&self, failed: u32) -> u64 {
        let exp = self.factor.powi(failed.saturating_sub(1).min(60) as i32);
        let delay = (self.initial_ms as f64 * exp).min(self.max_ms as f64);
        delay.max(0.0) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_wire_spelling_with_defaults() {
        let action: Action = serde_json::from_value(json!({
            "id": "charge",
            "dependsOn": ["reserve"],
            "http": {"method": "POST", "url": "https://pay.example/charges", "body": {"amount": 5}},
            "continueOnFailure": true
        }))
        .expect("an action");
        assert_eq!(action.depends_on, ["reserve"]);
        assert_eq!(action.http.method, HttpMethod::Post);
        assert_eq!(action.http.timeout_ms, DEFAULT_TIMEOUT_MS);
        assert_eq!(action.retry, ActionRetry::default());
        assert!(action.continue_on_failure);
        let back = serde_json::to_value(&action).expect("json");
        assert_eq!(back["dependsOn"], json!(["reserve"]));
        assert_eq!(back["http"]["timeoutMs"], json!(30_000));
    }

    #[test]
    fn refuses_unknown_fields() {
        let err = serde_json::from_value::<Action>(json!({
            "id": "a",
            "http": {"method": "GET", "url": "http://x/", "timeout": 5}
        }))
        .expect_err("a misspelt field");
        assert!(err.to_string().contains("unknown field `timeout`"), "{err}");
    }

    #[test]
    fn backoff_grows_and_stops_at_its_cap() {
        let b = Backoff {
            initial_ms: 100,
            factor: 2.0,
            max_ms: 350,
        };
        assert_eq!(
            [b.delay_ms(1), b.delay_ms(2), b.delay_ms(3), b.delay_ms(40)],
            [100, 200, 350, 350]
        );
    }
}
