//! How records look on the wire (reference §3.1, §4.2, §4.3; worker protocol §7). Optional
//! fields are omitted, never null.

use serde_json::{json, Map, Value};
use trigr_engine::explain::WaitingFor;
use trigr_engine::presence::WorkersSeen;
use trigr_engine::queues::QueueView;
use trigr_engine::waits::WaitState;
use trigr_store::{
    Deployment, JournalEntry, JournalKind, LogEntry, QueueKind, Run, Waitpoint, WaitpointStatus,
};
use trigr_types::wire::worker as wire;
use trigr_types::{format_time, packet, RunStatus};

fn put(m: &mut Map<String, Value>, key: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(key.to_string(), v);
    }
}

fn time(t: Option<i64>) -> Option<Value> {
    t.map(|t| Value::String(format_time(t)))
}

/// A priority as the trigger gave it, in seconds: a whole number stays one (`5`), a fraction
/// is shown as one (`0.5`).
fn priority_seconds(ms: i64) -> Value {
    if ms % 1000 == 0 {
        json!(ms / 1000)
    } else {
        json!(ms as f64 / 1000.0)
    }
}

fn parsed(text: &Option<String>) -> Option<Value> {
    text.as_deref().and_then(|t| serde_json::from_str(t).ok())
}

/// The fields every run view shares.
pub fn run_common(run: &Run) -> Map<String, Value> {
    let s = run.status;
    let mut m = Map::new();
    m.insert("id".into(), json!(run.id));
    m.insert("status".into(), json!(s.as_str()));
    m.insert("taskIdentifier".into(), json!(run.task_id));
    put(
        &mut m,
        "idempotencyKey",
        run.idempotency_key_user
            .clone()
            .or(run.idempotency_key.clone())
            .map(Value::String),
    );
    put(&mut m, "version", run.version.clone().map(Value::String));
    m.insert("isQueued".into(), json!(s.is_queued()));
    m.insert("isExecuting".into(), json!(s.is_executing()));
    m.insert("isWaiting".into(), json!(s == RunStatus::Waiting));
    m.insert("isCompleted".into(), json!(s.is_completed()));
    m.insert("isSuccess".into(), json!(s == RunStatus::Completed));
    m.insert(
        "isFailed".into(),
        json!(s.is_completed() && s != RunStatus::Completed),
    );
    m.insert("isCancelled".into(), json!(s == RunStatus::Canceled));
    m.insert("isTest".into(), json!(run.is_test));
    m.insert("createdAt".into(), json!(format_time(run.created_at)));
    m.insert("updatedAt".into(), json!(format_time(run.updated_at)));
    put(&mut m, "startedAt", time(run.started_at));
    put(&mut m, "finishedAt", time(run.finished_at));
    put(&mut m, "delayedUntil", time(run.delay_until));
    put(
        &mut m,
        "expiredAt",
        time(run.finished_at.filter(|_| s == RunStatus::Expired)),
    );
    put(&mut m, "ttl", run.ttl.clone().map(Value::String));
    m.insert("tags".into(), json!(run.tags));
    m.insert("costInCents".into(), json!(0));
    m.insert("baseCostInCents".into(), json!(0));
    let duration = match (run.started_at, run.finished_at) {
        (Some(a), Some(b)) => (b - a).max(0),
        _ => 0,
    };
    m.insert("durationMs".into(), json!(duration));
    put(&mut m, "metadata", parsed(&run.metadata));
    put(&mut m, "batchId", run.batch_id.clone().map(Value::String));
    m
}

/// A run summary inside `relatedRuns`.
pub fn run_summary(run: &Run) -> Value {
    let mut m = run_common(run);
    m.insert("depth".into(), json!(run.depth));
    m.insert("triggerFunction".into(), json!(run.trigger_function));
    Value::Object(m)
}

/// `GET /api/v3/runs/{id}`.
pub fn run_detail(run: &Run, root: Option<&Run>, parent: Option<&Run>, children: &[Run]) -> Value {
    let mut m = run_common(run);
    m.insert("depth".into(), json!(run.depth));
    m.insert("triggerFunction".into(), json!(run.trigger_function));
    m.insert("attemptCount".into(), json!(run.attempt));
    if let Some(p) = &run.payload {
        put(
            &mut m,
            "payload",
            packet::to_value(p, &run.payload_type).ok(),
        );
    }
    if run.status == RunStatus::Completed {
        if let Some(o) = &run.output {
            let t = run.output_type.as_deref().unwrap_or(packet::JSON);
            put(&mut m, "output", packet::to_value(o, t).ok());
        }
    }
    put(&mut m, "error", parsed(&run.error));
    let mut related = Map::new();
    put(&mut related, "root", root.map(run_summary));
    put(&mut related, "parent", parent.map(run_summary));
    if !children.is_empty() {
        related.insert(
            "children".into(),
            Value::Array(children.iter().map(run_summary).collect()),
        );
    }
    m.insert("relatedRuns".into(), Value::Object(related));
    // trigr additions, ignored by the official SDK.
    m.insert("attempt".into(), json!(run.attempt));
    m.insert("queue".into(), json!(run.queue_name));
    put(
        &mut m,
        "concurrencyKey",
        (!run.ckey.is_empty()).then(|| json!(run.ckey)),
    );
    m.insert("priority".into(), priority_seconds(run.priority_ms));
    put(&mut m, "maxAttempts", run.max_attempts.map(Value::from));
    put(&mut m, "maxDuration", run.max_duration.map(Value::from));
    put(&mut m, "machine", run.machine.clone().map(Value::String));
    put(
        &mut m,
        "parentRunId",
        run.parent_run_id.clone().map(Value::String),
    );
    put(
        &mut m,
        "rootRunId",
        run.root_run_id.clone().map(Value::String),
    );
    Value::Object(m)
}

/// A run in a list (`GET /api/v1/runs`).
pub fn run_list_item(run: &Run, env_slug: &str) -> Value {
    let mut m = run_common(run);
    m.insert("env".into(), json!({ "id": run.env_id, "name": env_slug }));
    Value::Object(m)
}

/// A queue (reference §4.3).
pub fn queue(v: &QueueView) -> Value {
    let q = &v.queue;
    let name = match q.kind {
        QueueKind::Task => q.name.strip_prefix("task/").unwrap_or(&q.name).to_string(),
        QueueKind::Custom => q.name.clone(),
    };
    json!({
        "id": q.id,
        "name": name,
        "type": q.kind.as_str(),
        "running": v.running,
        "queued": v.queued,
        "paused": q.paused,
        "concurrencyLimit": q.limit(),
        "concurrency": {
            "current": q.limit(),
            "base": q.base_limit,
            "override": q.override_limit,
            "overriddenAt": q.overridden_at.map(format_time),
            "overriddenBy": Value::Null,
        },
    })
}

/// A deployment (reference §4.5), with when a worker of its version last asked for runs
/// (`workerLastSeenAt`) and whether one did within the presence window (`hasWorkers`).
pub fn deployment(d: &Deployment, current: bool, workers: &WorkersSeen) -> Value {
    json!({
        "id": d.id,
        "createdAt": format_time(d.created_at),
        "shortCode": d.version,
        "version": d.version,
        "runtime": Value::Null,
        "runtimeVersion": Value::Null,
        "status": "DEPLOYED",
        "deployedAt": format_time(d.promoted_at.unwrap_or(d.created_at)),
        "current": current,
        "tasks": d.tasks.iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
        "workerLastSeenAt": workers.last_seen(&d.version).map(format_time),
        "hasWorkers": workers.has_workers(&d.version),
    })
}

/// Why a run is not running (`waitingFor` of run retrieve).
pub fn waiting_for(w: &WaitingFor) -> Value {
    json!({ "reason": w.reason.code(), "message": w.message })
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

fn legacy_status(run: &mut Value) {
    if let Some(new) = run
        .get("status")
        .and_then(Value::as_str)
        .and_then(legacy_name)
    {
        run["status"] = json!(new);
    }
}

/// Rewrites the statuses of a run view (and its related runs) to the legacy names.
pub fn legacy_run(run: &mut Value) {
    legacy_status(run);
    if let Some(related) = run.get_mut("relatedRuns") {
        for key in ["root", "parent"] {
            if let Some(r) = related.get_mut(key) {
                legacy_status(r);
            }
        }
        if let Some(Value::Array(children)) = related.get_mut("children") {
            children.iter_mut().for_each(legacy_status);
        }
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

/// The fields a token shows in lists (reference §4.2); `url` is its callback URL.
/// `run_version`: the version of the run waiting on the token (`null` when none waits).
pub fn token_list_item(t: &Waitpoint, url: &str, run_version: Option<&str>) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("id".into(), json!(t.id));
    m.insert("url".into(), json!(url));
    m.insert("status".into(), json!(t.status.as_str()));
    put(&mut m, "completedAt", time(t.completed_at));
    put(&mut m, "timeoutAt", time(t.due_at));
    put(
        &mut m,
        "idempotencyKey",
        t.idempotency_key.clone().map(Value::String),
    );
    put(
        &mut m,
        "idempotencyKeyExpiresAt",
        time(
            t.idempotency_expires_at
                .filter(|_| t.idempotency_key.is_some()),
        ),
    );
    m.insert("tags".into(), json!(t.tags));
    m.insert("createdAt".into(), json!(format_time(t.created_at)));
    m.insert("runVersion".into(), json!(run_version));
    m
}

/// A token as `wait.retrieveToken` reads it: the output as a packet string.
pub fn token(t: &Waitpoint, url: &str, run_version: Option<&str>) -> Value {
    let mut m = token_list_item(t, url, run_version);
    if t.status != WaitpointStatus::Waiting {
        let output = t.output.clone().unwrap_or_else(|| "null".into());
        m.insert("output".into(), json!(output));
        m.insert("outputType".into(), json!(packet::JSON));
        m.insert(
            "outputIsError".into(),
            json!(t.status == WaitpointStatus::TimedOut),
        );
    }
    Value::Object(m)
}

/// One log line of a run.
pub fn log_line(l: &LogEntry) -> Value {
    let mut m = Map::new();
    m.insert("time".into(), json!(format_time(l.time)));
    m.insert("level".into(), json!(l.level));
    m.insert("message".into(), json!(l.message));
    put(&mut m, "fields", parsed(&l.fields));
    Value::Object(m)
}
