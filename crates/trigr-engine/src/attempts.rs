//! Attempt history: each try at a run, from its start to how it ended.
//!
//! An attempt that ends without completing its run (it failed, its lease was lost, it ran past
//! `maxDuration`, the run was canceled under it) is recorded by `record_end`, in the
//! transaction of the transition that ends it. The attempt in progress, and the one that
//! completed the run, are read from the run itself (`attempt`, `attempt_started_at`,
//! `heartbeat_at`, `finished_at`): dequeue and a successful completion, the hot path, write
//! nothing more than the run. [`history`] puts both together.

use trigr_store::{Attempt, AttemptOutcome, Run};
use trigr_types::{Millis, RunStatus};

use crate::{Result, Txn};

/// Whether `run` has an attempt that has not ended: held by a worker, suspended on a wait,
/// or queued again to continue after its wait completed.
pub(crate) fn in_progress(run: &Run) -> bool {
    run.attempt > 0
        && match run.status {
            RunStatus::Dequeued | RunStatus::Executing | RunStatus::Waiting => true,
            RunStatus::Queued => run.resumed,
            RunStatus::PendingVersion
            | RunStatus::Delayed
            | RunStatus::Completed
            | RunStatus::Canceled
            | RunStatus::Failed
            | RunStatus::Crashed
            | RunStatus::SystemFailure
            | RunStatus::Expired
            | RunStatus::TimedOut => false,
        }
}

/// How an attempt ended, as its ender says it.
pub(crate) struct End<'a> {
    pub outcome: AttemptOutcome,
    /// JSON text of the error, when there is one.
    pub error: Option<&'a str>,
    /// When the next attempt may start, when the run was queued again.
    pub retry_at: Option<Millis>,
}

/// Records that the attempt `before` was in ended with the transition to `after` (already
/// written, in this transaction). Nothing is recorded when `before` had no attempt in
/// progress.
pub(crate) fn record_end(tx: &mut Txn<'_>, before: &Run, after: &Run, end: End<'_>) -> Result<()> {
    if !in_progress(before) {
        return Ok(());
    }
    tx.insert_attempt(&Attempt {
        run_id: before.id.clone(),
        number: before.attempt,
        started_at: before.attempt_started_at,
        ended_at: after.updated_at,
        outcome: end.outcome,
        error: end.error.map(str::to_string),
        retry_at: end.retry_at,
    })?;
    Ok(())
}

/// Where an attempt stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AttemptState {
    /// A worker holds the run (`DEQUEUED` or `EXECUTING`).
    Running,
    /// Suspended on a wait (or queued to continue after it): the attempt goes on when the
    /// run is handed out again.
    Suspended,
    /// It completed the run.
    Completed,
    /// It ended without completing the run.
    Ended(AttemptOutcome),
}

/// One attempt of a run, as [`history`] tells it.
#[derive(Clone, Debug, PartialEq)]
pub struct AttemptView {
    pub number: i64,
    /// `None` for attempts of runs written before start times were kept.
    pub started_at: Option<Millis>,
    pub ended_at: Option<Millis>,
    pub state: AttemptState,
    /// JSON text of the error it ended with.
    pub error: Option<String>,
    /// When the next attempt may start, when it was retried.
    pub retry_at: Option<Millis>,
    /// When its worker last proved it was alive, while it runs.
    pub heartbeat_at: Option<Millis>,
}

/// Every attempt of `run` by number: those `recorded` (`record_end`) and the one the run
/// itself tells of (in progress, or the one that ended it). Attempts of a run written before
/// attempts were recorded are left out, but for its last one when the run ended.
pub fn history(run: &Run, recorded: Vec<Attempt>) -> Vec<AttemptView> {
    let mut views: Vec<AttemptView> = recorded
        .into_iter()
        .map(|a| AttemptView {
            number: a.number,
            started_at: a.started_at,
            ended_at: Some(a.ended_at),
            state: AttemptState::Ended(a.outcome),
            error: a.error,
            retry_at: a.retry_at,
            heartbeat_at: None,
        })
        .collect();
    let last_recorded = views.last().map_or(0, |v| v.number);
    if run.attempt > last_recorded {
        views.extend(current(run));
    }
    views
}

/// The attempt the run tells of: numbered `run.attempt`, not recorded.
fn current(run: &Run) -> Option<AttemptView> {
    let (state, ended_at, error) = match run.status {
        RunStatus::Dequeued | RunStatus::Executing => (AttemptState::Running, None, None),
        RunStatus::Waiting => (AttemptState::Suspended, None, None),
        RunStatus::Queued if run.resumed => (AttemptState::Suspended, None, None),
        RunStatus::Completed => (AttemptState::Completed, run.finished_at, None),
        // A run that ended before attempts were recorded: its status says how.
        RunStatus::Failed | RunStatus::SystemFailure => (
            AttemptState::Ended(AttemptOutcome::Failed),
            run.finished_at,
            run.error.clone(),
        ),
        RunStatus::Crashed => (
            AttemptState::Ended(AttemptOutcome::LeaseLost),
            run.finished_at,
            run.error.clone(),
        ),
        RunStatus::TimedOut => (
            AttemptState::Ended(AttemptOutcome::TimedOut),
            run.finished_at,
            run.error.clone(),
        ),
        RunStatus::Canceled => (
            AttemptState::Ended(AttemptOutcome::Canceled),
            run.finished_at,
            None,
        ),
        // Between attempts (its last one recorded, or from before they were), or never
        // started.
        RunStatus::Queued | RunStatus::PendingVersion | RunStatus::Delayed | RunStatus::Expired => {
            return None
        }
    };
    Some(AttemptView {
        number: run.attempt,
        started_at: run.attempt_started_at,
        ended_at,
        state,
        error,
        retry_at: None,
        heartbeat_at: run.heartbeat_at.filter(|_| state == AttemptState::Running),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(status: RunStatus, attempt: i64) -> Run {
        Run {
            seq: 1,
            id: "run_1".into(),
            env_id: "env".into(),
            task_id: "t".into(),
            queue_id: "q".into(),
            queue_name: "task/t".into(),
            ckey: String::new(),
            status,
            version: Some("1".into()),
            payload: None,
            payload_type: "application/json".into(),
            metadata: None,
            metadata_type: "application/json".into(),
            tags: Vec::new(),
            idempotency_key: None,
            idempotency_key_user: None,
            idempotency_scope: None,
            idempotency_expires_at: None,
            request_key: None,
            priority_ms: 0,
            queue_ts: 0,
            available_at: 0,
            delay_until: None,
            ttl: None,
            ttl_expires_at: None,
            max_attempts: None,
            max_duration: None,
            machine: None,
            attempt,
            lease: None,
            lease_expires_at: None,
            timeout_at: None,
            output: None,
            output_type: None,
            error: None,
            parent_run_id: None,
            root_run_id: None,
            depth: 0,
            batch_id: None,
            batch_index: None,
            trigger_function: "trigger".into(),
            is_test: false,
            created_at: 0,
            updated_at: 0,
            started_at: Some(10),
            finished_at: None,
            resumed: false,
            attempt_started_at: Some(100),
            heartbeat_at: Some(150),
            joined_trace_id: None,
            minted_span_id: None,
            parent_span_id: None,
            region: trigr_types::region::DEFAULT.to_string(),
        }
    }

    fn failed(number: i64) -> Attempt {
        Attempt {
            run_id: "run_1".into(),
            number,
            started_at: Some(number * 10),
            ended_at: number * 10 + 5,
            outcome: AttemptOutcome::Failed,
            error: Some("{\"message\":\"boom\"}".into()),
            retry_at: Some(number * 10 + 8),
        }
    }

    #[test]
    fn a_run_in_progress_shows_its_heartbeat_after_the_recorded_attempts() {
        let views = history(&run(RunStatus::Executing, 2), vec![failed(1)]);
        assert_eq!(views.len(), 2);
        assert_eq!(views[0].state, AttemptState::Ended(AttemptOutcome::Failed));
        assert_eq!(views[0].retry_at, Some(18));
        assert_eq!(views[1].state, AttemptState::Running);
        assert_eq!(views[1].heartbeat_at, Some(150));
        assert_eq!(views[1].started_at, Some(100));
    }

    #[test]
    fn a_completed_run_ends_with_its_completing_attempt_and_no_error() {
        let mut r = run(RunStatus::Completed, 3);
        r.finished_at = Some(200);
        let views = history(&r, vec![failed(1), failed(2)]);
        let last = views.last().unwrap();
        assert_eq!((last.number, last.state), (3, AttemptState::Completed));
        assert_eq!((last.ended_at, &last.error), (Some(200), &None));
        assert_eq!(last.heartbeat_at, None);
    }

    #[test]
    fn between_attempts_only_the_recorded_ones_show() {
        let views = history(&run(RunStatus::Queued, 1), vec![failed(1)]);
        assert_eq!(views.len(), 1);
        // A failed run's last attempt is recorded: it is not told twice.
        let views = history(&run(RunStatus::Failed, 1), vec![failed(1)]);
        assert_eq!(views.len(), 1);
        assert!(history(&run(RunStatus::Queued, 0), Vec::new()).is_empty());
    }

    #[test]
    fn suspended_attempts_are_in_progress() {
        let mut r = run(RunStatus::Queued, 1);
        r.resumed = true;
        assert!(in_progress(&r));
        assert_eq!(history(&r, Vec::new())[0].state, AttemptState::Suspended);
        assert!(in_progress(&run(RunStatus::Waiting, 1)));
        assert!(!in_progress(&run(RunStatus::Queued, 1)));
        assert!(!in_progress(&run(RunStatus::Canceled, 1)));
    }
}
