//! `dev_wait`: a task run by a Trigger.dev CLI worker waits (`wait.for`/`wait.until` past 5 s,
//! `wait.forToken`, `triggerAndWait`). The wait is a journal entry at the run's next position
//! with its waitpoint, as every worker's wait ([`crate::waits`]), held rather than suspended:
//! the task's process keeps running. It appends `EXECUTING_WITH_WAITPOINTS`, or `EXECUTING`
//! handing the waitpoint back when it is already complete (a token completed earlier, a date
//! already past, a child an idempotency key found ended); when the waitpoint completes later,
//! [`crate::resume`] appends that `EXECUTING` snapshot.

use std::sync::Arc;

use trigr_store::{Snapshot, SnapshotStatus, WaitpointStatus};
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
    let position = tx.journal(run_id)?.last().map_or(0, |e| e.position + 1);
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
