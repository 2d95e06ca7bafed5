//! The answers of the queues (reference §4.3), schedules (§4.1) and deployments (§4.5) APIs,
//! of the environment's retention period (`/api/v1/retention`) and of moving runs between
//! versions (`POST /api/v1/runs/migrate`).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::common::{NoPagination, OffsetPagination};
use super::Timestamp;

/// `concurrency` of a queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QueueConcurrency {
    /// The limit in force: the override, else the base; `null` when unlimited.
    pub current: Option<i64>,
    /// The limit the deployment declared.
    pub base: Option<i64>,
    #[serde(rename = "override")]
    pub override_limit: Option<i64>,
    pub overridden_at: Option<Timestamp>,
    /// Always `null`.
    pub overridden_by: Option<String>,
}

/// A queue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Queue {
    /// `queue_…`.
    pub id: String,
    /// The task id for a task's queue, else the custom queue's name.
    pub name: String,
    /// `task` or `custom`.
    #[serde(rename = "type")]
    pub kind: String,
    pub running: i64,
    pub queued: i64,
    pub paused: bool,
    /// The limit in force; `null` when unlimited.
    pub concurrency_limit: Option<i64>,
    pub concurrency: QueueConcurrency,
    /// `code` (made by a trigger or a deployment naming it; its name, description and tags
    /// stay as they are) or `api` (made through `POST /api/v1/queues`).
    #[serde(default = "code_source")]
    pub source: String,
    /// What the queue is for (queues made through the API).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Its tags, in order (queues made through the API).
    #[serde(default)]
    pub tags: Vec<String>,
}

fn code_source() -> String {
    "code".to_string()
}

/// Answer of `DELETE /api/v1/queues/{queue}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct QueueDeleted {
    /// `queue_…`.
    pub id: String,
    /// Always `true`.
    pub deleted: bool,
    /// Runs not finished yet moved to their task's own queue (with `force=true`).
    pub moved_runs: u64,
}

/// Answer of `GET /api/v1/queues`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct QueueList {
    pub data: Vec<Queue>,
    pub pagination: OffsetPagination,
}

/// `generator` of a schedule.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleGenerator {
    /// `CRON`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The five-field cron pattern.
    pub expression: String,
    /// The pattern in words.
    pub description: String,
}

/// An environment a schedule runs in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct ScheduleEnvironment {
    pub id: String,
    /// `DEVELOPMENT`, `STAGING`, `PRODUCTION` or `PREVIEW`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `null`.
    pub user_name: Option<String>,
}

/// A cron schedule. `nextRun` is the next nominal tick, `nextRunEffectiveAt` when it fires
/// (after the window's offset); both `null` while the schedule is inactive.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    /// `sched_…`.
    pub id: String,
    /// `IMPERATIVE` or `DECLARATIVE`.
    #[serde(rename = "type")]
    pub kind: String,
    pub task: String,
    pub active: bool,
    pub deduplication_key: Option<String>,
    pub external_id: Option<String>,
    pub generator: ScheduleGenerator,
    /// The IANA zone the pattern is read in.
    pub timezone: String,
    pub next_run: Option<Timestamp>,
    pub next_run_effective_at: Option<Timestamp>,
    pub environments: Vec<ScheduleEnvironment>,
    /// The jitter window (`30m`, `2h`, `30%`); absent when the schedule has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub window: Option<String>,
    /// The members each scheduled run's payload gets beside the scheduled ones; absent when
    /// none. A trigr addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, value_type = Option<Object>))]
    pub payload: Option<Value>,
    /// Each scheduled run's metadata; absent when none. A trigr addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, value_type = Option<Object>))]
    pub metadata: Option<Value>,
    /// Each scheduled run's machine preset; absent when none. A trigr addition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub machine: Option<String>,
    /// The tags added to each scheduled run (sorted). A trigr addition.
    #[serde(default)]
    pub tags: Vec<String>,
}

/// Answer of `GET /api/v1/schedules`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ScheduleList {
    pub data: Vec<Schedule>,
    pub pagination: OffsetPagination,
}

/// Answer of `GET /api/v1/timezones`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Timezones {
    pub timezones: Vec<String>,
}

/// A deployment, with when a worker of its version last asked for runs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct Deployment {
    pub id: String,
    pub created_at: Timestamp,
    /// The version.
    pub short_code: String,
    pub version: String,
    /// Always `null`.
    pub runtime: Option<String>,
    /// Always `null`.
    pub runtime_version: Option<String>,
    /// `DEPLOYED`.
    pub status: String,
    pub deployed_at: Timestamp,
    pub current: bool,
    /// The ids of its tasks.
    pub tasks: Vec<String>,
    /// When a worker of this version last asked for runs; `null` when none has.
    pub worker_last_seen_at: Option<Timestamp>,
    /// Whether one did within the presence window.
    pub has_workers: bool,
    /// How many workers of this version asked for runs within the presence window, told
    /// apart by the worker id their dequeue names.
    #[serde(default)]
    pub live_workers: i64,
    /// After a rollback: the version that was current.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub rolled_back_from: Option<String>,
}

/// Answer of `GET /api/v1/deployments`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct DeploymentList {
    pub data: Vec<Deployment>,
    pub pagination: NoPagination,
}

/// Answer of `GET`, `PUT` and `DELETE /api/v1/retention`: how long the environment keeps
/// finished runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"days": 14, "defaultDays": 30, "isDefault": false}))
)]
#[serde(rename_all = "camelCase")]
pub struct Retention {
    /// Days a run is kept after it finished; 0 keeps finished runs for good.
    pub days: u32,
    /// The server's default (`trigr server --retention-days`).
    pub default_days: u32,
    /// Whether the environment follows the server's default (it has no period of its own).
    pub is_default: bool,
}

/// Answer of `GET`, `PUT` and `DELETE /api/v1/region`: the environment's default region.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(
    feature = "openapi",
    derive(utoipa::ToSchema),
    schema(example = json!({"region": "eu-central-1", "isDefault": false}))
)]
#[serde(rename_all = "camelCase")]
pub struct DefaultRegion {
    /// Where runs that name no region go, and what workers that name none serve.
    pub region: String,
    /// Whether the environment follows the server's default region (`default`).
    pub is_default: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn answers_read_back_write_the_same_json() {
        let queue = json!({"id": "queue_1", "name": "t", "type": "task", "running": 0,
            "queued": 1, "paused": false, "concurrencyLimit": null, "concurrency": {
                "current": null, "base": null, "override": null, "overriddenAt": null,
                "overriddenBy": null}, "source": "code", "tags": []});
        let read: Queue = serde_json::from_value(queue.clone()).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), queue);
        let list = json!({"data": [], "pagination": {}});
        let read: DeploymentList = serde_json::from_value(list.clone()).unwrap();
        assert_eq!(serde_json::to_value(read).unwrap(), list);
    }
}

/// Runs of one task that a migration left where they were: the target version does not
/// declare the task.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct MigrationSkipped {
    pub task: String,
    pub runs: u64,
}

/// Answer of `POST /api/v1/runs/migrate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct RunsMigrated {
    pub from: String,
    pub to: String,
    /// Runs now locked to `to`.
    pub moved: u64,
    /// Runs left on `from` because `to` does not declare their task, by task.
    pub skipped: Vec<MigrationSkipped>,
    /// Runs of `from` a worker holds now (dequeued or executing): they finish there, or move
    /// in a later call once they wait or are queued again for a retry.
    pub executing: i64,
    /// More runs may follow: send it as `cursor` to continue. Absent when every run was looked at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub next_cursor: Option<String>,
}
