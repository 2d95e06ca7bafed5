//! `heartbeat`: a worker proves it still holds a run; the first one marks it `EXECUTING`.

use trigr_store::Run;
use trigr_types::Millis;

use crate::transition::{check_lease, extended, transition_leased};
use crate::{Engine, Error, Result};

impl Engine {
    pub async fn heartbeat(&self, env_id: &str, run_id: &str, lease: &str) -> Result<Run> {
        let (env_id, run_id, lease) = (env_id.to_string(), run_id.to_string(), lease.to_string());
        self.write(move |tx| {
            let now = tx.now();
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            check_lease(&run, &lease)?;
            let lease_until = now + tx.config().lease_timeout.as_millis() as Millis;
            let after = extended(&run, lease_until, now);
            transition_leased(tx, &run, &after)?;
            Ok(after)
        })
        .await
    }
}
