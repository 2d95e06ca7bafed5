//! `heartbeat`: a worker proves it still holds a run; the first one marks it `EXECUTING`.

use trigr_store::Run;
use trigr_types::{Millis, RunStatus};

use crate::{transition, Engine, Error, Result};

impl Engine {
    pub async fn heartbeat(&self, env_id: &str, run_id: &str, lease: &str) -> Result<Run> {
        let (env_id, run_id, lease) = (env_id.to_string(), run_id.to_string(), lease.to_string());
        let engine = self.clone();
        self.write(move |tx| {
            let now = engine.now();
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            if !run.status.is_leased() || run.lease.as_deref() != Some(lease.as_str()) {
                return Err(Error::LeaseLost {
                    run_id,
                    status: run.status,
                });
            }
            let mut after = run.clone();
            after.status = RunStatus::Executing;
            after.lease_expires_at = Some(now + engine.config.lease_timeout.as_millis() as Millis);
            after.updated_at = now;
            if !transition(tx, &run, &after)? {
                return Err(Error::LeaseLost {
                    run_id,
                    status: run.status,
                });
            }
            Ok(after)
        })
        .await
    }
}
