//! The request bodies of the management REST API (reference §2-§4): triggers, batches,
//! replays, run changes, metadata updates, wait tokens, queues, schedules and input streams.
//!
//! The server reads them as sent and checks each once, with the function next to the engine
//! command that takes it (`trigr_engine::batch::check`, `tokens::check`, `replay::check`,
//! `metadata::check`, …), which returns the domain value the command takes. Absent optional
//! fields are left out when written, so a body read back writes the same JSON.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::trigger::{IdempotencyKeyOptions, TriggerOptions};

/// Body of `POST /api/v1/tasks/{id}/trigger`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"payload": {"to": "a@example.com"}, "options": {"tags": ["user_1"], "ttl": "10m"}}))
)]
pub struct TriggerBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::object::option")]
    pub options: Option<TriggerOptions>,
}

/// Body of `POST /api/v3/batches`: phase 1 of a batch trigger.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"runCount": 2, "taskIdentifiers": ["send-email"]}))
)]
#[serde(rename_all = "camelCase")]
pub struct CreateBatch {
    #[cfg_attr(feature = "openapi", schema(minimum = 1, maximum = 1000))]
    pub run_count: i64,
    /// The tasks the items will name (a public access token must name them).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub task_identifiers: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[serde(deserialize_with = "super::object::option")]
    pub idempotency_key_options: Option<IdempotencyKeyOptions>,
    /// The run that makes the batch (a task's `batchTriggerAndWait`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_run_id: Option<String>,
    /// With `parentRunId`: the parent waits for every run of the batch (a task the
    /// Trigger.dev CLI runs; a trigr worker waits through its own wait call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_parent_on_completion: Option<bool>,
}

/// One NDJSON line of `POST /api/v3/batches/{id}/items`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"index": 0, "task": "send-email", "payload": {"to": "a@example.com"}}))
)]
pub struct BatchItem {
    pub index: i64,
    pub task: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default)]
    #[serde(deserialize_with = "super::object::one")]
    pub options: TriggerOptions,
}

/// Optional overrides of `POST /api/v1/runs/{id}/replay` (strict: unknown fields are
/// rejected).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReplayOverrides {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_key: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// The new run's region; the original run's when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(
        default,
        rename = "idempotencyKeyTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key_ttl: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<f64>,
}

/// Body of `POST /api/v1/runs/{id}/reschedule`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"delay": "10m"}))
)]
pub struct RescheduleBody {
    /// A duration like `10m` or an ISO 8601 date.
    #[cfg_attr(feature = "openapi", schema(value_type = String))]
    pub delay: Value,
}

/// Body of `POST /api/v1/runs/{id}/tags`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"tags": ["vip"]}))
)]
pub struct TagsBody {
    /// A tag or a list of tags.
    pub tags: Value,
}

/// Body of `POST /api/v1/idempotencyKeys/{key}/reset`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"taskIdentifier": "send-email"}))
)]
#[serde(rename_all = "camelCase")]
pub struct IdempotencyKeyReset {
    pub task_identifier: String,
}

/// Body of `PUT /api/v1/runs/{id}/metadata`: new metadata, or operations on the run's
/// metadata and on its parent's and root's.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"operations": [{"type": "set", "key": "progress", "value": 0.5}]}))
)]
#[serde(rename_all = "camelCase")]
pub struct MetadataUpdate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operations: Option<Vec<MetadataOperation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_operations: Option<Vec<MetadataOperation>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_operations: Option<Vec<MetadataOperation>>,
}

/// One operation of a metadata update, by its `type`. A `key` is a top-level key or a JSON
/// path (`$.a.b`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(as = Operation)
)]
#[serde(tag = "type", rename_all = "camelCase")]
pub enum MetadataOperation {
    Update { value: Value },
    Set { key: String, value: Value },
    Delete { key: String },
    Append { key: String, value: Value },
    Remove { key: String, value: Value },
    Increment { key: String, value: f64 },
    Decrement { key: String, value: f64 },
}

/// Body of `POST /api/v1/waitpoints/tokens` (every field optional).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"timeout": "1h", "tags": ["approval"]}))
)]
#[serde(rename_all = "camelCase")]
pub struct CreateToken {
    /// Raw, not hashed (unlike a trigger's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency_key: Option<String>,
    #[serde(
        default,
        rename = "idempotencyKeyTTL",
        skip_serializing_if = "Option::is_none"
    )]
    pub idempotency_key_ttl: Option<String>,
    /// A duration (`10m`) or an ISO 8601 date.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<Value>,
    /// A string or at most 10 strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Value>,
}

/// Body of `POST /api/v1/waitpoints/tokens/{id}/complete`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct CompleteTokenBody {
    /// The token's output (`null` when absent).
    #[serde(default)]
    pub data: Value,
    /// A version guard (docs/versioning.md §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_version: Option<String>,
}

/// Body of `POST /realtime/v1/streams/{runId}/input/{streamId}`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"data": {"approved": true}}))
)]
#[serde(rename_all = "camelCase")]
pub struct SendInputBody {
    /// The message (`null` when absent).
    #[serde(default)]
    pub data: Value,
    /// A version guard (docs/versioning.md §2).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub if_version: Option<String>,
}

/// Body of `POST /api/v1/queues/{queue}/pause`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"action": "pause"}))
)]
pub struct PauseQueueBody {
    /// How the path names the queue: `id`, `task` or `custom`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `pause` or `resume`.
    pub action: String,
}

/// Body of `POST /api/v1/queues/{queue}/concurrency/override`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"concurrencyLimit": 5}))
)]
#[serde(rename_all = "camelCase")]
pub struct QueueOverrideBody {
    /// How the path names the queue: `id`, `task` or `custom`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    pub concurrency_limit: i64,
}

/// Body of `POST /api/v1/queues/{queue}/concurrency/reset`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueConcurrencyReset {
    /// How the path names the queue: `id`, `task` or `custom`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
}

/// Body of `POST /api/v1/queues`: a queue made through the API.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"name": "reports", "concurrencyLimit": 5, "description": "Nightly reports", "tags": ["team-data"]}))
)]
#[serde(rename_all = "camelCase")]
pub struct CreateQueueBody {
    /// 1 to 128 bytes, no control characters, not starting with `task/` or `queue_`.
    pub name: String,
    /// 0 to 100000, at most the environment's limit; absent: only the environment's limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency_limit: Option<i64>,
    /// At most 1024 bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// At most 10, each 1 to 128 bytes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

/// Body of `PATCH /api/v1/queues/{queue}`: what to change on a queue made through the API.
/// An absent field is left as is; `null` removes the limit or the description.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"concurrencyLimit": 10, "tags": ["team-data", "nightly"]}))
)]
#[serde(rename_all = "camelCase")]
pub struct UpdateQueueBody {
    /// How the path names the queue: `id`, `task` or `custom`.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<i64>))]
    pub concurrency_limit: Option<Option<i64>>,
    #[serde(
        default,
        deserialize_with = "present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub description: Option<Option<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A field that was sent, `null` or not: `Some(None)` for `null`, while an absent field is
/// `None` through `default`.
fn present<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(d).map(Some)
}

/// Body of schedule create and update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"task": "send-email", "cron": "0 9 * * 1-5", "timezone": "Europe/Paris", "deduplicationKey": "daily-email"}))
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleBody {
    pub task: String,
    pub cron: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deduplication_key: Option<String>,
    /// A window after each tick within which the run fires (`30m`, `2h`, `30%`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Value>,
    /// A JSON object whose members each scheduled run's payload gets beside the scheduled
    /// ones (`timestamp`, `scheduleId`, … are reserved). A trigr addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Value>,
    /// Each scheduled run's metadata (a JSON object). A trigr addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// Each scheduled run's machine preset (`micro`, `small-1x`, … `large-2x`). A trigr
    /// addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub machine: Option<Value>,
    /// Tags added to each scheduled run: a string or up to 10 strings of 1-128 characters. A
    /// trigr addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub tags: Option<Value>,
}

/// Body of `POST /api/v1/runs/migrate`: move the runs of version `from` that hold no lease
/// (queued, delayed, waiting, or queued again for a retry) to version `to`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"from": "20260102.1", "to": "20260102.2", "task": "process-order"}))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MigrateRunsBody {
    /// The version the runs are locked to now.
    pub from: String,
    /// The version to lock them to; it must declare each moved run's task.
    pub to: String,
    /// Only the runs of this task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<String>,
    /// Most runs looked at by this call (1 to 100000, default 10000); `nextCursor` in the
    /// answer continues after them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<i64>,
    /// Continue after the runs an earlier call looked at (its `nextCursor`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Body of `PUT /api/v1/schedules/{id}`: what to change. A member left out keeps the
/// schedule's value (the official SDK always sends `task` and `cron`); `externalId` and
/// `window` given as `null` are removed.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"cron": "0 10 * * 1-5", "timezone": "Europe/Paris"}))
)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleUpdate {
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub task: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub cron: Option<String>,
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub timezone: Option<String>,
    /// A string, or `null` to remove it.
    #[serde(
        default,
        deserialize_with = "super::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub external_id: Option<Value>,
    /// The schedule's own key, when sent: a schedule's key does not change.
    #[serde(
        default,
        deserialize_with = "super::given",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub deduplication_key: Option<String>,
    /// A window (`30m`, `2h`, `30%`), or `null` to remove it.
    #[serde(
        default,
        deserialize_with = "super::present",
        skip_serializing_if = "Option::is_none"
    )]
    pub window: Option<Value>,
    /// The payload members of each scheduled run (a JSON object), or `null` to remove them.
    #[serde(
        default,
        deserialize_with = "super::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub payload: Option<Value>,
    /// Each scheduled run's metadata (a JSON object), or `null` to remove it.
    #[serde(
        default,
        deserialize_with = "super::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// Each scheduled run's machine preset, or `null` to remove it.
    #[serde(
        default,
        deserialize_with = "super::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<String>))]
    pub machine: Option<Value>,
    /// The tags added to each scheduled run (they replace the schedule's), or `null` for none.
    #[serde(
        default,
        deserialize_with = "super::present",
        skip_serializing_if = "Option::is_none"
    )]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<Vec<String>>))]
    pub tags: Option<Value>,
}

/// Body of `POST /api/v1/test/faults` (test servers only): answer the next `count` requests
/// to `path` (a prefix when it ends with `*`) with `status`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"path": "/api/v3/runs/*", "method": "GET", "status": 503, "count": 2, "retryAfter": "1"}))
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FaultBody {
    /// The request path, or a prefix of it ending with `*`.
    pub path: String,
    /// Only requests of this method (any when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<String>,
    /// The status to answer with, 400-599.
    pub status: u16,
    /// How many requests to answer (1-1000, default 1).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<u32>,
    /// The `Retry-After` header of the answer, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<String>,
    /// The `x-ratelimit-reset` header of the answer, as sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratelimit_reset: Option<String>,
    /// Let the route run first and replace its answer (default: answer instead of the route).
    #[serde(default)]
    pub after_route: bool,
}

/// Body of `POST /api/v1/test/clock` (test servers only).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ClockBody {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub advance_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_ms: Option<i64>,
}

/// Body of `PUT /api/v1/region`: the environment's default region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"region": "eu-central-1"}))
)]
#[serde(deny_unknown_fields)]
pub struct RegionBody {
    /// 1-64 ASCII letters, digits, `-`, `_` or `.`, starting with a letter or a digit.
    pub region: String,
}

/// Body of `PUT /api/v1/retention`: how long the environment keeps finished runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"days": 14}))
)]
#[serde(deny_unknown_fields)]
pub struct RetentionBody {
    /// Days a run is kept after it finished: a whole number from 0 (keep finished runs for
    /// good) to 36500.
    #[cfg_attr(feature = "openapi", schema(minimum = 0, maximum = 36500))]
    pub days: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_read_back_write_the_same_json() {
        fn same<T: Serialize + serde::de::DeserializeOwned>(v: Value) {
            let read: T = serde_json::from_value(v.clone()).unwrap();
            assert_eq!(serde_json::to_value(read).unwrap(), v);
        }
        same::<TriggerBody>(json!({"payload": {"a": 1}, "options": {"ttl": "10m"}}));
        same::<TriggerBody>(json!({}));
        same::<ScheduleUpdate>(json!({"cron": "0 * * * *", "externalId": null, "window": "5m"}));
        same::<ScheduleUpdate>(json!({}));
        // What may be left out may not be null: the document says so.
        for member in ["task", "cron", "timezone", "deduplicationKey"] {
            let body = json!({ member: null });
            assert!(
                serde_json::from_value::<ScheduleUpdate>(body).is_err(),
                "{member}"
            );
        }
        same::<CreateBatch>(json!({"runCount": 2, "taskIdentifiers": ["t"],
            "idempotencyKey": "k", "idempotencyKeyOptions": {"key": "k"}}));
        same::<BatchItem>(json!({"index": 0, "task": "t", "payload": 1, "options": {}}));
        same::<ReplayOverrides>(json!({"payload": 1, "idempotencyKeyTTL": "1h"}));
        same::<MetadataUpdate>(json!({"operations": [
            {"type": "set", "key": "a", "value": 1}, {"type": "delete", "key": "b"},
            {"type": "increment", "key": "c", "value": 2.0}]}));
        same::<CreateToken>(json!({"timeout": "1h", "idempotencyKeyTTL": "1d", "tags": "a"}));
        same::<CompleteTokenBody>(json!({"data": null, "ifVersion": ">=1"}));
        same::<PauseQueueBody>(json!({"type": "task", "action": "pause"}));
        same::<ScheduleBody>(json!({"task": "t", "cron": "* * * * *", "window": "30m"}));
        same::<ScheduleBody>(
            json!({"task": "t", "cron": "* * * * *", "payload": {"a": 1},
            "metadata": {"b": 2}, "machine": "micro", "tags": ["x"]}),
        );
        same::<ScheduleUpdate>(json!({"payload": null, "metadata": {"b": 2},
            "machine": null, "tags": ["x"]}));
        same::<RetentionBody>(json!({"days": 14}));
        same::<MigrateRunsBody>(json!({"from": "1", "to": "2", "task": "t", "limit": 5,
            "cursor": "9"}));
        same::<MigrateRunsBody>(json!({"from": "1", "to": "2"}));
    }

    #[test]
    fn a_replay_refuses_unknown_fields() {
        assert!(serde_json::from_value::<ReplayOverrides>(json!({"region2": "eu"})).is_err());
        assert!(serde_json::from_value::<MigrateRunsBody>(
            json!({"from": "1", "to": "2", "version": "3"})
        )
        .is_err());
    }
}
