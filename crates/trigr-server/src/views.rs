//! How records look on the wire (reference §3.1, §4.2, §4.3; worker protocol §7): each
//! function turns a stored record into its type of `trigr_types::wire`.

use serde_json::{Number, Value};
use trigr_engine::attempts::{AttemptState, AttemptView};
use trigr_engine::explain::WaitingFor;
use trigr_engine::presence::WorkersSeen;
use trigr_engine::query::RunWithRelatives;
use trigr_engine::queues::QueueView;
use trigr_engine::waits::WaitState;
use trigr_store::{
    AttemptOutcome, Deployment, JournalEntry, JournalKind, LogEntry, QueueKind, Run, Waitpoint,
    WaitpointStatus,
};
use trigr_types::wire::worker as wire;
use trigr_types::wire::{manage, runs, tokens, Timestamp};
use trigr_types::{packet, RunStatus};

fn time(t: Option<i64>) -> Option<Timestamp> {
    t.map(Timestamp)
}

/// A priority as the trigger gave it, in seconds: a whole number stays one (`5`), a fraction
/// is shown as one (`0.5`).
fn priority_seconds(ms: i64) -> Number {
    if ms % 1000 == 0 {
        Number::from(ms / 1000)
    } else {
        Number::from_f64(ms as f64 / 1000.0).unwrap_or_else(|| Number::from(0))
    }
}

fn parsed(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

/// The fields every run view shares.
pub fn run_common(run: &Run) -> runs::RunCommon {
    let s = run.status;
    let duration = match (run.started_at, run.finished_at) {
        (Some(a), Some(b)) => (b - a).max(0),
        _ => 0,
    };
    runs::RunCommon {
        id: run.id.clone(),
        status: s.as_str().to_string(),
        task_identifier: run.task_id.clone(),
        idempotency_key: run
            .idempotency_key_user
            .clone()
            .or(run.idempotency_key.clone()),
        version: run.version.clone(),
        is_queued: s.is_queued(),
        is_executing: s.is_executing(),
        is_waiting: s == RunStatus::Waiting,
        is_completed: s.is_completed(),
        is_success: s == RunStatus::Completed,
        is_failed: s.is_completed() && s != RunStatus::Completed,
        is_cancelled: s == RunStatus::Canceled,
        is_test: run.is_test,
        created_at: Timestamp(run.created_at),
        updated_at: Timestamp(run.updated_at),
        started_at: time(run.started_at),
        finished_at: time(run.finished_at),
        delayed_until: time(run.delay_until),
        expired_at: time(run.finished_at.filter(|_| s == RunStatus::Expired)),
        ttl: run.ttl.clone(),
        tags: run.tags.clone(),
        cost_in_cents: 0,
        base_cost_in_cents: 0,
        duration_ms: duration,
        metadata: parsed(&run.metadata),
        batch_id: run.batch_id.clone(),
        region: Some(run.region.clone()),
        trace_id: Some(run.trace().trace_id),
    }
}

/// A run summary inside `relatedRuns`.
pub fn run_summary(run: &Run) -> runs::RunSummary {
    runs::RunSummary {
        common: run_common(run),
        depth: run.depth,
        trigger_function: run.trigger_function.clone(),
    }
}

/// `GET /api/v3/runs/{id}`: the run with its related runs, its output streams
/// (`realtimeStreams`), its attempts and, for a run that is not final and not executing, why
/// it waits.
pub fn run_detail(r: &RunWithRelatives, streams: Vec<String>) -> runs::Run {
    let run = &r.run;
    let payload = run
        .payload
        .as_ref()
        .and_then(|p| packet::to_value(p, &run.payload_type).ok());
    let output = match (&run.output, run.status) {
        (Some(o), RunStatus::Completed) => {
            let t = run.output_type.as_deref().unwrap_or(packet::JSON);
            packet::to_value(o, t).ok()
        }
        _ => None,
    };
    runs::Run {
        summary: run_summary(run),
        attempt_count: run.attempt,
        payload,
        output,
        // The run's own error: a completed run has none, whatever its attempts met.
        error: parsed(&run.error).filter(|_| run.status != RunStatus::Completed),
        related_runs: runs::RelatedRuns {
            root: r.root.as_ref().map(run_summary),
            parent: r.parent.as_ref().map(run_summary),
            children: r.children.iter().map(run_summary).collect(),
        },
        // trigr additions, ignored by the official SDK.
        attempt: run.attempt,
        queue: run.queue_name.clone(),
        concurrency_key: (!run.ckey.is_empty()).then(|| run.ckey.clone()),
        priority: priority_seconds(run.priority_ms),
        max_attempts: run.max_attempts,
        max_duration: run.max_duration,
        machine: run.machine.clone(),
        parent_run_id: run.parent_run_id.clone(),
        root_run_id: run.root_run_id.clone(),
        waiting_for: r.waiting_for.as_ref().map(waiting_for),
        realtime_streams: streams,
        attempts: r.attempts.iter().map(|a| attempt(run, a)).collect(),
        last_heartbeat_at: time(run.heartbeat_at.filter(|_| run.status.is_leased())),
    }
}

/// One attempt of a run (`attempts` of run retrieve).
pub fn attempt(run: &Run, a: &AttemptView) -> runs::Attempt {
    let (status, outcome) = match a.state {
        AttemptState::Running => ("EXECUTING", None),
        AttemptState::Suspended => ("PAUSED", None),
        AttemptState::Completed => ("COMPLETED", Some("COMPLETED")),
        AttemptState::Ended(o) => {
            let status = match o {
                AttemptOutcome::Canceled => "CANCELED",
                AttemptOutcome::Failed | AttemptOutcome::LeaseLost | AttemptOutcome::TimedOut => {
                    "FAILED"
                }
            };
            (status, Some(o.as_str()))
        }
    };
    let created = a.started_at.or(a.ended_at).unwrap_or(run.created_at);
    let updated = a.ended_at.or(a.heartbeat_at).unwrap_or(created);
    let run_part = run.id.strip_prefix("run_").unwrap_or(&run.id);
    runs::Attempt {
        id: format!("attempt_{run_part}_{}", a.number),
        number: a.number,
        status: status.to_string(),
        outcome: outcome.map(str::to_string),
        created_at: Timestamp(created),
        updated_at: Timestamp(updated),
        started_at: time(a.started_at),
        completed_at: time(a.ended_at),
        error: parsed(&a.error),
        retry_at: time(a.retry_at),
        last_heartbeat_at: time(a.heartbeat_at),
    }
}

/// A run in a list (`GET /api/v1/runs`).
pub fn run_list_item(run: &Run, env_slug: &str) -> runs::RunListItem {
    runs::RunListItem {
        common: run_common(run),
        env: runs::RunEnvironment {
            id: run.env_id.clone(),
            name: env_slug.to_string(),
        },
    }
}

/// A queue (reference §4.3).
pub fn queue(v: &QueueView) -> manage::Queue {
    let q = &v.queue;
    let name = match q.kind {
        QueueKind::Task => q.name.strip_prefix("task/").unwrap_or(&q.name).to_string(),
        QueueKind::Custom => q.name.clone(),
    };
    manage::Queue {
        id: q.id.clone(),
        name,
        kind: q.kind.as_str().to_string(),
        running: v.running,
        queued: v.queued,
        paused: q.paused,
        concurrency_limit: q.limit(),
        concurrency: manage::QueueConcurrency {
            current: q.limit(),
            base: q.base_limit,
            override_limit: q.override_limit,
            overridden_at: time(q.overridden_at),
            overridden_by: None,
        },
        source: if q.from_api { "api" } else { "code" }.to_string(),
        description: q.description.clone(),
        tags: v.tags.clone(),
    }
}

/// A deployment (reference §4.5), with when a worker of its version last asked for runs
/// (`workerLastSeenAt`), whether one did within the presence window (`hasWorkers`) and how
/// many (`liveWorkers`).
pub fn deployment(d: &Deployment, current: bool, workers: &WorkersSeen) -> manage::Deployment {
    manage::Deployment {
        id: d.id.clone(),
        created_at: Timestamp(d.created_at),
        short_code: d.version.clone(),
        version: d.version.clone(),
        runtime: None,
        runtime_version: None,
        status: "DEPLOYED".into(),
        deployed_at: Timestamp(d.promoted_at.unwrap_or(d.created_at)),
        current,
        tasks: d.tasks.iter().map(|t| t.id.clone()).collect(),
        worker_last_seen_at: time(workers.last_seen(&d.version)),
        has_workers: workers.has_workers(&d.version),
        live_workers: workers.live_workers(&d.version),
        rolled_back_from: None,
    }
}

/// Why a run is not running (`waitingFor` of run retrieve).
pub fn waiting_for(w: &WaitingFor) -> runs::WaitingFor {
    runs::WaitingFor {
        reason: w.reason.code().to_string(),
        message: w.message.clone(),
    }
}

/// The status vocabulary a caller expects: clients that do not send
/// `x-trigger-api-version: 2025-07-16` (older SDKs) get upstream's legacy names.
pub fn wants_legacy_statuses(headers: &axum::http::HeaderMap) -> bool {
    headers
        .get("x-trigger-api-version")
        .and_then(|v| v.to_str().ok())
        != Some(CURRENT_API_VERSION)
}

const CURRENT_API_VERSION: &str = "2025-07-16";

fn legacy_name(status: &str) -> Option<&'static str> {
    match status {
        "DEQUEUED" => Some("EXECUTING"),
        "WAITING" => Some("FROZEN"),
        _ => None,
    }
}

/// Rewrites the status of a run view to its legacy name.
pub fn legacy_status(run: &mut runs::RunCommon) {
    if let Some(old) = legacy_name(&run.status) {
        run.status = old.to_string();
    }
}

/// Rewrites the statuses of a run view (and its related runs) to the legacy names.
pub fn legacy_run(run: &mut runs::Run) {
    legacy_status(&mut run.summary.common);
    let related = &mut run.related_runs;
    let others = related.root.iter_mut().chain(related.parent.iter_mut());
    for r in others.chain(related.children.iter_mut()) {
        legacy_status(&mut r.common);
    }
}

/// The output (`COMPLETED`) or error (`TIMED_OUT`) of a finished wait.
fn wait_result(
    status: WaitpointStatus,
    output: &Option<String>,
) -> (Option<Value>, Option<wire::TaskError>) {
    match status {
        WaitpointStatus::Completed => (Some(parsed(output).unwrap_or(Value::Null)), None),
        WaitpointStatus::TimedOut => (None, Some(wait_error(output))),
        WaitpointStatus::Waiting => (None, None),
    }
}

/// The error a timed-out wait stored (`{"message", "name"}`), or a plain one when it is not
/// an error object.
fn wait_error(output: &Option<String>) -> wire::TaskError {
    output
        .as_deref()
        .and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or_else(|| wire::TaskError {
            message: "The wait timed out".into(),
            name: None,
            stack_trace: None,
        })
}

/// The status of a wait as the worker protocol names it.
fn wait_status(status: WaitpointStatus) -> wire::WaitStatus {
    match status {
        WaitpointStatus::Waiting => wire::WaitStatus::Waiting,
        WaitpointStatus::Completed => wire::WaitStatus::Completed,
        WaitpointStatus::TimedOut => wire::WaitStatus::TimedOut,
    }
}

/// A journal position; positions are taken from `u32` requests.
fn position(p: i64) -> u32 {
    u32::try_from(p).unwrap_or_default()
}

/// One journal entry (worker protocol §7.1).
pub fn journal_entry(e: &JournalEntry) -> wire::JournalEntry {
    let mut entry = wire::JournalEntry {
        position: position(e.position),
        kind: match e.kind {
            JournalKind::Step => wire::JournalKind::Step,
            JournalKind::Wait => wire::JournalKind::Wait,
        },
        name: e.name.clone(),
        output: None,
        waitpoint_id: None,
        status: None,
        error: None,
    };
    match e.kind {
        JournalKind::Step => entry.output = Some(parsed(&e.output).unwrap_or(Value::Null)),
        JournalKind::Wait => {
            entry.waitpoint_id = e.waitpoint_id.clone();
            if let Some((status, output)) = &e.wait {
                entry.status = Some(wait_status(*status));
                (entry.output, entry.error) = wait_result(*status, output);
            }
        }
    }
    entry
}

/// Where a wait stands (worker protocol §7.3).
pub fn wait_state(w: &WaitState) -> wire::WaitState {
    let (output, error) = wait_result(w.status, &w.output);
    wire::WaitState {
        position: position(w.position),
        waitpoint_id: w.waitpoint_id.clone(),
        status: wait_status(w.status),
        output,
        error,
        suspended: w.suspended,
        run_ids: w.run_ids.clone(),
    }
}

/// A token as lists show it (reference §4.2); `url` is its callback URL. `run_version`: the
/// version of the run waiting on the token (`null` when none waits).
pub fn token_list_item(t: &Waitpoint, url: &str, run_version: Option<&str>) -> tokens::Token {
    tokens::Token {
        id: t.id.clone(),
        url: url.to_string(),
        status: t.status.as_str().to_string(),
        completed_at: time(t.completed_at),
        timeout_at: time(t.due_at),
        idempotency_key: t.idempotency_key.clone(),
        idempotency_key_expires_at: time(
            t.idempotency_expires_at
                .filter(|_| t.idempotency_key.is_some()),
        ),
        tags: t.tags.clone(),
        created_at: Timestamp(t.created_at),
        run_version: run_version.map(str::to_string),
        output: None,
        output_type: None,
        output_is_error: None,
    }
}

/// A token as `wait.retrieveToken` reads it: the output as a packet string.
pub fn token(t: &Waitpoint, url: &str, run_version: Option<&str>) -> tokens::Token {
    let mut token = token_list_item(t, url, run_version);
    if t.status != WaitpointStatus::Waiting {
        token.output = Some(t.output.clone().unwrap_or_else(|| "null".into()));
        token.output_type = Some(packet::JSON.to_string());
        token.output_is_error = Some(t.status == WaitpointStatus::TimedOut);
    }
    token
}

/// One log line of a run.
pub fn log_line(l: &LogEntry) -> runs::RunLogLine {
    runs::RunLogLine {
        time: Timestamp(l.time),
        level: l.level.clone(),
        message: l.message.clone(),
        fields: parsed(&l.fields),
        attempt: (l.attempt > 0).then_some(l.attempt),
    }
}
