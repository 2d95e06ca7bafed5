//! Why a run is not running: a reason code and a sentence, for runs that are neither final
//! nor handed to a worker (`GET /api/v3/runs/{id}` shows it as `waitingFor`).
//!
//! The checks follow the order in which each obstacle would have to be removed: a run with no
//! version needs a deployment; a delayed or suspended run needs its time or its waitpoint; a
//! queued run needs its queue unpaused, then a worker of its version, then a worker serving its
//! region, then a free slot in its queue and its environment. Reads only; nothing here locks.

use trigr_store::{Attempt, AttemptOutcome, ReadTx, Run, WaitpointKind, WaitpointStatus};
use trigr_types::{format_time, Millis, RunStatus};

use crate::presence::{WorkersSeen, WORKER_SEEN_WINDOW_MS};
use crate::Result;

/// Why a run waits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitReason {
    /// No deployment declares the run's task yet: it has no version.
    PendingVersion,
    /// No worker of the run's version, or none serving its region, asked for runs within the
    /// presence window.
    NoWorker,
    /// The run's queue is paused.
    QueuePaused,
    /// The queue (or concurrency key) or the environment has no free slot.
    ConcurrencyLimit,
    /// Not before a time: a delay, or the backoff before a retry.
    Delayed,
    /// Suspended on a waitpoint.
    Waiting,
    /// Ready: a worker of its version should take it shortly.
    Queued,
    /// In the mollifier's buffer: accepted during a burst, its run not created yet.
    Buffered,
}

impl WaitReason {
    pub fn code(self) -> &'static str {
        match self {
            WaitReason::PendingVersion => "PENDING_VERSION",
            WaitReason::NoWorker => "NO_WORKER",
            WaitReason::QueuePaused => "QUEUE_PAUSED",
            WaitReason::ConcurrencyLimit => "CONCURRENCY_LIMIT",
            WaitReason::Delayed => "DELAYED",
            WaitReason::Waiting => "WAITING",
            WaitReason::Queued => "QUEUED",
            WaitReason::Buffered => "BUFFERED",
        }
    }
}

/// A reason and a sentence for people.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WaitingFor {
    pub reason: WaitReason,
    pub message: String,
}

impl WaitingFor {
    /// A buffered run's reason.
    pub fn buffered() -> WaitingFor {
        WaitingFor {
            reason: WaitReason::Buffered,
            message: "Accepted during a trigger burst: waiting in the environment's buffer \
                      until the drainer creates the run"
                .to_string(),
        }
    }

    fn new(reason: WaitReason, message: String) -> Option<WaitingFor> {
        Some(WaitingFor { reason, message })
    }
}

/// Why `run` is not running at `now`, read through `tx` (`None` when it is final, dequeued
/// or executing).
pub fn waiting_for(tx: &mut dyn ReadTx, run: &Run, now: Millis) -> Result<Option<WaitingFor>> {
    match run.status {
        RunStatus::PendingVersion => pending_version(tx, run),
        RunStatus::Delayed => Ok(delayed(run)),
        RunStatus::Waiting => waiting(tx, run),
        RunStatus::Queued => queued(tx, run, now),
        _ => Ok(None),
    }
}

fn pending_version(tx: &mut dyn ReadTx, run: &Run) -> Result<Option<WaitingFor>> {
    let current = tx.environment(&run.env_id)?.and_then(|e| e.current_version);
    let now_state = match current {
        Some(v) => format!("the current version is {v}"),
        None => "no version is current in this environment".to_string(),
    };
    Ok(WaitingFor::new(
        WaitReason::PendingVersion,
        format!(
            "No current deployment declares task '{}' ({now_state}): the run starts once a deployment that declares it becomes current.",
            run.task_id
        ),
    ))
}

fn delayed(run: &Run) -> Option<WaitingFor> {
    let until = run.delay_until.unwrap_or(run.available_at);
    let mut message = format!("The run is delayed until {}.", format_time(until));
    if run.version.is_none() {
        message.push_str(&format!(
            " Then it waits for a deployment that declares task '{}'.",
            run.task_id
        ));
    }
    WaitingFor::new(WaitReason::Delayed, message)
}

fn waiting(tx: &mut dyn ReadTx, run: &Run) -> Result<Option<WaitingFor>> {
    // The wait that suspended the run is the last one of its journal still waiting.
    let waitpoint_id = tx
        .journal(&run.id)?
        .into_iter()
        .rev()
        .find(|e| matches!(e.wait, Some((WaitpointStatus::Waiting, _))))
        .and_then(|e| e.waitpoint_id);
    let waitpoint = match &waitpoint_id {
        Some(id) => tx.waitpoint(&run.env_id, id)?,
        None => None,
    };
    let Some(w) = waitpoint else {
        return Ok(WaitingFor::new(
            WaitReason::Waiting,
            "The run is suspended on a wait and resumes when it completes.".to_string(),
        ));
    };
    let what = match w.kind {
        WaitpointKind::Token => match w.due_at {
            Some(t) => format!(
                "until wait token {} is completed (it times out at {})",
                w.id,
                format_time(t)
            ),
            None => format!("until wait token {} is completed", w.id),
        },
        WaitpointKind::Datetime => match w.due_at {
            Some(t) => format!("until {}", format_time(t)),
            None => format!("on a timed wait ({})", w.id),
        },
        WaitpointKind::Run => match tx.runs_of_waitpoint(&w.id)?.first() {
            Some(child) => format!("until its child run {} finishes", child.id),
            None => "until its child run finishes".to_string(),
        },
        WaitpointKind::Batch => match &w.batch_id {
            Some(b) => format!("until the runs of batch {b} finish"),
            None => "until its child runs finish".to_string(),
        },
        WaitpointKind::Input => match (&w.input, w.due_at) {
            (Some(i), Some(t)) => format!(
                "until a message comes on input stream {:?} (it times out at {})",
                i.stream_id,
                format_time(t)
            ),
            (Some(i), None) => format!("until a message comes on input stream {:?}", i.stream_id),
            (None, _) => format!("until waitpoint {} completes", w.id),
        },
    };
    Ok(WaitingFor::new(
        WaitReason::Waiting,
        format!("The run is suspended {what}."),
    ))
}

/// "Attempt 2 failed: boom", from its record when there is one.
fn attempt_ended(number: i64, ended: Option<&Attempt>) -> String {
    let Some(a) = ended else {
        return format!("Attempt {number} failed");
    };
    let message = a
        .error
        .as_deref()
        .and_then(|e| serde_json::from_str::<serde_json::Value>(e).ok())
        .and_then(|e| {
            e.get("message")
                .and_then(|m| m.as_str())
                .map(str::to_string)
        });
    let how = match a.outcome {
        AttemptOutcome::Failed => "failed",
        AttemptOutcome::LeaseLost => "lost its worker (the lease expired)",
        AttemptOutcome::TimedOut => "ran past maxDuration",
        AttemptOutcome::Canceled => "was canceled",
    };
    match message {
        Some(m) if a.outcome == AttemptOutcome::Failed => format!("Attempt {number} {how}: {m}"),
        _ => format!("Attempt {number} {how}"),
    }
}

fn queued(tx: &mut dyn ReadTx, run: &Run, now: Millis) -> Result<Option<WaitingFor>> {
    let Some(version) = run.version.as_deref() else {
        return pending_version(tx, run);
    };
    if run.available_at > now {
        let until = format_time(run.available_at);
        let message = if run.attempt > 0 && !run.resumed {
            let ended = tx
                .attempts(&run.id)?
                .pop()
                .filter(|a| a.number == run.attempt);
            format!(
                "{}; the next one starts at {until} at the earliest.",
                attempt_ended(run.attempt, ended.as_ref())
            )
        } else {
            format!("The run is not available before {until}.")
        };
        return Ok(WaitingFor::new(WaitReason::Delayed, message));
    }
    let queue = tx.queue_by_id(&run.env_id, &run.queue_id)?;
    if let Some(q) = queue.as_ref().filter(|q| q.paused) {
        return Ok(WaitingFor::new(
            WaitReason::QueuePaused,
            format!(
                "Queue '{}' is paused: its runs start once it is resumed.",
                q.name
            ),
        ));
    }
    let Some(env) = tx.environment(&run.env_id)? else {
        return Ok(None);
    };
    let workers = WorkersSeen::read(tx, &run.env_id, now)?;
    if !workers.has_workers(version) {
        let seen = match workers.last_seen(version) {
            Some(t) => format!("last seen {}, {} s ago", format_time(t), (now - t) / 1000),
            None => "never seen".to_string(),
        };
        let current = match env.current_version.as_deref() {
            Some(c) if c == version => "It is the current version.".to_string(),
            Some(c) => format!("The current version is {c}."),
            None => "No version is current.".to_string(),
        };
        let mut message = format!(
            "The run is locked to version {version}, and no worker of that version asked for runs in the last {} s ({seen}). {current}",
            WORKER_SEEN_WINDOW_MS / 1000
        );
        if let Some(other) = live_version_declaring(tx, run, &workers)? {
            message.push_str(&format!(
                " Version {other} has workers and declares task '{}': `trigr runs migrate --from {version} --to {other}` moves the run there.",
                run.task_id
            ));
        }
        return Ok(WaitingFor::new(WaitReason::NoWorker, message));
    }
    if let Some(waiting) = no_worker_in_region(tx, run, now)? {
        return Ok(Some(waiting));
    }
    if let Some(q) = &queue {
        if let Some(limit) = q.limit() {
            let running = tx.slot_running(&q.id, &run.ckey)?;
            if running >= limit {
                let key = if run.ckey.is_empty() {
                    String::new()
                } else {
                    format!(" for concurrency key '{}'", run.ckey)
                };
                return Ok(WaitingFor::new(
                    WaitReason::ConcurrencyLimit,
                    format!(
                        "Queue '{}' is at its concurrency limit{key}: {running} of {limit} running.",
                        q.name
                    ),
                ));
            }
        }
    }
    let running = tx.env_running(&run.env_id)?;
    if running >= env.concurrency_limit {
        return Ok(WaitingFor::new(
            WaitReason::ConcurrencyLimit,
            format!(
                "The environment is at its concurrency limit: {running} of {} running.",
                env.concurrency_limit
            ),
        ));
    }
    Ok(WaitingFor::new(
        WaitReason::Queued,
        format!("The run is ready: a worker of version {version} should take it shortly."),
    ))
}

/// That no worker serving the run's region asked for runs within the presence window, if so.
fn no_worker_in_region(tx: &mut dyn ReadTx, run: &Run, now: Millis) -> Result<Option<WaitingFor>> {
    let seen = match tx.region_seen(&run.env_id, &run.region)? {
        Some(t) if now - t <= WORKER_SEEN_WINDOW_MS => return Ok(None),
        Some(t) => format!("last seen {}, {} s ago", format_time(t), (now - t) / 1000),
        None => "never seen".to_string(),
    };
    Ok(WaitingFor::new(
        WaitReason::NoWorker,
        format!(
            "The run is in region '{}', and no worker serving that region asked for runs in the last {} s ({seen}): start a worker with that region (`region` in its dequeue body).",
            run.region,
            WORKER_SEEN_WINDOW_MS / 1000
        ),
    ))
}

/// The newest version with workers, other than the run's, that declares its task.
fn live_version_declaring(
    tx: &mut dyn ReadTx,
    run: &Run,
    workers: &WorkersSeen,
) -> Result<Option<String>> {
    let mut live: Vec<&String> = workers
        .last_seen
        .keys()
        .filter(|v| workers.has_workers(v) && Some(v.as_str()) != run.version.as_deref())
        .collect();
    live.sort_by(|a, b| trigr_types::version::compare(b, a));
    for v in live {
        if tx
            .deployment(&run.env_id, v)?
            .is_some_and(|d| d.task(&run.task_id).is_some())
        {
            return Ok(Some(v.clone()));
        }
    }
    Ok(None)
}
