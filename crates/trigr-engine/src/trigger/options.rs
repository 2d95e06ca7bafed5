//! The options of a trigger call and their validation: everything that needs no store.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;
use trigr_store::Run;
use trigr_types::manifest::MAX_DURATION_SECS;
use trigr_types::{duration, packet, Millis, MACHINES};

use crate::{Error, Result};

pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_LEN: usize = 128;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 2048;

/// `options` of a trigger call (reference §2.1), as sent by the official SDK.
#[derive(Clone, Debug, Default, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerOptions {
    pub payload_type: Option<String>,
    pub idempotency_key: Option<String>,
    #[serde(rename = "idempotencyKeyTTL")]
    pub idempotency_key_ttl: Option<String>,
    pub idempotency_key_options: Option<IdempotencyKeyOptions>,
    pub delay: Option<Value>,
    pub ttl: Option<Value>,
    pub tags: Option<Value>,
    pub metadata: Option<Value>,
    pub metadata_type: Option<String>,
    pub priority: Option<f64>,
    pub queue: Option<QueueOption>,
    pub concurrency_key: Option<Value>,
    pub max_attempts: Option<i64>,
    pub max_duration: Option<f64>,
    pub machine: Option<String>,
    pub lock_to_version: Option<String>,
    /// Same as `lockToVersion`, for callers that say `version`.
    pub version: Option<String>,
    pub parent_run_id: Option<String>,
    pub test: Option<bool>,
}

#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
pub struct IdempotencyKeyOptions {
    pub key: String,
    pub scope: Option<String>,
}

/// `queue` may be `{ "name": … }` or a bare name.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum QueueOption {
    Named { name: String },
    Name(String),
}

impl QueueOption {
    pub fn name(&self) -> &str {
        match self {
            QueueOption::Named { name } | QueueOption::Name(name) => name,
        }
    }
}

/// A validated request to create one run.
#[derive(Clone, Debug)]
pub struct NewRun {
    pub task_id: String,
    pub payload: Option<String>,
    pub payload_type: String,
    /// The payload as plain JSON, for schema validation.
    pub payload_value: Value,
    pub options: TriggerOptions,
    pub tags: Vec<String>,
    pub metadata: Option<String>,
    pub concurrency_key: String,
    pub request_key: Option<String>,
    pub batch: Option<(String, i64)>,
    pub trigger_function: &'static str,
    /// Who may be handed an existing run instead of a new one; `None` for anyone.
    pub reuse: Option<ReuseCheck>,
}

/// Whether a caller may be answered with an existing run that an idempotency key or a request
/// key matched: a public token only with one it may read, or the answer would hand it a run
/// (and a token to read it) that it may not see.
#[derive(Clone)]
pub struct ReuseCheck(pub Arc<dyn Fn(&Run) -> bool + Send + Sync>);

impl std::fmt::Debug for ReuseCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ReuseCheck")
    }
}

impl NewRun {
    /// The existing run `run` as the answer to this request, if the caller may have it.
    pub(crate) fn reused(&self, run: &Run, key: &str) -> Result<()> {
        if run.task_id != self.task_id {
            return Err(Error::Conflict(format!(
                "The {key} was already used for a run of another task; use a new key"
            )));
        }
        match &self.reuse {
            Some(check) if !(check.0)(run) => Err(Error::Conflict(format!(
                "The {key} is held by a run this token may not read; use a new key"
            ))),
            _ => Ok(()),
        }
    }
}

/// Validates the body of a trigger call: everything that does not need the store.
pub fn prepare(
    task_id: &str,
    payload: Option<Value>,
    options: TriggerOptions,
    max_payload: usize,
) -> Result<NewRun> {
    if task_id.is_empty() || task_id.len() > 128 {
        return Err(Error::invalid("The task id must be 1-128 characters"));
    }
    let payload_type = options
        .payload_type
        .clone()
        .unwrap_or_else(|| packet::JSON.to_string());
    if !packet::is_known_type(&payload_type) {
        return Err(Error::invalid(format!(
            "Unknown payloadType '{payload_type}': use application/json, application/super+json or text/plain"
        )));
    }
    let payload = match payload {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s),
        Some(other) => Some(other.to_string()),
    };
    if payload.as_ref().is_some_and(|p| p.len() > max_payload) {
        return Err(Error::TooLarge(format!(
            "The payload is {} bytes, over the limit of {max_payload} bytes",
            payload.as_ref().map_or(0, String::len)
        )));
    }
    if payload_type == packet::STORE {
        return Err(Error::invalid(
            "An application/store payload must name a packet stored with PUT /api/v2/packets/{path}",
        ));
    }
    let payload_value = match &payload {
        Some(p) => packet::to_value(p, &payload_type).map_err(|e| Error::invalid(e.to_string()))?,
        None => Value::Null,
    };
    let tags = parse_tags(options.tags.as_ref())?;
    let metadata = parse_metadata(options.metadata.as_ref())?;
    let concurrency_key = match &options.concurrency_key {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(_) => {
            return Err(Error::invalid(
                "concurrencyKey must be a string or a number",
            ))
        }
    };
    check_options(&options)?;
    Ok(NewRun {
        task_id: task_id.to_string(),
        payload,
        payload_type,
        payload_value,
        options,
        tags,
        metadata,
        concurrency_key,
        request_key: None,
        batch: None,
        trigger_function: "trigger",
        reuse: None,
    })
}

/// The lifetime of an idempotency key (`idempotencyKeyTTL`, 30 days when absent or not of
/// the form `<n>(s|m|h|d)`); over 100 years is refused, so it never overflows a time.
pub fn idempotency_ttl(ttl: Option<&str>) -> Result<Millis> {
    duration::parse_idempotency_ttl(ttl)
        .map_err(|e| Error::invalid(format!("idempotencyKeyTTL: {e}")))
}

fn check_options(o: &TriggerOptions) -> Result<()> {
    idempotency_ttl(o.idempotency_key_ttl.as_deref())?;
    if let Some(k) = &o.idempotency_key {
        if k.len() > MAX_IDEMPOTENCY_KEY_LEN {
            return Err(Error::invalid(format!(
                "idempotencyKey is {} characters, over the limit of {MAX_IDEMPOTENCY_KEY_LEN}",
                k.len()
            )));
        }
        if k.is_empty() {
            return Err(Error::invalid("idempotencyKey must not be empty"));
        }
    }
    if let Some(scope) = o
        .idempotency_key_options
        .as_ref()
        .and_then(|k| k.scope.as_deref())
    {
        if !matches!(scope, "run" | "attempt" | "global") {
            return Err(Error::invalid(format!(
                "idempotencyKeyOptions.scope must be run, attempt or global, not '{scope}'"
            )));
        }
    }
    if let Some(m) = &o.machine {
        if !MACHINES.contains(&m.as_str()) {
            return Err(Error::invalid(format!(
                "Unknown machine '{m}': use one of {}",
                MACHINES.join(", ")
            )));
        }
    }
    if let Some(n) = o.max_attempts {
        if !(1..=100).contains(&n) {
            return Err(Error::invalid("maxAttempts must be between 1 and 100"));
        }
    }
    if let Some(d) = o.max_duration {
        if !(d.is_finite() && d >= 1.0 && d <= MAX_DURATION_SECS as f64) {
            return Err(Error::invalid(format!(
                "maxDuration must be a number of seconds between 1 and {MAX_DURATION_SECS}"
            )));
        }
    }
    if let Some(p) = o.priority {
        if !p.is_finite() || p.abs() > 1e9 {
            return Err(Error::invalid(
                "priority must be a finite number of seconds",
            ));
        }
    }
    if let Some(q) = &o.queue {
        if q.name().trim().is_empty() || q.name().len() > 128 {
            return Err(Error::invalid("queue.name must be 1-128 characters"));
        }
    }
    if let Some(ck) = &o.concurrency_key {
        if ck.as_str().is_some_and(|s| s.len() > 256) {
            return Err(Error::invalid(
                "concurrencyKey must be at most 256 characters",
            ));
        }
    }
    Ok(())
}

/// Tags of a run: a string or an array of strings, at most 10, each at most 128 characters.
pub fn parse_tags(v: Option<&Value>) -> Result<Vec<String>> {
    let mut tags = tag_list(v, "Runs")?;
    tags.sort();
    Ok(tags)
}

/// Tags of a run or a token (`owner` says which in the error): a string or an array of
/// strings, each 1–128 characters, at most [`MAX_TAGS`] once duplicates are dropped, in the
/// order given. The work is bounded by the limit, not by the input: checking stops at the
/// first tag over it, so each tag is compared with at most [`MAX_TAGS`] others.
pub fn tag_list(v: Option<&Value>, owner: &str) -> Result<Vec<String>> {
    let items: &[Value] = match v {
        None | Some(Value::Null) => &[],
        Some(s @ Value::String(_)) => std::slice::from_ref(s),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(Error::invalid(
                "tags must be a string or an array of strings",
            ))
        }
    };
    let mut tags: Vec<String> = Vec::new();
    for item in items {
        let t = item
            .as_str()
            .ok_or_else(|| Error::invalid("tags must be strings"))?;
        if t.is_empty() || t.len() > MAX_TAG_LEN {
            return Err(Error::unprocessable(format!(
                "Tag '{}' must be 1-{MAX_TAG_LEN} characters",
                truncated(t, MAX_TAG_LEN)
            )));
        }
        if tags.iter().any(|x| x == t) {
            continue;
        }
        if tags.len() == MAX_TAGS {
            return Err(Error::unprocessable(format!(
                "{owner} can only have {MAX_TAGS} tags, you are trying to set more ({} given)",
                items.len()
            )));
        }
        tags.push(t.to_string());
    }
    Ok(tags)
}

/// At most `max` bytes of `s`, cut on a character boundary, with `…` when cut: client text
/// quoted in an error message stays short.
pub fn truncated(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

fn parse_metadata(v: Option<&Value>) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(_)) => Ok(Some(v.map(Value::to_string).unwrap_or_default())),
        Some(Value::String(s)) => match serde_json::from_str::<Value>(s) {
            Ok(Value::Object(o)) => Ok(Some(Value::Object(o).to_string())),
            _ => Err(Error::invalid("metadata must be a JSON object")),
        },
        Some(_) => Err(Error::invalid("metadata must be a JSON object")),
    }
}

/// Parses a TTL: a duration string or a whole number of seconds. Returns (display, millis).
pub fn parse_ttl(v: Option<&Value>) -> Result<Option<(String, Millis)>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => {
            let ms = duration::parse(s)
                .map_err(|e| Error::unprocessable(format!("Invalid ttl: {e}")))?;
            Ok(Some((s.clone(), ms)))
        }
        Some(Value::Number(n)) => match n.as_u64() {
            Some(secs) if secs <= 10 * 365 * 86_400 => {
                Ok(Some((format!("{secs}s"), secs as i64 * 1000)))
            }
            _ => Err(Error::unprocessable(
                "Invalid ttl: a number must be a whole, non-negative count of seconds",
            )),
        },
        Some(_) => Err(Error::unprocessable(
            "Invalid ttl: use a duration like 10m or a number of seconds",
        )),
    }
}

/// Parses a delay: a duration string or a date. Returns when the run becomes due.
pub fn parse_delay(v: Option<&Value>, now: Millis) -> Result<Option<Millis>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => duration::parse_delay(s, now)
            .map(Some)
            .map_err(|e| Error::unprocessable(format!("Invalid delay: {e}"))),
        Some(_) => Err(Error::unprocessable(
            "Invalid delay: use a duration like 10m or an ISO 8601 date",
        )),
    }
}
