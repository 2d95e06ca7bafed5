//! trigr's runs, snapshots and waitpoints in the shapes the Trigger.dev CLI reads.

use serde_json::{json, Map, Value};
use trigr_engine::cli_worker::delivered::{Completer, Delivered};
use trigr_store::{Run, Snapshot};
use trigr_types::wire::dev::{
    BatchRef, CompletedByRun, CompletedWaitpoint, ExecutionSnapshot, MachinePreset, RunRef,
};
use trigr_types::wire::Timestamp;
use trigr_types::RunStatus;

pub fn snapshot(s: &Snapshot) -> ExecutionSnapshot {
    ExecutionSnapshot {
        id: s.id.clone(),
        friendly_id: s.id.clone(),
        execution_status: s.status.as_str().to_string(),
        description: String::new(),
        created_at: Timestamp(s.created_at),
    }
}

/// The run as a snapshot names it; the attempt is the one the snapshot belongs to.
pub fn run_ref(run: &Run, attempt: i64) -> RunRef {
    RunRef {
        id: run.id.clone(),
        friendly_id: run.id.clone(),
        status: engine_status(run.status).to_string(),
        attempt_number: attempt,
    }
}

/// A run status in the run engine's names (not the REST API's).
pub fn engine_status(s: RunStatus) -> &'static str {
    match s {
        RunStatus::PendingVersion => "PENDING_VERSION",
        RunStatus::Delayed => "DELAYED",
        RunStatus::Queued => "PENDING",
        RunStatus::Dequeued => "DEQUEUED",
        RunStatus::Executing => "EXECUTING",
        RunStatus::Waiting => "WAITING_TO_RESUME",
        RunStatus::Completed => "COMPLETED_SUCCESSFULLY",
        RunStatus::Canceled => "CANCELED",
        RunStatus::Failed => "COMPLETED_WITH_ERRORS",
        RunStatus::Crashed => "CRASHED",
        RunStatus::SystemFailure => "SYSTEM_FAILURE",
        RunStatus::Expired => "EXPIRED",
        RunStatus::TimedOut => "TIMED_OUT",
    }
}

/// The preset a task names (`small-1x` when none): trigr runs a task where its worker runs,
/// so the preset is only a label with Trigger.dev's sizes.
pub fn machine(name: Option<&str>) -> MachinePreset {
    let (name, cpu, memory) = match name.unwrap_or("small-1x") {
        "micro" => ("micro", 0.25, 0.25),
        "small-2x" => ("small-2x", 1.0, 1.0),
        "medium-1x" => ("medium-1x", 1.0, 2.0),
        "medium-2x" => ("medium-2x", 2.0, 4.0),
        "large-1x" => ("large-1x", 4.0, 8.0),
        "large-2x" => ("large-2x", 8.0, 16.0),
        _ => ("small-1x", 0.5, 0.5),
    };
    MachinePreset {
        name: name.to_string(),
        cpu,
        memory,
        cents_per_ms: 0.0,
    }
}

/// A completed waitpoint as the task runtime resolves it: a date or a token by the
/// waitpoint's id, a child run by its id, a batch's child by `{batch}_{index}`.
pub fn completed_waitpoint(d: &Delivered) -> CompletedWaitpoint {
    let (kind, by_run, index, completed_after) = match &d.completer {
        Completer::Date { due_at } => ("DATETIME", None, None, due_at.map(Timestamp)),
        Completer::Token => ("MANUAL", None, None, None),
        Completer::Run { run_id, batch } => (
            "RUN",
            Some(CompletedByRun {
                id: run_id.clone(),
                friendly_id: run_id.clone(),
                batch: batch.as_ref().map(|(b, _)| BatchRef {
                    id: b.clone(),
                    friendly_id: b.clone(),
                }),
            }),
            batch.as_ref().map(|(_, i)| *i),
            None,
        ),
    };
    let output = match (&d.completer, d.is_error) {
        (Completer::Run { .. }, true) => d.output.as_deref().map(task_run_error),
        _ => d.output.clone(),
    };
    CompletedWaitpoint {
        id: d.waitpoint_id.clone(),
        friendly_id: d.waitpoint_id.clone(),
        kind: kind.to_string(),
        completed_at: Timestamp(d.completed_at),
        index,
        completed_by_task_run: by_run,
        completed_after,
        output,
        output_type: d.output_type.clone(),
        output_is_error: d.is_error,
    }
}

/// A run's stored error as a Trigger.dev `TaskRunError` (JSON text): one a TypeScript task
/// reported is kept as it came; trigr's own `{"message", "name", "stackTrace"}` is a built-in
/// error.
pub fn task_run_error(stored: &str) -> String {
    let value: Value = serde_json::from_str(stored).unwrap_or(Value::Null);
    if value.get("type").is_some_and(Value::is_string) {
        return stored.to_string();
    }
    let text = |k: &str| value.get(k).and_then(Value::as_str).unwrap_or("");
    json!({
        "type": "BUILT_IN_ERROR",
        "name": if text("name").is_empty() { "Error" } else { text("name") },
        "message": text("message"),
        "stackTrace": text("stackTrace"),
    })
    .to_string()
}

/// A Trigger.dev `TaskRunError` as trigr keeps a run's error: the error as it came, with the
/// `message` and `name` every reader of runs shows.
pub fn stored_error(error: &Value) -> String {
    let mut out = match error {
        Value::Object(m) => m.clone(),
        other => {
            let mut m = Map::new();
            m.insert("raw".to_string(), other.clone());
            m
        }
    };
    let text = |k: &str| out.get(k).and_then(Value::as_str).map(str::to_string);
    let message = text("message")
        .or_else(|| text("raw"))
        .or_else(|| text("code"))
        .unwrap_or_else(|| "The task failed".to_string());
    let name = text("name")
        .or_else(|| text("code"))
        .unwrap_or_else(|| "Error".to_string());
    out.insert("message".to_string(), Value::String(message));
    out.insert("name".to_string(), Value::String(name));
    Value::Object(out).to_string()
}
