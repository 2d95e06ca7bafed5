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
    pub priority: i64,
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
    pub is_test: Option<bool>,
    pub created_from: Option<Millis>,
    pub created_to: Option<Millis>,
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
