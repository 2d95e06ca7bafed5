//! The one way a run's state changes.

use trigr_store::{Run, Tx};

use crate::Result;

/// Writes `after` over `before` if the run is still exactly `before` (status and lease).
/// Returns false, writing nothing, when another writer changed the run first. The slots a run
/// holds follow from its status (see `trigr_store::tx`), so there is nothing else to keep in
/// step.
pub fn transition(tx: &mut dyn Tx, before: &Run, after: &Run) -> Result<bool> {
    let written = tx.update_run(after, before.status, before.lease.as_deref())?;
    if written {
        crate::events::record(tx, [(Some(before), after)])?;
    }
    Ok(written)
}

/// [`transition`] for several runs at once, as `(before, after)` pairs of distinct runs: one
/// statement where the store can. Returns whether each was written.
pub fn transition_many(tx: &mut dyn Tx, pairs: &[(Run, Run)]) -> Result<Vec<bool>> {
    let updates: Vec<_> = pairs
        .iter()
        .map(|(before, after)| (after, before.status, before.lease.as_deref()))
        .collect();
    let written = tx.update_runs(&updates)?;
    crate::events::record(
        tx,
        pairs
            .iter()
            .zip(&written)
            .filter(|(_, w)| **w)
            .map(|((before, after), _)| (Some(before), after)),
    )?;
    Ok(written)
}

/// Clears everything that belongs to an attempt in progress.
pub(crate) fn end_attempt(run: &mut Run) {
    run.lease = None;
    run.lease_expires_at = None;
    run.timeout_at = None;
}
