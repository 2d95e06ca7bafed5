//! The answers of the runs API (reference §2, §3.1): a trigger, a run as retrieve and list
//! show it, metadata, logs, and the small answers of the run actions.
//!
//! A field the server leaves out when it has no value is an `Option` skipped when `None`;
//! a field it writes as `null` is an `Option` that is always written.

use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use super::common::CursorPagination;
use super::{present, Timestamp};

/// Answer of `POST /api/v1/tasks/{id}/trigger`: a new (or, by idempotency key, existing) run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Triggered {
    pub id: String,
    pub is_cached: bool,
    /// The version the run is locked to; absent while it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub version: Option<String>,
}

/// The fields every view of a run has.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunCommon {
    pub id: String,
    /// The run's status; `EXECUTING` for `DEQUEUED` and `FROZEN` for `WAITING` unless the
    /// caller sends `x-trigger-api-version: 2025-07-16`.
    pub status: String,
    pub task_identifier: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub version: Option<String>,
    pub is_queued: bool,
    pub is_executing: bool,
    pub is_waiting: bool,
    pub is_completed: bool,
    pub is_success: bool,
    pub is_failed: bool,
    pub is_cancelled: bool,
    pub is_test: bool,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub finished_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub delayed_until: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub expired_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub ttl: Option<String>,
    pub tags: Vec<String>,
    /// Always 0: trigr does not bill.
    pub cost_in_cents: i64,
    /// Always 0.
    pub base_cost_in_cents: i64,
    pub duration_ms: i64,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub batch_id: Option<String>,
    /// The region (worker group) whose workers run it. Every trigr run has one; an older
    /// server's answer has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, example = "default"))]
    pub region: Option<String>,
    /// The run's W3C trace id (32 hex digits): the caller's when the trigger carried a
    /// `traceparent`, the parent run's for a child run. Absent for runs from before traces.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub trace_id: Option<String>,
}

/// A related run (`relatedRuns`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[serde(flatten)]
    pub common: RunCommon,
    pub depth: i64,
    pub trigger_function: String,
}

/// `relatedRuns` of a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RelatedRuns {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub root: Option<RunSummary>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent: Option<RunSummary>,
    /// Absent when the run has none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<RunSummary>,
}

/// Why a run that is not final and not executing waits (a trigr addition).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct WaitingFor {
    /// `PENDING_VERSION`, `DELAYED`, `WAITING`, `QUEUE_PAUSED`, `NO_WORKER`,
    /// `CONCURRENCY_LIMIT` or `QUEUED`.
    pub reason: String,
    pub message: String,
}

/// One attempt of a run (a trigr addition in the shape of upstream's legacy `attempts`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Attempt {
    /// `attempt_<run>_<number>`.
    pub id: String,
    /// 1, 2, 3, …
    pub number: i64,
    /// `EXECUTING` (a worker holds it), `PAUSED` (suspended on a wait), `COMPLETED`,
    /// `FAILED` or `CANCELED`.
    pub status: String,
    /// How it ended: `COMPLETED`, `FAILED` (the task failed), `LEASE_LOST` (its worker
    /// stopped heartbeating), `TIMED_OUT` (past `maxDuration`) or `CANCELED`; absent while it
    /// goes on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub outcome: Option<String>,
    /// When it started (when not known, when it ended).
    pub created_at: Timestamp,
    /// When it last changed: its end, or its last heartbeat.
    pub updated_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub started_at: Option<Timestamp>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub completed_at: Option<Timestamp>,
    /// The error it ended with: `{message, name?, stackTrace?}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub error: Option<Value>,
    /// When the next attempt may start, when this one was retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub retry_at: Option<Timestamp>,
    /// When its worker last proved it was alive (dequeue or heartbeat), while it runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub last_heartbeat_at: Option<Timestamp>,
}

/// Answer of `GET /api/v3/runs/{id}`: a run and its related runs. The fields after
/// `relatedRuns` are trigr additions, which the official SDK ignores.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Run {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub attempt_count: i64,
    /// The payload as plain JSON, when the run has one.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub payload: Option<Value>,
    /// The output as plain JSON, once the run completed.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Value>,
    /// The run's error, once it ended without completing (an attempt that was retried keeps
    /// its error in `attempts`).
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub error: Option<Value>,
    pub related_runs: RelatedRuns,
    pub attempt: i64,
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub concurrency_key: Option<String>,
    /// Seconds of head start in the queue, as the trigger gave them (a whole number, or a
    /// fraction).
    #[cfg_attr(feature = "openapi", schema(value_type = f64))]
    pub priority: Number,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub max_attempts: Option<i64>,
    /// Seconds an attempt may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub max_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub root_run_id: Option<String>,
    /// Why the run is not running, when it is not final and not executing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub waiting_for: Option<WaitingFor>,
    /// The keys of the run's output streams, in the order they were opened.
    pub realtime_streams: Vec<String>,
    /// Its attempts, by number: how each started and ended.
    #[serde(default)]
    pub attempts: Vec<Attempt>,
    /// When the worker holding the run last proved it was alive (dequeue or heartbeat), while
    /// one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub last_heartbeat_at: Option<Timestamp>,
}

/// The environment of a listed run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunEnvironment {
    pub id: String,
    /// The environment's slug.
    pub name: String,
}

/// A run in a list.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunListItem {
    #[serde(flatten)]
    pub common: RunCommon,
    pub env: RunEnvironment,
}

/// Answer of `GET /api/v1/runs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunList {
    pub data: Vec<RunListItem>,
    pub pagination: CursorPagination,
}

/// Answer of `POST /api/v2/runs/{id}/cancel`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Canceled {
    pub id: String,
    /// The run's status now (a trigr addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub status: Option<String>,
    /// The run had already finished, with `status`: nothing was canceled (a trigr addition).
    #[serde(default)]
    pub already_finished: bool,
}

/// Body of `POST /api/v1/runs/cancel`: the runs to cancel, at most 100.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"runIds": ["run_a", "run_b"], "reason": "Duplicates"}))
)]
#[serde(rename_all = "camelCase")]
pub struct CancelRunsBody {
    pub run_ids: Vec<String>,
    /// Why (1 to 1000 characters): each run cancelled keeps it as its error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One run's outcome in `POST /api/v1/runs/cancel`: its status now, or why it could not be
/// cancelled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CancelOutcome {
    pub id: String,
    /// The run's status now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// The run had finished before: nothing was cancelled.
    #[serde(default)]
    pub already_finished: bool,
    /// Why the run could not be cancelled (an unknown id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Answer of `POST /api/v1/runs/cancel`, one outcome per id in the order sent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunsCanceled {
    pub data: Vec<CancelOutcome>,
}

/// Answer of `GET /api/v1/runs/{id}/metadata`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub metadata: Value,
    /// `application/json`.
    pub metadata_type: String,
}

/// Answer of `PUT /api/v1/runs/{id}/metadata`: the run's new metadata.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct MetadataUpdated {
    pub metadata: Value,
}

/// A log line of a run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RunLogLine {
    pub time: Timestamp,
    /// `debug`, `log`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    /// The line's structured fields (a JSON object), when it has some.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub fields: Option<Value>,
    /// The attempt that wrote it (a trigr addition); absent for lines kept from before
    /// attempts were recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub attempt: Option<i64>,
}

/// `pagination` of a log page.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPagination {
    /// The next page's `page[after]`, when there is more.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub next: Option<String>,
    /// Where lines written later start (a trigr addition).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub cursor: Option<String>,
}

/// Answer of `GET /api/v1/runs/{id}/logs`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogPage {
    pub data: Vec<RunLogLine>,
    pub pagination: LogPagination,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn common() -> Value {
        json!({
            "id": "run_1", "status": "EXECUTING", "taskIdentifier": "t",
            "isQueued": false, "isExecuting": true, "isWaiting": false, "isCompleted": false,
            "isSuccess": false, "isFailed": false, "isCancelled": false, "isTest": false,
            "createdAt": "2026-11-26T21:00:00.000Z", "updatedAt": "2026-11-26T21:00:01.000Z",
            "tags": [], "costInCents": 0, "baseCostInCents": 0, "durationMs": 0,
            "metadata": null,
        })
    }

    #[test]
    fn a_run_read_back_writes_the_same_json() {
        let mut run = common();
        let extra = json!({
            "depth": 0, "triggerFunction": "trigger", "attemptCount": 1,
            "payload": null, "relatedRuns": {"children": [
                {"depth": 1, "triggerFunction": "triggerAndWait"}
            ]},
            "attempt": 1, "queue": "task/t", "priority": 0.5, "realtimeStreams": ["s"],
            "waitingFor": {"reason": "QUEUED", "message": "m"},
            "attempts": [{"id": "attempt_1_1", "number": 1, "status": "FAILED",
                "outcome": "LEASE_LOST", "createdAt": "2026-11-26T21:00:00.000Z",
                "updatedAt": "2026-11-26T21:00:01.000Z", "startedAt": "2026-11-26T21:00:00.000Z",
                "completedAt": "2026-11-26T21:00:01.000Z", "error": {"message": "gone"},
                "retryAt": "2026-11-26T21:00:02.000Z"}],
            "lastHeartbeatAt": "2026-11-26T21:00:03.000Z",
        });
        run.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let child = &mut run["relatedRuns"]["children"][0];
        child
            .as_object_mut()
            .unwrap()
            .extend(common().as_object().unwrap().clone());
        let read: Run = serde_json::from_value(run.clone()).unwrap();
        assert_eq!(read.payload, Some(Value::Null));
        assert_eq!(serde_json::to_value(&read).unwrap(), run);
        run["priority"] = json!(5);
        run["relatedRuns"] = json!({});
        let whole: Run = serde_json::from_value(run.clone()).unwrap();
        assert_eq!(serde_json::to_value(&whole).unwrap(), run);
    }
}
