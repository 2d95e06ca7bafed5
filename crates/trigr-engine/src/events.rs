//! Run events: each status change and metadata update of a run is recorded in the
//! transaction that makes it (`record`, called by [`crate::transition`] and by trigger), so
//! realtime subscribers read from the store whatever they missed. The environments that got
//! events in a write are collected here and handed to [`crate::realtime::Realtime`] once the
//! write has committed.

use std::cell::RefCell;

use serde_json::{json, Map, Value};
use trigr_store::{Run, RunEvent, RunEventKind, Tx};
use trigr_types::{format_time, packet};

use crate::Result;

thread_local! {
    /// Environments that got events in the write job running on this thread.
    static RECORDED: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// Starts a write job: forgets what an earlier job on this thread recorded.
pub(crate) fn begin_job() {
    RECORDED.with(|r| r.borrow_mut().clear());
}

/// The environments that got events since [`begin_job`].
pub(crate) fn take_job() -> Vec<String> {
    RECORDED.with(|r| std::mem::take(&mut *r.borrow_mut()))
}

/// What a subscriber is told about a change from `before` (`None`: the run is new) to
/// `after`, or `None` when nothing it sees changed (a heartbeat).
pub fn event_for(before: Option<&Run>, after: &Run) -> Option<RunEvent> {
    let kind = match before {
        None => RunEventKind::Status,
        Some(b) if b.status != after.status => RunEventKind::Status,
        Some(b) if b.metadata != after.metadata => RunEventKind::Metadata,
        Some(_) => return None,
    };
    Some(RunEvent {
        seq: 0,
        env_id: after.env_id.clone(),
        run_id: after.id.clone(),
        batch_id: after.batch_id.clone(),
        tags: after.tags.clone(),
        kind,
        data: snapshot(after).to_string(),
        created_at: after.updated_at,
    })
}

/// Records the events of these changes, in one insert.
pub(crate) fn record<'a>(
    tx: &mut dyn Tx,
    changes: impl IntoIterator<Item = (Option<&'a Run>, &'a Run)>,
) -> Result<()> {
    let events: Vec<RunEvent> = changes
        .into_iter()
        .filter_map(|(before, after)| event_for(before, after))
        .collect();
    if events.is_empty() {
        return Ok(());
    }
    tx.insert_run_events(&events)?;
    RECORDED.with(|r| {
        let mut r = r.borrow_mut();
        for e in &events {
            if !r.contains(&e.env_id) {
                r.push(e.env_id.clone());
            }
        }
    });
    Ok(())
}

/// The run as a subscriber sees it: what the event's `data` carries.
pub fn snapshot(run: &Run) -> Value {
    let s = run.status;
    let mut m = Map::new();
    m.insert("id".into(), json!(run.id));
    m.insert("taskIdentifier".into(), json!(run.task_id));
    m.insert("status".into(), json!(s.as_str()));
    m.insert("attempt".into(), json!(run.attempt));
    m.insert("version".into(), json!(run.version));
    m.insert("tags".into(), json!(run.tags));
    let metadata = run
        .metadata
        .as_deref()
        .and_then(|t| serde_json::from_str::<Value>(t).ok());
    m.insert("metadata".into(), metadata.unwrap_or(Value::Null));
    m.insert("isFinal".into(), json!(s.is_final()));
    if let Some(b) = &run.batch_id {
        m.insert("batchId".into(), json!(b));
    }
    if s.is_final() {
        if let Some(out) = &run.output {
            let ty = run.output_type.as_deref().unwrap_or(packet::JSON);
            let value = if ty == packet::JSON {
                serde_json::from_str(out).unwrap_or_else(|_| json!(out))
            } else {
                json!(out)
            };
            m.insert("output".into(), value);
            m.insert("outputType".into(), json!(ty));
        }
        if let Some(err) = &run.error {
            let value = serde_json::from_str(err).unwrap_or_else(|_| json!({ "message": err }));
            m.insert("error".into(), value);
        }
    }
    m.insert("createdAt".into(), json!(format_time(run.created_at)));
    m.insert("updatedAt".into(), json!(format_time(run.updated_at)));
    if let Some(t) = run.started_at {
        m.insert("startedAt".into(), json!(format_time(t)));
    }
    if let Some(t) = run.finished_at {
        m.insert("finishedAt".into(), json!(format_time(t)));
    }
    Value::Object(m)
}
