//! `dev_start`: a Trigger.dev CLI worker starts the attempt of a run it was handed
//! (`POST /engine/v1/dev/runs/{run}/snapshots/{snapshot}/attempts/start`). The run goes
//! `DEQUEUED → EXECUTING` (its `EXECUTING` snapshot is appended by that transition); a start
//! repeated for a run already executing answers the attempt as it stands, so the CLI's own
//! retries of the call change nothing.

use trigr_store::{Environment, Project, Run, Snapshot, SnapshotStatus};
use trigr_types::manifest::TaskManifest;
use trigr_types::RunStatus;

use super::{held_run, DEV_LEASE_MS};
use crate::retry::policy_of;
use crate::transition::{extended, transition_leased};
use crate::{Engine, Error, Result};

/// An attempt that started, with what the task's context is made of.
#[derive(Clone, Debug)]
pub struct DevStarted {
    pub run: Run,
    /// The run's newest snapshot: `EXECUTING`.
    pub snapshot: Snapshot,
    /// The deployment the run is locked to, by id.
    pub deployment_id: Option<String>,
    /// The run's task as that deployment declares it (its file and export).
    pub task: Option<TaskManifest>,
    pub environment: Environment,
    pub project: Project,
}

impl Engine {
    pub async fn dev_start(
        &self,
        env_id: &str,
        run_id: &str,
        snapshot_id: &str,
    ) -> Result<DevStarted> {
        let (env_id, run_id, snapshot_id) = (
            env_id.to_string(),
            run_id.to_string(),
            snapshot_id.to_string(),
        );
        self.write(move |tx| {
            let now = tx.now();
            let (run, _) = held_run(tx, &env_id, &run_id, &snapshot_id)?;
            let run = match run.status {
                RunStatus::Dequeued => {
                    let after = extended(&run, now + DEV_LEASE_MS, now);
                    transition_leased(tx, &run, &after)?;
                    after
                }
                RunStatus::Executing => run,
                status => {
                    return Err(Error::Conflict(format!(
                        "run {run_id} cannot start an attempt: it is {status}"
                    )))
                }
            };
            // The task sees the attempts its retry policy allows.
            let mut run = run;
            run.max_attempts = Some(i64::from(policy_of(tx, &run)?.max_attempts));
            let snapshot = tx
                .latest_snapshot(&run.id)?
                .filter(|s| s.status != SnapshotStatus::Finished)
                .ok_or_else(|| Error::Conflict(format!("run {run_id} has ended")))?;
            let deployment = match &run.version {
                Some(v) => tx.loaded_deployment(&env_id, v)?,
                None => None,
            };
            let deployment_id = deployment.as_ref().map(|d| d.deployment.id.clone());
            let task = deployment.and_then(|d| d.deployment.task(&run.task_id).cloned());
            let environment = tx
                .environment(&env_id)?
                .ok_or_else(|| Error::not_found("Environment not found"))?;
            let project = tx
                .projects()?
                .into_iter()
                .find(|p| p.id == environment.project_id)
                .ok_or_else(|| Error::not_found("Project not found"))?;
            Ok(DevStarted {
                run,
                snapshot,
                deployment_id,
                task,
                environment,
                project,
            })
        })
        .await
    }
}
