//! `dev_wait`: a task run by a Trigger.dev CLI worker waits (`wait.for`/`wait.until` past 5 s,
//! `wait.forToken`, `triggerAndWait`). The wait is a journal entry at the run's next position
//! with its waitpoint, as every worker's wait ([`crate::waits`]), held rather than suspended:
//! the task's process keeps running. It appends `EXECUTING_WITH_WAITPOINTS`, or `EXECUTING`
//! handing the waitpoint back when it is already complete (a token completed earlier, a date
//! already past, a child an idempotency key found ended); when the waitpoint completes later,
//! [`crate::resume`] appends that `EXECUTING` snapshot.

use std::sync::Arc;

use trigr_store::{Snapshot, SnapshotStatus, WaitpointKind, WaitpointStatus};
use trigr_types::RunStatus;

use super::{append, is_dev_lease};
use crate::waits::{wait_in, Wait, WaitRequest, WaitState};
use crate::{Engine, Error, Result, Txn};

/// A wait that started, and the snapshot it appended.
#[derive(Clone, Debug)]
pub struct DevWaiting {
    pub state: WaitState,
    pub snapshot: Snapshot,
}

impl Engine {
    /// Makes the run `run_id`, executing under a CLI worker, wait for `wait` (named `name` in
    /// its journal).
    pub async fn dev_wait(
        &self,
        env_id: &str,
        run_id: &str,
        name: &'static str,
        wait: Wait,
    ) -> Result<DevWaiting> {
        let wait = Arc::new(wait);
        self.write_retrying(|| {
            let (env_id, run_id, wait) = (env_id.to_string(), run_id.to_string(), wait.clone());
            move |tx: &mut Txn<'_>| dev_wait_in(tx, &env_id, &run_id, name, &wait)
        })
        .await
    }
}

/// The run `parent_id` made batch `batch_id` with `resumeParentOnCompletion`: when a CLI
/// worker holds it, it now waits for the batch's runs (its items come later). Returns
/// whether it waits.
pub(crate) fn wait_for_batch(
    tx: &mut Txn<'_>,
    env_id: &str,
    parent_id: &str,
    batch_id: &str,
) -> Result<bool> {
    let held = tx
        .run(env_id, parent_id)?
        .is_some_and(|p| p.status == RunStatus::Executing && is_dev_lease(p.lease.as_deref()));
    if held {
        let wait = Wait::Items {
            batch_id: batch_id.to_string(),
        };
        dev_wait_in(tx, env_id, parent_id, "batchTriggerAndWait", &wait)?;
    }
    Ok(held)
}

/// The run `parent_id` asked again for a batch its idempotency key found (`isCached`): when
/// a CLI worker holds it, it waits for that batch's runs as if it had made it. Its task skips
/// sending the items and waits for every item of the batch.
pub(crate) fn wait_for_found_batch(
    tx: &mut Txn<'_>,
    env_id: &str,
    parent_id: &str,
    batch: &trigr_store::Batch,
) -> Result<()> {
    if !wait_for_batch(tx, env_id, parent_id, &batch.id)? {
        return Ok(());
    }
    let Some(entry) = tx.journal(parent_id)?.pop() else {
        return Ok(());
    };
    let Some(wp) = entry.waitpoint_id.as_deref() else {
        return Ok(());
    };
    let runs: Vec<(i64, String)> = tx
        .runs_of_batch(&batch.id)?
        .into_iter()
        .map(|r| (r.batch_index.unwrap_or(0), r.id))
        .collect();
    tx.insert_waitpoint_runs_at(wp, &runs)?;
    if let Some(wp) = tx.waitpoint(env_id, wp)? {
        let now = tx.now();
        crate::resume::complete_if_children_ended(tx, &wp, now)?;
    }
    Ok(())
}

/// The last message of `stream_id` the run's earlier input waits took (0 for none): where
/// its next wait on the stream starts.
fn consumed(tx: &mut Txn<'_>, env_id: &str, run_id: &str, stream_id: &str) -> Result<i64> {
    let mut last = 0;
    for entry in tx.journal(run_id)? {
        let Some(id) = &entry.waitpoint_id else {
            continue;
        };
        let Some(wp) = tx.waitpoint(env_id, id)? else {
            continue;
        };
        let on_stream = wp.input.as_ref().is_some_and(|i| i.stream_id == stream_id);
        if on_stream && wp.status == WaitpointStatus::Completed {
            let seq = wp
                .output
                .as_deref()
                .and_then(|o| serde_json::from_str::<serde_json::Value>(o).ok())
                .and_then(|v| v.get("seq").and_then(serde_json::Value::as_i64));
            last = last.max(seq.unwrap_or(0));
        }
    }
    Ok(last)
}

impl Engine {
    /// `inputStream.wait()`: the run waits for the next message of `stream_id` after `after`
    /// (when the task says which it read last), else after the last one its earlier waits on
    /// the stream took.
    pub async fn dev_wait_input(
        &self,
        env_id: &str,
        run_id: &str,
        stream_id: &str,
        after: Option<i64>,
        timeout_ms: Option<trigr_types::Millis>,
    ) -> Result<DevWaiting> {
        crate::input_send::check_stream_id(stream_id)?;
        self.write_retrying(|| {
            let (env_id, run_id, stream_id) = (
                env_id.to_string(),
                run_id.to_string(),
                stream_id.to_string(),
            );
            move |tx: &mut Txn<'_>| {
                let after = match after {
                    Some(a) => a.max(0),
                    None => consumed(tx, &env_id, &run_id, &stream_id)?,
                };
                let wait = Wait::Input {
                    stream_id,
                    after,
                    timeout_ms,
                };
                dev_wait_in(tx, &env_id, &run_id, "inputStream.wait", &wait)
            }
        })
        .await
    }
}

pub(crate) fn dev_wait_in(
    tx: &mut Txn<'_>,
    env_id: &str,
    run_id: &str,
    name: &str,
    wait: &Wait,
) -> Result<DevWaiting> {
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    if run.status != RunStatus::Executing || !is_dev_lease(run.lease.as_deref()) {
        return Err(Error::Conflict(format!(
            "run {run_id} is {} and not executing under a `trigger.dev dev` worker: only such a \
             run waits through this call",
            run.status
        )));
    }
    if let Some(held) = held_input_wait(tx, env_id, run_id, wait)? {
        return Ok(held);
    }
    let position = tx.last_journal_position(run_id)?.map_or(0, |p| p + 1);
    let req = WaitRequest {
        lease: run.lease.clone().unwrap_or_default(),
        position: u32::try_from(position)
            .map_err(|_| Error::invalid(format!("run {run_id} has too many waits")))?,
        name: name.to_string(),
        suspend: false,
        wait: wait.clone(),
    };
    let state = wait_in(tx, env_id, run_id, &req)?;
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    let snapshot = if state.status == WaitpointStatus::Waiting {
        append(
            tx,
            &run,
            SnapshotStatus::ExecutingWithWaitpoints,
            Vec::new(),
        )?
    } else {
        append(
            tx,
            &run,
            SnapshotStatus::Executing,
            vec![state.waitpoint_id.clone()],
        )?
    };
    Ok(DevWaiting { state, snapshot })
}

/// A `wait.forToken` on the waitpoint of an input-stream wait of the same run
/// (`inputStream.wait()` makes the wait, then waits on its waitpoint as on a token): the wait
/// is held already, with its snapshot; its state and the run's newest snapshot.
fn held_input_wait(
    tx: &mut Txn<'_>,
    env_id: &str,
    run_id: &str,
    wait: &Wait,
) -> Result<Option<DevWaiting>> {
    let Wait::Token { token_id } = wait else {
        return Ok(None);
    };
    let Some(wp) = tx
        .waitpoint(env_id, token_id)?
        .filter(|w| w.kind == WaitpointKind::Input && w.owner_run_id.as_deref() == Some(run_id))
    else {
        return Ok(None);
    };
    let state = WaitState {
        position: 0,
        waitpoint_id: wp.id,
        status: wp.status,
        output: wp.output,
        suspended: Some(false),
        run_ids: Vec::new(),
    };
    let snapshot = super::newest(tx, run_id)?;
    Ok(Some(DevWaiting { state, snapshot }))
}
