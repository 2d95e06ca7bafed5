//! `drain`: a buffered entry becomes its run — the normal trigger materialisation
//! ([`crate::trigger`]'s `create_run`), with the run id, trace and creation time the answer
//! fixed — or, when it cannot (its time to live ran out, its task is gone), a `FAILED` run
//! with the reason. Either way the entry leaves the store buffer in the run's own commit;
//! the run id being unique, an entry is never made twice, whoever drains it. The oldest
//! entries of an environment are claimed and materialised in one write
//! ([`Engine::materialise_next`]).

use std::collections::HashSet;

use trigr_store::{BufferedEntry, Environment, Run};
use trigr_types::{Millis, RunStatus};

use super::entry;
use crate::timers::error_json;
use crate::transition::finished;
use crate::trigger::{ensure_queue, run_record, NewRuns};
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
            move |tx: &mut Txn<'_>| {
                let drained = make_runs(tx, std::slice::from_ref(&e))?;
                drained
                    .into_iter()
                    .next()
                    .ok_or_else(|| Error::not_found("Buffered entry not found"))
            }
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
                let drained = make_runs(tx, &entries)?;
                Ok(entries.into_iter().zip(drained).collect())
            }
        })
        .await
    }

    /// Creates the runs of claimed entries (of a buffer outside the store), in order, in one
    /// write; with what became of each. The caller acknowledges them after the commit.
    pub async fn materialise_all(&self, entries: &[BufferedEntry]) -> Result<Vec<Drained>> {
        self.write_retrying_in(Lane::Bulk, || {
            let entries = entries.to_vec();
            move |tx: &mut Txn<'_>| make_runs(tx, &entries)
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

/// Creates the entries' runs (but those that exist: another drainer's, a cancel's) in order
/// and drops the entries; what became of each, in order. The runs of one environment are
/// written together ([`NewRuns`]), and its entries dropped together.
fn make_runs(tx: &mut Txn<'_>, entries: &[BufferedEntry]) -> Result<Vec<Drained>> {
    let mut done = Vec::with_capacity(entries.len());
    for of_env in entries.chunk_by(|a, b| a.env_id == b.env_id) {
        let env_id = &of_env[0].env_id;
        let ids: Vec<String> = of_env.iter().map(|e| e.run_id.clone()).collect();
        let existing: HashSet<String> = tx
            .runs_by_ids(env_id, &ids)?
            .into_iter()
            .map(|r| r.id)
            .collect();
        let env = tx
            .environment_for_share(env_id)?
            .ok_or_else(|| Error::not_found("Environment not found"))?;
        let mut made = NewRuns::default();
        for e in of_env {
            done.push(if existing.contains(&e.run_id) {
                Drained::Existed(e.run_id.clone())
            } else {
                make_run(tx, &env, e, &mut made)?
            });
        }
        made.write(tx, env_id)?;
        let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
        tx.delete_buffered_runs(&ids)?;
    }
    Ok(done)
}

/// Creates the run of an entry whose run does not exist yet (the caller drops the entry).
fn make_run(
    tx: &mut Txn<'_>,
    env: &Environment,
    e: &BufferedEntry,
    made: &mut NewRuns,
) -> Result<Drained> {
    let d = entry::decode(&e.body, &e.run_id)?;
    let made = made.create(tx, env, &d.new, e.created_at)?;
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
        return Ok(Drained::Failed(e.run_id.clone()));
    }
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
