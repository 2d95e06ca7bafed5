//! The protocol of the official Trigger.dev CLI's dev worker (`trigger.dev dev`, 4.x) as trigr
//! serves it (`docs/typescript.md`): registering a build (`background-workers`), the
//! `/engine/v1/dev/*` calls of the CLI, and the `/engine/v1/runs/*` waits the task runtime
//! makes. Field names and values are the CLI's own (its zod schemas); unknown fields are
//! ignored both ways, as the CLI does.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::Timestamp;

#[cfg(feature = "openapi")]
use utoipa::ToSchema;

/// `POST /api/v1/projects/{ref}/background-workers`: a build the CLI made.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackgroundWorkerBody {
    pub metadata: BackgroundWorkerMetadata,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_only: Option<bool>,
    /// `V2`, the only engine trigr speaks.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
}

/// What the build holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackgroundWorkerMetadata {
    /// 1-128 characters; a build registered again with the same hash is the same version.
    pub content_hash: String,
    pub tasks: Vec<CliTask>,
    /// Queues several tasks share.
    #[serde(default)]
    pub queues: Vec<CliQueue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cli_package_version: Option<String>,
    /// `node`, `node-22`, `bun`, …
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_version: Option<String>,
}

/// One task of a build, as the CLI indexed it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CliTask {
    pub id: String,
    pub file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<CliQueue>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<CliRetry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<CliMachine>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<CliSchedule>,
    /// A JSON Schema (a `schemaTask` with a schema the CLI can convert).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_schema: Option<Value>,
}

/// A queue: a task's own settings, or one of the build's shared queues.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CliQueue {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `null`: no limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<f64>,
}

/// A task's retry settings; what is absent takes trigr's default.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CliRetry {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factor: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_timeout_in_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_timeout_in_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub randomize: Option<bool>,
}

/// A task's machine.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CliMachine {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preset: Option<String>,
}

/// A declarative schedule (`schedules.task`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CliSchedule {
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
}

/// The answer to a registration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BackgroundWorkerCreated {
    /// The deployment's id: every run handed out for this build names it.
    pub id: String,
    pub version: String,
    pub content_hash: String,
}

/// `GET /engine/v1/dev/config`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DevConfig {
    pub environment_id: String,
    /// Milliseconds between dequeues after one that found runs.
    pub dequeue_interval_with_run: u64,
    /// Milliseconds between dequeues after one that found none.
    pub dequeue_interval_without_run: u64,
    pub max_concurrent_runs: u64,
    pub engine_url: String,
}

/// `POST /engine/v1/dev/dequeue`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DevDequeueBody {
    /// The id of the newest build the CLI serves.
    pub current_worker: String,
    /// Older builds it still serves, for the runs locked to them.
    #[serde(default)]
    pub old_workers: Vec<String>,
}

/// The runs of a dequeue.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DevDequeued {
    pub dequeued_messages: Vec<DequeuedMessage>,
}

/// One run handed out.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DequeuedMessage {
    /// `1`.
    pub version: String,
    pub snapshot: ExecutionSnapshot,
    pub dequeued_at: Timestamp,
    pub completed_waitpoints: Vec<CompletedWaitpoint>,
    pub background_worker: DequeuedWorker,
    /// Empty in development.
    pub deployment: BTreeMap<String, String>,
    pub run: DequeuedRunRef,
    pub environment: IdAndType,
    pub organization: IdOnly,
    pub project: IdOnly,
}

/// The build a run is locked to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DequeuedWorker {
    pub id: String,
    pub friendly_id: String,
    pub version: String,
}

/// The run of a [`DequeuedMessage`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DequeuedRunRef {
    pub id: String,
    pub friendly_id: String,
    pub is_test: bool,
    pub machine: MachinePreset,
    pub attempt_number: i64,
    pub master_queue: String,
    pub trace_context: BTreeMap<String, String>,
}

/// `{"id", "type"}` of an environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IdAndType {
    pub id: String,
    /// `DEVELOPMENT`, `STAGING`, `PRODUCTION`.
    #[serde(rename = "type")]
    pub kind: String,
}

/// `{"id"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct IdOnly {
    pub id: String,
}

/// A machine preset (trigr runs every task where its worker runs; the preset is a label).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MachinePreset {
    pub name: String,
    pub cpu: f64,
    pub memory: f64,
    pub cents_per_ms: f64,
}

/// One entry of a run's snapshot chain.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSnapshot {
    pub id: String,
    pub friendly_id: String,
    /// `QUEUED`, `PENDING_EXECUTING`, `EXECUTING`, `EXECUTING_WITH_WAITPOINTS`, `FINISHED`.
    pub execution_status: String,
    pub description: String,
    pub created_at: Timestamp,
}

/// A run as a snapshot names it, with the engine's status names.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunRef {
    pub id: String,
    pub friendly_id: String,
    /// `DEQUEUED`, `EXECUTING`, `COMPLETED_SUCCESSFULLY`, …
    pub status: String,
    pub attempt_number: i64,
}

/// A waitpoint a snapshot hands back completed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CompletedWaitpoint {
    pub id: String,
    pub friendly_id: String,
    /// `RUN`, `DATETIME` or `MANUAL`.
    #[serde(rename = "type")]
    pub kind: String,
    pub completed_at: Timestamp,
    /// The child's index in its batch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_by_task_run: Option<CompletedByRun>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_after: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_type: Option<String>,
    pub output_is_error: bool,
}

/// The child run that completed a waitpoint.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CompletedByRun {
    pub id: String,
    pub friendly_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<BatchRef>,
}

/// `{"id", "friendlyId"}` of a batch.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct BatchRef {
    pub id: String,
    pub friendly_id: String,
}

/// `POST …/attempts/start` (sent as `text/plain`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptStartBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_warm_start: Option<bool>,
}

/// The attempt that started.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptStarted {
    pub run: RunRef,
    pub snapshot: ExecutionSnapshot,
    pub execution: TaskRunExecution,
    /// Variables of the task's process: the environment's variables and where to send
    /// telemetry.
    pub env_vars: BTreeMap<String, String>,
}

/// What the task's `ctx` is made of.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct TaskRunExecution {
    pub attempt: ExecutionAttempt,
    pub run: ExecutionRun,
    pub task: ExecutionTask,
    pub queue: ExecutionQueue,
    pub environment: ExecutionEnvironment,
    pub organization: ExecutionOrganization,
    pub project: ExecutionProject,
    pub machine: MachinePreset,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<IdOnly>,
    /// The build the run is locked to (`ctx.deployment`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<ExecutionDeployment>,
}

/// `ctx.deployment`: the version a run executes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDeployment {
    pub id: String,
    pub short_code: String,
    pub version: String,
    pub runtime: String,
    pub runtime_version: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionAttempt {
    pub number: i64,
    pub started_at: Timestamp,
}

/// `ctx.run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRun {
    pub id: String,
    /// The payload packet as stored (`payloadType` says how to read it).
    pub payload: String,
    pub payload_type: String,
    pub tags: Vec<String>,
    pub is_test: bool,
    pub created_at: Timestamp,
    pub started_at: Timestamp,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_task_run_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_task_run_id: Option<String>,
    pub trace_context: BTreeMap<String, String>,
    pub duration_ms: i64,
    pub cost_in_cents: f64,
    pub base_cost_in_cents: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ExecutionTask {
    pub id: String,
    pub file_path: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub export_name: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExecutionQueue {
    pub id: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExecutionEnvironment {
    pub id: String,
    pub slug: String,
    #[serde(rename = "type")]
    pub kind: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExecutionOrganization {
    pub id: String,
    pub slug: String,
    pub name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct ExecutionProject {
    pub id: String,
    #[serde(rename = "ref")]
    pub project_ref: String,
    pub slug: String,
    pub name: String,
}

/// `POST …/attempts/complete` (sent as `text/plain`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptCompleteBody {
    pub completion: AttemptResult,
}

/// How the attempt ended, as the task runtime reports it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptResult {
    pub ok: bool,
    /// The output packet (`ok`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_type: Option<String>,
    /// A Trigger.dev `TaskRunError` (not `ok`): `{"type": "BUILT_IN_ERROR", "name",
    /// "message", "stackTrace"}`, `CUSTOM_ERROR`/`STRING_ERROR` with `raw`, or
    /// `INTERNAL_ERROR` with a `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Present when the task's retry policy retries the failure.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<AttemptRetry>,
    /// The run's final metadata.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flushed_metadata: Option<FlushedMetadata>,
}

/// The retry a failed attempt asks for.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct AttemptRetry {
    /// Milliseconds before the next attempt.
    pub delay: f64,
}

/// A metadata packet.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct FlushedMetadata {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<String>,
    pub data_type: String,
}

/// The answer to a completion.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct AttemptCompleted {
    pub result: CompleteResult,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CompleteResult {
    /// `RUN_FINISHED` or `RETRY_QUEUED`.
    pub attempt_status: String,
    pub snapshot: ExecutionSnapshot,
    pub run: RunRef,
}

/// `GET …/snapshots/latest`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct LatestSnapshot {
    pub execution: RunExecutionData,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunExecutionData {
    /// `1`.
    pub version: String,
    pub snapshot: ExecutionSnapshot,
    pub run: RunRef,
    pub completed_waitpoints: Vec<CompletedWaitpoint>,
}

/// `{"ok": true}` of a heartbeat.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DevOk {
    pub ok: bool,
}

/// `POST /engine/v1/dev/runs/{run}/logs/debug`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct DebugLogBody {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub properties: Option<Value>,
}

/// `POST /engine/v1/dev/disconnect`: the runs of a CLI that exited.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct DisconnectBody {
    pub run_friendly_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct Disconnected {
    pub cancelled: u64,
}

/// `POST /engine/v1/runs/{run}/wait/duration`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WaitDurationBody {
    /// When the wait ends (ISO 8601).
    pub date: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WaitDurationStarted {
    pub wait_until: Timestamp,
    pub waitpoint: IdOnly,
}

/// `{"success": true}` of a token wait.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
pub struct WaitStarted {
    pub success: bool,
}

/// `POST /api/v1/runs/{run}/input-streams/wait`: a task waits for the next message of one of
/// its input streams.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InputStreamWaitBody {
    pub stream_id: String,
    /// A duration (`30s`, `10m`) or an ISO 8601 date; none waits for good.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// The last message the task read on the stream: the wait takes the one after it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_seq_num: Option<i64>,
}

/// The waitpoint the task then waits on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct InputStreamWaitStarted {
    pub waitpoint_id: String,
    pub is_cached: bool,
}
