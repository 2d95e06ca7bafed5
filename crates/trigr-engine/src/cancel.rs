//! `cancel`: a run and its unfinished descendants become `CANCELED` (a `WAITING` run too).
//! Their workers learn it at the next heartbeat (409) and can no longer complete them. A
//! canceled run's own duration and until waits are disarmed; the runs waiting for it (its
//! parent's `run` or `batch` wait) are resumed with `ok: false`.

use trigr_store::{AttemptOutcome, Run};
use trigr_types::{Millis, RunStatus};

use crate::attempts::{record_end, End};
use crate::mollifier::fallback::Want;
use crate::resume::runs_ended;
use crate::transition::finished;
use crate::{transition, Engine, Error, Result, Txn};

/// What a cancel did.
#[derive(Clone, Debug)]
pub struct Canceled {
    /// The run as it is now.
    pub run: Run,
    /// The run had finished before (with the status it shows): nothing was canceled.
    pub already_finished: bool,
}

impl Engine {
    /// Cancels a run (a no-op for a finished one) and its unfinished children, recursively.
    pub async fn cancel(&self, env_id: &str, run_id: &str) -> Result<Canceled> {
        let fetched = self.fetch_buffered(Want::Run { env_id, run_id }).await;
        // A completion racing the cascade may deadlock with it on PostgreSQL; the loser runs
        // again and sees the winner's commit.
        let canceled = self
            .write_retrying(|| {
                let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
                let fetched = fetched.clone();
                move |tx: &mut Txn<'_>| {
                    tx.fetched = fetched;
                    let now = tx.now();
                    let run = match tx.run(&env_id, &run_id)? {
                        Some(run) => run,
                        // A buffered run is created first, then canceled like any.
                        None => crate::mollifier::fallback::materialise_in(tx, &env_id, &run_id)?
                            .ok_or_else(|| Error::run_not_found(&run_id))?,
                    };
                    // Slots freed and waiting runs resumed: workers may find work.
                    tx.wake(&env_id);
                    let already_finished = run.status.is_final();
                    let run = cancel_tree(tx, run, now)?;
                    Ok(Canceled {
                        run,
                        already_finished,
                    })
                }
            })
            .await?;
        self.forget_buffered(&fetched, run_id).await;
        Ok(canceled)
    }
}

fn cancel_tree(tx: &mut Txn<'_>, run: Run, now: Millis) -> Result<Run> {
    let mut pending = vec![run.clone()];
    let mut first = None;
    let mut canceled = Vec::new();
    while let Some(current) = pending.pop() {
        let was_final = current.status.is_final();
        let after = cancel_one(tx, current, now)?;
        if !was_final {
            tx.disarm_waitpoints_of(&after.id)?;
            canceled.push(after.id.clone());
        }
        pending.extend(
            tx.children(&after.id)?
                .into_iter()
                .filter(|c| !c.status.is_final()),
        );
        first.get_or_insert(after);
    }
    runs_ended(tx, &canceled, now)?;
    Ok(first.unwrap_or(run))
}

/// Cancels one run, ending the attempt in progress if there is one; a run already final is
/// returned unchanged.
fn cancel_one(tx: &mut Txn<'_>, run: Run, now: Millis) -> Result<Run> {
    if run.status.is_final() {
        return Ok(run);
    }
    let after = finished(&run, RunStatus::Canceled, now);
    if !transition(tx, &run, &after)? {
        return Err(Error::Store(trigr_store::Error::Database(format!(
            "run {} changed while it was being canceled",
            run.id
        ))));
    }
    let end = End {
        outcome: AttemptOutcome::Canceled,
        error: None,
        retry_at: None,
    };
    record_end(tx, &run, &after, end)?;
    Ok(after)
}
