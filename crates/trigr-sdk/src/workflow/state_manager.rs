//! [`StateManager`]: the seed's adapter interface (§6) for modules that track plan executions
//! through an interface rather than through trigr directly, with two implementations.
//!
//! * [`TrigrStateManager`] — the state lives in the run: `initialize_state` writes it to the
//!   run's metadata, `update_action_status` changes one action there, `get_execution_state`
//!   reads it back through [`Client::workflow_state`]. Nothing is stored anywhere else.
//! * [`InMemoryStateManager`] — a map in memory, for tests of code written against the trait.
//!
//! A module written as `fn track<S: StateManager>(states: &S, …)` runs unchanged on either.
//! Both refuse an invalid plan, an unknown execution and an unknown action the same way.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use chrono::Utc;
use trigr_types::plan::{
    self, ActionStatus, ExecutionPlan, Limits, WorkflowState, WorkflowStatus, METADATA_KEY,
};
use trigr_types::wire::rest::{MetadataOperation, MetadataUpdate};

use super::options::PlanClock;
use crate::client::Client;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::metadata::Metadata;

/// Durable state of plan executions, as the seed's modules 2 and 3 expect it.
pub trait StateManager: Send + Sync {
    /// Records the start of an execution of `plan` (every action `pending`) and answers it.
    fn initialize_state(
        &self,
        plan: &ExecutionPlan,
    ) -> impl Future<Output = Result<WorkflowState>> + Send;

    /// Sets one action's status.
    fn update_action_status(
        &self,
        execution_id: &str,
        action_id: &str,
        status: ActionStatus,
    ) -> impl Future<Output = Result<()>> + Send;

    /// The execution's state, `None` when there is none.
    fn get_execution_state(
        &self,
        execution_id: &str,
    ) -> impl Future<Output = Result<Option<WorkflowState>>> + Send;
}

/// State kept in the runs themselves (metadata key `workflow`).
#[derive(Clone, Debug)]
pub struct TrigrStateManager {
    client: Client,
    /// The running task's run and metadata: where `initialize_state` writes.
    own: Option<(String, Metadata)>,
}

impl TrigrStateManager {
    /// A manager inside a running task: executions are this run (`ctx.run.id`, the seed's
    /// `ctx.run.id` as execution id).
    pub fn for_run(ctx: &Context) -> TrigrStateManager {
        TrigrStateManager {
            client: ctx.client().clone(),
            own: Some((ctx.run.id.clone(), ctx.metadata.clone())),
        }
    }

    /// A manager outside a task: it reads and updates executions by id, and cannot initialize
    /// one (a run is started by triggering it).
    pub fn new(client: Client) -> TrigrStateManager {
        TrigrStateManager { client, own: None }
    }
}

impl StateManager for TrigrStateManager {
    async fn initialize_state(&self, plan: &ExecutionPlan) -> Result<WorkflowState> {
        plan::validate(plan, &Limits::default())?;
        let Some((run_id, metadata)) = &self.own else {
            return Err(Error::Config(
                "initialize_state needs a manager made inside the run (TrigrStateManager::for_run)"
                    .into(),
            ));
        };
        let state = WorkflowState::initial(run_id, plan, WorkflowStatus::Running, Utc::now());
        metadata.set(METADATA_KEY, &state).await?;
        Ok(state)
    }

    async fn update_action_status(
        &self,
        execution_id: &str,
        action_id: &str,
        status: ActionStatus,
    ) -> Result<()> {
        let state = self
            .client
            .workflow_state(execution_id)
            .await?
            .ok_or_else(|| Error::UnknownExecution(execution_id.to_string()))?;
        if !state.results.contains_key(action_id) {
            return Err(unknown_action(execution_id, action_id));
        }
        // Action ids are letters, digits, `_` and `-`: safe as a path segment.
        let update = MetadataUpdate {
            operations: Some(vec![MetadataOperation::Set {
                key: format!("$.{METADATA_KEY}.results.{action_id}.status"),
                value: serde_json::Value::from(status.as_str()),
            }]),
            ..MetadataUpdate::default()
        };
        self.client.update_metadata(execution_id, &update).await?;
        Ok(())
    }

    async fn get_execution_state(&self, execution_id: &str) -> Result<Option<WorkflowState>> {
        self.client.workflow_state(execution_id).await
    }
}

fn unknown_action(execution_id: &str, action_id: &str) -> Error {
    Error::UnknownAction {
        execution_id: execution_id.to_string(),
        action_id: action_id.to_string(),
    }
}

/// State in memory, for tests of code written against [`StateManager`].
#[derive(Debug)]
pub struct InMemoryStateManager {
    execution_id: String,
    clock: PlanClock,
    states: Mutex<HashMap<String, WorkflowState>>,
}

impl InMemoryStateManager {
    /// A manager whose `initialize_state` starts the execution `execution_id` (ids come from
    /// the caller, as the seed's §4 says).
    pub fn new(execution_id: impl Into<String>) -> InMemoryStateManager {
        InMemoryStateManager {
            execution_id: execution_id.into(),
            clock: PlanClock::default(),
            states: Mutex::new(HashMap::new()),
        }
    }

    /// Stamps the start of an execution by `clock` instead of the wall clock.
    pub fn clock(mut self, clock: PlanClock) -> InMemoryStateManager {
        self.clock = clock;
        self
    }

    fn states(&self) -> std::sync::MutexGuard<'_, HashMap<String, WorkflowState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl StateManager for InMemoryStateManager {
    async fn initialize_state(&self, plan: &ExecutionPlan) -> Result<WorkflowState> {
        plan::validate(plan, &Limits::default())?;
        let state = WorkflowState::initial(
            &self.execution_id,
            plan,
            WorkflowStatus::Running,
            self.clock.now(),
        );
        self.states()
            .insert(self.execution_id.clone(), state.clone());
        Ok(state)
    }

    async fn update_action_status(
        &self,
        execution_id: &str,
        action_id: &str,
        status: ActionStatus,
    ) -> Result<()> {
        let mut states = self.states();
        let state = states
            .get_mut(execution_id)
            .ok_or_else(|| Error::UnknownExecution(execution_id.to_string()))?;
        let result = state
            .results
            .get_mut(action_id)
            .ok_or_else(|| unknown_action(execution_id, action_id))?;
        result.status = status;
        Ok(())
    }

    async fn get_execution_state(&self, execution_id: &str) -> Result<Option<WorkflowState>> {
        Ok(self.states().get(execution_id).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A "module 3" written against the trait.
    async fn start_first<S: StateManager>(
        states: &S,
        plan: &ExecutionPlan,
    ) -> Result<WorkflowState> {
        let state = states.initialize_state(plan).await?;
        states
            .update_action_status(
                &state.execution_id,
                &plan.actions[0].id,
                ActionStatus::Running,
            )
            .await?;
        Ok(states
            .get_execution_state(&state.execution_id)
            .await?
            .expect("initialized"))
    }

    #[tokio::test]
    async fn the_in_memory_manager_keeps_statuses_and_names_unknown_ids() {
        let plan: ExecutionPlan = serde_json::from_value(json!({
            "id": "p",
            "actions": [{"id": "a", "http": {"method": "GET", "url": "http://x/"}}]
        }))
        .expect("a plan");
        let at = chrono::DateTime::parse_from_rfc3339("2030-01-01T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let states = InMemoryStateManager::new("exec_1").clock(PlanClock::fixed(at));
        let state = start_first(&states, &plan).await.expect("tracked");
        assert_eq!(state.execution_id, "exec_1");
        assert_eq!(state.started_at, at, "stamped by the manager's clock");
        assert_eq!(state.results["a"].status, ActionStatus::Running);
        let err = states
            .update_action_status("exec_1", "ghost", ActionStatus::Completed)
            .await
            .expect_err("unknown action");
        assert!(matches!(err, Error::UnknownAction { .. }), "{err}");
        let err = states
            .update_action_status("exec_2", "a", ActionStatus::Completed)
            .await
            .expect_err("unknown execution");
        assert!(matches!(err, Error::UnknownExecution(_)), "{err}");
        assert_eq!(
            states.get_execution_state("exec_2").await.expect("read"),
            None
        );

        let mut cyclic = plan.clone();
        cyclic.actions[0].depends_on = vec!["a".into()];
        let err = states.initialize_state(&cyclic).await.expect_err("a cycle");
        assert_eq!(
            err.to_string(),
            "invalid plan: the dependencies form a cycle: a → a"
        );
    }
}
