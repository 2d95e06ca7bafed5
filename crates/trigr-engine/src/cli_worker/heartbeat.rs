//! `dev_heartbeat`: a Trigger.dev CLI worker's task process is alive
//! (`POST /engine/v1/dev/runs/{run}/snapshots/{snapshot}/heartbeat`, every 30 s, also while it
//! waits). Any snapshot of the attempt the worker holds extends the dev lease: the CLI may
//! name one older than the newest.

use trigr_store::Run;
use trigr_types::RunStatus;

use super::{held_run, DEV_LEASE_MS};
use crate::transition::{extended, transition_leased};
use crate::{Engine, Result};

impl Engine {
    pub async fn dev_heartbeat(
        &self,
        env_id: &str,
        run_id: &str,
        snapshot_id: &str,
    ) -> Result<Run> {
        let (env_id, run_id, snapshot_id) = (
            env_id.to_string(),
            run_id.to_string(),
            snapshot_id.to_string(),
        );
        self.write(move |tx| {
            let now = tx.now();
            let (run, _) = held_run(tx, &env_id, &run_id, &snapshot_id)?;
            let mut after = extended(&run, now + DEV_LEASE_MS, now);
            // A run handed out and not yet started stays so: its start makes it `EXECUTING`.
            after.status = run.status;
            if run.status == RunStatus::Dequeued || run.status == RunStatus::Executing {
                transition_leased(tx, &run, &after)?;
            }
            Ok(after)
        })
        .await
    }
}
