//! The built-in plan task: runs the [`ExecutionPlan`] it is triggered with, so a plan needs no
//! user code (`trigr plans run plan.json`, `POST /api/v1/plans`).

use trigr_types::plan::{ActionStatus, ExecutionPlan, WorkflowState, WorkflowStatus};

use super::options::PlanOptions;
use crate::task::{task, RetryPolicy, Task};
use crate::task_error::TaskError;

/// The id of the built-in plan task.
pub const PLAN_TASK_ID: &str = trigr_types::plan::TASK_ID;

/// The built-in plan task with these options. Its payload is the plan (its JSON Schema is the
/// task's payload schema, so a malformed plan is refused at trigger time), its output the final
/// [`WorkflowState`]; a plan with a failed action fails the run without retry. A worker that
/// dies mid-plan counts as a failed attempt (10 allowed), and the next attempt continues after
/// the journaled actions.
pub fn plan_task(options: PlanOptions) -> Task<ExecutionPlan, WorkflowState> {
    task(PLAN_TASK_ID)
        .retry(RetryPolicy {
            max_attempts: 10,
            factor: 2.0,
            min_timeout_in_ms: 1_000,
            max_timeout_in_ms: 30_000,
            randomize: true,
        })
        .payload_schema_of::<ExecutionPlan>()
        .run(move |plan: ExecutionPlan, ctx| {
            let options = options.clone();
            async move {
                let state = ctx.run_plan_with(&plan, &options).await?;
                require_completed(state)
            }
        })
}

/// `state` when the plan completed; otherwise an error that fails the run without retry and
/// names the failed actions (the state stays readable in the run's metadata).
pub fn require_completed(state: WorkflowState) -> Result<WorkflowState, TaskError> {
    if state.status == WorkflowStatus::Completed {
        return Ok(state);
    }
    let failed: Vec<String> = state
        .results
        .values()
        .filter(|r| r.status == ActionStatus::Failed)
        .map(|r| match &r.error {
            Some(e) => format!("{} ({})", r.action_id, e.message),
            None => r.action_id.clone(),
        })
        .collect();
    Err(TaskError::fatal(format!(
        "plan {} {}: failed actions: {}",
        state.plan_id,
        state.status.as_str(),
        failed.join("; ")
    ))
    .named("PlanFailed"))
}
