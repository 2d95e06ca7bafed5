//! `drain`: a buffered entry becomes its run — the normal trigger materialisation
//! ([`crate::trigger`]'s `create_run`), with the run id, trace and creation time the answer
//! fixed — or, when it cannot (its time to live ran out, its task is gone), a `FAILED` run
//! with the reason. Either way the entry leaves the store buffer in the run's own commit;
//! the run id being unique, an entry is never made twice, whoever drains it. The oldest
//! entries of an environment are claimed and materialised in one write
//! ([`Engine::materialise_next`]).

use trigr_store::{BufferedEntry, Run};
use trigr_types::{Millis, RunStatus};

use super::entry;
use crate::timers::error_json;
use crate::transition::finished;
use crate::trigger::{create_run, ensure_queue, run_record};
use crate::{Engine, Error, Lane, Result, Txn};

/// What became of an entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Drained {
    /// Its run was created now.
    Created(String),
    /// Its run existed already (created by another drainer, or by a cancel).
    Existed(String),
    /// Its run was created `FAILED`.
    Failed(String),
}

impl Engine {
    /// Creates the run of a claimed entry and drops the entry.
    pub async fn materialise(&self, e: &BufferedEntry) -> Result<Drained> {
        self.write_retrying_in(Lane::Bulk, || {
            let e = e.clone();
            move |tx: &mut Txn<'_>| make_run(tx, &e)
        })
        .await
    }

    /// Takes up to `limit` of the oldest free entries of an environment and creates their
    /// runs, in order, dropping the entries, all in one write (the entries locked, not
    /// claimed: a failure leaves the buffer as it was); with the entries and what became of
    /// each.
    pub async fn materialise_next(
        &self,
        env_id: &str,
        limit: i64,
    ) -> Result<Vec<(BufferedEntry, Drained)>> {
        self.write_retrying_in(Lane::Bulk, || {
            let env_id = env_id.to_string();
            move |tx: &mut Txn<'_>| {
                let now = tx.now();
                let entries = tx.lock_buffered(&env_id, now, limit)?;
                let mut done = Vec::with_capacity(entries.len());
                for e in entries {
                    let drained = make_run(tx, &e)?;
                    done.push((e, drained));
                }
                Ok(done)
            }
        })
        .await
    }

    /// Creates the runs of claimed entries (of a buffer outside the store), in order, in one
    /// write; with what became of each. The caller acknowledges them after the commit.
    pub async fn materialise_all(&self, entries: &[BufferedEntry]) -> Result<Vec<Drained>> {
        self.write_retrying_in(Lane::Bulk, || {
            let entries = entries.to_vec();
            move |tx: &mut Txn<'_>| entries.iter().map(|e| make_run(tx, e)).collect()
        })
        .await
    }

    /// Writes a claimed entry's run as `FAILED` with `message` and drops the entry.
    pub async fn fail_buffered(&self, e: &BufferedEntry, message: &str) -> Result<Drained> {
        let message = message.to_string();
        self.write_retrying_in(Lane::Bulk, || {
            let (e, message) = (e.clone(), message.clone());
            move |tx: &mut Txn<'_>| {
                if tx.run(&e.env_id, &e.run_id)?.is_some() {
                    drop_entry(tx, &e)?;
                    return Ok(Drained::Existed(e.run_id.clone()));
                }
                let now = tx.now();
                let run = failed_run(tx, &e, &message, now)?;
                tx.insert_run(&run)?;
                crate::events::record(tx, [(None, &run)])?;
                drop_entry(tx, &e)?;
                Ok(Drained::Failed(e.run_id.clone()))
            }
        })
        .await
    }
}

/// Creates an entry's run (unless it exists: another drainer's, a cancel's) and drops it.
fn make_run(tx: &mut Txn<'_>, e: &BufferedEntry) -> Result<Drained> {
    if tx.run(&e.env_id, &e.run_id)?.is_some() {
        drop_entry(tx, e)?;
        return Ok(Drained::Existed(e.run_id.clone()));
    }
    let env = tx
        .environment_for_share(&e.env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))?;
    let d = entry::decode(&e.body, &e.run_id)?;
    let made = create_run(tx, &env, &d.new, e.created_at)?;
    if made.run.id != e.run_id {
        // A key the entry holds was taken by a run created beside the buffer (possible only
        // with a buffer outside the store): this one must not run as well.
        let message = format!(
            "The buffered trigger's idempotency key was taken meanwhile by run {}",
            made.run.id
        );
        let run = failed_run(tx, e, &message, tx.now())?;
        tx.insert_run(&run)?;
        crate::events::record(tx, [(None, &run)])?;
        drop_entry(tx, e)?;
        return Ok(Drained::Failed(e.run_id.clone()));
    }
    drop_entry(tx, e)?;
    Ok(Drained::Created(e.run_id.clone()))
}

/// Drops an entry in the run's own transaction (whoever claims it now).
fn drop_entry(tx: &mut Txn<'_>, e: &BufferedEntry) -> Result<()> {
    tx.delete_buffered(&e.run_id, None)?;
    Ok(())
}

/// The `FAILED` record of an entry that could not run.
fn failed_run(tx: &mut Txn<'_>, e: &BufferedEntry, message: &str, now: Millis) -> Result<Run> {
    let env = tx
        .environment(&e.env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))?;
    let d = entry::decode(&e.body, &e.run_id)?;
    let queue = ensure_queue(tx, &env.id, &d.queue_name, None, now)?;
    let version = d.new.version.clone();
    let mut new = d.new;
    // The key is free again, as a failed run's key is.
    new.idempotency = None;
    let planned = run_record(&new, &env, &queue, None, version, None, e.created_at);
    let mut run = finished(&planned, RunStatus::Failed, now);
    run.error = Some(error_json(message, "BufferedTriggerFailed"));
    Ok(run)
}
