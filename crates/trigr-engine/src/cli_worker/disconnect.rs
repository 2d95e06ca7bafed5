//! `dev_disconnect`: a Trigger.dev CLI died while it ran some runs; its watchdog names them
//! (`POST /engine/v1/dev/disconnect`). Each run a CLI worker still holds is canceled at once,
//! with why, instead of waiting for its lease to run out; a run that is not held by a CLI
//! worker of this environment (ended, or never handed out) is left as it is.

use crate::cancel::CancelReason;
use crate::{Engine, Error, Result};

/// Most runs one disconnect names.
pub const MAX_RUNS: usize = 500;

/// Why the runs of a CLI that went away were canceled.
pub const REASON: &str = "Dev session ended (CLI exited)";

impl Engine {
    /// Cancels the runs of `run_ids` that a CLI worker holds; returns how many.
    pub async fn dev_disconnect(&self, env_id: &str, run_ids: &[String]) -> Result<usize> {
        if run_ids.len() > MAX_RUNS {
            return Err(Error::invalid(format!(
                "runFriendlyIds names {} runs; at most {MAX_RUNS}",
                run_ids.len()
            )));
        }
        let reason = CancelReason::new(REASON)?;
        let mut canceled = 0;
        for run_id in run_ids {
            if !self.held_by_cli(env_id, run_id).await? {
                continue;
            }
            let c = self.cancel_because(env_id, run_id, Some(&reason)).await?;
            canceled += usize::from(!c.already_finished);
        }
        Ok(canceled)
    }

    async fn held_by_cli(&self, env_id: &str, run_id: &str) -> Result<bool> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            Ok(tx
                .run(&env_id, &run_id)?
                .is_some_and(|r| r.status.is_leased() && super::is_dev_lease(r.lease.as_deref())))
        })
        .await
    }
}
