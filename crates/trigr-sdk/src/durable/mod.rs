//! Durable operations (worker protocol §7): steps, waits, tokens and child runs.
//!
//! Each operation takes the next *position* when it is called (not when its future is first
//! polled), so positions follow the order of the code even when futures are joined. A
//! position found in the journal returns the recorded result without doing anything; a
//! different kind or name there fails the attempt with `NonDeterminismError`.

mod children;
pub mod results;
mod wait;

use std::future::Future;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::attempt::{Attempt, Stop};
use crate::context::Context;
use crate::error::Result;
use crate::protocol::{
    self, JournalEntry, JournalKind, TaskError as WireError, WaitFor, WaitRequest, WaitState,
    WaitStatus,
};
use crate::task_error::{ErrorBody, TaskError};

pub use wait::WaitOptions;

/// Longest name of a step or wait.
const MAX_NAME: usize = 256;

impl Context {
    /// Runs `f` once and journals its JSON result before returning it. On re-execution (a
    /// retry, a resume after a wait) the recorded result is returned and `f` is not called.
    ///
    /// A step that fails is not journaled: the error is returned, and a retry runs the step
    /// again. Names are 1–256 characters; the name and position must match the journal.
    ///
    /// ```no_run
    /// # async fn demo(ctx: trigr_sdk::Context) -> Result<(), trigr_sdk::TaskError> {
    /// let charge: String = ctx
    ///     .step("charge-card", || async { Ok("ch_1".to_string()) })
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn step<T, F, Fut>(
        &self,
        name: &str,
        f: F,
    ) -> impl Future<Output = Result<T, TaskError>> + Send
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, TaskError>> + Send,
    {
        let attempt = self.attempt.clone();
        let position = attempt.next_position();
        let name = name.to_string();
        async move { run_step(&attempt, position, &name, f).await }
    }
}

/// A step at a known position: replay, or run and journal.
pub(crate) async fn run_step<T, F, Fut>(
    attempt: &Attempt,
    position: u32,
    name: &str,
    f: F,
) -> Result<T, TaskError>
where
    T: Serialize + DeserializeOwned,
    F: FnOnce() -> Fut,
    Fut: Future<Output = Result<T, TaskError>>,
{
    check_name(name)?;
    if let Some(entry) = attempt.replay(position, JournalKind::Step, name).await {
        return recorded(position, name, entry.output.clone());
    }
    let started = crate::spans::now_ns();
    let value = f().await;
    attempt.spans.record(crate::spans::Finished {
        name,
        kind: "step",
        start_ns: started,
        outcome: value
            .as_ref()
            .map(drop)
            .map_err(|e| e.message().to_string()),
        attributes: serde_json::json!({"trigr.position": position}),
    });
    let value = value?;
    let json = serde_json::to_value(&value).map_err(|e| {
        TaskError::fatal(format!("the result of step \"{name}\" is not JSON: {e}"))
            .named("StepError")
    })?;
    let sent = protocol::step(
        &attempt.http,
        &attempt.run_id,
        &attempt.lease,
        position,
        name,
        json,
    )
    .await;
    let answer = attempt.check(sent).await?;
    if answer.recorded {
        return Ok(value);
    }
    // Another execution recorded this position first: its result wins.
    match answer.entry.and_then(|e| e.output) {
        Some(stored) => recorded(position, name, Some(stored)),
        None => Ok(value),
    }
}

fn check_name(name: &str) -> Result<(), TaskError> {
    if name.is_empty() || name.chars().count() > MAX_NAME {
        return Err(TaskError::fatal(format!(
            "the name \"{name}\" must be 1-{MAX_NAME} characters"
        ))
        .named("StepError"));
    }
    Ok(())
}

/// A journaled step result as `T`.
fn recorded<T: DeserializeOwned>(
    position: u32,
    name: &str,
    output: Option<Value>,
) -> Result<T, TaskError> {
    serde_json::from_value(output.unwrap_or(Value::Null)).map_err(|e| {
        TaskError::fatal(format!(
            "position {position}: the journaled result of step \"{name}\" does not fit the step's type: {e}"
        ))
        .named("NonDeterminismError")
    })
}

/// How a wait ended.
#[derive(Clone, Debug)]
pub(crate) enum Ended {
    Completed(Value),
    TimedOut(ErrorBody),
}

/// A finished wait and the child runs it started, if any.
#[derive(Clone, Debug)]
pub(crate) struct Waited {
    pub ended: Ended,
    pub run_ids: Vec<String>,
}

/// A wait to submit at a position.
pub(crate) struct WaitCall<'a> {
    pub position: u32,
    pub name: &'a str,
    pub wait: WaitFor,
    /// Hold the attempt (long-poll) instead of suspending the run.
    pub hold: bool,
}

/// The finished wait journaled at `position`, if there is one.
pub(crate) async fn journaled(attempt: &Attempt, position: u32, name: &str) -> Option<Waited> {
    let entry = attempt.replay(position, JournalKind::Wait, name).await?;
    // Journal entries do not carry the children of a wait (§7.1).
    ended(entry).map(|ended| Waited {
        ended,
        run_ids: Vec::new(),
    })
}

fn ended(entry: &JournalEntry) -> Option<Ended> {
    match entry.status? {
        WaitStatus::Completed => Some(Ended::Completed(
            entry.output.clone().unwrap_or(Value::Null),
        )),
        WaitStatus::TimedOut => Some(Ended::TimedOut(timeout_error(entry.error.as_ref()))),
        WaitStatus::Waiting => None,
    }
}

fn timeout_error(error: Option<&WireError>) -> ErrorBody {
    match error {
        Some(e) => e.clone().into(),
        None => ErrorBody {
            message: "the wait timed out".into(),
            name: Some("WaitpointTimeoutError".into()),
            stack_trace: None,
        },
    }
}

/// Sends a wait (§7.3) and follows it to its end: at once when complete, by long-polling when
/// held, or by suspending the run (the attempt stops here and this never returns).
pub(crate) async fn submit(attempt: &Attempt, call: WaitCall<'_>) -> Result<Waited> {
    if !call.hold {
        // After a suspension the lease is over: ship the logs and the attempt's span while
        // they are accepted.
        attempt.spans.suspend_attempt(call.name);
        attempt.flush_logs().await;
    }
    let request = WaitRequest {
        position: call.position,
        name: call.name,
        suspend: !call.hold,
        wait: call.wait,
    };
    let started = crate::spans::now_ns();
    let (position, name) = (call.position, call.name);
    let sent = protocol::wait(&attempt.http, &attempt.run_id, &attempt.lease, request).await;
    let mut answer = attempt.check(sent).await?;
    let run_ids = std::mem::take(&mut answer.run_ids);
    loop {
        if let Some(ended) = finished(&answer) {
            attempt.spans.record(crate::spans::Finished {
                name,
                kind: "wait",
                start_ns: started,
                outcome: match &ended {
                    Ended::Completed(_) => Ok(()),
                    Ended::TimedOut(e) => Err(e.message.clone()),
                },
                attributes: serde_json::json!({"trigr.position": position, "trigr.children": run_ids.len()}),
            });
            return Ok(Waited { ended, run_ids });
        }
        if answer.suspended == Some(true) {
            return attempt.halt(Stop::Suspended).await;
        }
        let polled = protocol::poll_wait(
            &attempt.http,
            &attempt.run_id,
            &attempt.lease,
            call.position,
            30_000,
        )
        .await;
        answer = attempt.check(polled).await?;
    }
}

fn finished(answer: &WaitState) -> Option<Ended> {
    match answer.status {
        WaitStatus::Completed => Some(Ended::Completed(
            answer.output.clone().unwrap_or(Value::Null),
        )),
        WaitStatus::TimedOut => Some(Ended::TimedOut(timeout_error(answer.error.as_ref()))),
        WaitStatus::Waiting => None,
    }
}
