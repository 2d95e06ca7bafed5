//! Run events: each status change and metadata update of a run is recorded in the
//! transaction that makes it (`record`, called by [`crate::transition`] and by trigger), so
//! realtime subscribers read from the store whatever they missed. The environments that got
//! events are part of the write's [`crate::Effects`]: once it commits, the engine pokes their
//! [`crate::realtime::Realtime`] feeds.

use serde::Serialize;
use serde_json::value::RawValue;
use serde_json::Value;
use trigr_store::{Run, RunEvent, RunEventKind};
use trigr_types::{format_time, packet};

use crate::{Result, Txn};

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
        data: snapshot_json(after),
        created_at: after.updated_at,
    })
}

/// Records the events of these changes, in one insert, and notes them for the engine's
/// observer ([`crate::observe`]): every run change passes here.
pub(crate) fn record<'a>(
    tx: &mut Txn<'_>,
    changes: impl IntoIterator<Item = (Option<&'a Run>, &'a Run)>,
) -> Result<()> {
    let mut events = Vec::new();
    for (before, after) in changes {
        tx.observe(before, after);
        tx.note_if_finished(before, after);
        events.extend(event_for(before, after));
    }
    if events.is_empty() {
        return Ok(());
    }
    tx.insert_run_events(&events)?;
    for e in &events {
        tx.events_recorded(&e.env_id);
    }
    Ok(())
}

/// The run as a subscriber sees it: what the event's `data` carries.
pub fn snapshot(run: &Run) -> Value {
    serde_json::from_str(&snapshot_json(run)).unwrap_or(Value::Null)
}

/// [`snapshot`] as JSON text, written straight from the run's fields: the stored metadata,
/// output and error are JSON text already and are copied, not parsed and rebuilt. This runs
/// inside every write that changes a run, so it is kept cheap.
pub fn snapshot_json(run: &Run) -> String {
    let s = run.status;
    let done = s.is_final();
    let output = run.output.as_deref().filter(|_| done).map(|out| {
        let ty = run.output_type.as_deref().unwrap_or(packet::JSON);
        let value = if ty == packet::JSON {
            Json::raw_or_text(out)
        } else {
            Json::Text(out)
        };
        (value, ty)
    });
    let error = run.error.as_deref().filter(|_| done).map(|err| {
        RawValue::from_string(err.to_owned())
            .map(Json::Raw)
            .unwrap_or_else(|_| Json::Message { message: err })
    });
    let view = View {
        id: &run.id,
        task_identifier: &run.task_id,
        status: s.as_str(),
        attempt: run.attempt,
        version: run.version.as_deref(),
        tags: &run.tags,
        metadata: run.metadata.as_deref().and_then(raw),
        is_final: done,
        batch_id: run.batch_id.as_deref(),
        output_type: output.as_ref().map(|(_, ty)| *ty),
        output: output.map(|(v, _)| v),
        error,
        created_at: format_time(run.created_at),
        updated_at: format_time(run.updated_at),
        started_at: run.started_at.map(format_time),
        finished_at: run.finished_at.map(format_time),
    };
    serde_json::to_string(&view).unwrap_or_default()
}

/// The fields of [`snapshot_json`], borrowed from the run.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct View<'a> {
    id: &'a str,
    task_identifier: &'a str,
    status: &'a str,
    attempt: i64,
    version: Option<&'a str>,
    tags: &'a [String],
    metadata: Option<Box<RawValue>>,
    is_final: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    batch_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output: Option<Json<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    output_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<Json<'a>>,
    created_at: String,
    updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    finished_at: Option<String>,
}

/// A stored value in a snapshot: its JSON text when it is JSON, else a string.
#[derive(Serialize)]
#[serde(untagged)]
enum Json<'a> {
    Raw(Box<RawValue>),
    Text(&'a str),
    Message { message: &'a str },
}

impl<'a> Json<'a> {
    fn raw_or_text(text: &'a str) -> Self {
        raw(text).map(Json::Raw).unwrap_or(Json::Text(text))
    }
}

/// `text` as a JSON value copied verbatim, when it is valid JSON.
fn raw(text: &str) -> Option<Box<RawValue>> {
    RawValue::from_string(text.to_owned()).ok()
}
