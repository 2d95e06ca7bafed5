//! The worker protocol (`docs/worker-protocol.md`): the bodies of the calls under
//! `/api/v1/worker/…` that are not the engine's own types, and every answer.

use serde::{Deserialize, Serialize};
use serde_json::Value;

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
    pub tasks: Vec<TaskManifest>,
    /// Make the deployment current at once (always so in `dev`).
    #[serde(default)]
    pub promote: bool,
    /// Names the build (1-128 characters): a registration of the same build and manifest
    /// gets the same deployment back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub content_hash: Option<String>,
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
    #[cfg_attr(
        feature = "openapi",
        schema(nullable = false, minimum = 1, maximum = 500)
    )]
    pub max_runs: Option<usize>,
    /// How long to wait, in milliseconds, when no run is ready (0 when absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false, maximum = 30000))]
    pub wait_ms: Option<u64>,
    /// Names the worker (`host:pid`), for its operator; the server does not need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub worker_id: Option<String>,
    /// Hand the runs out already `EXECUTING` (no first heartbeat needed).
    #[serde(default)]
    pub start: bool,
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

/// The error of a wait that timed out: `{"message", "name"?, "stackTrace"?}`, the shape of a
/// task's error (`name` is `WaitpointTimeoutError`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "camelCase")]
pub struct WaitError {
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(nullable = false))]
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
    pub error: Option<WaitError>,
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
    pub error: Option<WaitError>,
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
                    error: Some(WaitError {
                        message: "Waitpoint waitpoint_1 timed out".into(),
                        name: Some("WaitpointTimeoutError".into()),
                        stack_trace: None,
                    }),
                },
            ],
            resumed: true,
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
}
