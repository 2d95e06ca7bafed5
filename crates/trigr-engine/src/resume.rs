//! Resuming: when a waitpoint completes, every run `WAITING` on it goes back to `QUEUED` to
//! continue its attempt (dequeued again with `resumed`, the same `attempt`, and the wait's
//! result in its journal). Child runs that end complete the run and batch waitpoints waiting
//! for them. Everything here runs inside the transaction of the command that caused it, after
//! the waitpoint was locked (see `trigr_store::tx`).

use serde_json::{json, Value};
use trigr_store::{Run, Waitpoint, WaitpointKind, WaitpointStatus};
use trigr_types::{packet, Millis, RunStatus};

use crate::transition::resumed;
use crate::{transition, Result, Txn};

/// `error.name` of a wait that timed out.
pub const TIMEOUT_ERROR_NAME: &str = "WaitpointTimeoutError";

/// Completes `wp` (read locked, still `WAITING`) as `status` with `output` (JSON text) and
/// queues again the runs waiting on it. False when another writer completed it first.
pub(crate) fn complete_waitpoint(
    tx: &mut Txn<'_>,
    wp: &Waitpoint,
    status: WaitpointStatus,
    output: Option<String>,
    now: Millis,
) -> Result<bool> {
    let mut after = wp.clone();
    after.status = status;
    after.output = output;
    after.completed_at = Some(now);
    after.updated_at = now;
    if !tx.update_waitpoint(&after, WaitpointStatus::Waiting)? {
        return Ok(false);
    }
    resume_runs_on(tx, &after, now)?;
    Ok(true)
}

/// The error a timeout leaves as the output of a token or an input wait.
pub(crate) fn timeout_error(wp: &Waitpoint) -> String {
    let message = match &wp.input {
        Some(input) => format!(
            "No message came on input stream {:?} before the wait's timeout",
            input.stream_id
        ),
        None => format!("Waitpoint {} timed out", wp.id),
    };
    json!({ "message": message, "name": TIMEOUT_ERROR_NAME }).to_string()
}

/// Queues again every run `WAITING` on a waitpoint that just completed; a Trigger.dev CLI
/// worker's run holding a wait on it (not suspended) gets the snapshot that hands the
/// waitpoint back ([`crate::cli_worker`]).
fn resume_runs_on(tx: &mut Txn<'_>, wp: &Waitpoint, now: Millis) -> Result<usize> {
    let mut count = 0;
    for run_id in tx.runs_waiting_on(&wp.id)? {
        let Some(run) = tx.run(&wp.env_id, &run_id)? else {
            continue;
        };
        if run.status == RunStatus::Executing {
            crate::cli_worker::waitpoint_completed(tx, &run, &wp.id)?;
            continue;
        }
        if run.status != RunStatus::Waiting {
            continue;
        }
        let after = resumed(&run, now);
        if transition(tx, &run, &after)? {
            count += 1;
        }
    }
    Ok(count)
}

/// Runs that just reached a final status complete the run and batch waitpoints waiting for
/// them whose children have all ended. Returns how many waitpoints completed.
pub(crate) fn runs_ended(tx: &mut Txn<'_>, run_ids: &[String], now: Millis) -> Result<usize> {
    if run_ids.is_empty() {
        return Ok(0);
    }
    let mut completed = 0;
    for wp in tx.waitpoints_awaiting(run_ids)? {
        if complete_if_children_ended(tx, &wp, now)? {
            completed += 1;
        }
    }
    Ok(completed)
}

/// Completes a run or batch waitpoint (read locked) once every child has ended.
pub(crate) fn complete_if_children_ended(
    tx: &mut Txn<'_>,
    wp: &Waitpoint,
    now: Millis,
) -> Result<bool> {
    if wp.status != WaitpointStatus::Waiting {
        return Ok(false);
    }
    let children = tx.runs_of_waitpoint(&wp.id)?;
    if children.is_empty() || children.iter().any(|c| !c.status.is_final()) {
        return Ok(false);
    }
    // A batch whose items still come (a Trigger.dev CLI task's batch) is not done yet.
    if let (WaitpointKind::Batch, Some(batch_id)) = (wp.kind, &wp.batch_id) {
        if !tx.batch(&wp.env_id, batch_id)?.is_some_and(|b| b.sealed) {
            return Ok(false);
        }
    }
    let output = match wp.kind {
        WaitpointKind::Run => child_result(&children[0]),
        WaitpointKind::Batch => {
            json!({ "items": children.iter().map(child_result).collect::<Vec<_>>() })
        }
        WaitpointKind::Token | WaitpointKind::Datetime | WaitpointKind::Input => return Ok(false),
    };
    complete_waitpoint(
        tx,
        wp,
        WaitpointStatus::Completed,
        Some(output.to_string()),
        now,
    )
}

/// How a child run ended, as its waiting parent sees it: `{"ok": true, "output"}` or
/// `{"ok": false, "error"}`, with the child's `runId`.
pub fn child_result(run: &Run) -> Value {
    if run.status == RunStatus::Completed {
        let output = match (&run.output, &run.output_type) {
            (Some(data), Some(kind)) => packet::to_value(data, kind).unwrap_or(Value::Null),
            (Some(data), None) => serde_json::from_str(data).unwrap_or(Value::Null),
            (None, _) => Value::Null,
        };
        return json!({ "ok": true, "runId": run.id, "output": output });
    }
    let error = run
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<Value>(e).ok())
        .filter(Value::is_object)
        .unwrap_or_else(|| {
            json!({
                "message": format!("Run {} ended {}", run.id, run.status),
                "name": run.status.as_str(),
            })
        });
    json!({ "ok": false, "runId": run.id, "error": error })
}
