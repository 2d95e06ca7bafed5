//! `send_input`: a message for a run's input stream, from outside the run (REST or the SDK
//! client). In one transaction: the run is locked, the `ifVersion` guard is checked against
//! the version it is locked to, the message is numbered (1, 2, 3, … per stream) and stored,
//! and the input waits it completes are completed, which queues a suspended run again
//! ([`crate::resume`]). A guard that does not hold changes nothing.
//!
//! Messages are kept: one sent before the task listens is read when it does. Each consumer
//! reads the stream in order from its own position (see [`crate::input_read`]).

use serde_json::{json, Value};
use trigr_store::{InputMessage, Run, Waitpoint, WaitpointKind, WaitpointStatus};
use trigr_types::version_guard::VersionGuard;
use trigr_types::{format_time, Millis};

use crate::delivery::{check_size, mismatch, parse_guard};
use crate::resume::complete_waitpoint;
use crate::{Engine, Error, Result, Txn};

/// Longest input stream id.
pub const MAX_STREAM_ID_LEN: usize = 128;

/// What a send did.
#[derive(Clone, Debug)]
pub struct InputSent {
    /// The message's number on its stream.
    pub seq: i64,
    /// The version the run is locked to (`null` before it has one).
    pub run_version: Option<String>,
    /// Input waits the message completed.
    pub delivered: usize,
}

impl Engine {
    /// Sends `data` to the input stream `stream_id` of a run. With `if_version` (an exact
    /// version or a comparison expression, `trigr_types::version_guard`) the run must be
    /// locked to a matching version, or nothing is stored and the answer is
    /// [`Error::VersionMismatch`].
    pub async fn send_input(
        &self,
        env_id: &str,
        run_id: &str,
        stream_id: &str,
        data: Value,
        if_version: Option<String>,
    ) -> Result<InputSent> {
        check_stream_id(stream_id)?;
        let guard = parse_guard(if_version)?;
        let data = data.to_string();
        check_size("The message", data.len(), self.config.max_payload_bytes)?;
        let sent = self
            .write_retrying(|| {
                let (env_id, run_id, stream_id, data, guard) = (
                    env_id.to_string(),
                    run_id.to_string(),
                    stream_id.to_string(),
                    data.clone(),
                    guard.clone(),
                );
                move |tx: &mut Txn<'_>| {
                    let run = tx
                        .run(&env_id, &run_id)?
                        .ok_or_else(|| Error::run_not_found(&run_id))?;
                    check_open(&run)?;
                    if let Some((guard, expr)) = &guard {
                        check_guard(guard, expr, &run)?;
                    }
                    // A resumed run is ready, and readers of the stream (an `on` handler's
                    // long-poll) have a message.
                    tx.wake(&env_id);
                    let now = tx.now();
                    store_and_deliver(tx, &run, &stream_id, data, now)
                }
            })
            .await?;
        Ok(sent)
    }
}

/// A stream id: 1–128 characters, no control characters.
pub fn check_stream_id(id: &str) -> Result<()> {
    let n = id.chars().count();
    if n == 0 || n > MAX_STREAM_ID_LEN || id.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "the input stream id must be 1-{MAX_STREAM_ID_LEN} characters without control characters, got {id:?}"
        )));
    }
    Ok(())
}

fn check_open(run: &Run) -> Result<()> {
    if run.status.is_final() {
        return Err(Error::invalid(format!(
            "Cannot send to input stream on a completed run: run {} is {}",
            run.id, run.status
        )));
    }
    Ok(())
}

fn check_guard(guard: &VersionGuard, expr: &str, run: &Run) -> Result<()> {
    if guard.matches(run.version.as_deref()) {
        return Ok(());
    }
    Err(mismatch(expr, Some(run)))
}

fn store_and_deliver(
    tx: &mut Txn<'_>,
    run: &Run,
    stream_id: &str,
    data: String,
    now: Millis,
) -> Result<InputSent> {
    let seq = tx.last_input_seq(&run.id, stream_id)? + 1;
    tx.insert_input_message(&InputMessage {
        run_id: run.id.clone(),
        stream_id: stream_id.to_string(),
        seq,
        data,
        run_version: run.version.clone(),
        created_at: now,
    })?;
    let mut delivered = 0;
    for wp in tx.input_waitpoints(&run.id, stream_id)? {
        if fill_input_wait(tx, &wp, now)? {
            delivered += 1;
        }
    }
    Ok(InputSent {
        seq,
        run_version: run.version.clone(),
        delivered,
    })
}

/// Completes an input wait (read locked) with the message it waits for, if that has come.
/// Every command that holds a `WAITING` input waitpoint calls this, so a message and a wait
/// that race always meet.
pub(crate) fn fill_input_wait(tx: &mut Txn<'_>, wp: &Waitpoint, now: Millis) -> Result<bool> {
    let (Some(input), Some(run_id)) = (&wp.input, &wp.owner_run_id) else {
        return Ok(false);
    };
    if wp.kind != WaitpointKind::Input || wp.status != WaitpointStatus::Waiting {
        return Ok(false);
    }
    let Some(message) = tx
        .input_messages(run_id, &input.stream_id, input.after, 1)?
        .into_iter()
        .next()
    else {
        return Ok(false);
    };
    let output = message_json(&message).to_string();
    complete_waitpoint(tx, wp, WaitpointStatus::Completed, Some(output), now)
}

/// A message as consumers see it: `{"seq", "data", "sentAt", "runVersion"}`.
pub fn message_json(m: &InputMessage) -> Value {
    json!({
        "seq": m.seq,
        "data": serde_json::from_str::<Value>(&m.data).unwrap_or(Value::Null),
        "sentAt": format_time(m.created_at),
        "runVersion": m.run_version,
    })
}
