//! Runs a plan inside a task: the dependency graph, the ready queue, the parallelism limit,
//! the journal, and the live state.
//!
//! Every action is one journaled step named `action:<id>` whose result is its
//! [`ActionResult`] — failed ones included, so a re-execution neither re-sends a completed
//! request nor retries a failed one. Actions start in an order decided at run time (whichever
//! dependency answers first), so their journal positions cannot be taken in call order: the
//! plan reserves one block of positions and gives each action the position of its rank in the
//! validated topological order. A re-execution (retry, crash, resume) therefore finds every
//! journaled action at its place, whatever order the requests finish in this time.

use std::collections::VecDeque;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use futures::stream::{FuturesUnordered, StreamExt};
use futures::FutureExt;
use trigr_types::plan::{
    self, Action, ActionResult, ActionStatus, ExecutionPlan, Limits, WorkflowState, WorkflowStatus,
};

use super::http_action::HttpExecutor;
use super::live::LiveState;
use super::options::PlanOptions;
use crate::attempt::Attempt;
use crate::context::Context;
use crate::durable::run_step;
use crate::task_error::TaskError;

/// Runs `plan` to its end and answers its final state (`completed` or `failed`).
pub(crate) async fn run(
    ctx: &Context,
    plan: &ExecutionPlan,
    options: &PlanOptions,
) -> Result<WorkflowState, TaskError> {
    let order = plan::validate(plan, &Limits::default())
        .map_err(|e| TaskError::fatal(e).named("InvalidPlan"))?;
    let executor = HttpExecutor::new(options.hosts.clone())
        .map_err(|e| TaskError::fatal(e).named("PlanError"))?
        .max_response_bytes(options.max_response_bytes)
        .clock(options.clock.clone());
    // Journaled, so that every execution reports the same start.
    let started_at: DateTime<Utc> = ctx
        .step("plan:start", || async { Ok(options.now()) })
        .await?;
    let base = ctx.attempt.reserve_positions(plan.actions.len() as u32);
    let mut positions = vec![0; plan.actions.len()];
    for (rank, &i) in order.iter().enumerate() {
        positions[i] = base + rank as u32;
    }
    let initial = WorkflowState::initial(&ctx.run.id, plan, WorkflowStatus::Running, started_at);
    let run = Run {
        attempt: ctx.attempt.clone(),
        executor,
        plan,
        positions,
        run_id: &ctx.run.id,
        options,
    };
    run.drive(LiveState::start(initial, ctx.metadata.clone()), &order)
        .await
}

/// One execution of one plan.
struct Run<'a> {
    attempt: Arc<Attempt>,
    executor: HttpExecutor,
    plan: &'a ExecutionPlan,
    /// Journal position per action (indexed like `plan.actions`).
    positions: Vec<u32>,
    run_id: &'a str,
    options: &'a PlanOptions,
}

/// An action's journaled result, and whether this execution produced it (not a replay).
type Finished = Result<(usize, ActionResult, bool), TaskError>;

/// What is left to decide: dependencies not finished yet, and the first failed one.
struct Graph {
    dependents: Vec<Vec<usize>>,
    waiting_on: Vec<usize>,
    blocked_by: Vec<Option<usize>>,
    ready: VecDeque<usize>,
}

impl Graph {
    fn new(plan: &ExecutionPlan, order: &[usize]) -> Graph {
        let n = plan.actions.len();
        let index: std::collections::HashMap<&str, usize> = plan
            .actions
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id.as_str(), i))
            .collect();
        let mut dependents = vec![Vec::new(); n];
        let mut waiting_on = vec![0; n];
        for (i, action) in plan.actions.iter().enumerate() {
            waiting_on[i] = action.depends_on.len();
            for dep in &action.depends_on {
                dependents[index[dep.as_str()]].push(i);
            }
        }
        let ready = order
            .iter()
            .copied()
            .filter(|&i| waiting_on[i] == 0)
            .collect();
        Graph {
            dependents,
            waiting_on,
            blocked_by: vec![None; n],
            ready,
        }
    }

    /// Action `done` is over; `blocks` when its dependents must not run. Answers the actions
    /// that become skipped (each then blocks its own dependents in turn).
    fn finish(&mut self, done: usize, blocks: bool) -> Vec<(usize, usize)> {
        let mut skipped = Vec::new();
        let mut over = vec![(done, blocks)];
        while let Some((node, blocks)) = over.pop() {
            for k in 0..self.dependents[node].len() {
                let d = self.dependents[node][k];
                self.waiting_on[d] -= 1;
                if blocks && self.blocked_by[d].is_none() {
                    self.blocked_by[d] = Some(node);
                }
                if self.waiting_on[d] > 0 {
                    continue;
                }
                match self.blocked_by[d] {
                    Some(by) => {
                        skipped.push((d, by));
                        over.push((d, true));
                    }
                    None => self.ready.push_back(d),
                }
            }
        }
        skipped
    }
}

impl Run<'_> {
    async fn drive(self, mut live: LiveState, order: &[usize]) -> Result<WorkflowState, TaskError> {
        let mut graph = Graph::new(self.plan, order);
        let mut running: FuturesUnordered<BoxFuture<'static, Finished>> = FuturesUnordered::new();
        loop {
            while running.len() < self.options.parallelism {
                let Some(i) = graph.ready.pop_front() else {
                    break;
                };
                running.push(self.start(i, &mut live));
            }
            let Some(finished) = running.next().await else {
                break;
            };
            let (i, result, fresh) = finished?;
            if fresh {
                if let Some(hook) = &self.options.on_result {
                    hook(self.run_id, &result);
                }
            }
            let action = &self.plan.actions[i];
            let blocks = result.status != ActionStatus::Completed && !action.continue_on_failure;
            live.set(result);
            let now = self.options.now();
            for (skipped, by) in graph.finish(i, blocks) {
                let id = &self.plan.actions[skipped].id;
                live.set(ActionResult::skipped(id, &self.plan.actions[by].id, now));
            }
        }
        let state = self.close(live.state());
        Ok(live.finish(state).await)
    }

    /// Starts action `i`: marks it running (unless its result is journaled) and sends it.
    fn start(&self, i: usize, live: &mut LiveState) -> BoxFuture<'static, Finished> {
        let action: Action = self.plan.actions[i].clone();
        let position = self.positions[i];
        let fresh = !self.attempt.is_journaled(position);
        if fresh {
            let mut result = ActionResult::pending(&action.id);
            result.status = ActionStatus::Running;
            result.started_at = Some(self.options.now());
            live.set(result);
        }
        let attempt = self.attempt.clone();
        let executor = self.executor.clone();
        let key = format!("{}:{}", self.run_id, action.id);
        async move {
            let name = format!("action:{}", action.id);
            let result = run_step(&attempt, position, &name, || async {
                Ok(executor.execute(&action, &key).await)
            })
            .await?;
            Ok((i, result, fresh))
        }
        .boxed()
    }

    /// The final state: `failed` when an action failed without `continueOnFailure`.
    fn close(&self, mut state: WorkflowState) -> WorkflowState {
        let failed = self.plan.actions.iter().any(|a| {
            !a.continue_on_failure
                && state.results.get(&a.id).map(|r| r.status) == Some(ActionStatus::Failed)
        });
        state.status = if failed {
            WorkflowStatus::Failed
        } else {
            WorkflowStatus::Completed
        };
        state.completed_at = Some(self.options.now());
        state
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plan(actions: serde_json::Value) -> ExecutionPlan {
        let mut actions = actions;
        for a in actions.as_array_mut().expect("an array") {
            a["http"] = json!({"method": "GET", "url": "http://127.0.0.1:9/x"});
        }
        serde_json::from_value(json!({"id": "p", "actions": actions})).expect("a plan")
    }

    #[test]
    fn a_failure_skips_everything_downstream_once() {
        // a → b → d, a → c → d, c → e
        let p = plan(json!([
            {"id": "a"},
            {"id": "b", "dependsOn": ["a"]},
            {"id": "c", "dependsOn": ["a"]},
            {"id": "d", "dependsOn": ["b", "c"]},
            {"id": "e", "dependsOn": ["c"]}
        ]));
        let order = plan::validate(&p, &Limits::default()).expect("valid");
        let mut g = Graph::new(&p, &order);
        assert_eq!(g.ready.drain(..).collect::<Vec<_>>(), [0]);
        assert!(g.finish(0, false).is_empty());
        assert_eq!(g.ready.drain(..).collect::<Vec<_>>(), [1, 2]);
        assert!(g.finish(1, false).is_empty(), "d still waits on c");
        let skipped = g.finish(2, true);
        assert_eq!(skipped, [(3, 2), (4, 2)]);
        assert!(g.ready.is_empty());
    }
}
