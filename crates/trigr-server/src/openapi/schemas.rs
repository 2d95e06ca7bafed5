//! The shapes of the answers the handlers write with `json!` (and of the requests they read
//! without a body type), for the document only: nothing builds these values. Fields the
//! server leaves out when they have no value are optional and not nullable; fields it always
//! writes, `null` included, are required and nullable.
#![allow(dead_code)]

use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Every error answer: a sentence naming the problem, sometimes with more members (`code`
/// such as `lease_lost` or `non_determinism`, the run's `status`, or a version guard's
/// `runId`, `expectedVersion` and `actualVersion`).
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub code: Option<String>,
}

/// `GET /healthz`.
#[derive(Serialize, ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    pub status: String,
}

/// `{"id"}`: the run, schedule, key or batch acted on.
#[derive(Serialize, ToSchema)]
pub struct Id {
    pub id: String,
}

/// `{"message"}`.
#[derive(Serialize, ToSchema)]
pub struct Message {
    pub message: String,
}

/// A new (or, by idempotency key, existing) run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Triggered {
    pub id: String,
    pub is_cached: bool,
    /// The version the run is locked to; absent while it has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub version: Option<String>,
}

/// A batch after phase 1.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchCreated {
    pub id: String,
    pub run_count: i64,
    pub is_cached: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub idempotency_key: Option<String>,
}

/// An item of a batch and its run.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemRun {
    pub index: i64,
    pub run_id: String,
    /// `null` while the run has no version.
    pub version: Option<String>,
}

/// What an items call did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemsAccepted {
    pub id: String,
    pub items_accepted: i64,
    pub items_deduplicated: i64,
    pub sealed: bool,
    /// The runs of the items this call created.
    pub items: Vec<BatchItemRun>,
    /// Present while the batch is not sealed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub enqueued_count: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expected_count: Option<i64>,
}

/// `processing` of a batch.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchProcessing {
    pub errors: Vec<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub completed_at: Option<String>,
}

/// `GET /api/v2/batches/{batch_id}`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Batch {
    pub id: String,
    pub status: String,
    pub created_at: String,
    pub updated_at: String,
    pub run_count: i64,
    pub runs: Vec<String>,
    pub items: Vec<BatchItemRun>,
    pub processing: BatchProcessing,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub idempotency_key: Option<String>,
}

/// The fields every view of a run has.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCommon {
    pub id: String,
    /// The run's status; `EXECUTING` for `DEQUEUED` and `FROZEN` for `WAITING` unless the
    /// caller sends `x-trigger-api-version: 2025-07-16`.
    pub status: String,
    pub task_identifier: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub version: Option<String>,
    pub is_queued: bool,
    pub is_executing: bool,
    pub is_waiting: bool,
    pub is_completed: bool,
    pub is_success: bool,
    pub is_failed: bool,
    pub is_cancelled: bool,
    pub is_test: bool,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub finished_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub delayed_until: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub expired_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub ttl: Option<String>,
    pub tags: Vec<String>,
    pub cost_in_cents: i64,
    pub base_cost_in_cents: i64,
    pub duration_ms: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub batch_id: Option<String>,
}

/// A related run (`relatedRuns`).
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    #[serde(flatten)]
    pub common: RunCommon,
    pub depth: i64,
    pub trigger_function: String,
}

/// `relatedRuns` of a run.
#[derive(Serialize, ToSchema)]
pub struct RelatedRuns {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub root: Option<RunSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub parent: Option<RunSummary>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub children: Option<Vec<RunSummary>>,
}

/// Why a run that is not final and not executing waits.
#[derive(Serialize, ToSchema)]
pub struct WaitingFor {
    /// `PENDING_VERSION`, `DELAYED`, `WAITING`, `QUEUE_PAUSED`, `NO_WORKER`,
    /// `CONCURRENCY_LIMIT` or `QUEUED`.
    pub reason: String,
    pub message: String,
}

/// `GET /api/v3/runs/{run_id}`: a run and its related runs.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Run {
    #[serde(flatten)]
    pub summary: RunSummary,
    pub attempt_count: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    /// Once the run completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    pub related_runs: RelatedRuns,
    pub attempt: i64,
    pub queue: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub concurrency_key: Option<String>,
    /// Seconds of head start in the queue, as the trigger gave them (may be fractional).
    pub priority: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub max_attempts: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub max_duration: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub machine: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub parent_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub root_run_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub waiting_for: Option<WaitingFor>,
    /// The keys of the run's output streams, in the order they were opened.
    pub realtime_streams: Vec<String>,
}

/// The environment of a listed run.
#[derive(Serialize, ToSchema)]
pub struct RunEnvironment {
    pub id: String,
    pub name: String,
}

/// A run in a list.
#[derive(Serialize, ToSchema)]
pub struct RunListItem {
    #[serde(flatten)]
    pub common: RunCommon,
    pub env: RunEnvironment,
}

/// `pagination` of a cursor-paged list: the cursors of the next and previous pages.
#[derive(Serialize, ToSchema)]
pub struct CursorPagination {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub previous: Option<String>,
}

/// `GET /api/v1/runs`.
#[derive(Serialize, ToSchema)]
pub struct RunList {
    pub data: Vec<RunListItem>,
    pub pagination: CursorPagination,
}

/// `GET /api/v1/runs/{run_id}/metadata`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Metadata {
    pub metadata: Value,
    pub metadata_type: String,
}

/// `PUT /api/v1/runs/{run_id}/metadata`: the run's new metadata.
#[derive(Serialize, ToSchema)]
pub struct MetadataUpdated {
    pub metadata: Value,
}

/// `pagination` of an offset-paged list.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OffsetPagination {
    pub current_page: i64,
    pub total_pages: i64,
    pub count: i64,
}

/// `concurrency` of a queue.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct QueueConcurrency {
    pub current: Option<i64>,
    pub base: Option<i64>,
    #[serde(rename = "override")]
    pub override_limit: Option<i64>,
    pub overridden_at: Option<String>,
    /// Always `null`.
    pub overridden_by: Option<String>,
}

/// A queue.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    pub id: String,
    pub name: String,
    /// `task` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    pub running: i64,
    pub queued: i64,
    pub paused: bool,
    pub concurrency_limit: Option<i64>,
    pub concurrency: QueueConcurrency,
}

/// `GET /api/v1/queues`.
#[derive(Serialize, ToSchema)]
pub struct QueueList {
    pub data: Vec<Queue>,
    pub pagination: OffsetPagination,
}

/// `generator` of a schedule.
#[derive(Serialize, ToSchema)]
pub struct ScheduleGenerator {
    /// `CRON`.
    #[serde(rename = "type")]
    pub kind: String,
    pub expression: String,
    pub description: String,
}

/// An environment a schedule runs in.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEnvironment {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `null`.
    pub user_name: Option<String>,
}

/// A cron schedule.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: String,
    /// `IMPERATIVE` or `DECLARATIVE`.
    #[serde(rename = "type")]
    pub kind: String,
    pub task: String,
    pub active: bool,
    pub deduplication_key: Option<String>,
    pub external_id: Option<String>,
    pub generator: ScheduleGenerator,
    pub timezone: String,
    pub next_run: Option<String>,
    pub next_run_effective_at: Option<String>,
    pub environments: Vec<ScheduleEnvironment>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub window: Option<String>,
}

/// `GET /api/v1/schedules`.
#[derive(Serialize, ToSchema)]
pub struct ScheduleList {
    pub data: Vec<Schedule>,
    pub pagination: OffsetPagination,
}

/// `GET /api/v1/timezones`.
#[derive(Serialize, ToSchema)]
pub struct Timezones {
    pub timezones: Vec<String>,
}

/// A deployment.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub created_at: String,
    pub short_code: String,
    pub version: String,
    /// Always `null`.
    pub runtime: Option<String>,
    /// Always `null`.
    pub runtime_version: Option<String>,
    /// `DEPLOYED`.
    pub status: String,
    pub deployed_at: String,
    pub current: bool,
    pub tasks: Vec<String>,
    pub worker_last_seen_at: Option<String>,
    pub has_workers: bool,
    /// After a rollback: the version that was current.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub rolled_back_from: Option<String>,
}

/// An empty `pagination`.
#[derive(Serialize, ToSchema)]
pub struct NoPagination {}

/// `GET /api/v1/deployments`.
#[derive(Serialize, ToSchema)]
pub struct DeploymentList {
    pub data: Vec<Deployment>,
    pub pagination: NoPagination,
}

/// A message stored on an input stream.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InputSent {
    pub ok: bool,
    pub seq: i64,
    pub run_version: Option<String>,
}

/// A log line of a run.
#[derive(Serialize, ToSchema)]
pub struct RunLogLine {
    pub time: String,
    pub level: String,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<Value>,
}

/// `pagination` of a log page.
#[derive(Serialize, ToSchema)]
pub struct LogPagination {
    /// The next page's `page[after]`, when there is more.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub next: Option<String>,
    /// Where lines written later start.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub cursor: Option<String>,
}

/// `GET /api/v1/runs/{run_id}/logs`.
#[derive(Serialize, ToSchema)]
pub struct LogPage {
    pub data: Vec<RunLogLine>,
    pub pagination: LogPagination,
}

/// A new wait token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCreated {
    pub id: String,
    pub is_cached: bool,
    /// The token's callback URL.
    pub url: String,
}

/// What completing a token did.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenCompleted {
    pub success: bool,
    /// `true` when the token was already done; nothing changed.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub already_completed: Option<bool>,
    /// The version of the run that was waiting, `null` when none was.
    pub run_version: Option<String>,
}

/// A wait token.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Token {
    pub id: String,
    pub url: String,
    /// `WAITING`, `COMPLETED` or `TIMED_OUT`.
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub completed_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub timeout_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub idempotency_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub idempotency_key_expires_at: Option<String>,
    pub tags: Vec<String>,
    pub created_at: String,
    pub run_version: Option<String>,
    /// Once done (retrieve only): the output as a JSON text.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub output: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub output_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub output_is_error: Option<bool>,
}

/// `GET /api/v1/waitpoints/tokens`.
#[derive(Serialize, ToSchema)]
pub struct TokenList {
    pub data: Vec<Token>,
    pub pagination: CursorPagination,
}

/// A URL to upload a packet to.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresignedUpload {
    pub presigned_url: String,
    pub storage_path: String,
}

/// A URL to download a packet from.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PresignedDownload {
    pub presigned_url: String,
}

/// `{"ok": true}`.
#[derive(Serialize, ToSchema)]
pub struct OkBody {
    pub ok: bool,
}

/// An output stream opened.
#[derive(Serialize, ToSchema)]
pub struct StreamOpened {
    /// `v1`.
    pub version: String,
}

/// Chunks written to an output stream.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChunksWritten {
    pub ok: bool,
    /// Chunks not stored before.
    pub accepted: i64,
    /// `-1` when the stream has none.
    pub last_chunk_index: i64,
}

/// A chunk appended to an output stream.
#[derive(Serialize, ToSchema)]
pub struct ChunkAppended {
    pub ok: bool,
    pub index: Option<i64>,
}

/// The claims the SDK puts in the public tokens it signs.
#[derive(Serialize, ToSchema)]
pub struct JwtClaims {
    /// The environment's id.
    pub sub: String,
    #[serde(rename = "pub")]
    pub public: bool,
}

/// `POST /api/v1/test/clock`.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ClockMoved {
    pub now: String,
    /// What the timers did, by kind (`delayed`, `expired`, `leasesExpired`, `timedOut`,
    /// `waitpoints`, `schedules`).
    pub fired: Value,
    pub run_events_pruned: i64,
}

/// `headers` of a shape message: an `operation` on a row, or a `control` message.
#[derive(Serialize, ToSchema)]
pub struct ShapeHeaders {
    /// `insert` or `update`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub operation: Option<String>,
    /// `up-to-date`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub control: Option<String>,
}

/// One message of a shape answer: a run's row, or the closing control message.
#[derive(Serialize, ToSchema)]
pub struct ShapeMessage {
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub key: Option<String>,
    /// The run as a row of plain JSON values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub headers: ShapeHeaders,
}

/// One server-sent event of a run subscription (as an event-stream parser reads it).
#[derive(Serialize, ToSchema)]
pub struct RunEvent {
    /// The event's number, for `Last-Event-ID`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<String>,
    /// `snapshot`, `status`, `metadata`, `reset` or `end`.
    pub event: String,
    /// The run as JSON text (or, for `reset` and `end`, `{"reason", …}`).
    pub data: String,
}

/// One server-sent event of an output stream: a chunk.
#[derive(Serialize, ToSchema)]
pub struct StreamChunk {
    /// `<ms>-<index>`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    pub id: Option<String>,
    pub event: String,
    /// The chunk as one line of JSON.
    pub data: String,
}
