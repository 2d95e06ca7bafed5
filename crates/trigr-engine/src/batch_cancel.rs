//! `batch_cancel`: cancelling the runs of a batch (those waiting to start, those running, or
//! both), and cancelling a list of runs by id with an outcome for each.
//!
//! Each run is cancelled by [`Engine::cancel`] in its own transaction (with its unfinished
//! descendants), so a cancel of many runs is not all or nothing: a run that finished in
//! between is reported as already finished. Both loops are bounded: a batch has at most
//! [`crate::batch::MAX_ITEMS`] runs and a list at most [`MAX_CANCEL_IDS`] ids.

use trigr_types::RunStatus;

use crate::cancel::{CancelReason, Canceled};
use crate::{Engine, Error, Result};

/// The most run ids one [`Engine::cancel_runs`] takes.
pub const MAX_CANCEL_IDS: usize = 100;

/// Which runs of a batch to cancel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchCancel {
    /// Runs not started: `PENDING_VERSION`, `DELAYED`, `QUEUED`.
    pub pending: bool,
    /// Runs started: `DEQUEUED`, `EXECUTING`, `WAITING`.
    pub running: bool,
}

/// What a batch cancel did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BatchCanceled {
    /// The runs cancelled, in item order.
    pub canceled: Vec<String>,
    /// Unfinished runs left as they are (not selected by [`BatchCancel`]).
    pub skipped: usize,
}

fn started(status: RunStatus) -> bool {
    matches!(
        status,
        RunStatus::Dequeued | RunStatus::Executing | RunStatus::Waiting
    )
}

impl Engine {
    /// Cancels the unfinished runs of a batch that `which` selects.
    pub async fn cancel_batch(
        &self,
        env_id: &str,
        batch_id: &str,
        which: BatchCancel,
        reason: Option<&CancelReason>,
    ) -> Result<BatchCanceled> {
        let view = self.retrieve_batch(env_id, batch_id).await?;
        let mut out = BatchCanceled::default();
        for run in view.runs.iter().filter(|r| !r.status.is_final()) {
            let wanted = if started(run.status) {
                which.running
            } else {
                which.pending
            };
            if !wanted {
                out.skipped += 1;
                continue;
            }
            let c = self.cancel_because(env_id, &run.id, reason).await?;
            if !c.already_finished {
                out.canceled.push(c.run.id);
            }
        }
        Ok(out)
    }

    /// Cancels each run of `ids` (at most [`MAX_CANCEL_IDS`], checked first), in order, with
    /// each one's outcome: what [`Engine::cancel`] did, or why it could not (an unknown id);
    /// each run cancelled keeps `reason` as its error, when given.
    pub async fn cancel_runs(
        &self,
        env_id: &str,
        ids: &[String],
        reason: Option<&CancelReason>,
    ) -> Result<Vec<(String, Result<Canceled>)>> {
        if ids.is_empty() || ids.len() > MAX_CANCEL_IDS {
            return Err(Error::invalid(format!(
                "runIds must name 1 to {MAX_CANCEL_IDS} runs, not {}",
                ids.len()
            )));
        }
        let mut out = Vec::with_capacity(ids.len());
        for id in ids {
            let outcome = match self.cancel_because(env_id, id, reason).await {
                Err(Error::Store(e)) => return Err(Error::Store(e)),
                other => other,
            };
            out.push((id.clone(), outcome));
        }
        Ok(out)
    }
}
