//! The one way a run's state changes.

use trigr_store::{Run, Tx};

use crate::Result;

/// Writes `after` over `before` if the run is still exactly `before` (status and lease), and
/// keeps the concurrency counters of its queue, concurrency key and environment in step.
/// Returns false, writing nothing, when another writer changed the run first.
pub fn transition(tx: &mut dyn Tx, before: &Run, after: &Run) -> Result<bool> {
    if !tx.update_run(after, before.status, before.lease.as_deref())? {
        return Ok(false);
    }
    let delta = i64::from(after.status.holds_slot()) - i64::from(before.status.holds_slot());
    if delta != 0 {
        tx.adjust_slot(&before.queue_id, &before.ckey, delta)?;
        tx.adjust_env_running(&before.env_id, delta)?;
    }
    Ok(true)
}

/// Clears everything that belongs to an attempt in progress.
pub(crate) fn end_attempt(run: &mut Run) {
    run.lease = None;
    run.lease_expires_at = None;
    run.timeout_at = None;
}
