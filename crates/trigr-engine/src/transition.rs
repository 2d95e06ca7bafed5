//! The one way a run's state changes.
//!
//! A command builds the run as it will be with one of the named transitions below — pure
//! functions from the run as read to the run as it should be written — and writes it with
//! [`transition`], a compare-and-set on the status and lease it read. [`check_lease`] is the
//! one test that a worker still holds a run.

use trigr_store::Run;
use trigr_types::{Millis, RunStatus};

use crate::{Error, Result, Txn};

/// Writes `after` over `before` if the run is still exactly `before` (status and lease).
/// Returns false, writing nothing, when another writer changed the run first. The slots a run
/// holds follow from its status (see `trigr_store::tx`), so there is nothing else to keep in
/// step.
pub fn transition(tx: &mut Txn<'_>, before: &Run, after: &Run) -> Result<bool> {
    let written = tx.update_runs_over(&[(before, after)])?[0];
    if written {
        crate::events::record(tx, [(Some(before), after)])?;
        crate::cli_worker::follow(tx, before, after)?;
    }
    Ok(written)
}

/// [`transition`] for several runs at once, as `(before, after)` pairs of distinct runs: one
/// statement where the store can. Returns whether each was written.
pub fn transition_many(tx: &mut Txn<'_>, pairs: &[(Run, Run)]) -> Result<Vec<bool>> {
    let updates: Vec<_> = pairs
        .iter()
        .map(|(before, after)| (before, after))
        .collect();
    let written = tx.update_runs_over(&updates)?;
    crate::events::record(
        tx,
        pairs
            .iter()
            .zip(&written)
            .filter(|(_, w)| **w)
            .map(|((before, after), _)| (Some(before), after)),
    )?;
    for ((before, after), _) in pairs.iter().zip(&written).filter(|(_, w)| **w) {
        crate::cli_worker::follow(tx, before, after)?;
    }
    Ok(written)
}

/// [`transition`] of a run its caller holds by lease: losing the race means the lease was
/// lost (`409 lease_lost`).
pub(crate) fn transition_leased(tx: &mut Txn<'_>, before: &Run, after: &Run) -> Result<()> {
    if transition(tx, before, after)? {
        Ok(())
    } else {
        Err(lease_lost(before))
    }
}

/// Whether `lease` is the run's current lease (`409 lease_lost` otherwise).
pub(crate) fn check_lease(run: &Run, lease: &str) -> Result<()> {
    if run.status.is_leased() && run.lease.as_deref() == Some(lease) {
        Ok(())
    } else {
        Err(lease_lost(run))
    }
}

fn lease_lost(run: &Run) -> Error {
    Error::LeaseLost {
        run_id: run.id.clone(),
        status: run.status,
    }
}

/// Where a run available at `at` stands in its queue: earlier by its priority.
pub(crate) fn queue_time(run: &Run, at: Millis) -> Millis {
    at - run.priority_ms
}

/// `QUEUED` → `DEQUEUED` or `EXECUTING`: a worker holds the run under `lease` until
/// `lease_until`. A resumed run continues the attempt that suspended; anything else starts a
/// new attempt. A run that started no longer expires by its time to live.
pub(crate) fn leased(
    run: &Run,
    status: RunStatus,
    lease: String,
    lease_until: Millis,
    now: Millis,
) -> Run {
    let mut after = run.clone();
    after.status = status;
    if !run.resumed || run.attempt_started_at.is_none() {
        after.attempt_started_at = Some(now);
    }
    if !run.resumed {
        after.attempt += 1;
    }
    after.lease = Some(lease);
    after.lease_expires_at = Some(lease_until);
    after.heartbeat_at = Some(now);
    after.started_at = after.started_at.or(Some(now));
    after.ttl_expires_at = None;
    after.timeout_at = after.max_duration.map(|s| now + s * 1000);
    after.updated_at = now;
    after
}

/// A heartbeat: the run is `EXECUTING` and its lease runs until `lease_until`.
pub(crate) fn extended(run: &Run, lease_until: Millis, now: Millis) -> Run {
    let mut after = run.clone();
    after.status = RunStatus::Executing;
    after.lease_expires_at = Some(lease_until);
    after.heartbeat_at = Some(now);
    after.updated_at = now;
    after
}

/// The run reached a final `status`; its attempt, if any, is over.
pub(crate) fn finished(run: &Run, status: RunStatus, now: Millis) -> Run {
    debug_assert!(status.is_final());
    let mut after = run.clone();
    after.status = status;
    after.finished_at = Some(now);
    after.updated_at = now;
    end_attempt(&mut after);
    after
}

/// Back to `QUEUED` for a new attempt at `at` (a retry); the attempt that failed is over (its
/// error goes to the attempt's record, not to the run).
pub(crate) fn requeued(run: &Run, at: Millis, now: Millis) -> Run {
    let mut after = run.clone();
    after.status = RunStatus::Queued;
    after.available_at = at;
    after.queue_ts = queue_time(run, at);
    after.updated_at = now;
    // A retry is a new attempt, not the continuation of a resumed one.
    after.resumed = false;
    after.error = None;
    end_attempt(&mut after);
    after
}

/// `EXECUTING` → `WAITING`: the attempt's lease ends and its slot is freed.
pub(crate) fn suspended(run: &Run, now: Millis) -> Run {
    let mut after = run.clone();
    after.status = RunStatus::Waiting;
    after.updated_at = now;
    end_attempt(&mut after);
    after
}

/// `WAITING` → `QUEUED`: what it waited for completed; the next dequeue continues its
/// attempt, in its old place in the queue.
pub(crate) fn resumed(run: &Run, now: Millis) -> Run {
    let mut after = run.clone();
    after.status = RunStatus::Queued;
    after.available_at = now;
    after.resumed = true;
    after.updated_at = now;
    after
}

/// A delayed run's delay is over: `QUEUED`, or `PENDING_VERSION` while no version is known.
pub(crate) fn delay_over(run: &Run, now: Millis) -> Run {
    let mut after = run.clone();
    after.status = if run.version.is_some() {
        RunStatus::Queued
    } else {
        RunStatus::PendingVersion
    };
    after.updated_at = now;
    after
}

/// A delayed run now due at `due`; its time to live moves with it.
pub(crate) fn rescheduled(run: &Run, due: Millis, now: Millis) -> Run {
    let mut after = run.clone();
    after.delay_until = Some(due);
    after.available_at = due;
    after.queue_ts = queue_time(run, due);
    if let (Some(old_ttl_at), Some(_)) = (run.ttl_expires_at, &run.ttl) {
        after.ttl_expires_at = Some(due + (old_ttl_at - run.available_at));
    }
    after.updated_at = now;
    after
}

/// A run not yet started moves to `version` (a promotion); one waiting for any version is
/// `QUEUED` now.
pub(crate) fn moved_to_version(
    run: &Run,
    version: &str,
    max_duration: Option<i64>,
    now: Millis,
) -> Run {
    let mut after = run.clone();
    after.version = Some(version.to_string());
    if run.status == RunStatus::PendingVersion {
        after.status = RunStatus::Queued;
    }
    if after.max_duration.is_none() {
        after.max_duration = max_duration;
    }
    after.updated_at = now;
    after
}

/// A run that holds no lease (`QUEUED`, `DELAYED` or `WAITING`) moves to `version`, keeping
/// its status, attempt, place in its queue and journal: the next attempt, or the one it
/// resumes, runs on a worker of `version` and replays the journal there.
pub(crate) fn migrated(run: &Run, version: &str, now: Millis) -> Run {
    debug_assert!(matches!(
        run.status,
        RunStatus::Queued | RunStatus::Delayed | RunStatus::Waiting
    ));
    let mut after = run.clone();
    after.version = Some(version.to_string());
    after.updated_at = now;
    after
}

/// Clears everything that belongs to a worker holding the run (the attempt's number and start
/// stay: a suspended attempt goes on later, and a finished run tells of its last one).
fn end_attempt(run: &mut Run) {
    run.lease = None;
    run.lease_expires_at = None;
    run.heartbeat_at = None;
    run.timeout_at = None;
}
