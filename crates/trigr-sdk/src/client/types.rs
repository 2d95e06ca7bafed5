//! Values the management API sends and takes: runs, trigger options, pages.
//!
//! The answers are read as the server writes them, as the types of `trigr_types::wire`, and
//! turned into these friendlier values (a status as [`RunStatus`], times as `chrono` times).

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use trigr_types::wire::common::CursorPagination;
use trigr_types::wire::{common, runs, trigger as wire};

use crate::error::{Error, Result};
use crate::task_error::ErrorBody;

pub use trigr_types::RunStatus;

/// The answer to a trigger: the new (or, with an idempotency key, the existing) run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunHandle {
    /// Run id, `run_…`.
    pub id: String,
    /// `true` when an idempotency key matched an existing run.
    #[serde(default)]
    pub is_cached: bool,
    /// The deployment version the run is locked to, when one is current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

impl From<runs::Triggered> for RunHandle {
    fn from(t: runs::Triggered) -> RunHandle {
        RunHandle {
            id: t.id,
            is_cached: t.is_cached,
            version: t.version,
        }
    }
}

impl From<common::Id> for RunHandle {
    /// A new run known by its id alone (a replay's).
    fn from(new: common::Id) -> RunHandle {
        RunHandle {
            id: new.id,
            is_cached: false,
            version: None,
        }
    }
}

/// A run as `GET /api/v3/runs/{id}` shows it (read as [`runs::Run`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "runs::Run")]
pub struct Run {
    /// Run id, `run_…`.
    pub id: String,
    /// Current status.
    pub status: RunStatus,
    /// The task's id.
    pub task_identifier: String,
    /// Version the run is locked to.
    pub version: Option<String>,
    /// Tags of the run.
    pub tags: Vec<String>,
    /// Metadata object.
    pub metadata: Option<Value>,
    /// Payload as plain JSON.
    pub payload: Option<Value>,
    /// Output of a completed run.
    pub output: Option<Value>,
    /// Error of a failed run.
    pub error: Option<ErrorBody>,
    /// Attempts made so far.
    pub attempt_count: u32,
    /// Whether the run was triggered as a test.
    pub is_test: bool,
    /// The user's idempotency key, if any.
    pub idempotency_key: Option<String>,
    /// The batch the run belongs to.
    pub batch_id: Option<String>,
    /// When the run was triggered.
    pub created_at: DateTime<Utc>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
    /// Its attempts, by number: how each started and ended.
    pub attempts: Vec<RunAttempt>,
}

/// One attempt of a run (`attempts` of `GET /api/v3/runs/{id}`).
#[derive(Clone, Debug, PartialEq)]
pub struct RunAttempt {
    /// 1, 2, 3, …
    pub number: u32,
    /// `EXECUTING` (a worker holds it), `PAUSED` (suspended on a wait), `COMPLETED`, `FAILED`
    /// or `CANCELED`.
    pub status: String,
    /// How it ended: `COMPLETED`, `FAILED`, `LEASE_LOST` (its worker stopped heartbeating),
    /// `TIMED_OUT` (past `maxDuration`) or `CANCELED`; `None` while it goes on.
    pub outcome: Option<String>,
    /// When it started.
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    pub ended_at: Option<DateTime<Utc>>,
    /// The error it ended with.
    pub error: Option<ErrorBody>,
    /// When the next attempt may start, when this one was retried.
    pub retry_at: Option<DateTime<Utc>>,
    /// While it runs, when its worker last proved it was alive.
    pub last_heartbeat_at: Option<DateTime<Utc>>,
}

impl TryFrom<runs::Attempt> for RunAttempt {
    type Error = String;

    fn try_from(a: runs::Attempt) -> std::result::Result<RunAttempt, String> {
        let error = a
            .error
            .filter(|e| !e.is_null())
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| format!("the error of attempt {}: {e}", a.number))?;
        Ok(RunAttempt {
            number: u32::try_from(a.number).unwrap_or_default(),
            status: a.status,
            outcome: a.outcome,
            started_at: a.started_at.map(|t| t.to_datetime()),
            ended_at: a.completed_at.map(|t| t.to_datetime()),
            error,
            retry_at: a.retry_at.map(|t| t.to_datetime()),
            last_heartbeat_at: a.last_heartbeat_at.map(|t| t.to_datetime()),
        })
    }
}

impl TryFrom<runs::Run> for Run {
    type Error = String;

    fn try_from(wire: runs::Run) -> std::result::Result<Run, String> {
        let c = wire.summary.common;
        let error = wire
            .error
            .filter(|e| !e.is_null())
            .map(serde_json::from_value)
            .transpose()
            .map_err(|e| format!("the run's error: {e}"))?;
        Ok(Run {
            status: status_of(&c.status)?,
            id: c.id,
            task_identifier: c.task_identifier,
            version: c.version,
            tags: c.tags,
            metadata: c.metadata,
            payload: wire.payload,
            output: wire.output,
            error,
            attempt_count: u32::try_from(wire.attempt_count).unwrap_or_default(),
            is_test: c.is_test,
            idempotency_key: c.idempotency_key,
            batch_id: c.batch_id,
            created_at: c.created_at.to_datetime(),
            started_at: c.started_at.map(|t| t.to_datetime()),
            finished_at: c.finished_at.map(|t| t.to_datetime()),
            attempts: wire
                .attempts
                .into_iter()
                .map(RunAttempt::try_from)
                .collect::<std::result::Result<_, _>>()?,
        })
    }
}

impl Run {
    /// The output decoded as `T` (`Ok(None)` while the run has no output).
    pub fn output_as<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.output
            .clone()
            .map(|o| serde_json::from_value(o).map_err(|e| Error::json("the run's output", e)))
            .transpose()
    }
}

/// A run in a list (`GET /api/v1/runs`, read as [`runs::RunListItem`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(try_from = "runs::RunListItem")]
pub struct RunSummary {
    /// Run id.
    pub id: String,
    /// Current status.
    pub status: RunStatus,
    /// The task's id.
    pub task_identifier: String,
    /// Version the run is locked to.
    pub version: Option<String>,
    /// Tags.
    pub tags: Vec<String>,
    /// When the run was triggered.
    pub created_at: DateTime<Utc>,
}

impl TryFrom<runs::RunListItem> for RunSummary {
    type Error = String;

    fn try_from(wire: runs::RunListItem) -> std::result::Result<RunSummary, String> {
        let c = wire.common;
        Ok(RunSummary {
            status: status_of(&c.status)?,
            id: c.id,
            task_identifier: c.task_identifier,
            version: c.version,
            tags: c.tags,
            created_at: c.created_at.to_datetime(),
        })
    }
}

/// One log entry of a run (`GET /api/v1/runs/{id}/logs`, read as [`runs::RunLogLine`]).
#[derive(Clone, Debug, Deserialize)]
#[serde(from = "runs::RunLogLine")]
pub struct LogEntry {
    /// `debug`, `log`, `info`, `warn` or `error`.
    pub level: String,
    /// The message.
    pub message: String,
    /// Structured fields, if any.
    pub fields: Option<Value>,
    /// When it was written.
    pub time: DateTime<Utc>,
    /// The attempt that wrote it (`None` for lines from before attempts were recorded).
    pub attempt: Option<u32>,
}

impl From<runs::RunLogLine> for LogEntry {
    fn from(wire: runs::RunLogLine) -> LogEntry {
        LogEntry {
            level: wire.level,
            message: wire.message,
            fields: wire.fields,
            time: wire.time.to_datetime(),
            attempt: wire.attempt.and_then(|n| u32::try_from(n).ok()),
        }
    }
}

/// One page of a cursor-paginated list.
#[derive(Clone, Debug)]
pub struct Page<T> {
    /// The items, newest first.
    pub data: Vec<T>,
    /// Cursor of the next page (`after`), when there is one.
    pub next: Option<String>,
}

/// A cursor-paged list answer (`{"data", "pagination"}`), its items read through their wire
/// types.
#[derive(Deserialize)]
pub(crate) struct WirePage<T> {
    data: Vec<T>,
    pagination: CursorPagination,
}

impl<T> From<WirePage<T>> for Page<T> {
    fn from(page: WirePage<T>) -> Page<T> {
        Page {
            data: page.data,
            next: page.pagination.next,
        }
    }
}

/// Filters of [`Client::list_runs`](crate::Client::list_runs).
#[derive(Clone, Debug, Default)]
pub struct ListRuns {
    pub(crate) statuses: Vec<RunStatus>,
    pub(crate) tasks: Vec<String>,
    pub(crate) tags: Vec<String>,
    pub(crate) limit: Option<u32>,
    pub(crate) after: Option<String>,
}

impl ListRuns {
    /// All runs, newest first, a page of the server's default size.
    pub fn new() -> ListRuns {
        ListRuns::default()
    }
    /// Only runs in this status (repeat for several).
    pub fn status(mut self, status: RunStatus) -> Self {
        self.statuses.push(status);
        self
    }
    /// Only runs of this task (repeat for several).
    pub fn task(mut self, task_id: impl Into<String>) -> Self {
        self.tasks.push(task_id.into());
        self
    }
    /// Only runs having this tag (any of several).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        self.tags.push(tag.into());
        self
    }
    /// Page size, 1–100.
    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }
    /// The page after this cursor ([`Page::next`]).
    pub fn after(mut self, cursor: impl Into<String>) -> Self {
        self.after = Some(cursor.into());
        self
    }

    pub(crate) fn query(&self) -> String {
        let mut pairs: Vec<(&str, String)> = Vec::new();
        let join = |v: &[String]| v.join(",");
        if !self.statuses.is_empty() {
            let s: Vec<String> = self.statuses.iter().map(|s| s.to_string()).collect();
            pairs.push(("filter[status]", join(&s)));
        }
        if !self.tasks.is_empty() {
            pairs.push(("filter[taskIdentifier]", join(&self.tasks)));
        }
        if !self.tags.is_empty() {
            pairs.push(("filter[tag]", join(&self.tags)));
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

pub(crate) fn query_string(pairs: &[(&str, String)]) -> String {
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", crate::http::encode(k), crate::http::encode(v)))
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

/// Options of a trigger (the `options` of `POST /api/v1/tasks/{id}/trigger`), written as the
/// wire's [`TriggerOptions`](trigr_types::wire::trigger::TriggerOptions) the server reads.
#[derive(Clone, Debug, Default)]
pub struct TriggerOptions {
    wire: wire::TriggerOptions,
}

impl TriggerOptions {
    /// No options: the task's own queue, retry policy and the current version.
    pub fn new() -> TriggerOptions {
        TriggerOptions::default()
    }
    /// The same key gives the same run while the key lives (and its run did not fail).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.wire.idempotency_key = Some(key.into());
        self
    }
    /// How long the idempotency key lives (default 30 days).
    pub fn idempotency_key_ttl(mut self, ttl: Duration) -> Self {
        self.wire.idempotency_key_ttl = Some(duration_text(ttl));
        self
    }
    /// Start no earlier than `delay` from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.wire.delay = Some(json!(duration_text(delay)));
        self
    }
    /// Start no earlier than `at`.
    pub fn delay_until(mut self, at: DateTime<Utc>) -> Self {
        self.wire.delay = Some(json!(rfc3339(at)));
        self
    }
    /// Expire when not started within `ttl`.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.wire.ttl = Some(json!(duration_text(ttl)));
        self
    }
    /// Adds a tag (at most 10 per run).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let tags = self.wire.tags.get_or_insert_with(|| json!([]));
        if let Value::Array(list) = tags {
            list.push(json!(tag.into()));
        }
        self
    }
    /// Initial metadata (a JSON object).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.wire.metadata = Some(metadata);
        self
    }
    /// Seconds of head start in the queue.
    pub fn priority(mut self, seconds: f64) -> Self {
        self.wire.priority = Some(seconds);
        self
    }
    /// Run on this queue instead of the task's.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        self.wire.queue = Some(wire::QueueOption::Named { name: name.into() });
        self
    }
    /// Per-key concurrency partition of the queue (per tenant, per user, …).
    pub fn concurrency_key(mut self, key: impl Into<String>) -> Self {
        self.wire.concurrency_key = Some(json!(key.into()));
        self
    }
    /// Overrides the task's number of attempts.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.wire.max_attempts = Some(i64::from(attempts));
        self
    }
    /// Overrides the task's longest attempt (whole seconds, at least one).
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.wire.max_duration = Some(max.as_secs().max(1) as f64);
        self
    }
    /// Machine preset, e.g. `small-2x`.
    pub fn machine(mut self, machine: impl Into<String>) -> Self {
        self.wire.machine = Some(machine.into());
        self
    }
    /// Lock the run to this deployment version instead of the current one.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.wire.lock_to_version = Some(version.into());
        self
    }
    /// Coalesces this trigger with the task's other triggers carrying the same `key` into one
    /// run, which starts once `delay` passes without another such trigger (see [`Debounce`]).
    /// The answer names the run that will execute.
    pub fn debounce(mut self, debounce: Debounce) -> Self {
        self.wire.debounce = Some(debounce.wire);
        self
    }

    pub(crate) fn parent_run(mut self, run_id: &str) -> Self {
        self.wire.parent_run_id = Some(run_id.to_string());
        self
    }

    pub(crate) fn has_idempotency_key(&self) -> bool {
        self.wire.idempotency_key.is_some()
    }

    /// The options as the wire carries them.
    pub fn to_wire(&self) -> wire::TriggerOptions {
        self.wire.clone()
    }

    /// The options as JSON.
    pub fn to_json(&self) -> Value {
        serde_json::to_value(&self.wire).unwrap_or_default()
    }
}

/// The `debounce` option of a trigger: triggers of one task with the same key coalesce into
/// one delayed run. In `leading` mode (the default) it runs with the first trigger's payload;
/// [`Debounce::trailing`] makes each later trigger replace it.
#[derive(Clone, Debug)]
pub struct Debounce {
    wire: wire::DebounceOption,
}

impl Debounce {
    /// Triggers with `key` (at most 512 characters) push the run to `delay` (at least one
    /// second) after the latest of them.
    pub fn new(key: impl Into<String>, delay: Duration) -> Debounce {
        Debounce {
            wire: wire::DebounceOption {
                key: key.into(),
                delay: duration_text(delay),
                mode: None,
                max_delay: None,
            },
        }
    }
    /// The run executes with the latest trigger's payload, metadata, tags and limits.
    pub fn trailing(mut self) -> Self {
        self.wire.mode = Some(wire::DebounceMode::Trailing);
        self
    }
    /// The run executes with the first trigger's data (the default).
    pub fn leading(mut self) -> Self {
        self.wire.mode = Some(wire::DebounceMode::Leading);
        self
    }
    /// A trigger that would push the run later than `max` after the first trigger makes a new
    /// run instead (`max` must be longer than the delay).
    pub fn max_delay(mut self, max: Duration) -> Self {
        self.wire.max_delay = Some(duration_text(max));
        self
    }
}

/// A duration in the API's grammar: whole seconds, at least one (`"90s"`).
pub(crate) fn duration_text(d: Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    format!("{}s", secs.max(1))
}

/// RFC 3339 UTC with milliseconds, as the protocol writes times.
pub(crate) fn rfc3339(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

fn status_of(name: &str) -> std::result::Result<RunStatus, String> {
    name.parse().map_err(|e| format!("{e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_serialize_like_the_official_sdk() {
        let o = TriggerOptions::new()
            .tag("a")
            .tag("b")
            .delay(Duration::from_millis(1500))
            .queue("emails")
            .idempotency_key_ttl(Duration::from_secs(3600))
            .version("20260101.1");
        assert_eq!(
            o.to_json(),
            json!({"tags": ["a", "b"], "delay": "2s", "queue": {"name": "emails"},
                   "idempotencyKeyTTL": "3600s", "lockToVersion": "20260101.1"})
        );
    }

    #[test]
    fn list_query_is_encoded() {
        let q = ListRuns::new()
            .status(RunStatus::Completed)
            .status(RunStatus::Failed)
            .task("hello")
            .limit(5)
            .query();
        assert_eq!(
            q,
            "?filter%5Bstatus%5D=COMPLETED%2CFAILED&filter%5BtaskIdentifier%5D=hello&page%5Bsize%5D=5"
        );
        assert_eq!(ListRuns::new().query(), "");
    }

    #[test]
    fn runs_decode_with_statuses() {
        let run: Run = serde_json::from_value(json!({
            "id": "run_1", "status": "COMPLETED", "taskIdentifier": "t",
            "isQueued": false, "isExecuting": false, "isWaiting": false, "isCompleted": true,
            "isSuccess": true, "isFailed": false, "isCancelled": false, "isTest": false,
            "createdAt": "2026-01-01T00:00:00.000Z", "updatedAt": "2026-01-01T00:00:01.000Z",
            "tags": [], "costInCents": 0, "baseCostInCents": 0, "durationMs": 0,
            "depth": 0, "triggerFunction": "trigger", "attemptCount": 2, "attempt": 2,
            "output": {"n": 1}, "relatedRuns": {}, "queue": "task/t", "priority": 0,
            "realtimeStreams": []
        }))
        .expect("run");
        assert_eq!(run.status, RunStatus::Completed);
        assert_eq!(run.attempt_count, 2);
        #[derive(Deserialize)]
        struct Out {
            n: u32,
        }
        let out: Out = run.output_as().expect("decode").expect("output");
        assert_eq!(out.n, 1);
    }
}
