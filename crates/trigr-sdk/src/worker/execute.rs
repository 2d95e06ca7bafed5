//! One run on the worker: heartbeat, hooks, the task's code guarded against panics and stop
//! signals, and the completion.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::FutureExt;
use serde_json::Value;
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;
use trigr_types::wire::Timestamp;

use super::Shared;
use crate::attempt::{Attempt, Stop};
use crate::context::Context;
use crate::logger::FLUSH_AT;
use crate::protocol::{self, CompletionBody, CompletionResult, DequeuedRun};
use crate::task::Runnable;
use crate::task_error::{Retry, TaskError};

/// How an attempt ended.
enum Outcome {
    /// The task returned its output.
    Output(Value),
    /// The task failed (an error, a panic, a non-determinism).
    Failed(TaskError),
    /// Nothing to report: the run was suspended or the lease is gone.
    Dropped,
}

/// Executes one dequeued run; the slot is given back when the completion is acknowledged.
pub(super) async fn execute(
    shared: Arc<Shared>,
    run: DequeuedRun,
    permit: Option<OwnedSemaphorePermit>,
) {
    let attempt = Arc::new(Attempt::new(
        shared.client.http.clone(),
        &run,
        shared.durable(),
    ));
    let Some(task) = shared.tasks.get(&run.task_identifier).cloned() else {
        let error = TaskError::fatal(format!(
            "this worker has no task '{}' (version {})",
            run.task_identifier, shared.version
        ))
        .named("UnknownTaskError");
        complete(&shared, &attempt, Err(error)).await;
        return;
    };
    // Dequeued with `start`: the run is EXECUTING already, its lease fresh.
    let interval = heartbeat_interval(&shared, run.lease_expires_at.map(Timestamp::to_datetime));
    shared.active().insert(run.run_id.clone(), attempt.clone());
    let _heart = AbortOnDrop(tokio::spawn(keep_alive(attempt.clone(), interval)));
    let ctx = Context::new(&run, attempt.clone(), shared.client.clone());
    let outcome = run_attempt(&shared, task.as_ref(), &run, ctx.clone(), &attempt).await;
    attempt.end_listeners().await;
    match outcome {
        Outcome::Output(output) => {
            hook(task.on_success(&run.payload, &output, ctx.clone())).await;
            if let Some(global) = &shared.hooks.on_success {
                hook(global(run.payload.clone(), output.clone(), ctx)).await;
            }
            complete(&shared, &attempt, Ok(output)).await;
        }
        Outcome::Failed(error) => {
            if is_last(&run, task.as_ref(), &error) {
                hook(task.on_failure(&run.payload, &error, ctx.clone())).await;
                if let Some(global) = &shared.hooks.on_failure {
                    hook(global(run.payload.clone(), error.clone(), ctx)).await;
                }
            }
            complete(&shared, &attempt, Err(error)).await;
        }
        Outcome::Dropped => {}
    }
    shared.active().remove(&run.run_id);
    drop(permit);
}

/// Stops the heartbeat when the execution ends, however it ends (even when aborted).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Start hooks and the task, with panics caught; a stop signal drops the task's future.
async fn run_attempt(
    shared: &Shared,
    task: &dyn Runnable,
    run: &DequeuedRun,
    ctx: Context,
    attempt: &Attempt,
) -> Outcome {
    let first_start = run.attempt <= 1 && !run.resumed;
    let global_start = shared.hooks.on_start.clone();
    // Built inside the guarded future, so a panic anywhere in the task's code is caught.
    let work = async move {
        if first_start {
            if let Some(global) = global_start {
                global(run.payload.clone(), ctx.clone()).await;
            }
            task.on_start(&run.payload, ctx.clone()).await;
        }
        task.run(&run.payload, ctx).await
    };
    let guarded = AssertUnwindSafe(work)
        .catch_unwind()
        .map(|r| r.unwrap_or_else(|panic| Err(TaskError::from_panic(panic.as_ref()))));
    let result = tokio::select! {
        biased;
        stop = attempt.wait_stopped() => return stopped(stop),
        result = guarded => result,
    };
    // A durable operation may have stopped the attempt as the task returned.
    if let Some(stop) = attempt.stopped() {
        return stopped(stop);
    }
    match result {
        Ok(output) => Outcome::Output(output),
        Err(error) => Outcome::Failed(error),
    }
}

fn stopped(stop: Stop) -> Outcome {
    match stop {
        Stop::Suspended | Stop::LeaseLost => Outcome::Dropped,
        Stop::Fail(error) => Outcome::Failed(error),
        Stop::Shutdown => Outcome::Failed(
            TaskError::msg("the worker shut down before the attempt finished")
                .named("WorkerShutdownError"),
        ),
    }
}

/// No retry will follow this failure.
fn is_last(run: &DequeuedRun, task: &dyn Runnable, error: &TaskError) -> bool {
    let max = run
        .max_attempts
        .or_else(|| task.manifest().retry.as_ref().map(|r| r.max_attempts))
        .unwrap_or(3);
    !error.is_retryable() || run.attempt >= max
}

/// Runs a success or failure hook; a panic in it is logged, never fatal.
async fn hook(f: futures::future::BoxFuture<'static, ()>) {
    if let Err(panic) = AssertUnwindSafe(f).catch_unwind().await {
        let error = TaskError::from_panic(panic.as_ref());
        tracing::error!("a hook panicked: {}", error.message());
    }
}

/// Ships the logs and reports the outcome (through the batched completion call).
async fn complete(shared: &Shared, attempt: &Attempt, result: Result<Value, TaskError>) {
    attempt.spans.end_attempt(
        result
            .as_ref()
            .map(drop)
            .map_err(|e| e.message().to_string()),
    );
    attempt.flush_logs().await;
    let mut body = CompletionBody {
        run_id: Some(attempt.run_id.clone()),
        lease: attempt.lease.clone(),
        ok: true,
        output: None,
        output_type: None,
        error: None,
        retry: None,
        retry_after_ms: None,
    };
    match result {
        Ok(output) => {
            body.output = Some(output);
            body.output_type = Some(trigr_types::packet::JSON.to_string());
        }
        Err(error) => {
            tracing::info!("run {} attempt failed: {error}", attempt.run_id);
            body.ok = false;
            body.error = Some(error.to_body().into());
            body.retry = Some(error.is_retryable());
            if let Retry::After(delay) = error.retry() {
                body.retry_after_ms = Some(delay.as_millis() as u64);
            }
        }
    }
    match shared.completer.complete(body).await {
        Ok(CompletionResult::Refused(refused)) => tracing::warn!(
            "completion of run {} refused ({}): {}",
            attempt.run_id,
            refused.code,
            refused.error
        ),
        Ok(CompletionResult::Completed(done)) => tracing::debug!(
            "run {} is {} (will retry: {})",
            attempt.run_id,
            done.status,
            done.will_retry
        ),
        Err(e) => tracing::warn!("completion of run {} failed: {e}", attempt.run_id),
    }
}

/// A third of the lease left, or the configured interval.
fn heartbeat_interval(shared: &Shared, expires: Option<DateTime<Utc>>) -> Duration {
    if let Some(fixed) = shared.config.heartbeat_interval {
        return fixed;
    }
    let left = expires
        .and_then(|t| (t - Utc::now()).to_std().ok())
        .unwrap_or(Duration::from_secs(30));
    (left / 3).max(Duration::from_millis(100))
}

/// Heartbeats the run until the attempt is over (a lost lease stops the attempt) and ships
/// the logs within a second of their first entry, at once when many are buffered.
async fn keep_alive(attempt: Arc<Attempt>, mut interval: Duration) {
    const FLUSH_DELAY: Duration = Duration::from_secs(1);
    let mut next_beat = Instant::now() + interval;
    let mut flush_at: Option<Instant> = None;
    loop {
        let wake = flush_at.map_or(next_beat, |f| f.min(next_beat));
        tokio::select! {
            _ = tokio::time::sleep_until(wake) => {},
            _ = attempt.logger.wants_flush() => {
                if attempt.logger.pending() < FLUSH_AT {
                    flush_at.get_or_insert_with(|| Instant::now() + FLUSH_DELAY);
                    continue;
                }
                flush_at = Some(Instant::now());
            }
        }
        if attempt.stopped().is_some() {
            return;
        }
        let now = Instant::now();
        if now >= next_beat {
            if let Some(shorter) = beat(&attempt).await {
                interval = interval.min(shorter);
            }
            next_beat = Instant::now() + interval;
        }
        if flush_at.is_some_and(|f| now >= f) {
            flush_at = None;
            attempt.flush_logs().await;
        }
    }
}

/// One heartbeat; a third of the lease it reports, if any.
async fn beat(attempt: &Attempt) -> Option<Duration> {
    match protocol::heartbeat(&attempt.http, &attempt.run_id, &attempt.lease).await {
        Ok(answer) => answer
            .lease_expires_at
            .and_then(|t| (t.to_datetime() - Utc::now()).to_std().ok())
            .map(|left| (left / 3).max(Duration::from_millis(100))),
        Err(e) if e.is_lease_lost() => {
            tracing::info!("run {}: lease lost, stopping the attempt", attempt.run_id);
            attempt.stop(Stop::LeaseLost);
            None
        }
        Err(e) => {
            tracing::warn!("heartbeat of run {} failed: {e}", attempt.run_id);
            None
        }
    }
}
