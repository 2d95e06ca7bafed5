//! Read-fallback: a buffered run is a run to its callers before the drainer creates it.
//!
//! Reads (`runs.retrieve`, an idempotent repeat) get a view made from the entry: status
//! `QUEUED`, its id, version, queue, payload, tags and metadata, `waitingFor` `BUFFERED`.
//! Writes to it (cancel) first create the run from the entry, in their own transaction, and
//! then act on it as on any run: the drainer finds the run made and only drops the entry.

use trigr_store::{BufferedEntry, Environment, ReadTx, Run};

use super::entry;
use crate::trigger::{create_run, run_record, unsaved_queue, NewRun, Triggered};
use crate::{Result, Txn};

/// The run a buffered entry will become, as a reader sees it now.
pub fn view(env: &Environment, e: &BufferedEntry) -> Result<Run> {
    let d = entry::decode(&e.body, &e.run_id)?;
    let queue = unsaved_queue(&env.id, &d.queue_name, e.created_at);
    let version = d.new.version.clone();
    Ok(run_record(
        &d.new,
        env,
        &queue,
        None,
        version,
        None,
        e.created_at,
    ))
}

/// The buffered run a request key or an idempotency key of `new` names, if any (not the one
/// `new` is itself, when the drainer creates it).
pub(crate) fn existing_buffered<T: ReadTx + ?Sized>(
    tx: &mut T,
    env: &Environment,
    new: &NewRun,
) -> Result<Option<Triggered>> {
    let own = new.fixed.as_ref().map(|f| f.run_id.as_str());
    let by_request = match &new.request_key {
        Some(key) => tx.buffered_by_request_key(&env.id, key)?,
        None => None,
    };
    let (found, is_cached, key) = match by_request {
        Some(e) => (Some(e), false, "request idempotency key"),
        None => match &new.idempotency {
            Some(k) => (
                tx.buffered_by_idempotency_key(&env.id, &new.task_id, &k.key)?,
                true,
                "idempotencyKey",
            ),
            None => (None, false, ""),
        },
    };
    let Some(e) = found.filter(|e| Some(e.run_id.as_str()) != own) else {
        return Ok(None);
    };
    let run = view(env, &e)?;
    new.reused(&run, key)?;
    Ok(Some(Triggered { run, is_cached }))
}

/// The buffered run `run_id` of an environment, as a reader sees it.
pub(crate) fn buffered_run<T: ReadTx + ?Sized>(
    tx: &mut T,
    env_id: &str,
    run_id: &str,
) -> Result<Option<Run>> {
    let Some(e) = tx.buffered(env_id, run_id)? else {
        return Ok(None);
    };
    let Some(env) = tx.environment(env_id)? else {
        return Ok(None);
    };
    Ok(Some(view(&env, &e)?))
}

/// Creates the run of buffered entry `run_id` now, in this transaction, and drops the entry
/// (whoever holds it: a drainer holding it finds the run made). `None` when no entry holds
/// that run.
pub(crate) fn materialise_in(tx: &mut Txn<'_>, env_id: &str, run_id: &str) -> Result<Option<Run>> {
    let Some(e) = tx.buffered(env_id, run_id)? else {
        return Ok(None);
    };
    let Some(env) = tx.environment(env_id)? else {
        return Ok(None);
    };
    let d = entry::decode(&e.body, &e.run_id)?;
    let run = create_run(tx, &env, &d.new, e.created_at)?.run;
    tx.delete_buffered(run_id, None)?;
    Ok(Some(run))
}

/// The runs of a batch, buffered items included (as readers see them), by item index.
pub(crate) fn batch_runs<T: ReadTx + ?Sized>(
    tx: &mut T,
    env_id: &str,
    batch_id: &str,
) -> Result<Vec<Run>> {
    let mut runs = tx.runs_of_batch(batch_id)?;
    let entries = tx.buffered_of_batch(env_id, batch_id)?;
    if entries.is_empty() {
        return Ok(runs);
    }
    let Some(env) = tx.environment(env_id)? else {
        return Ok(runs);
    };
    for e in &entries {
        runs.push(view(&env, e)?);
    }
    runs.sort_by_key(|r| r.batch_index);
    Ok(runs)
}
