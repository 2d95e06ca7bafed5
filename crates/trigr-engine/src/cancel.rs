//! `cancel`: a run and its unfinished descendants become `CANCELED`. Their workers learn it
//! at the next heartbeat (409) and can no longer complete them.

use trigr_store::{Run, Tx};
use trigr_types::{Millis, RunStatus};

use crate::transition::end_attempt;
use crate::{transition, Effects, Engine, Error, Result};

impl Engine {
    /// Cancels a run (a no-op for a finished one) and its unfinished children, recursively.
    pub async fn cancel(&self, env_id: &str, run_id: &str) -> Result<Run> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        let engine = self.clone();
        let run = self
            .write(move |tx| {
                let now = engine.now();
                let run = tx
                    .run(&env_id, &run_id)?
                    .ok_or_else(|| Error::run_not_found(&run_id))?;
                cancel_tree(tx, run, now)
            })
            .await?;
        self.apply(&Effects::wake(&run.env_id));
        Ok(run)
    }
}

fn cancel_tree(tx: &mut dyn Tx, run: Run, now: Millis) -> Result<Run> {
    let mut pending = vec![run.clone()];
    let mut first = None;
    while let Some(current) = pending.pop() {
        let after = cancel_one(tx, current, now)?;
        pending.extend(
            tx.children(&after.id)?
                .into_iter()
                .filter(|c| !c.status.is_final()),
        );
        first.get_or_insert(after);
    }
    Ok(first.unwrap_or(run))
}

/// Cancels one run; a run already final is returned unchanged.
fn cancel_one(tx: &mut dyn Tx, run: Run, now: Millis) -> Result<Run> {
    if run.status.is_final() {
        return Ok(run);
    }
    let mut after = run.clone();
    after.status = RunStatus::Canceled;
    after.finished_at = Some(now);
    after.updated_at = now;
    end_attempt(&mut after);
    if !transition(tx, &run, &after)? {
        return Err(Error::Store(trigr_store::Error::Database(format!(
            "run {} changed while it was being canceled",
            run.id
        ))));
    }
    Ok(after)
}
