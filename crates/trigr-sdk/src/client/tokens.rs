//! Wait tokens: waitpoints completed from outside a run (a person approving, a webhook).
//!
//! [`Tokens`] creates, completes, retrieves and lists them through the management API
//! (`/api/v1/waitpoints/tokens…`). Inside a task, create tokens with
//! [`Context::create_token`](crate::Context::create_token), which journals the token so a
//! re-executed run finds the same one, and wait with
//! [`Context::wait_for_token`](crate::Context::wait_for_token).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use trigr_types::wire::tokens as wire;

use super::types::{duration_text, query_string, rfc3339, Page, WirePage};
use crate::error::Result;
use crate::http::{encode, Http, Tries};
use crate::version::{resolve, IfVersion};

/// The token API of one client ([`Client::tokens`](crate::Client::tokens)).
#[derive(Clone, Debug)]
pub struct Tokens {
    pub(crate) http: Http,
}

/// Options of a new token.
#[derive(Clone, Debug, Default)]
pub struct CreateToken {
    fields: Map<String, Value>,
}

impl CreateToken {
    /// A token that waits until it is completed, with no timeout.
    pub fn new() -> CreateToken {
        CreateToken::default()
    }
    /// Completes the token as timed out `timeout` after its creation.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.fields
            .insert("timeout".into(), json!(duration_text(timeout)));
        self
    }
    /// Completes the token as timed out at `at`.
    pub fn timeout_at(mut self, at: DateTime<Utc>) -> Self {
        self.fields.insert("timeout".into(), json!(rfc3339(at)));
        self
    }
    /// The same key gives the same token while the key lives (`is_cached` is then true).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.fields
            .insert("idempotencyKey".into(), json!(key.into()));
        self
    }
    /// How long the idempotency key lives.
    pub fn idempotency_key_ttl(mut self, ttl: Duration) -> Self {
        self.fields
            .insert("idempotencyKeyTTL".into(), json!(duration_text(ttl)));
        self
    }
    /// Adds a tag (at most 10).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tags = self.fields.entry("tags").or_insert_with(|| json!([]));
        if let Value::Array(list) = tags {
            list.push(json!(tag.into()));
        }
        self
    }
    pub(crate) fn to_json(&self) -> Value {
        Value::Object(self.fields.clone())
    }
}

/// A created token: its id (`waitpoint_…`), its signed callback URL (a `POST` of any JSON
/// body completes the token with that body), and whether the idempotency key matched an
/// existing token (`is_cached`).
pub use trigr_types::wire::tokens::TokenCreated as Token;

/// Where a token stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum TokenStatus {
    /// Not completed yet.
    Waiting,
    /// Completed with data.
    Completed,
    /// Its timeout passed first.
    TimedOut,
}

/// A token as retrieve and list show it (read as [`wire::Token`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "wire::Token")]
pub struct TokenInfo {
    /// Token id.
    pub id: String,
    /// Callback URL.
    pub url: String,
    /// Status.
    pub status: TokenStatus,
    /// Tags.
    pub tags: Vec<String>,
    /// Idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it was completed.
    pub completed_at: Option<DateTime<Utc>>,
    /// When it times out.
    pub timeout_at: Option<DateTime<Utc>>,
    /// The version of the run waiting on the token (`None` while no run waits).
    pub run_version: Option<String>,
    output: Option<String>,
    output_type: Option<String>,
    output_is_error: bool,
}

impl TryFrom<wire::Token> for TokenInfo {
    type Error = String;

    fn try_from(t: wire::Token) -> std::result::Result<TokenInfo, String> {
        let status = serde_json::from_value(Value::String(t.status))
            .map_err(|e| format!("the token's status: {e}"))?;
        Ok(TokenInfo {
            id: t.id,
            url: t.url,
            status,
            tags: t.tags,
            idempotency_key: t.idempotency_key,
            created_at: t.created_at.to_datetime(),
            completed_at: t.completed_at.map(|at| at.to_datetime()),
            timeout_at: t.timeout_at.map(|at| at.to_datetime()),
            run_version: t.run_version,
            output: t.output,
            output_type: t.output_type,
            output_is_error: t.output_is_error.unwrap_or(false),
        })
    }
}

impl TokenInfo {
    /// The data the token was completed with (retrieve only; `None` in lists, while waiting and
    /// on time-out).
    pub fn output(&self) -> Option<Value> {
        if self.output_is_error {
            return None;
        }
        self.packet()
    }

    /// The time-out message of a `TIMED_OUT` token.
    pub fn error(&self) -> Option<String> {
        if !self.output_is_error {
            return None;
        }
        let value = self.packet()?;
        Some(
            value["message"]
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|| value.to_string()),
        )
    }

    fn packet(&self) -> Option<Value> {
        let data = self.output.as_deref()?;
        let data_type = self
            .output_type
            .as_deref()
            .unwrap_or(trigr_types::packet::JSON);
        trigr_types::packet::to_value(data, data_type).ok()
    }
}

/// Filters of [`Tokens::list`].
#[derive(Clone, Debug, Default)]
pub struct ListTokens {
    statuses: Vec<TokenStatus>,
    tags: Vec<String>,
    idempotency_key: Option<String>,
    limit: Option<u32>,
    after: Option<String>,
}

impl ListTokens {
    /// Every token, newest first.
    pub fn new() -> ListTokens {
        ListTokens::default()
    }
    /// Only tokens in this status (repeat for several).
    pub fn status(mut self, status: TokenStatus) -> Self {
        self.statuses.push(status);
        self
    }
    /// Only tokens with this tag.
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Only the token with this idempotency key.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }
    /// Page size, 1–100.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    /// The page after this cursor.
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        if !self.statuses.is_empty() {
            let names: Vec<&str> = self
                .statuses
                .iter()
                .map(|s| match s {
                    TokenStatus::Waiting => "WAITING",
                    TokenStatus::Completed => "COMPLETED",
                    TokenStatus::TimedOut => "TIMED_OUT",
                })
                .collect();
            pairs.push(("filter[status]", names.join(",")));
        }
        if !self.tags.is_empty() {
            pairs.push(("filter[tags]", self.tags.join(",")));
        }
        if let Some(key) = &self.idempotency_key {
            pairs.push(("filter[idempotencyKey]", key.clone()));
        }
        if let Some(limit) = self.limit {
            pairs.push(("page[size]", limit.to_string()));
        }
        if let Some(after) = &self.after {
            pairs.push(("page[after]", after.clone()));
        }
        query_string(&pairs)
    }
}

/// The answer to a completion (read as [`wire::TokenCompleted`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "wire::TokenCompleted")]
pub struct Completed {
    /// Always `true` on success.
    pub success: bool,
    /// The token was already completed (the first data wins).
    pub already_completed: bool,
    /// The version of the run waiting on the token, when one waits.
    pub run_version: Option<String>,
}

impl From<wire::TokenCompleted> for Completed {
    fn from(done: wire::TokenCompleted) -> Completed {
        Completed {
            success: done.success,
            already_completed: done.already_completed.unwrap_or(false),
            run_version: done.run_version,
        }
    }
}

/// Options of [`Tokens::complete_with`].
#[derive(Clone, Debug, Default)]
pub struct CompleteOptions {
    if_version: Option<IfVersion>,
}

impl CompleteOptions {
    /// No options.
    pub fn new() -> CompleteOptions {
        CompleteOptions::default()
    }

    /// Complete only if the run waiting on the token is on a matching version; otherwise
    /// nothing is delivered and the call fails with [`crate::Error::VersionMismatch`].
    pub fn if_version(mut self, guard: impl Into<IfVersion>) -> Self {
        self.if_version = Some(guard.into());
        self
    }
}

impl Tokens {
    /// Creates a token.
    pub async fn create(&self, options: CreateToken) -> Result<Token> {
        let body = options.to_json();
        self.http
            .call(
                Method::POST,
                "/api/v1/waitpoints/tokens",
                Some(&body),
                Tries::Once,
            )
            .await
    }

    /// Completes a token with `data`: every run waiting on it resumes with that data.
    /// Completing a completed token changes nothing.
    pub async fn complete(&self, id: &str, data: impl Serialize) -> Result<Completed> {
        self.complete_with(id, data, CompleteOptions::new()).await
    }

    /// [`complete`](Tokens::complete) with options: an `ifVersion` guard.
    pub async fn complete_with(
        &self,
        id: &str,
        data: impl Serialize,
        options: CompleteOptions,
    ) -> Result<Completed> {
        let data =
            serde_json::to_value(data).map_err(|e| crate::Error::json("the token's data", e))?;
        let path = format!("/api/v1/waitpoints/tokens/{}/complete", encode(id));
        let mut body = json!({ "data": data });
        if let Some(guard) = &options.if_version {
            let actual = match guard {
                IfVersion::Predicate(_) => self.retrieve(id).await?.run_version,
                IfVersion::Expression(_) => None,
            };
            body["ifVersion"] = json!(resolve(guard, None, actual.as_deref())?);
        }
        self.http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await
    }

    /// Retrieves a token with its output.
    pub async fn retrieve(&self, id: &str) -> Result<TokenInfo> {
        let path = format!("/api/v1/waitpoints/tokens/{}", encode(id));
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// One page of tokens, newest first.
    pub async fn list(&self, filter: ListTokens) -> Result<Page<TokenInfo>> {
        let path = format!("/api/v1/waitpoints/tokens{}", filter.query());
        let page: WirePage<TokenInfo> = self
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await?;
        Ok(page.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_options_follow_the_reference() {
        let o = CreateToken::new()
            .timeout(Duration::from_secs(600))
            .idempotency_key("tk")
            .tag("x");
        assert_eq!(
            o.to_json(),
            json!({"timeout": "600s", "idempotencyKey": "tk", "tags": ["x"]})
        );
    }

    #[test]
    fn retrieved_outputs_are_packets() {
        let info: TokenInfo = serde_json::from_value(json!({
            "id": "waitpoint_1", "url": "http://x", "status": "COMPLETED", "tags": [],
            "createdAt": "2026-01-01T00:00:00Z", "runVersion": null,
            "output": "{\"ok\":1}", "outputType": "application/json"
        }))
        .expect("token");
        assert_eq!(info.output(), Some(json!({"ok": 1})));
        assert_eq!(info.error(), None);

        let timed_out: TokenInfo = serde_json::from_value(json!({
            "id": "waitpoint_2", "url": "http://x", "status": "TIMED_OUT", "tags": [],
            "createdAt": "2026-01-01T00:00:00Z", "runVersion": null,
            "output": "{\"message\":\"timed out\"}", "outputIsError": true
        }))
        .expect("token");
        assert_eq!(timed_out.output(), None);
        assert_eq!(timed_out.error().as_deref(), Some("timed out"));
    }

    #[test]
    fn list_filters() {
        let q = ListTokens::new()
            .status(TokenStatus::Waiting)
            .status(TokenStatus::TimedOut)
            .limit(10)
            .query();
        assert_eq!(
            q,
            "?filter%5Bstatus%5D=WAITING%2CTIMED_OUT&page%5Bsize%5D=10"
        );
    }
}
