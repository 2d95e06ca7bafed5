//! `reschedule`: a new delay for a run that is still `DELAYED`.

use trigr_store::Run;
use trigr_types::{duration, RunStatus};

use crate::{transition, Engine, Error, Result};

impl Engine {
    pub async fn reschedule(&self, env_id: &str, run_id: &str, delay: &str) -> Result<Run> {
        let (env_id, run_id, delay) = (env_id.to_string(), run_id.to_string(), delay.to_string());
        let engine = self.clone();
        self.write(move |tx| {
            let now = engine.now();
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            if run.status != RunStatus::Delayed {
                return Err(Error::invalid(format!(
                    "Cannot reschedule a run that is not delayed (run {run_id} is {})",
                    run.status
                )));
            }
            let due = duration::parse_delay(&delay, now)
                .map_err(|e| Error::invalid(format!("Invalid delay: {e}")))?;
            let mut after = run.clone();
            after.delay_until = Some(due);
            after.available_at = due;
            after.queue_ts = due - run.priority * 1000;
            if let (Some(old_ttl_at), Some(_)) = (run.ttl_expires_at, &run.ttl) {
                after.ttl_expires_at = Some(due + (old_ttl_at - run.available_at));
            }
            after.updated_at = now;
            if !transition(tx, &run, &after)? {
                return Err(Error::invalid(format!(
                    "Run {run_id} changed while it was being rescheduled"
                )));
            }
            Ok(after)
        })
        .await
    }
}
