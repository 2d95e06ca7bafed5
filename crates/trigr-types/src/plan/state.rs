//! The state of one execution of a plan: a [`WorkflowState`] with one [`ActionResult`] per
//! action, as the runner keeps it in the run's metadata (key [`METADATA_KEY`]) while the plan
//! runs and returns it as the run's output.
//!
//! Every action has a result from the start (`pending`); a result moves `pending → running →
//! completed | failed`, or `pending → skipped` when a dependency failed, or `→ cancelled` when
//! the run was cancelled first. Times are RFC 3339 strings on the wire.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::model::ExecutionPlan;
use crate::RunStatus;

/// The run metadata key that holds the live [`WorkflowState`].
pub const METADATA_KEY: &str = "workflow";

/// What a run says about the plan it executes, as the API shows a run.
#[derive(Clone, Copy, Debug)]
pub struct RunRecord<'a> {
    /// The run id: the execution id.
    pub id: &'a str,
    /// Its status.
    pub status: RunStatus,
    /// Its payload: the plan.
    pub payload: Option<&'a Value>,
    /// Its output, set once it completed: the final state.
    pub output: Option<&'a Value>,
    /// Its metadata: the live state under [`METADATA_KEY`].
    pub metadata: Option<&'a Value>,
    /// When it was triggered.
    pub created_at: DateTime<Utc>,
    /// When it reached a final status.
    pub finished_at: Option<DateTime<Utc>>,
}

/// Where an execution of a plan stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    /// Triggered, not started by a worker yet.
    Pending,
    /// Actions are running.
    Running,
    /// Every action completed, or failed with `continueOnFailure`.
    Completed,
    /// An action failed (after its retries) and the plan could not go on past it.
    Failed,
    /// The run was cancelled before the plan ended.
    Cancelled,
}

impl WorkflowStatus {
    /// Whether the execution is over.
    pub fn is_final(self) -> bool {
        match self {
            WorkflowStatus::Pending | WorkflowStatus::Running => false,
            WorkflowStatus::Completed | WorkflowStatus::Failed | WorkflowStatus::Cancelled => true,
        }
    }

    /// The status as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            WorkflowStatus::Pending => "pending",
            WorkflowStatus::Running => "running",
            WorkflowStatus::Completed => "completed",
            WorkflowStatus::Failed => "failed",
            WorkflowStatus::Cancelled => "cancelled",
        }
    }
}

/// Where one action stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ActionStatus {
    /// Waiting for its dependencies or for a free slot.
    Pending,
    /// Its request is being sent (or retried).
    Running,
    /// Answered with a `2xx` or `3xx`.
    Completed,
    /// Failed after its retries.
    Failed,
    /// Not run: a dependency failed.
    Skipped,
    /// Not finished: the run was cancelled first.
    Cancelled,
}

impl ActionStatus {
    /// Whether the action is over.
    pub fn is_final(self) -> bool {
        match self {
            ActionStatus::Pending | ActionStatus::Running => false,
            ActionStatus::Completed
            | ActionStatus::Failed
            | ActionStatus::Skipped
            | ActionStatus::Cancelled => true,
        }
    }

    /// The status as the wire spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            ActionStatus::Pending => "pending",
            ActionStatus::Running => "running",
            ActionStatus::Completed => "completed",
            ActionStatus::Failed => "failed",
            ActionStatus::Skipped => "skipped",
            ActionStatus::Cancelled => "cancelled",
        }
    }
}

/// Why an action failed (or was not run).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ActionErrorCode {
    /// A try took longer than `timeoutMs`.
    Timeout,
    /// No connection could be made, or it broke.
    ConnectionFailed,
    /// A `4xx` answer other than `429`: not retried.
    ClientError,
    /// `429 Too Many Requests` on the last try.
    RateLimited,
    /// A `5xx` answer on the last try.
    ServerError,
    /// The target host is not allowed (the allowlist, or a private address).
    HostNotAllowed,
    /// The request could not be built (a header or URL the HTTP client refuses).
    InvalidRequest,
    /// The response body is larger than the runner keeps.
    ResponseTooLarge,
    /// A dependency failed, so the action was skipped.
    DependencyFailed,
    /// The run was cancelled before the action finished.
    Cancelled,
}

/// What went wrong with an action.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionError {
    /// A sentence for people.
    pub message: String,
    /// A code for programs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ActionErrorCode>,
}

/// The result of one action.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionResult {
    /// The action's id.
    pub action_id: String,
    /// Where it stands.
    pub status: ActionStatus,
    /// The response of a completed action: `{"status": 200, "body": …}` (the body parsed as
    /// JSON when it is JSON, else as text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Map<String, Value>>,
    /// Set when the output was left out of the run's metadata to keep it under its size limit
    /// (the run's output, once the plan ended, has it).
    #[serde(default, skip_serializing_if = "is_false")]
    pub output_omitted: bool,
    /// Why it failed, was skipped or cancelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ActionError>,
    /// When its first try started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// `completedAt − startedAt` in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    /// Tries made.
    #[serde(default)]
    pub attempts: u32,
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl ActionResult {
    /// A result of an action not started yet.
    pub fn pending(action_id: &str) -> ActionResult {
        ActionResult {
            action_id: action_id.to_string(),
            status: ActionStatus::Pending,
            output: None,
            output_omitted: false,
            error: None,
            started_at: None,
            completed_at: None,
            duration_ms: None,
            attempts: 0,
        }
    }

    /// The result of an action that is not run because a dependency failed.
    pub fn skipped(action_id: &str, failed_dependency: &str, at: DateTime<Utc>) -> ActionResult {
        ActionResult {
            status: ActionStatus::Skipped,
            error: Some(ActionError {
                message: format!("dependency \"{failed_dependency}\" did not complete"),
                code: Some(ActionErrorCode::DependencyFailed),
            }),
            completed_at: Some(at),
            ..ActionResult::pending(action_id)
        }
    }
}

/// The state of one execution of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct WorkflowState {
    /// The run that executes the plan (`run_…`).
    pub execution_id: String,
    /// The plan's id.
    pub plan_id: String,
    /// Where the execution stands.
    pub status: WorkflowStatus,
    /// When the execution started.
    pub started_at: DateTime<Utc>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
    /// One result per action of the plan, by action id.
    pub results: BTreeMap<String, ActionResult>,
}

impl WorkflowState {
    /// The state before any action ran: every action `pending`.
    pub fn initial(
        execution_id: &str,
        plan: &ExecutionPlan,
        status: WorkflowStatus,
        started_at: DateTime<Utc>,
    ) -> WorkflowState {
        WorkflowState {
            execution_id: execution_id.to_string(),
            plan_id: plan.id.clone(),
            status,
            started_at,
            completed_at: None,
            results: plan
                .actions
                .iter()
                .map(|a| (a.id.clone(), ActionResult::pending(&a.id)))
                .collect(),
        }
    }

    /// The state as it must read once the run is in `run_status`: a run that ended without
    /// the runner closing the state (cancelled, crashed, timed out …) leaves unfinished actions
    /// `cancelled` and the execution `cancelled` (a cancel) or `failed` (anything else).
    pub fn settle(&mut self, run_status: RunStatus, at: Option<DateTime<Utc>>) {
        if self.status.is_final() || !run_status.is_final() {
            return;
        }
        let cancelled = run_status == RunStatus::Canceled;
        self.status = if cancelled {
            WorkflowStatus::Cancelled
        } else {
            WorkflowStatus::Failed
        };
        self.completed_at = self.completed_at.or(at);
        let message = format!("the run ended {} before the action finished", run_status);
        for result in self.results.values_mut() {
            if result.status.is_final() {
                continue;
            }
            result.status = ActionStatus::Cancelled;
            result.completed_at = at;
            result.error = Some(ActionError {
                message: message.clone(),
                code: Some(ActionErrorCode::Cancelled),
            });
        }
    }

    /// The plan state `run` holds, if it is a plan execution: its output once it completed
    /// (every output in full), else the live state in its metadata, else — no worker started it
    /// yet — its plan with every action `pending`; then [`settled`](WorkflowState::settle) by
    /// the run's status, so a cancelled or crashed run reads as such.
    pub fn of_run(run: RunRecord<'_>) -> Option<WorkflowState> {
        let parse = |v: Option<&Value>| v.and_then(|v| WorkflowState::deserialize(v).ok());
        if let Some(state) = parse(run.output) {
            return Some(state);
        }
        let mut state = match parse(run.metadata.and_then(|m| m.get(METADATA_KEY))) {
            Some(state) => state,
            None => {
                let plan = ExecutionPlan::deserialize(run.payload?).ok()?;
                WorkflowState::initial(run.id, &plan, WorkflowStatus::Pending, run.created_at)
            }
        };
        state.settle(run.status, run.finished_at);
        Some(state)
    }

    /// How many actions are in `status`.
    pub fn count(&self, status: ActionStatus) -> usize {
        self.results.values().filter(|r| r.status == status).count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan() -> ExecutionPlan {
        serde_json::from_value(json!({
            "id": "p",
            "actions": [
                {"id": "a", "http": {"method": "GET", "url": "http://x/a"}},
                {"id": "b", "dependsOn": ["a"], "http": {"method": "GET", "url": "http://x/b"}}
            ]
        }))
        .expect("a plan")
    }

    #[test]
    fn starts_with_every_action_pending_in_the_seed_spelling() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).expect("a time");
        let state = WorkflowState::initial("run_1", &plan(), WorkflowStatus::Running, at);
        let wire = serde_json::to_value(&state).expect("json");
        assert_eq!(
            wire,
            json!({
                "executionId": "run_1",
                "planId": "p",
                "status": "running",
                "startedAt": "2023-11-14T22:13:20Z",
                "results": {
                    "a": {"actionId": "a", "status": "pending", "attempts": 0},
                    "b": {"actionId": "b", "status": "pending", "attempts": 0}
                }
            })
        );
        let back: WorkflowState = serde_json::from_value(wire).expect("reads back");
        assert_eq!(back, state);
    }

    #[test]
    fn a_run_reads_as_pending_then_live_then_final() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).expect("a time");
        let payload = serde_json::to_value(plan()).expect("json");
        let mut run = RunRecord {
            id: "run_1",
            status: RunStatus::Queued,
            payload: Some(&payload),
            output: None,
            metadata: None,
            created_at: at,
            finished_at: None,
        };
        let pending = WorkflowState::of_run(run).expect("a plan run");
        assert_eq!(pending.status, WorkflowStatus::Pending);
        assert_eq!(pending.count(ActionStatus::Pending), 2);

        let mut live = WorkflowState::initial("run_1", &plan(), WorkflowStatus::Running, at);
        live.results.get_mut("a").expect("a").status = ActionStatus::Running;
        let metadata = json!({ METADATA_KEY: live.clone() });
        run.status = RunStatus::Executing;
        run.metadata = Some(&metadata);
        assert_eq!(WorkflowState::of_run(run), Some(live.clone()));

        run.status = RunStatus::Canceled;
        let cancelled = WorkflowState::of_run(run).expect("state");
        assert_eq!(cancelled.status, WorkflowStatus::Cancelled);

        live.status = WorkflowStatus::Completed;
        let output = serde_json::to_value(&live).expect("json");
        run.status = RunStatus::Completed;
        run.output = Some(&output);
        assert_eq!(WorkflowState::of_run(run), Some(live));

        let other = json!({"not": "a plan"});
        run.output = None;
        run.metadata = None;
        run.payload = Some(&other);
        assert_eq!(WorkflowState::of_run(run), None, "not a plan execution");
    }

    #[test]
    fn a_cancelled_run_cancels_what_had_not_finished() {
        let at = DateTime::from_timestamp_millis(1_700_000_000_000).expect("a time");
        let mut state = WorkflowState::initial("run_1", &plan(), WorkflowStatus::Running, at);
        state.results.get_mut("a").expect("a").status = ActionStatus::Completed;
        state.results.get_mut("b").expect("b").status = ActionStatus::Running;

        let mut still_running = state.clone();
        still_running.settle(RunStatus::Executing, Some(at));
        assert_eq!(still_running, state, "a live run is left as it is");

        state.settle(RunStatus::Canceled, Some(at));
        assert_eq!(state.status, WorkflowStatus::Cancelled);
        assert_eq!(state.results["a"].status, ActionStatus::Completed);
        assert_eq!(state.results["b"].status, ActionStatus::Cancelled);
        assert_eq!(
            state.results["b"].error.as_ref().and_then(|e| e.code),
            Some(ActionErrorCode::Cancelled)
        );

        let mut crashed = WorkflowState::initial("run_2", &plan(), WorkflowStatus::Running, at);
        crashed.settle(RunStatus::Crashed, Some(at));
        assert_eq!(crashed.status, WorkflowStatus::Failed);
        assert_eq!(crashed.count(ActionStatus::Cancelled), 2);
    }
}
