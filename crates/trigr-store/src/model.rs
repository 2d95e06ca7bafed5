//! Records of the store.

use trigr_types::manifest::TaskManifest;
use trigr_types::{Millis, RunStatus};

/// Kind of environment, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EnvKind {
    Development,
    Staging,
    Production,
    Preview,
}

impl EnvKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EnvKind::Development => "DEVELOPMENT",
            EnvKind::Staging => "STAGING",
            EnvKind::Production => "PRODUCTION",
            EnvKind::Preview => "PREVIEW",
        }
    }

    pub fn parse(s: &str) -> Option<EnvKind> {
        [
            EnvKind::Development,
            EnvKind::Staging,
            EnvKind::Production,
            EnvKind::Preview,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

#[derive(Clone, Debug)]
pub struct Environment {
    pub id: String,
    pub project_id: String,
    /// `dev`, `staging`, `prod`.
    pub slug: String,
    pub kind: EnvKind,
    pub concurrency_limit: i64,
    pub current_version: Option<String>,
    /// Signs the public tokens and URLs the server hands out for this environment.
    pub signing_secret: String,
    /// The region of its runs that name none; `None` follows the server's default region.
    pub default_region: Option<String>,
}

/// A project: its environments share its name and its `proj_…` reference.
#[derive(Clone, Debug)]
pub struct Project {
    pub id: String,
    pub org_id: String,
    pub project_ref: String,
    pub name: String,
    pub created_at: Millis,
}

/// A secret key as the store keeps it: its hash, never the key.
#[derive(Clone, Debug)]
pub struct ApiKey {
    pub key_hash: String,
    pub env_id: String,
    /// The start of the key as it was shown (`tr_dev_AbCd`), to tell keys apart; `None` for
    /// keys stored before prefixes were kept.
    pub prefix: Option<String>,
    pub created_at: Millis,
    /// When a rotated key stops being accepted.
    pub expires_at: Option<Millis>,
    pub revoked_at: Option<Millis>,
}

impl ApiKey {
    /// From when the key is no longer accepted, if ever.
    pub fn ends_at(&self) -> Option<Millis> {
        match (self.expires_at, self.revoked_at) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}

#[derive(Clone, Debug)]
pub struct Deployment {
    pub id: String,
    pub env_id: String,
    pub version: String,
    pub day: String,
    pub tasks: Vec<TaskManifest>,
    pub created_at: Millis,
    pub promoted_at: Option<Millis>,
    /// The hash of the code the registering worker runs, when it sent one.
    pub content_hash: Option<String>,
}

impl Deployment {
    pub fn task(&self, id: &str) -> Option<&TaskManifest> {
        self.tasks.iter().find(|t| t.id == id)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QueueKind {
    /// One per task, named `task/<id>`.
    Task,
    /// Declared by name and possibly shared.
    Custom,
}

impl QueueKind {
    pub fn as_str(self) -> &'static str {
        match self {
            QueueKind::Task => "task",
            QueueKind::Custom => "custom",
        }
    }
}

#[derive(Clone, Debug)]
pub struct Queue {
    pub id: String,
    pub env_id: String,
    pub name: String,
    pub kind: QueueKind,
    /// Limit declared by the current deployment (`None`: only the environment limit).
    pub base_limit: Option<i64>,
    /// Limit set through the API, replacing the base one.
    pub override_limit: Option<i64>,
    pub overridden_at: Option<Millis>,
    pub paused: bool,
    /// Round-robin position: the queue served longest ago goes first.
    pub served_seq: i64,
    pub created_at: Millis,
    /// What the queue is for, as given through the queues API.
    pub description: Option<String>,
    /// Made through the queues API (`true`), or by a trigger or deployment naming it.
    pub from_api: bool,
}

/// How loaded a queue is right now, across every environment (for metrics).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueLoad {
    pub env_id: String,
    pub name: String,
    /// Runs `QUEUED`.
    pub queued: i64,
    /// Runs holding a slot (`DEQUEUED` or `EXECUTING`).
    pub running: i64,
}

impl Queue {
    /// The limit in force.
    pub fn limit(&self) -> Option<i64> {
        self.override_limit.or(self.base_limit)
    }
}

/// A run and everything about it.
#[derive(Clone, Debug)]
pub struct Run {
    pub seq: i64,
    pub id: String,
    pub env_id: String,
    pub task_id: String,
    pub queue_id: String,
    /// The queue's name (`task/<id>` for task queues).
    pub queue_name: String,
    /// Concurrency key, `""` for none.
    pub ckey: String,
    pub status: RunStatus,
    pub version: Option<String>,
    pub payload: Option<String>,
    pub payload_type: String,
    /// JSON text of the metadata object.
    pub metadata: Option<String>,
    pub metadata_type: String,
    pub tags: Vec<String>,
    /// Hashed idempotency key; cleared when the key is released.
    pub idempotency_key: Option<String>,
    /// The caller's own key, echoed by the API.
    pub idempotency_key_user: Option<String>,
    pub idempotency_scope: Option<String>,
    pub idempotency_expires_at: Option<Millis>,
    /// `x-trigger-request-idempotency-key` of the trigger call.
    pub request_key: Option<String>,
    /// Head start in the queue, in milliseconds (the `priority` option, given in seconds, may
    /// be fractional): `queue_ts` is `available_at - priority_ms` whenever the run is queued.
    pub priority_ms: i64,
    /// Priority-adjusted enqueue time: dequeue order.
    pub queue_ts: Millis,
    /// Not handed out before this time (delay, retry backoff).
    pub available_at: Millis,
    pub delay_until: Option<Millis>,
    pub ttl: Option<String>,
    pub ttl_expires_at: Option<Millis>,
    pub max_attempts: Option<i64>,
    pub max_duration: Option<i64>,
    pub machine: Option<String>,
    /// Attempts started so far.
    pub attempt: i64,
    /// Fencing token of the current attempt.
    pub lease: Option<String>,
    pub lease_expires_at: Option<Millis>,
    /// When the current attempt passes `max_duration`.
    pub timeout_at: Option<Millis>,
    pub output: Option<String>,
    pub output_type: Option<String>,
    /// JSON text of `{message, name?, stackTrace?}`.
    pub error: Option<String>,
    pub parent_run_id: Option<String>,
    pub root_run_id: Option<String>,
    pub depth: i64,
    pub batch_id: Option<String>,
    pub batch_index: Option<i64>,
    pub trigger_function: String,
    pub is_test: bool,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Queued again because the waitpoint it was `WAITING` on completed: the next dequeue
    /// continues the same attempt (`attempt` unchanged) and says `resumed`. Cleared by a retry.
    pub resumed: bool,
    /// When attempt number `attempt` started (its first dequeue; a resume continues it).
    pub attempt_started_at: Option<Millis>,
    /// When the worker holding the run last proved it was alive (its dequeue or its last
    /// heartbeat); `None` when no worker holds it.
    pub heartbeat_at: Option<Millis>,
    /// The W3C trace the run joined (32 hex digits): its parent run's, or the caller's
    /// (`traceparent`); `None` when the run began its own trace, whose id is derived from the
    /// run id. [`Run::trace`] gives the ids either way.
    pub joined_trace_id: Option<String>,
    /// The root span id a server of schema version 18 minted for the run; `None` for every
    /// later run, whose root span id is derived from the run id ([`Run::trace`]).
    pub minted_span_id: Option<String>,
    /// The span the run's root span hangs under: the caller's (`traceparent`) or the parent
    /// run's root span; `None` when the run began its trace.
    pub parent_span_id: Option<String>,
    /// The region (worker group) whose workers may take the run.
    pub region: String,
}

/// How many workers of one version are live ([`crate::tx::DeploymentRead::live_workers`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LiveWorkers {
    pub env_id: String,
    pub version: String,
    pub workers: i64,
}

/// A run's place in its trace: the trace id and the id of the run's root span.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunTrace {
    pub trace_id: String,
    pub span_id: String,
}

impl Run {
    /// The run's trace id and root span id: the trace it joined or else its own, derived from
    /// its run id (see [`trigr_types::trace::run_ids`]); the root span id it was minted, else
    /// derived the same way.
    pub fn trace(&self) -> RunTrace {
        match (&self.joined_trace_id, &self.minted_span_id) {
            (Some(trace_id), Some(span_id)) => RunTrace {
                trace_id: trace_id.clone(),
                span_id: span_id.clone(),
            },
            (joined, minted) => {
                let (own_trace, own_span) = trigr_types::trace::run_ids(&self.id);
                RunTrace {
                    trace_id: joined.clone().unwrap_or(own_trace),
                    span_id: minted.clone().unwrap_or(own_span),
                }
            }
        }
    }
}

/// Filters of the runs list; empty vectors mean "any".
#[derive(Clone, Debug, Default)]
pub struct RunFilter {
    pub statuses: Vec<RunStatus>,
    pub tasks: Vec<String>,
    pub tags: Vec<String>,
    pub versions: Vec<String>,
    pub batch_id: Option<String>,
    pub queue_ids: Vec<String>,
    pub machines: Vec<String>,
    /// Runs of any of these regions.
    pub regions: Vec<String>,
    pub is_test: Option<bool>,
    pub created_from: Option<Millis>,
    pub created_to: Option<Millis>,
    /// Runs made by this schedule.
    pub schedule_id: Option<String>,
    /// Runs holding this idempotency key, or given it by the caller before it was hashed.
    pub idempotency_key: Option<String>,
}

/// A cursor page request: runs strictly older (`after`) or newer (`before`) than a run seq.
#[derive(Clone, Copy, Debug)]
pub struct Page {
    pub size: usize,
    pub after_seq: Option<i64>,
    pub before_seq: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Batch {
    pub id: String,
    pub env_id: String,
    pub run_count: i64,
    pub idempotency_key: Option<String>,
    pub idempotency_key_user: Option<String>,
    pub sealed: bool,
    pub items_accepted: i64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// An uploaded payload packet.
#[derive(Clone, Debug)]
pub struct Packet {
    pub env_id: String,
    pub path: String,
    pub content_type: String,
    pub data: Vec<u8>,
    pub created_at: Millis,
}

/// What completes a waitpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitpointKind {
    /// A token, completed from outside (REST or its callback URL) or timed out.
    Token,
    /// A duration or a date: the timer completes it.
    Datetime,
    /// One child run: completed when the child ends.
    Run,
    /// Several child runs: completed when all of them have ended.
    Batch,
    /// The next message of a run's input stream: completed when it is sent.
    Input,
}

impl WaitpointKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WaitpointKind::Token => "MANUAL",
            WaitpointKind::Datetime => "DATETIME",
            WaitpointKind::Run => "RUN",
            WaitpointKind::Batch => "BATCH",
            WaitpointKind::Input => "INPUT",
        }
    }

    pub fn parse(s: &str) -> Option<WaitpointKind> {
        [
            WaitpointKind::Token,
            WaitpointKind::Datetime,
            WaitpointKind::Run,
            WaitpointKind::Batch,
            WaitpointKind::Input,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }
}

/// The status of a waitpoint, as the API names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitpointStatus {
    Waiting,
    Completed,
    TimedOut,
}

impl WaitpointStatus {
    pub const ALL: [WaitpointStatus; 3] = [
        WaitpointStatus::Waiting,
        WaitpointStatus::Completed,
        WaitpointStatus::TimedOut,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            WaitpointStatus::Waiting => "WAITING",
            WaitpointStatus::Completed => "COMPLETED",
            WaitpointStatus::TimedOut => "TIMED_OUT",
        }
    }

    pub fn parse(s: &str) -> Option<WaitpointStatus> {
        WaitpointStatus::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// Something runs can wait for: a token, a time, or child runs.
#[derive(Clone, Debug, PartialEq)]
pub struct Waitpoint {
    pub seq: i64,
    pub id: String,
    pub env_id: String,
    pub kind: WaitpointKind,
    pub status: WaitpointStatus,
    /// The run whose wait created it (none for tokens).
    pub owner_run_id: Option<String>,
    /// When the timer fires it while it is `WAITING`: a datetime waitpoint completes, a token
    /// times out.
    pub due_at: Option<Millis>,
    /// A token's raw idempotency key; cleared when the key is released.
    pub idempotency_key: Option<String>,
    pub idempotency_expires_at: Option<Millis>,
    pub tags: Vec<String>,
    /// JSON text of the result (`COMPLETED`) or of the error (`TIMED_OUT`).
    pub output: Option<String>,
    /// The batch of a batch wait's children.
    pub batch_id: Option<String>,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub completed_at: Option<Millis>,
    /// What an input waitpoint reads.
    pub input: Option<InputWait>,
}

/// An input waitpoint completes with message `after + 1` of the run's stream `stream_id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InputWait {
    pub stream_id: String,
    pub after: i64,
}

/// A message sent to a run's input stream.
#[derive(Clone, Debug, PartialEq)]
pub struct InputMessage {
    pub run_id: String,
    pub stream_id: String,
    /// 1, 2, 3, … in order of arrival on the stream.
    pub seq: i64,
    /// JSON text.
    pub data: String,
    /// The version the run was locked to when the message was delivered.
    pub run_version: Option<String>,
    pub created_at: Millis,
}

/// Filters of the waitpoints list; empty vectors mean "any".
#[derive(Clone, Debug, Default)]
pub struct WaitpointFilter {
    pub kind: Option<WaitpointKind>,
    pub statuses: Vec<WaitpointStatus>,
    pub idempotency_key: Option<String>,
    /// Any of these tags.
    pub tags: Vec<String>,
    pub created_from: Option<Millis>,
    pub created_to: Option<Millis>,
}

/// What a journal entry records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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

    pub fn parse(s: &str) -> Option<JournalKind> {
        match s {
            "step" => Some(JournalKind::Step),
            "wait" => Some(JournalKind::Wait),
            _ => None,
        }
    }
}

/// One durable operation of a run, at its position in the task's execution.
#[derive(Clone, Debug, PartialEq)]
pub struct JournalEntry {
    pub run_id: String,
    pub position: i64,
    pub kind: JournalKind,
    pub name: String,
    /// JSON text of a step's output.
    pub output: Option<String>,
    /// The waitpoint of a wait.
    pub waitpoint_id: Option<String>,
    pub created_at: Millis,
    /// Read, never written: the waitpoint's status and output (JSON text) when the entry was
    /// read.
    pub wait: Option<(WaitpointStatus, Option<String>)>,
}

/// How an attempt ended without completing its run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptOutcome {
    /// The task failed (its error says why); retried while attempts remain.
    Failed,
    /// The worker stopped heartbeating and its lease expired.
    LeaseLost,
    /// It ran past the run's `maxDuration`.
    TimedOut,
    /// The run was canceled while the attempt was in progress.
    Canceled,
}

impl AttemptOutcome {
    pub const ALL: [AttemptOutcome; 4] = [
        AttemptOutcome::Failed,
        AttemptOutcome::LeaseLost,
        AttemptOutcome::TimedOut,
        AttemptOutcome::Canceled,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptOutcome::Failed => "FAILED",
            AttemptOutcome::LeaseLost => "LEASE_LOST",
            AttemptOutcome::TimedOut => "TIMED_OUT",
            AttemptOutcome::Canceled => "CANCELED",
        }
    }

    pub fn parse(s: &str) -> Option<AttemptOutcome> {
        AttemptOutcome::ALL.into_iter().find(|o| o.as_str() == s)
    }
}

/// An attempt that ended without completing its run, recorded in the transaction of the
/// transition that ended it. The attempt in progress, and the one that completed a run, are
/// read from the run (`attempt`, `attempt_started_at`, `finished_at`).
#[derive(Clone, Debug, PartialEq)]
pub struct Attempt {
    pub run_id: String,
    /// 1, 2, 3, … as the run's `attempt` counted them.
    pub number: i64,
    /// `None` for an attempt of a run written before start times were kept.
    pub started_at: Option<Millis>,
    pub ended_at: Millis,
    pub outcome: AttemptOutcome,
    /// JSON text of `{message, name?, stackTrace?}`.
    pub error: Option<String>,
    /// When the next attempt may start, when the run was queued again.
    pub retry_at: Option<Millis>,
}

/// One log line of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct LogEntry {
    /// Order of arrival; set by the store.
    pub seq: i64,
    pub run_id: String,
    /// When the worker says it happened.
    pub time: Millis,
    /// `debug`, `log`, `info`, `warn` or `error`.
    pub level: String,
    pub message: String,
    /// JSON text of an object.
    pub fields: Option<String>,
    pub created_at: Millis,
    /// The attempt the worker wrote it in (0: unknown, for lines kept from before attempts
    /// were recorded).
    pub attempt: i64,
}

/// One span of a run's trace: its attempt, a step, a wait, a child trigger, an HTTP call, or
/// a span that came in over OTLP. Times are nanoseconds since the Unix epoch.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    /// Order of arrival; set by the store.
    pub seq: i64,
    pub run_id: String,
    /// 32 hex digits.
    pub trace_id: String,
    /// 16 hex digits.
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub name: String,
    /// `attempt`, `step`, `wait`, `trigger`, `http` or `other`.
    pub kind: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// `ok`, `error` or `unset`.
    pub status: String,
    /// What went wrong, for an `error` span.
    pub message: Option<String>,
    /// JSON text of an object of attributes.
    pub attributes: Option<String>,
    pub created_at: Millis,
}

/// One chunk of a run's output stream.
#[derive(Clone, Debug, PartialEq)]
pub struct OutputChunk {
    pub run_id: String,
    pub stream_key: String,
    /// 0, 1, 2, … per run and stream key, as the writer numbered it.
    pub index: i64,
    /// JSON text of one value.
    pub body: String,
    pub created_at: Millis,
}
