//! The options of a trigger call and their validation: everything that needs no store.
//! [`prepare`] is the one function that turns the wire options into a checked [`NewRun`].

use std::sync::Arc;

use serde_json::Value;
use trigr_store::Run;
use trigr_types::manifest::MAX_DURATION_SECS;
use trigr_types::trace::TraceParent;
use trigr_types::wire::trigger::TriggerOptions;
use trigr_types::{duration, packet, Millis, MACHINES};

use super::debounce::{self, Debounce};
use crate::{Error, Result};

pub const MAX_TAGS: usize = 10;
pub const MAX_TAG_LEN: usize = 128;
pub const MAX_IDEMPOTENCY_KEY_LEN: usize = 2048;

/// Refuses the first option trigr does not implement ([`TriggerOptions::unsupported`]),
/// naming it as `options.<name>`: a caller asking for one gets a `400`, never a run that
/// silently ignores it.
pub fn refuse_unsupported(options: &TriggerOptions) -> Result<()> {
    match options.unsupported() {
        Some(name) => Err(unsupported(&format!("options.{name}"))),
        None => Ok(()),
    }
}

/// The answer to an option or a filter trigr does not implement.
pub fn unsupported(name: &str) -> Error {
    Error::invalid(format!("{name} is not supported by trigr"))
}

/// A validated request to create one run: every option parsed and checked, times resolved
/// against the clock of the request, nothing left to interpret inside the write.
#[derive(Clone, Debug)]
pub struct NewRun {
    /// What a buffered trigger's answer already fixed (see [`crate::mollifier`]); `None` for
    /// a run made at once.
    pub fixed: Option<Fixed>,
    pub task_id: String,
    pub payload: Option<String>,
    pub payload_type: String,
    /// The payload as plain JSON, for schema validation.
    pub payload_value: Value,
    /// Distinct, sorted.
    pub tags: Vec<String>,
    /// A JSON object's text.
    pub metadata: Option<String>,
    pub metadata_type: String,
    pub concurrency_key: String,
    /// The queue the caller named; the task's own when `None`.
    pub queue: Option<String>,
    /// The version the caller asked for; the environment's current one when `None`.
    pub version: Option<String>,
    /// The region the caller asked for (checked); the environment's default when `None`.
    pub region: Option<String>,
    /// When a delayed run becomes due.
    pub delay_until: Option<Millis>,
    pub ttl: Option<Ttl>,
    /// How much earlier than its due time the run stands in its queue.
    pub priority_ms: Millis,
    pub idempotency: Option<IdempotencyKey>,
    pub max_attempts: Option<i64>,
    pub max_duration_secs: Option<i64>,
    pub machine: Option<String>,
    pub parent_run_id: Option<String>,
    pub is_test: bool,
    pub request_key: Option<String>,
    pub batch: Option<(String, i64)>,
    pub trigger_function: &'static str,
    /// Who may be handed an existing run instead of a new one; `None` for anyone.
    pub reuse: Option<ReuseCheck>,
    /// The caller's trace (its `traceparent` header), which the run's trace joins; a child
    /// run joins its parent run's trace whatever the header says.
    pub trace: Option<TraceParent>,
    /// For a child run: the span of its parent's attempt the child's root span hangs under
    /// (the worker's `trigger` span), instead of the parent run's root span.
    pub parent_span: Option<String>,
    /// Coalesces this trigger with others of the task that carry the same key
    /// ([`super::debounce`]).
    pub debounce: Option<Debounce>,
}

/// What the answer to a buffered trigger already told its caller, kept by the run the drainer
/// creates: its id, trace, root span and creation time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fixed {
    pub run_id: String,
    /// The trace the run joined (its root span id follows from the run id).
    pub joined_trace_id: Option<String>,
    pub parent_span_id: Option<String>,
    pub created_at: Millis,
}

/// A run's time to live: as the caller wrote it, and in milliseconds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ttl {
    pub text: String,
    pub ms: Millis,
}

/// An idempotency key and how long it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub key: String,
    /// The key as the caller's code named it, before the SDK hashed it.
    pub user_key: Option<String>,
    pub scope: Option<String>,
    pub ttl_ms: Millis,
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

/// Validates the body of a trigger call: everything that does not need the store. Times
/// (the delay) are resolved against `now`.
pub fn prepare(
    task_id: &str,
    payload: Option<Value>,
    options: TriggerOptions,
    max_payload: usize,
    now: Millis,
) -> Result<NewRun> {
    refuse_unsupported(&options)?;
    let mut new = NewRun::new(task_id, payload, options.payload_type.clone(), max_payload)?;
    new.tags = parse_tags(options.tags.as_ref())?;
    new.metadata = parse_metadata(options.metadata.as_ref())?;
    new.concurrency_key = match &options.concurrency_key {
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
    if let Some(t) = options.metadata_type {
        new.metadata_type = t;
    }
    new.queue = options.queue.map(|q| q.name().to_string());
    new.version = options.lock_to_version.or(options.version);
    new.debounce = debounce::parse(options.debounce.as_ref())?;
    new.region = parse_region(options.region.as_ref(), "region")?;
    // A debounced run waits `debounce.delay` unless the trigger names its own delay.
    new.delay_until = parse_delay(options.delay.as_ref(), now)?
        .or(new.debounce.as_ref().map(|d| now + d.delay_ms))
        .filter(|t| *t > now);
    new.ttl = parse_ttl(options.ttl.as_ref())?.map(|(text, ms)| Ttl { text, ms });
    new.priority_ms = options
        .priority
        .map_or(0, |p| (p * 1000.0).round() as Millis);
    new.idempotency = match options.idempotency_key {
        Some(key) => Some(IdempotencyKey {
            key,
            user_key: options
                .idempotency_key_options
                .as_ref()
                .map(|k| k.key.clone()),
            scope: options.idempotency_key_options.and_then(|k| k.scope),
            ttl_ms: idempotency_ttl(options.idempotency_key_ttl.as_deref())?,
        }),
        None => None,
    };
    new.max_attempts = options.max_attempts;
    new.max_duration_secs = options.max_duration.map(|d| d as i64);
    new.machine = options.machine;
    new.parent_run_id = options.parent_run_id;
    new.is_test = options.test.unwrap_or(false);
    Ok(new)
}

impl NewRun {
    /// A run of `task_id` with this payload and every option at its default.
    pub fn new(
        task_id: &str,
        payload: Option<Value>,
        payload_type: Option<String>,
        max_payload: usize,
    ) -> Result<NewRun> {
        if task_id.is_empty() || task_id.len() > 128 {
            return Err(Error::invalid("The task id must be 1-128 characters"));
        }
        let payload_type = payload_type.unwrap_or_else(|| packet::JSON.to_string());
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
            Some(p) => {
                packet::to_value(p, &payload_type).map_err(|e| Error::invalid(e.to_string()))?
            }
            None => Value::Null,
        };
        Ok(NewRun {
            fixed: None,
            task_id: task_id.to_string(),
            payload,
            payload_type,
            payload_value,
            tags: Vec::new(),
            metadata: None,
            metadata_type: packet::JSON.to_string(),
            concurrency_key: String::new(),
            queue: None,
            version: None,
            region: None,
            delay_until: None,
            ttl: None,
            priority_ms: 0,
            idempotency: None,
            max_attempts: None,
            max_duration_secs: None,
            machine: None,
            parent_run_id: None,
            is_test: false,
            request_key: None,
            batch: None,
            trigger_function: "trigger",
            reuse: None,
            trace: None,
            parent_span: None,
            debounce: None,
        })
    }
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
    if o.payload_size.is_some_and(|n| n < 0) {
        return Err(Error::invalid(
            "payloadSize must be a number of bytes, 0 or more",
        ));
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

/// A region named by a caller (`field` names it in the error): a string of
/// [`trigr_types::region::check`], or `None` for absent or `null`.
pub fn parse_region(v: Option<&Value>, field: &str) -> Result<Option<String>> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => check_region(Some(s.clone()), field),
        Some(_) => Err(Error::invalid(format!("{field} must be a string"))),
    }
}

/// A region named by a worker or an operator (`field` names it in the error), checked by
/// [`trigr_types::region::check`].
pub fn check_region(region: Option<String>, field: &str) -> Result<Option<String>> {
    match region {
        None => Ok(None),
        Some(s) => match trigr_types::region::check(&s) {
            Ok(()) => Ok(Some(s)),
            Err(e) => Err(Error::invalid(format!(
                "{field} '{}' {e}",
                truncated(&s, trigr_types::region::MAX_LEN).replace('\0', "\\0")
            ))),
        },
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
