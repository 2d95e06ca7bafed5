//! `dev_complete`: a Trigger.dev CLI worker reports how the attempt ended
//! (`POST /engine/v1/dev/runs/{run}/snapshots/{snapshot}/attempts/complete`). The CLI decides
//! whether a failure is retried (its task's retry policy and `catchError` hooks): a failure
//! without a retry ends the run; one with a retry is queued again after the delay the CLI
//! asked for (within the run's attempts), and the CLI finds it in a later dequeue. The
//! transition appends the `FINISHED` or `QUEUED` snapshot.
//!
//! A completion for a run that already ended (canceled while the task ran, timed out) changes
//! nothing and answers how it ended, which is what the CLI expects after it stopped the task.

use trigr_store::{AttemptOutcome, Run, Snapshot, SnapshotStatus};
use trigr_types::{Millis, RunStatus};

use super::{append, held_run, newest};
use crate::attempts::{record_end, End};
use crate::resume::runs_ended;
use crate::retry::{plan_failure, Failure};
use crate::transition::{finished, transition_leased};
use crate::{Engine, Error, Result, Txn};

/// How a CLI worker's attempt ended, checked at the edge.
#[derive(Clone, Debug)]
pub enum DevOutcome {
    Succeeded {
        /// The output packet's text; `None` when the task returned nothing.
        output: Option<String>,
        output_type: String,
    },
    Failed {
        /// The error as JSON text: `{"message", "name"?, "stackTrace"?, …}`.
        error: String,
        /// The delay before the retry the CLI asked for; `None`: no retry.
        retry_after_ms: Option<u64>,
        /// The run's status when no retry follows: `FAILED`, or `TIMED_OUT` for a task that
        /// ran past its `maxDuration`, or `CANCELED` for one the CLI canceled.
        final_status: RunStatus,
    },
}

/// A checked completion.
#[derive(Clone, Debug)]
pub struct DevCompletion {
    pub outcome: DevOutcome,
}

/// What the CLI is told after its completion.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DevAttemptStatus {
    /// The run ended.
    RunFinished,
    /// The run is queued again for its retry; a later dequeue hands it out.
    RetryQueued,
}

impl DevAttemptStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DevAttemptStatus::RunFinished => "RUN_FINISHED",
            DevAttemptStatus::RetryQueued => "RETRY_QUEUED",
        }
    }
}

/// The run after the completion, and its newest snapshot.
#[derive(Clone, Debug)]
pub struct DevCompleted {
    pub run: Run,
    pub snapshot: Snapshot,
    pub attempt_status: DevAttemptStatus,
}

impl Engine {
    pub async fn dev_complete(
        &self,
        env_id: &str,
        run_id: &str,
        snapshot_id: &str,
        completion: DevCompletion,
    ) -> Result<DevCompleted> {
        let (env_id, run_id, snapshot_id) = (
            env_id.to_string(),
            run_id.to_string(),
            snapshot_id.to_string(),
        );
        let completion = std::sync::Arc::new(completion);
        // Resuming a waiting parent locks it after the child, as in `complete`.
        self.write_retrying_in(self.lane_of(&env_id), || {
            let (env_id, run_id, snapshot_id, c) = (
                env_id.clone(),
                run_id.clone(),
                snapshot_id.clone(),
                completion.clone(),
            );
            move |tx: &mut Txn<'_>| {
                tx.wake(&env_id);
                complete_in(tx, &env_id, &run_id, &snapshot_id, &c)
            }
        })
        .await
    }
}

fn complete_in(
    tx: &mut Txn<'_>,
    env_id: &str,
    run_id: &str,
    snapshot_id: &str,
    c: &DevCompletion,
) -> Result<DevCompleted> {
    let now = tx.now();
    let run = match held_run(tx, env_id, run_id, snapshot_id) {
        Ok((run, _)) => run,
        Err(Error::LeaseLost { status, .. }) if status.is_final() => {
            return ended(tx, env_id, run_id)
        }
        Err(e) => return Err(e),
    };
    let (after, retry_at) = judge(tx, &run, &c.outcome, now)?;
    transition_leased(tx, &run, &after)?;
    if let DevOutcome::Failed { error, .. } = &c.outcome {
        let end = End {
            outcome: AttemptOutcome::Failed,
            error: Some(error),
            retry_at,
        };
        record_end(tx, &run, &after, end)?;
    }
    if after.status.is_final() {
        runs_ended(tx, std::slice::from_ref(&after.id), now)?;
    }
    let snapshot = newest(tx, &after.id)?;
    let attempt_status = if after.status.is_final() {
        DevAttemptStatus::RunFinished
    } else {
        DevAttemptStatus::RetryQueued
    };
    Ok(DevCompleted {
        run: after,
        snapshot,
        attempt_status,
    })
}

/// The run as `outcome` leaves it, and when its retry may start.
fn judge(
    tx: &mut Txn<'_>,
    run: &Run,
    outcome: &DevOutcome,
    now: Millis,
) -> Result<(Run, Option<Millis>)> {
    match outcome {
        DevOutcome::Succeeded {
            output,
            output_type,
        } => {
            let mut after = finished(run, RunStatus::Completed, now);
            after.output = output.clone();
            after.output_type = Some(output_type.clone());
            after.error = None;
            Ok((after, None))
        }
        DevOutcome::Failed {
            error,
            retry_after_ms,
            final_status,
        } => {
            let failure = Failure {
                error,
                retryable: retry_after_ms.is_some(),
                retry_after_ms: *retry_after_ms,
                final_status: *final_status,
                outcome: AttemptOutcome::Failed,
            };
            plan_failure(tx, run, &failure, now)
        }
    }
}

/// The answer for a run that had already ended; a cancel the CLI reports now ends the
/// chain.
fn ended(tx: &mut Txn<'_>, env_id: &str, run_id: &str) -> Result<DevCompleted> {
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    let mut snapshot = newest(tx, run_id)?;
    if snapshot.status == SnapshotStatus::PendingCancel {
        snapshot = append(tx, &run, SnapshotStatus::Finished, Vec::new())?;
    }
    Ok(DevCompleted {
        run,
        snapshot,
        attempt_status: DevAttemptStatus::RunFinished,
    })
}
