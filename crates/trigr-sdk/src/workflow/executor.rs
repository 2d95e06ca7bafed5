//! Reading and starting plan executions from outside a task: [`Client::workflow_state`],
//! [`Client::action_result`] and the seed's `WorkflowExecutor` ([`WorkflowExecutor`]).
//!
//! The state is read from the run, with no task in between: its output once the run completed
//! (every output in full), else the `workflow` key of its metadata, which the runner updates as
//! actions start and end. A run that ended without the runner closing the state (cancelled,
//! crashed) reads as `cancelled` or `failed` with its unfinished actions `cancelled`; a plan
//! run no worker started yet reads as `pending`.

use trigr_types::plan::{
    self, ActionResult, ExecutionPlan, Limits, RunRecord, WorkflowState, WorkflowStatus,
};

use super::builtin::PLAN_TASK_ID;
use crate::client::types::{Run, TriggerOptions};
use crate::client::Client;
use crate::error::Result;

impl Client {
    /// The state of the plan execution `execution_id` (its run id), or `None` when there is
    /// no such run or it is not a plan execution.
    pub async fn workflow_state(&self, execution_id: &str) -> Result<Option<WorkflowState>> {
        match self.retrieve_run(execution_id).await {
            Ok(run) => Ok(state_of_run(&run)),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The result of one action of the plan execution `execution_id`, or `None` when there is
    /// no such execution or action.
    pub async fn action_result(
        &self,
        execution_id: &str,
        action_id: &str,
    ) -> Result<Option<ActionResult>> {
        let state = self.workflow_state(execution_id).await?;
        Ok(state.and_then(|mut s| s.results.remove(action_id)))
    }
}

/// The plan state a run holds, if it is a plan execution ([`WorkflowState::of_run`]).
pub fn state_of_run(run: &Run) -> Option<WorkflowState> {
    WorkflowState::of_run(RunRecord {
        id: &run.id,
        status: run.status,
        payload: run.payload.as_ref(),
        output: run.output.as_ref(),
        metadata: run.metadata.as_ref(),
        created_at: run.created_at,
        finished_at: run.finished_at,
    })
}

/// A plan execution just started.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowExecution {
    /// Its id: the run id.
    pub execution_id: String,
    /// `pending` until a worker starts it.
    pub status: WorkflowStatus,
}

/// Starts plans on a plan task and reads their state (the seed's `WorkflowExecutor`).
#[derive(Clone, Debug)]
pub struct WorkflowExecutor {
    client: Client,
    task_id: String,
}

impl WorkflowExecutor {
    /// An executor that starts plans on the built-in task ([`PLAN_TASK_ID`]).
    pub fn new(client: Client) -> WorkflowExecutor {
        WorkflowExecutor {
            client,
            task_id: PLAN_TASK_ID.to_string(),
        }
    }

    /// Starts plans on your own task instead (one whose payload is the plan and which calls
    /// [`Context::run_plan`](crate::Context::run_plan)).
    pub fn task(mut self, task_id: impl Into<String>) -> WorkflowExecutor {
        self.task_id = task_id.into();
        self
    }

    /// Validates `plan` ([`Error::InvalidPlan`](crate::Error::InvalidPlan) names the problem, before any run exists) and
    /// triggers its execution.
    pub async fn execute(&self, plan: &ExecutionPlan) -> Result<WorkflowExecution> {
        plan::validate(plan, &Limits::default())?;
        let handle = self
            .client
            .trigger_id(&self.task_id, plan, TriggerOptions::new())
            .await?;
        Ok(WorkflowExecution {
            execution_id: handle.id,
            status: WorkflowStatus::Pending,
        })
    }

    /// The execution's state ([`Client::workflow_state`]).
    pub async fn get_state(&self, execution_id: &str) -> Result<Option<WorkflowState>> {
        self.client.workflow_state(execution_id).await
    }

    /// One action's result ([`Client::action_result`]).
    pub async fn get_action_result(
        &self,
        execution_id: &str,
        action_id: &str,
    ) -> Result<Option<ActionResult>> {
        self.client.action_result(execution_id, action_id).await
    }
}
