//! Read-only queries: a run with its relatives (and why it waits), run lists, deployments.

use trigr_store::{Deployment, Page, Run, RunFilter};

use crate::attempts::{history, AttemptView};
use crate::explain::{waiting_for, WaitingFor};
use crate::presence::WorkersSeen;
use crate::{Engine, Error, Result};

/// A run with the runs around it.
pub struct RunWithRelatives {
    pub run: Run,
    pub root: Option<Run>,
    pub parent: Option<Run>,
    pub children: Vec<Run>,
    /// Why the run is not running, when it is neither final, dequeued nor executing.
    pub waiting_for: Option<WaitingFor>,
    /// Its attempts, by number.
    pub attempts: Vec<AttemptView>,
}

/// The deployments of an environment (see [`Engine::deployments`]).
pub struct DeploymentList {
    /// Newest first.
    pub deployments: Vec<Deployment>,
    pub current: Option<String>,
    pub workers: WorkersSeen,
}

impl Engine {
    pub async fn retrieve_run(&self, env_id: &str, run_id: &str) -> Result<RunWithRelatives> {
        let (env_id, run_id, now) = (env_id.to_string(), run_id.to_string(), self.now());
        self.read(move |tx| {
            let run = match tx.run(&env_id, &run_id)? {
                Some(run) => run,
                None => return buffered_detail(tx, &env_id, &run_id),
            };
            let parent = match &run.parent_run_id {
                Some(p) => tx.run(&env_id, p)?,
                None => None,
            };
            let root = match &run.root_run_id {
                Some(r) if Some(r) == run.parent_run_id.as_ref() => parent.clone(),
                Some(r) => tx.run(&env_id, r)?,
                None => None,
            };
            let children = tx.children(&run.id)?;
            let waiting_for = waiting_for(tx, &run, now)?;
            let attempts = history(&run, tx.attempts(&run.id)?);
            Ok(RunWithRelatives {
                run,
                root,
                parent,
                children,
                waiting_for,
                attempts,
            })
        })
        .await
    }

    /// One page of runs, newest first. `after`/`before` are run ids (cursors); `size + 1` runs
    /// are read so the caller knows whether another page exists.
    pub async fn list_runs(
        &self,
        env_id: &str,
        filter: RunFilter,
        size: usize,
        after: Option<String>,
        before: Option<String>,
        queue_names: Vec<String>,
    ) -> Result<Vec<Run>> {
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let mut filter = filter;
            for name in queue_names {
                // An unknown queue matches nothing.
                let id = tx
                    .queue_by_name(&env_id, &name)?
                    .map_or_else(|| "queue_none".to_string(), |q| q.id);
                filter.queue_ids.push(id);
            }
            let mut seq_of = |id: Option<String>| -> Result<Option<i64>> {
                match id {
                    None => Ok(None),
                    Some(id) => Ok(Some(
                        tx.run(&env_id, &id)?
                            .ok_or_else(|| {
                                Error::invalid(format!("The cursor '{id}' does not name a run"))
                            })?
                            .seq,
                    )),
                }
            };
            let page = Page {
                size: size + 1,
                after_seq: seq_of(after)?,
                before_seq: seq_of(before)?,
            };
            Ok(tx.list_runs(&env_id, &filter, page)?)
        })
        .await
    }

    /// Deployments of an environment, newest first, the current version, and when workers of
    /// each version were last seen.
    pub async fn deployments(&self, env_id: &str, limit: usize) -> Result<DeploymentList> {
        let (env_id, now) = (env_id.to_string(), self.now());
        self.read(move |tx| {
            let env = tx
                .environment(&env_id)?
                .ok_or_else(|| Error::not_found("Environment not found"))?;
            Ok(DeploymentList {
                deployments: tx.deployments(&env_id, limit)?,
                current: env.current_version,
                workers: WorkersSeen::read(tx, &env_id, now)?,
            })
        })
        .await
    }
}

/// A buffered run's detail (read-fallback): no relatives or attempts yet, waiting in the
/// mollifier's buffer.
fn buffered_detail(
    tx: &mut dyn trigr_store::ReadTx,
    env_id: &str,
    run_id: &str,
) -> Result<RunWithRelatives> {
    let run = crate::mollifier::fallback::buffered_run(tx, env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    Ok(RunWithRelatives {
        run,
        root: None,
        parent: None,
        children: Vec::new(),
        waiting_for: Some(crate::explain::WaitingFor::buffered()),
        attempts: Vec::new(),
    })
}
