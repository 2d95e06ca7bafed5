//! Retries: the policy in force for a run, and what a failed attempt makes of it — queued
//! again after the policy's backoff while attempts remain and the error allows it, otherwise
//! its final status with the error. Completions ([`crate::complete`]) and the lease rescuer
//! ([`crate::timers`]) both end failed attempts here.

use rand::Rng;
use trigr_store::{AttemptOutcome, Run};
use trigr_types::{Millis, RetryPolicy, RunStatus};

use crate::attempts::{record_end, End};
use crate::complete::{outcome, Completed};
use crate::transition::{finished, requeued, transition_leased};
use crate::{Result, Txn};

/// The retry policy in force for a run: its task's, with the trigger's `maxAttempts`.
pub(crate) fn policy_of(tx: &mut Txn<'_>, run: &Run) -> Result<RetryPolicy> {
    let mut policy = match &run.version {
        Some(v) => tx
            .loaded_deployment(&run.env_id, v)?
            .and_then(|d| d.task(&run.task_id).and_then(|t| t.retry.clone()))
            .unwrap_or_default(),
        None => RetryPolicy::default(),
    };
    if let Some(n) = run.max_attempts {
        policy.max_attempts = n.max(1) as u32;
    }
    Ok(policy)
}

/// A failed attempt, as its reporter describes it.
pub(crate) struct Failure<'a> {
    /// The error as JSON text: `{"message", "name"?, "stackTrace"?}`.
    pub error: &'a str,
    /// `false`: no retry, whatever attempts remain.
    pub retryable: bool,
    /// The backoff the worker asked for, instead of the policy's.
    pub retry_after_ms: Option<u64>,
    /// The status when no retry follows.
    pub final_status: RunStatus,
    /// How the attempt ended, as its history tells it.
    pub outcome: AttemptOutcome,
}

impl Failure<'_> {
    /// The end of the attempt, for its history.
    pub(crate) fn end(&self, retry_at: Option<Millis>) -> End<'_> {
        End {
            outcome: self.outcome,
            error: Some(self.error),
            retry_at,
        }
    }
}

/// Ends a failed attempt and writes the run with the attempt's record (see
/// [`plan_failure`]).
pub(crate) fn fail_attempt(
    tx: &mut Txn<'_>,
    run: &Run,
    failure: &Failure,
    now: Millis,
) -> Result<Completed> {
    let (after, retry_at) = plan_failure(tx, run, failure, now)?;
    transition_leased(tx, run, &after)?;
    record_end(tx, run, &after, failure.end(retry_at))?;
    Ok(outcome(after, retry_at).1)
}

/// What a failed attempt makes of `run`, without writing it: the run after the failure, and
/// when it retries. The error becomes the run's only when no retry follows.
pub(crate) fn plan_failure(
    tx: &mut Txn<'_>,
    run: &Run,
    failure: &Failure,
    now: Millis,
) -> Result<(Run, Option<Millis>)> {
    let policy = policy_of(tx, run)?;
    let retry_at = (failure.retryable && run.attempt < i64::from(policy.max_attempts)).then(|| {
        let jitter: f64 = rand::thread_rng().gen();
        let delay = failure
            .retry_after_ms
            .map(|ms| ms.min(trigr_types::retry::MAX_TIMEOUT_MS) as Millis)
            .unwrap_or_else(|| policy.backoff(run.attempt as u32, jitter));
        now + delay
    });
    let after = match retry_at {
        Some(at) => requeued(run, at, now),
        None => {
            let mut after = finished(run, failure.final_status, now);
            after.resumed = false;
            after.error = Some(failure.error.to_string());
            after
        }
    };
    Ok((after, retry_at))
}
