//! `dev_latest`: where a run stands for a Trigger.dev CLI worker
//! (`GET /engine/v1/dev/runs/{run}/snapshots/latest`): its newest snapshot, with the
//! waitpoints that snapshot hands back. The CLI reads it every few seconds while a run
//! executes, and at once when it is told of a new snapshot.

use trigr_store::{Run, Snapshot};

use super::delivered::{delivered, Delivered};
use crate::{Engine, Error, Result};

/// A run's newest snapshot and what it hands back.
#[derive(Clone, Debug)]
pub struct DevLatest {
    pub run: Run,
    pub snapshot: Snapshot,
    pub waitpoints: Vec<Delivered>,
}

impl Engine {
    pub async fn dev_latest(&self, env_id: &str, run_id: &str) -> Result<DevLatest> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            let snapshot = tx.latest_snapshot(&run_id)?.ok_or_else(|| {
                Error::not_found(format!("Run {run_id} was never handed to a CLI worker"))
            })?;
            let waitpoints = delivered(tx, &env_id, &snapshot)?;
            Ok(DevLatest {
                run,
                snapshot,
                waitpoints,
            })
        })
        .await
    }
}
