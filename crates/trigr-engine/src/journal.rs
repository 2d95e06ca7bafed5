//! The journal of a run (worker protocol §7.1): what a dequeued run carries, the lease check
//! every durable call makes, and the non-determinism check.

use trigr_store::{JournalEntry, JournalKind, Run};

use crate::transition::check_lease;
use crate::{Error, Result, Txn};

/// Longest step or wait name.
pub const MAX_NAME_LEN: usize = 256;

/// The run, locked, if `lease` is its current lease (`409 lease_lost` otherwise).
pub(crate) fn leased_run(tx: &mut Txn<'_>, env_id: &str, run_id: &str, lease: &str) -> Result<Run> {
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    check_lease(&run, lease)?;
    Ok(run)
}

/// A step or wait name: 1–256 characters.
pub(crate) fn check_name(name: &str) -> Result<()> {
    let n = name.chars().count();
    if n == 0 || n > MAX_NAME_LEN {
        return Err(Error::invalid(format!(
            "name must be 1-{MAX_NAME_LEN} characters, got {n}"
        )));
    }
    Ok(())
}

/// The journaled entry must be the operation the task reached at its position.
pub(crate) fn check_entry(entry: &JournalEntry, kind: JournalKind, name: &str) -> Result<()> {
    if entry.kind == kind && entry.name == name {
        return Ok(());
    }
    Err(Error::NonDeterminism(format!(
        "position {}: the journal has {} {:?} but the code reached {} {:?}",
        entry.position,
        entry.kind.as_str(),
        entry.name,
        kind.as_str(),
        name
    )))
}

/// The journal a dequeued run replays. A run on its first attempt that never waited has none,
/// and costs no read.
pub(crate) fn of_dequeued(tx: &mut Txn<'_>, run: &Run) -> Result<Vec<JournalEntry>> {
    if run.attempt <= 1 && !run.resumed {
        return Ok(Vec::new());
    }
    Ok(tx.journal(&run.id)?)
}
