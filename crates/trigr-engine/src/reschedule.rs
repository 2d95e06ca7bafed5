//! `reschedule`: a new delay for a run that is still `DELAYED`.

use trigr_store::Run;
use trigr_types::{duration, RunStatus};

use crate::transition::rescheduled;
use crate::{transition, Engine, Error, Result};

impl Engine {
    pub async fn reschedule(&self, env_id: &str, run_id: &str, delay: &str) -> Result<Run> {
        let (env_id, run_id, delay) = (env_id.to_string(), run_id.to_string(), delay.to_string());
        self.write(move |tx| {
            let now = tx.now();
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
            let after = rescheduled(&run, due, now);
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
