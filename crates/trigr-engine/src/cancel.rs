//! `cancel`: a run and its unfinished descendants become `CANCELED` (a `WAITING` run too).
//! Their workers learn it at the next heartbeat (409) and can no longer complete them. A
//! canceled run's own duration and until waits are disarmed; the runs waiting for it (its
//! parent's `run` or `batch` wait) are resumed with `ok: false`. A cancel may give a
//! [`CancelReason`]: each run it cancels keeps it as its error
//! (`{"message": <reason>, "name": "CancelledError"}`).

use trigr_store::{AttemptOutcome, Run};
use trigr_types::{Millis, RunStatus};

use crate::attempts::{record_end, End};
use crate::mollifier::fallback::Want;
use crate::resume::runs_ended;
use crate::transition::finished;
use crate::{transition, Engine, Error, Result, Txn};

/// The most characters a [`CancelReason`] has.
pub const MAX_REASON_CHARS: usize = 1000;

/// Why runs were cancelled, as a person wrote it: 1 to [`MAX_REASON_CHARS`] characters,
/// without control characters other than newlines and tabs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CancelReason(String);

impl CancelReason {
    /// Checks `text`; the error names what is wrong with it.
    pub fn new(text: &str) -> Result<CancelReason> {
        let chars = text.chars().count();
        if text.trim().is_empty() || chars > MAX_REASON_CHARS {
            return Err(Error::invalid(format!(
                "reason must be 1 to {MAX_REASON_CHARS} characters, not {chars}"
            )));
        }
        if text
            .chars()
            .any(|c| c.is_control() && c != '\n' && c != '\t')
        {
            return Err(Error::invalid(
                "reason must not contain control characters (NUL, escape, …)",
            ));
        }
        Ok(CancelReason(text.to_string()))
    }

    /// The error a run cancelled for this reason keeps, as JSON text.
    fn error_json(&self) -> String {
        serde_json::json!({"message": self.0, "name": "CancelledError"}).to_string()
    }
}

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
        self.cancel_because(env_id, run_id, None).await
    }

    /// [`Engine::cancel`], each run cancelled keeping `reason` as its error.
    pub async fn cancel_because(
        &self,
        env_id: &str,
        run_id: &str,
        reason: Option<&CancelReason>,
    ) -> Result<Canceled> {
        let error = reason.map(CancelReason::error_json);
        let fetched = self.fetch_buffered(Want::Run { env_id, run_id }).await;
        // A completion racing the cascade may deadlock with it on PostgreSQL; the loser runs
        // again and sees the winner's commit.
        let canceled = self
            .write_retrying(|| {
                let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
                let (fetched, error) = (fetched.clone(), error.clone());
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
                    let run = cancel_tree(tx, run, error.as_deref(), now)?;
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

fn cancel_tree(tx: &mut Txn<'_>, run: Run, error: Option<&str>, now: Millis) -> Result<Run> {
    let mut pending = vec![run.clone()];
    let mut first = None;
    let mut canceled = Vec::new();
    while let Some(current) = pending.pop() {
        let was_final = current.status.is_final();
        let after = cancel_one(tx, current, error, now)?;
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
/// returned unchanged. `error` (JSON text) is the run's error from now on, when given.
fn cancel_one(tx: &mut Txn<'_>, run: Run, error: Option<&str>, now: Millis) -> Result<Run> {
    if run.status.is_final() {
        return Ok(run);
    }
    let mut after = finished(&run, RunStatus::Canceled, now);
    if let Some(error) = error {
        after.error = Some(error.to_string());
    }
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
