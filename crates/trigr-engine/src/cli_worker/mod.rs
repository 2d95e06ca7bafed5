//! Runs executed by a Trigger.dev CLI worker (`trigger.dev dev`): the snapshot chain it reads
//! and the commands of its protocol (`/engine/v1/dev/*`, `docs/typescript.md`).
//!
//! Such a worker holds a run under a *dev lease* (a lease whose id starts with
//! [`DEV_LEASE_PREFIX`]): the same fencing token every worker holds, so the run's status
//! machine, retries, timeouts, cancels and waits are the ones of every run. What the CLI adds
//! is its view of the run, a chain of snapshots (`trigr_store::snapshots`):
//!
//! * every transition of a run that a dev lease held or now holds appends one (`follow`,
//!   called by [`crate::transition`] in the transition's transaction): handed out
//!   `PENDING_EXECUTING`, started `EXECUTING`, back in its queue `QUEUED`, canceled while it
//!   ran `PENDING_CANCEL` (the CLI stops the task and reports it, which appends `FINISHED`),
//!   otherwise ended (by its own completion, a cancel, a timeout or a lost worker) `FINISHED`;
//! * a wait the task starts appends `EXECUTING_WITH_WAITPOINTS` ([`waits`]), and the
//!   completion of what it waits for appends `EXECUTING` handing the waitpoint back
//!   (`waitpoint_completed`, called by [`crate::resume`] when the waitpoint completes).
//!
//! The task's process never stops while it waits (the CLI keeps it alive), so a dev run is
//! never suspended: its wait is *held*, its slot stays taken, and the CLI's heartbeats keep the
//! lease.

pub mod complete;
pub mod delivered;
pub mod dequeue;
pub mod disconnect;
pub mod heartbeat;
pub mod latest;
pub mod register;
pub mod start;
pub mod trigger_and_wait;
pub mod waits;

use trigr_store::{Run, Snapshot, SnapshotStatus};
use trigr_types::{id, Millis, RunStatus};

use crate::{Result, Txn};

/// How the lease of a run held by a Trigger.dev CLI worker starts.
pub const DEV_LEASE_PREFIX: &str = "lease_dev_";

/// How long a dev lease lasts without a heartbeat: the CLI beats every 30 s, so two may be
/// missed before the attempt counts as lost (upstream gives 60 s).
pub const DEV_LEASE_MS: Millis = 90_000;

/// A new dev lease.
pub(crate) fn new_dev_lease() -> String {
    id::new("lease_dev")
}

/// Whether `lease` was handed to a Trigger.dev CLI worker.
pub fn is_dev_lease(lease: Option<&str>) -> bool {
    lease.is_some_and(|l| l.starts_with(DEV_LEASE_PREFIX))
}

impl crate::Engine {
    /// The lease of the CLI worker that holds the run, if one does: the lease of the writes a
    /// task of the Trigger.dev CLI makes with its environment's secret key (its SDK knows
    /// no lease).
    pub async fn cli_lease(&self, env_id: &str, run_id: &str) -> Result<Option<String>> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            Ok(tx
                .run(&env_id, &run_id)?
                .filter(|r| r.status.is_leased() && is_dev_lease(r.lease.as_deref()))
                .and_then(|r| r.lease))
        })
        .await
    }
}

/// Appends the snapshot a transition of a dev run means, if any (see the module docs).
pub(crate) fn follow(tx: &mut Txn<'_>, before: &Run, after: &Run) -> Result<()> {
    if !is_dev_lease(before.lease.as_deref()) && !is_dev_lease(after.lease.as_deref()) {
        return Ok(());
    }
    let status = match after.status {
        // A task canceled while it runs is stopped by the CLI, which then reports it.
        RunStatus::Canceled if before.status == RunStatus::Executing => {
            SnapshotStatus::PendingCancel
        }
        s if s.is_final() => SnapshotStatus::Finished,
        RunStatus::Dequeued => SnapshotStatus::PendingExecuting,
        RunStatus::Executing if before.status != RunStatus::Executing => SnapshotStatus::Executing,
        RunStatus::Queued | RunStatus::Delayed | RunStatus::PendingVersion => {
            SnapshotStatus::Queued
        }
        _ => return Ok(()),
    };
    append(tx, after, status, Vec::new()).map(|_| ())
}

/// Appends a snapshot of `run` as it now stands; returns it.
pub(crate) fn append(
    tx: &mut Txn<'_>,
    run: &Run,
    status: SnapshotStatus,
    waitpoints: Vec<String>,
) -> Result<Snapshot> {
    let seq = tx.latest_snapshot(&run.id)?.map_or(1, |s| s.seq + 1);
    let snapshot = Snapshot {
        run_id: run.id.clone(),
        seq,
        id: id::new("snapshot"),
        status,
        lease: run
            .lease
            .clone()
            .filter(|_| status != SnapshotStatus::Finished),
        attempt: run.attempt,
        waitpoints,
        created_at: tx.now(),
    };
    tx.insert_snapshot(&snapshot)?;
    tx.snapshot_appended(&run.id);
    Ok(snapshot)
}

/// The run's newest snapshot; a run a CLI worker holds or held always has one.
pub(crate) fn newest(tx: &mut Txn<'_>, run_id: &str) -> Result<Snapshot> {
    tx.latest_snapshot(run_id)?.ok_or_else(|| {
        crate::Error::Store(trigr_store::Error::Corrupt(format!(
            "run {run_id} has no snapshot"
        )))
    })
}

/// A waitpoint completed: a dev run holding a wait on it gets an `EXECUTING` snapshot that
/// hands it back.
pub(crate) fn waitpoint_completed(tx: &mut Txn<'_>, run: &Run, waitpoint_id: &str) -> Result<()> {
    if is_dev_lease(run.lease.as_deref()) {
        append(
            tx,
            run,
            SnapshotStatus::Executing,
            vec![waitpoint_id.to_string()],
        )?;
    }
    Ok(())
}

/// The run `run_id` of `env_id` and its snapshot `snapshot_id`, when a CLI worker still holds
/// the run's attempt: the snapshot belongs to the attempt the run's dev lease holds now. A
/// snapshot older than the newest is fine (the CLI may not have read the newest yet); one of
/// an earlier attempt, or a run no worker holds, is `409`.
pub(crate) fn held_run(
    tx: &mut Txn<'_>,
    env_id: &str,
    run_id: &str,
    snapshot_id: &str,
) -> Result<(Run, Snapshot)> {
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| crate::Error::run_not_found(run_id))?;
    let snapshot = tx.snapshot(run_id, snapshot_id)?.ok_or_else(|| {
        crate::Error::not_found(format!("Snapshot {snapshot_id} of run {run_id} not found"))
    })?;
    let held =
        run.status.is_leased() && is_dev_lease(run.lease.as_deref()) && snapshot.lease == run.lease;
    if !held {
        return Err(crate::Error::LeaseLost {
            run_id: run.id,
            status: run.status,
        });
    }
    Ok((run, snapshot))
}
