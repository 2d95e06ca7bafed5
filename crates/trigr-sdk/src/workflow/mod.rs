//! Workflow plans (DESIGN §10, seed 004): run an [`ExecutionPlan`] — HTTP actions with
//! dependencies — durably inside a task, read its [`WorkflowState`] from anywhere, and adapt
//! the state to the seed's `StateManager` interface.
//!
//! * [`Context::run_plan`] / [`Context::run_plan_with`] — execute a plan in a task: every
//!   action whose dependencies completed runs, independent ones in parallel up to a limit,
//!   each journaled (a completed action is never re-sent after a crash, retry or resume; its
//!   request carries `Idempotency-Key: <run id>:<action id>`); a failed action skips its
//!   dependents unless it has `continueOnFailure`.
//! * The state is live in the run's metadata (key `workflow`) while the plan runs:
//!   [`Client::workflow_state`](crate::Client::workflow_state) and
//!   [`Client::action_result`](crate::Client::action_result) read it;
//!   [`WorkflowExecutor::execute`] triggers a plan.
//! * [`plan_task`] — the built-in task (`trigr-plan`) that runs the plan it is given; `trigr
//!   worker --plans` serves it with a [`HostPolicy`] allowlist.
//! * [`StateManager`] — the seed's adapter interface, with [`TrigrStateManager`] (state in the
//!   run) and [`InMemoryStateManager`] (for tests of code written against the trait).
//! * [`HttpExecutor`] — one action's request: timeouts, retries on `5xx`/`429`/connection
//!   errors honouring `Retry-After`, error codes.

mod builtin;
mod executor;
mod hosts;
mod http_action;
mod live;
mod options;
mod runner;
mod state_manager;

pub use builtin::{plan_task, require_completed, PLAN_TASK_ID};
pub use executor::{state_of_run, WorkflowExecution, WorkflowExecutor};
pub use hosts::{is_public, HostPolicy, HostRefused};
pub use http_action::{HttpExecutor, DEFAULT_MAX_RESPONSE_BYTES};
pub use live::{METADATA_BUDGET, PUBLISH_INTERVAL};
pub use options::{PlanClock, PlanOptions, ResultHook, MAX_PARALLELISM};
pub use state_manager::{InMemoryStateManager, StateManager, TrigrStateManager};
pub use trigr_types::plan::{
    Action, ActionError, ActionErrorCode, ActionResult, ActionRetry, ActionStatus, Backoff,
    ExecutionPlan, HttpAction, HttpMethod, WorkflowState, WorkflowStatus,
};

use crate::context::Context;
use crate::task_error::TaskError;

impl Context {
    /// Executes `plan` with the default [`PlanOptions`] (10 actions at a time, any public
    /// host) and answers its final state: `completed`, or `failed` when an action without
    /// `continueOnFailure` failed (see [`require_completed`] to turn that into the task's
    /// error). An invalid plan fails the attempt without retry.
    ///
    /// ```no_run
    /// # async fn demo(ctx: trigr_sdk::Context, plan: trigr_sdk::workflow::ExecutionPlan)
    /// # -> Result<(), trigr_sdk::TaskError> {
    /// let state = ctx.run_plan(&plan).await?;
    /// println!("{} actions completed", state.count(trigr_sdk::workflow::ActionStatus::Completed));
    /// # Ok(()) }
    /// ```
    pub async fn run_plan(&self, plan: &ExecutionPlan) -> Result<WorkflowState, TaskError> {
        self.run_plan_with(plan, &PlanOptions::default()).await
    }

    /// Executes `plan` with these options (parallelism, host policy, response limit, a hook
    /// on each journaled result).
    pub async fn run_plan_with(
        &self,
        plan: &ExecutionPlan,
        options: &PlanOptions,
    ) -> Result<WorkflowState, TaskError> {
        runner::run(self, plan, options).await
    }
}
