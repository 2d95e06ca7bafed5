//! The worker protocol (`docs/worker-protocol.md`): the body of every call under
//! `/api/v1/worker/…` and every answer. The server reads the bodies and hands them to the
//! engine's checking functions (`trigr_engine::complete::check`, `steps::check`, …), which
//! turn them into the domain values the commands take.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trigger::TriggerOptions;
use super::{present, run_status, Timestamp};
use crate::manifest::TaskManifest;
use crate::RunStatus;

/// Body of `POST /api/v1/worker/deployments` (§2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"tasks": [{"id": "send-email", "queue": {"name": "emails", "concurrencyLimit": 10}}], "promote": true}))
)]
#[serde(rename_all = "camelCase")]
pub struct RegisterBody {
    #[cfg_attr(feature = "openapi", schema(min_items = 1))]
    #[serde(deserialize_with = "super::object::list")]
    pub tasks: Vec<TaskManifest>,
    /// Make the deployment current at once (always so in `dev`).
    #[serde(default)]
    pub promote: bool,
    /// Names the build (1-128 characters): a registration of the same build and manifest
    /// gets the same deployment back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_hash: Option<String>,
    /// The region the registering worker serves (the environment's default when absent):
    /// like a dequeue, the registration shows that region has a worker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
}

/// Answer of `POST /api/v1/worker/deployments`: a registered deployment.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DeploymentRegistered {
    pub id: String,
    pub version: String,
    pub current: bool,
    /// `true` when the deployment of the same build (`contentHash`) was returned.
    pub reused: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub promoted_at: Option<Timestamp>,
}

/// Body of `POST /api/v1/worker/dequeue` (§3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"version": "20261126.1", "maxRuns": 10, "waitMs": 0}))
)]
#[serde(rename_all = "camelCase")]
pub struct DequeueBody {
    pub version: String,
    /// Most runs to hand out (1 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 500))]
    pub max_runs: Option<usize>,
    /// How long to wait, in milliseconds, when no run is ready (0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(maximum = 30000))]
    pub wait_ms: Option<u64>,
    /// Names the worker (`host:pid`), for its operator; the server does not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker_id: Option<String>,
    /// Hand the runs out already `EXECUTING` (no first heartbeat needed).
    #[serde(default)]
    pub start: bool,
    /// The region (worker group) the worker serves: only its runs are handed out. The
    /// environment's default region when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(example = "us-east-1"))]
    pub region: Option<String>,
}

/// Answer of `POST /api/v1/worker/dequeue`: the runs handed out, possibly none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Dequeued {
    pub runs: Vec<DequeuedRun>,
}

/// A run handed to a worker (§3, §7.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DequeuedRun {
    pub run_id: String,
    pub task_identifier: String,
    /// This attempt's number, from 1 (a resume keeps it).
    pub attempt: u32,
    /// The attempt's fencing token: every later call about the run presents it.
    pub lease: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub lease_expires_at: Option<Timestamp>,
    /// The payload as plain JSON (`null` when the run has none).
    pub payload: Value,
    pub payload_type: String,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub metadata: Option<Value>,
    pub tags: Vec<String>,
    pub is_test: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub version: Option<String>,
    pub queue: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub concurrency_key: Option<String>,
    /// The attempts the run's retry policy allows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub max_attempts: Option<u32>,
    /// Seconds an attempt may run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub max_duration: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub idempotency_key: Option<String>,
    pub created_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub started_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub parent_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub root_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub batch_id: Option<String>,
    pub environment: DequeuedEnvironment,
    /// What the run already did, to replay (empty for a fresh run).
    pub journal: Vec<JournalEntry>,
    /// `true` when the attempt continues a run that was `WAITING`.
    pub resumed: bool,
    /// The run's W3C trace id, for the `traceparent` of calls the run makes (absent for runs
    /// from before traces).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub trace_id: Option<String>,
}

/// The environment of a dequeued run.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DequeuedEnvironment {
    pub id: String,
    pub slug: String,
    /// `DEVELOPMENT`, `STAGING`, `PRODUCTION` or `PREVIEW`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// The kind of a journal entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum JournalKind {
    Step,
    Wait,
}

impl JournalKind {
    pub fn as_str(self) -> &'static str {
        match self {
            JournalKind::Step => "step",
            JournalKind::Wait => "wait",
        }
    }
}

/// Where a wait stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum WaitStatus {
    Waiting,
    Completed,
    TimedOut,
}

impl WaitStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitStatus::Waiting => "WAITING",
            WaitStatus::Completed => "COMPLETED",
            WaitStatus::TimedOut => "TIMED_OUT",
        }
    }
}

/// An error as a task reports it (a failed attempt) and as a wait that timed out carries it
/// (`name` is `WaitpointTimeoutError`): `{"message", "name"?, "stackTrace"?}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"message": "The card was declined", "name": "PaymentError"}))
)]
#[serde(rename_all = "camelCase")]
pub struct TaskError {
    pub message: String,
    /// The error's kind (`TypeError`, `WaitpointTimeoutError`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_trace: Option<String>,
}

/// One entry of a run's journal (§7.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct JournalEntry {
    pub position: u32,
    pub kind: JournalKind,
    pub name: String,
    /// A step's output, or a completed wait's.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub waitpoint_id: Option<String>,
    /// A wait's status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub status: Option<WaitStatus>,
    /// A timed-out wait's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    #[serde(deserialize_with = "super::object::option")]
    pub error: Option<TaskError>,
}

/// Body of a call fenced by the lease alone (`POST /api/v1/worker/runs/{id}/heartbeat`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0"}))
)]
pub struct LeaseBody {
    pub lease: String,
}

/// Body of `POST /api/v1/worker/runs/{id}/complete`, and one item of
/// `POST /api/v1/worker/complete`: a worker's report on one attempt (§5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0", "ok": true, "output": {"sent": true}}))
)]
#[serde(rename_all = "camelCase")]
pub struct CompletionBody {
    /// The run, in a batched completion (the single call names it in its path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    pub lease: String,
    /// `true`: the attempt succeeded with `output`; `false`: it failed with `error`.
    pub ok: bool,
    /// The task's result (`null` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    /// The packet type of `output` (`application/json` when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_type: Option<String>,
    /// Why the attempt failed (required when `ok` is `false`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::object::option")]
    pub error: Option<TaskError>,
    /// `false`: do not retry, whatever attempts remain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<bool>,
    /// The backoff before the retry, instead of the retry policy's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_ms: Option<u64>,
}

/// Body of `POST /api/v1/worker/complete`: many completions in one commit, each naming its
/// run (`runId`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"completions": [{"runId": "run_1", "lease": "lease_0", "ok": true, "output": {"sent": true}}]}))
)]
pub struct CompleteManyBody {
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    #[serde(deserialize_with = "super::object::list")]
    pub completions: Vec<CompletionBody>,
}

/// Body of `POST /api/v1/worker/runs/{id}/steps`: a step's result to journal (§7.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0", "position": 0, "name": "charge-card", "output": {"id": "ch_1"}}))
)]
pub struct StepBody {
    pub lease: String,
    pub position: u32,
    pub name: String,
    /// The step's result (`null` when absent).
    #[serde(default)]
    pub output: Value,
}

/// Body of `POST /api/v1/worker/runs/{id}/waits`: a wait at a journal position (§7.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0", "position": 1, "name": "wait.for", "suspend": true, "wait": {"type": "duration", "ms": 1000}}))
)]
pub struct WaitBody {
    pub lease: String,
    pub position: u32,
    pub name: String,
    /// Suspend the run (`WAITING`, its lease over) while the wait is incomplete.
    #[serde(default)]
    pub suspend: bool,
    pub wait: WaitFor,
}

/// What to wait for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum WaitFor {
    /// A number of milliseconds.
    Duration { ms: i64 },
    /// An ISO 8601 date.
    Until { date: String },
    /// A waitpoint token's completion.
    Token {
        #[serde(rename = "tokenId")]
        token_id: String,
    },
    /// A child run, triggered by the wait.
    Run {
        task: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        payload: Option<Value>,
        #[serde(default)]
        #[serde(deserialize_with = "super::object::boxed")]
        options: Box<TriggerOptions>,
        /// The worker's `trigger` span for this child (16 hex digits): the child's root span
        /// hangs under it, in the parent run's trace.
        #[serde(default, rename = "spanId", skip_serializing_if = "Option::is_none")]
        span_id: Option<String>,
    },
    /// A batch of child runs, triggered by the wait.
    Batch {
        #[cfg_attr(feature = "openapi", schema(min_items = 1, max_items = 500))]
        #[serde(deserialize_with = "super::object::list")]
        items: Vec<ChildRun>,
    },
    /// The next message of the run's input stream after message `after` (the last one this
    /// run's `once`/`wait` calls consumed), or a timeout.
    Input {
        #[serde(rename = "streamId")]
        stream_id: String,
        #[serde(default)]
        after: i64,
        #[serde(default, rename = "timeoutMs", skip_serializing_if = "Option::is_none")]
        timeout_ms: Option<i64>,
    },
}

/// One child of a batch wait. Its payload is plain JSON unless `options.payloadType` names
/// another packet type (a SuperJSON or text string).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ChildRun {
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default)]
    #[serde(deserialize_with = "super::object::one")]
    pub options: TriggerOptions,
    /// The worker's `trigger` span for this child (16 hex digits): the child's root span
    /// hangs under it, in the parent run's trace.
    #[serde(default, rename = "spanId", skip_serializing_if = "Option::is_none")]
    pub span_id: Option<String>,
}

/// Body of `POST /api/v1/worker/runs/{id}/logs`: log lines to append (§7.5).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0", "entries": [{"level": "info", "message": "sent", "fields": {"to": "a@b.c"}, "time": "2026-11-26T21:00:00.000Z"}]}))
)]
pub struct LogsBody {
    pub lease: String,
    #[cfg_attr(feature = "openapi", schema(max_items = 500))]
    #[serde(deserialize_with = "super::object::list")]
    pub entries: Vec<LogLine>,
}

/// One log line as a worker sends it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct LogLine {
    /// `debug`, `log`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    /// Any JSON, usually an object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
    /// RFC 3339; the server's time of arrival when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
}

/// Body of `POST /api/v1/worker/runs/{id}/input/{streamId}/ack`: `consumer` is done with
/// message `seq` (§7.6).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"lease": "lease_0", "consumer": "approvals", "seq": 1}))
)]
pub struct InputAckBody {
    pub lease: String,
    pub consumer: String,
    pub seq: i64,
}

/// Answer of a heartbeat (§4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Heartbeat {
    /// The run's status (`EXECUTING`).
    #[serde(with = "run_status")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: RunStatus,
    /// When the extended lease ends.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub lease_expires_at: Option<Timestamp>,
}

/// What a completion did to the run (§5).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Completed {
    pub run_id: String,
    /// `COMPLETED`, `FAILED` or `QUEUED` (retried).
    #[serde(with = "run_status")]
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub status: RunStatus,
    pub will_retry: bool,
    /// When the retry may start (only when `willRetry`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub retry_at: Option<Timestamp>,
}

/// A completion of a batched call that was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CompletionRefused {
    pub run_id: String,
    pub error: String,
    /// `lease_lost`, `non_determinism` or `error`.
    pub code: String,
    /// The HTTP status the single call would have answered.
    pub status: u16,
}

/// One result of a batched completion.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(untagged)]
pub enum CompletionResult {
    Completed(Completed),
    Refused(CompletionRefused),
}

/// Answer of `POST /api/v1/worker/complete`: one result per completion, in order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct CompletionResults {
    pub results: Vec<CompletionResult>,
}

/// Answer of `POST /api/v1/worker/runs/{id}/steps`: a journaled step (§7.2).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct StepRecorded {
    pub position: u32,
    /// `false` when the position was journaled already (the first result wins).
    pub recorded: bool,
    /// The entry already at the position, when this call recorded nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub entry: Option<JournalEntry>,
}

/// Answer of a wait and of its long-poll: where the wait stands (§7.3).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WaitState {
    pub position: u32,
    pub waitpoint_id: String,
    pub status: WaitStatus,
    /// The result, once `COMPLETED`.
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    pub output: Option<Value>,
    /// The error, once `TIMED_OUT`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    #[serde(deserialize_with = "super::object::option")]
    pub error: Option<TaskError>,
    /// While `WAITING`: whether the run is now suspended (`WAITING`, its lease over).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub suspended: Option<bool>,
    /// The children of a `run` or `batch` wait.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub run_ids: Vec<String>,
}

/// A message of an input stream (§7.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InputMessage {
    pub seq: i64,
    pub data: Value,
    pub sent_at: Timestamp,
    /// The version of the run when the message was sent.
    #[cfg_attr(feature = "openapi", schema(required = true))]
    pub run_version: Option<String>,
}

/// Answer of `GET /api/v1/worker/runs/{id}/input/{streamId}`: the messages after the
/// consumer's position (§7.6).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InputMessages {
    pub position: i64,
    pub messages: Vec<InputMessage>,
}

/// Answer of `POST /api/v1/worker/runs/{id}/input/{streamId}/ack`: whether the consumer's
/// position moved.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Recorded {
    pub recorded: bool,
}

/// Answer of `POST /api/v1/worker/runs/{id}/logs`: the log lines stored (§7.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Accepted {
    pub accepted: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run() -> DequeuedRun {
        DequeuedRun {
            run_id: "run_1".into(),
            task_identifier: "send-email".into(),
            attempt: 2,
            lease: "lease_1".into(),
            lease_expires_at: Some(Timestamp(1_795_726_830_000)),
            payload: json!({"to": "a@b.c"}),
            payload_type: "application/json".into(),
            metadata: Some(Value::Null),
            tags: vec!["user_1".into()],
            is_test: false,
            version: Some("20261126.3".into()),
            queue: "emails".into(),
            concurrency_key: None,
            max_attempts: Some(3),
            max_duration: None,
            machine: None,
            idempotency_key: Some("order-42".into()),
            created_at: Timestamp(1_795_726_800_000),
            started_at: Some(Timestamp(1_795_726_801_250)),
            parent_run_id: None,
            root_run_id: None,
            batch_id: None,
            environment: DequeuedEnvironment {
                id: "env_1".into(),
                slug: "dev".into(),
                kind: "DEVELOPMENT".into(),
            },
            journal: vec![
                JournalEntry {
                    position: 0,
                    kind: JournalKind::Step,
                    name: "charge".into(),
                    output: Some(Value::Null),
                    waitpoint_id: None,
                    status: None,
                    error: None,
                },
                JournalEntry {
                    position: 1,
                    kind: JournalKind::Wait,
                    name: "approval".into(),
                    output: None,
                    waitpoint_id: Some("waitpoint_1".into()),
                    status: Some(WaitStatus::TimedOut),
                    error: Some(TaskError {
                        message: "Waitpoint waitpoint_1 timed out".into(),
                        name: Some("WaitpointTimeoutError".into()),
                        stack_trace: None,
                    }),
                },
            ],
            resumed: true,
            trace_id: None,
        }
    }

    #[test]
    fn a_dequeue_answer_reads_back_equal() {
        let answer = Dequeued { runs: vec![run()] };
        let json = serde_json::to_value(&answer).unwrap();
        let back: Dequeued = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back, answer);
        assert_eq!(serde_json::to_value(&back).unwrap(), json);
    }

    #[test]
    fn a_dequeued_run_leaves_out_what_it_has_not() {
        let json = serde_json::to_value(run()).unwrap();
        let run = json.as_object().unwrap();
        for absent in [
            "concurrencyKey",
            "maxDuration",
            "machine",
            "parentRunId",
            "rootRunId",
            "batchId",
        ] {
            assert!(!run.contains_key(absent), "{absent} is written: {json}");
        }
        assert_eq!(json["createdAt"], "2026-11-26T21:00:00.000Z");
        assert_eq!(json["startedAt"], "2026-11-26T21:00:01.250Z");
        assert_eq!(json["leaseExpiresAt"], "2026-11-26T21:00:30.000Z");
        assert_eq!(json["metadata"], Value::Null);
        assert_eq!(json["environment"]["type"], "DEVELOPMENT");
        assert_eq!(
            json["journal"][0],
            json!({"position": 0, "kind": "step", "name": "charge", "output": null})
        );
        assert_eq!(
            json["journal"][1],
            json!({"position": 1, "kind": "wait", "name": "approval",
                   "waitpointId": "waitpoint_1", "status": "TIMED_OUT",
                   "error": {"message": "Waitpoint waitpoint_1 timed out",
                             "name": "WaitpointTimeoutError"}})
        );
    }

    #[test]
    fn a_dequeued_run_needs_its_required_fields_and_ignores_new_ones() {
        let mut json = serde_json::to_value(run()).unwrap();
        json["somethingNew"] = json!(1);
        assert!(serde_json::from_value::<DequeuedRun>(json.clone()).is_ok());
        json.as_object_mut().unwrap().remove("createdAt");
        let missing = serde_json::from_value::<DequeuedRun>(json).unwrap_err();
        assert!(missing.to_string().contains("createdAt"), "{missing}");
        let mut json = serde_json::to_value(run()).unwrap();
        json.as_object_mut().unwrap().remove("metadata");
        let read: DequeuedRun = serde_json::from_value(json).unwrap();
        assert_eq!(read.metadata, None);
    }

    #[test]
    fn batched_completion_results_are_either_shape() {
        let json = json!({"results": [
            {"runId": "run_1", "status": "QUEUED", "willRetry": true,
             "retryAt": "2026-11-26T21:00:00.000Z"},
            {"runId": "run_2", "status": "COMPLETED", "willRetry": false},
            {"runId": "run_3", "error": "The lease is lost", "code": "lease_lost", "status": 409},
        ]});
        let read: CompletionResults = serde_json::from_value(json.clone()).unwrap();
        assert!(matches!(
            &read.results[0],
            CompletionResult::Completed(Completed {
                status: RunStatus::Queued,
                will_retry: true,
                retry_at: Some(_),
                ..
            })
        ));
        assert!(matches!(
            &read.results[2],
            CompletionResult::Refused(CompletionRefused { status: 409, .. })
        ));
        assert_eq!(serde_json::to_value(&read).unwrap(), json);
    }

    #[test]
    fn wait_states_write_only_what_they_have() {
        let waiting = WaitState {
            position: 1,
            waitpoint_id: "waitpoint_1".into(),
            status: WaitStatus::Waiting,
            output: None,
            error: None,
            suspended: Some(false),
            run_ids: vec![],
        };
        let json = serde_json::to_value(&waiting).unwrap();
        assert_eq!(
            json,
            json!({"position": 1, "waitpointId": "waitpoint_1", "status": "WAITING", "suspended": false})
        );
        assert_eq!(serde_json::from_value::<WaitState>(json).unwrap(), waiting);
        let heartbeat = Heartbeat {
            status: RunStatus::Executing,
            lease_expires_at: None,
        };
        assert_eq!(
            serde_json::to_value(&heartbeat).unwrap(),
            json!({"status": "EXECUTING", "leaseExpiresAt": null})
        );
    }

    #[test]
    fn request_bodies_read_what_workers_send_and_write_it_back() {
        let failed = json!({"runId": "run_1", "lease": "lease_1", "ok": false,
            "error": {"message": "boom", "name": "Error", "stackTrace": "at x"},
            "retry": false, "retryAfterMs": 500});
        let body: CompleteManyBody =
            serde_json::from_value(json!({"completions": [failed.clone()]})).unwrap();
        let c = &body.completions[0];
        assert_eq!(
            c.error.as_ref().map(|e| e.stack_trace.as_deref()),
            Some(Some("at x"))
        );
        assert_eq!((c.retry, c.retry_after_ms), (Some(false), Some(500)));
        assert_eq!(serde_json::to_value(c).unwrap(), failed);
        let ok: CompletionBody =
            serde_json::from_value(json!({"lease": "lease_1", "ok": true, "output": null}))
                .unwrap();
        assert_eq!((ok.run_id, ok.output), (None, None));

        let step: StepBody =
            serde_json::from_value(json!({"lease": "l", "position": 0, "name": "s"})).unwrap();
        assert_eq!(step.output, Value::Null);

        let waits = [
            json!({"type": "duration", "ms": 1000}),
            json!({"type": "until", "date": "2026-11-26T21:00:00.000Z"}),
            json!({"type": "token", "tokenId": "waitpoint_1"}),
            json!({"type": "run", "task": "t", "payload": {"a": 1}, "options": {"tags": ["x"]}}),
            json!({"type": "batch", "items": [{"task": "t", "options": {}}]}),
            json!({"type": "input", "streamId": "s", "after": 2, "timeoutMs": 100}),
        ];
        for wait in waits {
            let body = json!({"lease": "l", "position": 1, "name": "w", "suspend": true,
                              "wait": wait});
            let read: WaitBody = serde_json::from_value(body.clone()).unwrap();
            assert_eq!(serde_json::to_value(&read).unwrap(), body);
        }
        let input: WaitFor =
            serde_json::from_value(json!({"type": "input", "streamId": "s"})).unwrap();
        assert_eq!(
            input,
            WaitFor::Input {
                stream_id: "s".into(),
                after: 0,
                timeout_ms: None
            }
        );

        let logs = json!({"lease": "l", "entries": [
            {"level": "info", "message": "m"},
            {"level": "warn", "message": "m", "fields": {"a": 1}, "time": "2026-11-26T21:00:00Z"},
        ]});
        let read: LogsBody = serde_json::from_value(logs.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), logs);
        let ack = json!({"lease": "l", "consumer": "c", "seq": 3});
        let read: InputAckBody = serde_json::from_value(ack.clone()).unwrap();
        assert_eq!(serde_json::to_value(&read).unwrap(), ack);
    }
}
