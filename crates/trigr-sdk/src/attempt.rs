//! The state one task attempt shares between the task's code and the worker: the lease, the
//! journal being replayed, the next position, the log buffer and the stop signal.
//!
//! A durable operation that must end the attempt — the run was suspended, its lease was lost,
//! or the code diverged from the journal — sets the stop signal and then never returns, so no
//! task code runs after it; the worker sees the signal and drops the task's future.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::error::{Error, Result};
use crate::http::Http;
use crate::logger::Logger;
use crate::protocol::{self, JournalEntry, JournalKind};
use crate::replay::Replay;
use crate::spans::Spans;
use crate::task_error::TaskError;

/// Why an attempt ends before its task returns.
#[derive(Clone, Debug)]
pub(crate) enum Stop {
    /// The run is `WAITING`; drop the attempt without completing it.
    Suspended,
    /// The lease is gone (expired, canceled, timed out); nothing will be accepted.
    LeaseLost,
    /// Fail the attempt with this error (non-determinism).
    Fail(TaskError),
    /// The worker is shutting down past its deadline.
    Shutdown,
}

/// Settings of durable operations.
#[derive(Clone, Copy, Debug)]
pub(crate) struct DurableSettings {
    /// Waits shorter than this are held in the worker instead of suspending the run.
    pub short_wait: Duration,
}

pub(crate) struct Attempt {
    pub(crate) http: Http,
    pub(crate) run_id: String,
    pub(crate) lease: String,
    pub(crate) settings: DurableSettings,
    pub(crate) logger: Logger,
    /// The attempt's trace, shipped with its logs.
    pub(crate) spans: Spans,
    journal: HashMap<u32, JournalEntry>,
    replay: Arc<Replay>,
    stop: watch::Sender<Option<Stop>>,
    inputs: Mutex<Inputs>,
    /// Set when the task's code is over: `on` handlers finish the message they are on and end.
    ending: watch::Sender<bool>,
    /// The output streams the code writes to.
    pub(crate) outputs: crate::output::Outputs,
}

/// How long the end of an attempt waits for its `on` handlers to finish their message.
const LISTENER_GRACE: Duration = Duration::from_secs(10);

/// What the attempt knows of its input streams.
#[derive(Default)]
struct Inputs {
    /// Per stream, the last message its `once`/`wait` calls consumed.
    consumed: HashMap<String, i64>,
    /// Per stream, the `on` handlers registered so far (they are named by their order).
    handlers: HashMap<String, u32>,
    /// The tasks running `on` handlers; aborted when the attempt ends.
    listeners: Vec<JoinHandle<()>>,
}

/// Set once the server answered a log shipment with 404, to say it only once.
static LOGS_UNSUPPORTED: AtomicBool = AtomicBool::new(false);
/// Set once the server answered a span shipment with 404.
static SPANS_UNSUPPORTED: AtomicBool = AtomicBool::new(false);

impl Attempt {
    /// The attempt of a dequeued run, with its logger: lines the code writes while it
    /// replays the journal are not shipped again ([`Replay`]).
    pub(crate) fn new(
        http: Http,
        run: &protocol::DequeuedRun,
        settings: DurableSettings,
    ) -> Attempt {
        let journal: HashMap<u32, JournalEntry> = run
            .journal
            .iter()
            .map(|e| (e.position, e.clone()))
            .collect();
        let replay = Arc::new(Replay::new(journal.keys().copied()));
        Attempt {
            http,
            run_id: run.run_id.clone(),
            lease: run.lease.clone(),
            settings,
            logger: Logger::new(&run.run_id, replay.clone()),
            spans: Spans::new(run.attempt, run.trace_id.clone()),
            journal,
            replay,
            stop: watch::channel(None).0,
            inputs: Mutex::new(Inputs::default()),
            ending: watch::channel(false).0,
            outputs: crate::output::Outputs::default(),
        }
    }

    fn inputs(&self) -> std::sync::MutexGuard<'_, Inputs> {
        self.inputs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The last message of `stream` this execution's `once`/`wait` calls consumed (0: none).
    pub(crate) fn consumed(&self, stream: &str) -> i64 {
        self.inputs().consumed.get(stream).copied().unwrap_or(0)
    }

    /// Records that a `once`/`wait` call consumed message `seq` of `stream`.
    pub(crate) fn consume(&self, stream: &str, seq: i64) {
        let mut inputs = self.inputs();
        let last = inputs.consumed.entry(stream.to_string()).or_insert(0);
        *last = (*last).max(seq);
    }

    /// The name of the next `on` handler of `stream`: `on:0`, `on:1`, … in the order the code
    /// registers them, the same on every execution.
    pub(crate) fn next_handler(&self, stream: &str) -> String {
        let mut inputs = self.inputs();
        let n = inputs.handlers.entry(stream.to_string()).or_insert(0);
        *n += 1;
        format!("on:{}", *n - 1)
    }

    /// Keeps an `on` handler's task, to end it with the attempt.
    pub(crate) fn add_listener(&self, task: JoinHandle<()>) {
        self.inputs().listeners.push(task);
    }

    /// Whether the task's code is over (see [`Attempt::end_listeners`]).
    pub(crate) fn is_ending(&self) -> bool {
        *self.ending.borrow()
    }

    /// Resolves once the task's code is over.
    pub(crate) async fn ending(&self) {
        let mut rx = self.ending.subscribe();
        // An error means the attempt is gone: over too.
        let _ = rx.wait_for(|ending| *ending).await;
    }

    /// Ends the `on` handlers as the attempt ends: a handler busy with a message finishes it
    /// (and records that it did) within [`LISTENER_GRACE`], then every handler stops.
    pub(crate) async fn end_listeners(&self) {
        self.ending.send_replace(true);
        let tasks: Vec<_> = self.inputs().listeners.drain(..).collect();
        for mut task in tasks {
            if tokio::time::timeout(LISTENER_GRACE, &mut task)
                .await
                .is_err()
            {
                task.abort();
            }
        }
    }

    /// The position of the next durable operation, in the order the code reaches them.
    pub(crate) fn next_position(&self) -> u32 {
        self.replay.next_position()
    }

    /// Takes `n` consecutive positions and answers the first ([`Replay::reserve`]).
    pub(crate) fn reserve_positions(&self, n: u32) -> u32 {
        self.replay.reserve(n)
    }

    /// Whether the journal of this execution has an entry at `position`.
    pub(crate) fn is_journaled(&self, position: u32) -> bool {
        self.journal.contains_key(&position)
    }

    /// The journaled entry at `position`, after checking that the code reached the same kind
    /// of operation with the same name; a mismatch stops the attempt (§7.1).
    pub(crate) async fn replay(
        &self,
        position: u32,
        kind: JournalKind,
        name: &str,
    ) -> Option<&JournalEntry> {
        let entry = self.journal.get(&position)?;
        if entry.kind == kind && entry.name == name {
            return Some(entry);
        }
        let message = format!(
            "position {position}: the journal has {} \"{}\" but the code reached {} \"{name}\"",
            entry.kind.as_str(),
            entry.name,
            kind.as_str()
        );
        self.halt(Stop::Fail(TaskError::non_determinism(message)))
            .await
    }

    /// Records why the attempt ends (the first reason wins).
    pub(crate) fn stop(&self, reason: Stop) {
        self.stop.send_if_modified(|current| {
            if current.is_some() {
                return false;
            }
            *current = Some(reason);
            true
        });
    }

    /// Stops the attempt and never returns: the worker drops the task's future.
    pub(crate) async fn halt<T>(&self, reason: Stop) -> T {
        self.stop(reason);
        std::future::pending::<T>().await
    }

    /// The reason the attempt was stopped, if it was.
    pub(crate) fn stopped(&self) -> Option<Stop> {
        self.stop.borrow().clone()
    }

    /// Resolves once the attempt is stopped.
    pub(crate) async fn wait_stopped(&self) -> Stop {
        let mut rx = self.stop.subscribe();
        loop {
            if let Some(reason) = rx.borrow_and_update().clone() {
                return reason;
            }
            if rx.changed().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }

    /// Looks at a failed protocol call: a lost lease or a non-determinism answer ends the
    /// attempt here; any other error goes back to the caller.
    pub(crate) async fn check<T>(&self, result: Result<T>) -> Result<T> {
        match result {
            Err(e) if e.is_lease_lost() => self.halt(Stop::LeaseLost).await,
            Err(e) if e.is_non_determinism() => {
                let message = match &e {
                    Error::Api { message, .. } => message.clone(),
                    other => other.to_string(),
                };
                self.halt(Stop::Fail(TaskError::non_determinism(message)))
                    .await
            }
            other => other,
        }
    }

    /// Sends the buffered log entries (at most 500 per call). Failures are reported through
    /// `tracing` only: logging never fails a task.
    pub(crate) async fn flush_logs(&self) {
        // Output stream chunks too: the lease that sends them ends after this.
        self.outputs.flush().await;
        let entries = self.logger.take();
        for chunk in entries.chunks(500) {
            let sent = protocol::logs(&self.http, &self.run_id, &self.lease, chunk).await;
            match sent {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {
                    if !LOGS_UNSUPPORTED.swap(true, Ordering::Relaxed) {
                        tracing::warn!("the server does not accept run logs yet: {e}");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!("logs of run {} were not sent: {e}", self.run_id);
                    return;
                }
            }
        }
        self.flush_spans().await;
    }

    /// Sends the recorded spans (at most 500 per call); failures are reported through
    /// `tracing` only, and a server without the spans route is told once.
    async fn flush_spans(&self) {
        let (spans, dropped) = self.spans.take();
        if dropped > 0 {
            tracing::warn!(
                "{dropped} spans of run {} were dropped: too many",
                self.run_id
            );
        }
        for chunk in spans.chunks(500) {
            match protocol::spans(&self.http, &self.run_id, &self.lease, chunk).await {
                Ok(()) => {}
                Err(e) if e.is_not_found() => {
                    if !SPANS_UNSUPPORTED.swap(true, Ordering::Relaxed) {
                        tracing::warn!("the server does not accept run spans: {e}");
                    }
                    return;
                }
                Err(e) => {
                    tracing::warn!("spans of run {} were not sent: {e}", self.run_id);
                    return;
                }
            }
        }
    }
}
