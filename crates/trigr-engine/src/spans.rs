//! `spans`: a run's trace. A worker reports the finished spans of its attempt (worker protocol
//! §7.8, fenced by the lease); OTLP intake adds spans a run's code exported itself. Each run
//! keeps at most [`MAX_SPANS_PER_RUN`]: spans past it are dropped and counted, never an error,
//! so tracing cannot fail a run.

use serde_json::Value;
use trigr_store::{Run, RunTrace, Span};
use trigr_types::wire::spans::SpanLine;
use trigr_types::{trace, RunStatus};

use crate::journal::leased_run;
use crate::{Engine, Error, Result, Txn};

/// Most spans per call.
pub const MAX_SPANS: usize = 500;
/// Most spans a run keeps; later ones are dropped and counted.
pub const MAX_SPANS_PER_RUN: usize = 2_000;
/// Longest span name, in bytes.
pub const MAX_NAME_BYTES: usize = 256;
/// Longest error message of a span, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 4 * 1024;
/// Largest attributes object, in bytes of JSON.
pub const MAX_ATTRIBUTES_BYTES: usize = 16 * 1024;
/// What a span may be.
pub const KINDS: [&str; 6] = ["attempt", "step", "wait", "trigger", "http", "other"];
/// How a span ended.
pub const STATUSES: [&str; 3] = ["ok", "error", "unset"];

/// A span checked ([`check`]), not yet placed in a run's trace.
#[derive(Clone, Debug, PartialEq)]
pub struct NewSpan {
    pub span_id: String,
    /// `None`: under the run's root span.
    pub parent_span_id: Option<String>,
    pub name: String,
    /// One of [`KINDS`].
    pub kind: String,
    pub start_ns: i64,
    pub end_ns: i64,
    /// One of [`STATUSES`].
    pub status: String,
    pub message: Option<String>,
    /// JSON text of an object.
    pub attributes: Option<String>,
}

/// What an append did: the spans stored (with their trace), and how many were dropped.
#[derive(Clone, Debug, Default)]
pub struct SpansAppended {
    pub stored: Vec<Span>,
    pub dropped: usize,
}

/// A run's trace ([`Engine::run_trace`]).
#[derive(Clone, Debug, Default)]
pub struct Trace {
    pub trace_id: String,
    /// The run's root span.
    pub span_id: String,
    /// The caller's span or the parent run's root span.
    pub parent_span_id: Option<String>,
    pub spans: Vec<Span>,
}

/// A finished run's root span, for export: it spans the run from its trigger to its end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RootSpan {
    pub run_id: String,
    pub task_id: String,
    pub trace_id: String,
    pub span_id: String,
    /// The caller's span or the parent run's root span.
    pub parent_span_id: Option<String>,
    /// The run's final status.
    pub status: RunStatus,
    /// The run's error as stored, JSON text of `{message, name?, stackTrace?}`.
    pub error: Option<String>,
    /// When the run was triggered (ms since the epoch).
    pub start_ms: i64,
    /// When it finished (ms since the epoch).
    pub end_ms: i64,
}

/// The root span of `after` when this change takes the run to a final status.
pub(crate) fn root_span_if_finished(before: Option<&Run>, after: &Run) -> Option<RootSpan> {
    let was_final = before.is_some_and(|b| b.status.is_final());
    if was_final || !after.status.is_final() {
        return None;
    }
    let RunTrace { trace_id, span_id } = after.trace();
    let end_ms = after.finished_at.unwrap_or(after.updated_at);
    Some(RootSpan {
        run_id: after.id.clone(),
        task_id: after.task_id.clone(),
        trace_id,
        span_id,
        parent_span_id: after.parent_span_id.clone(),
        status: after.status,
        error: after.error.clone(),
        start_ms: after.created_at.min(end_ms),
        end_ms,
    })
}

/// Checks the spans of a spans body: at most [`MAX_SPANS`], each valid. The first span that
/// is not is named (`spans[3]: …`).
pub fn check(spans: Vec<SpanLine>) -> Result<Vec<NewSpan>> {
    if spans.len() > MAX_SPANS {
        return Err(Error::invalid(format!(
            "At most {MAX_SPANS} spans per call, got {}",
            spans.len()
        )));
    }
    spans
        .into_iter()
        .enumerate()
        .map(|(i, s)| span(s).map_err(|e| Error::invalid(format!("spans[{i}]: {e}"))))
        .collect()
}

/// A span checked, or what is wrong with it.
fn span(s: SpanLine) -> std::result::Result<NewSpan, String> {
    if !trace::is_span_id(&s.span_id) {
        return Err("spanId must be 16 lowercase hex digits, not all zeros".into());
    }
    if let Some(p) = &s.parent_span_id {
        if !trace::is_span_id(p) {
            return Err("parentSpanId must be 16 lowercase hex digits, not all zeros".into());
        }
    }
    if s.name.is_empty() || s.name.len() > MAX_NAME_BYTES {
        return Err(format!("name must be 1-{MAX_NAME_BYTES} bytes"));
    }
    if !KINDS.contains(&s.kind.as_str()) {
        return Err(format!(
            "unknown kind '{}': use one of {}",
            s.kind,
            KINDS.join(", ")
        ));
    }
    let status = s.status.unwrap_or_else(|| "unset".into());
    if !STATUSES.contains(&status.as_str()) {
        return Err(format!(
            "unknown status '{status}': use one of {}",
            STATUSES.join(", ")
        ));
    }
    let start_ns = nanos("startTimeUnixNano", &s.start_time_unix_nano)?;
    let end_ns = nanos("endTimeUnixNano", &s.end_time_unix_nano)?;
    if end_ns < start_ns {
        return Err("endTimeUnixNano is before startTimeUnixNano".into());
    }
    Ok(NewSpan {
        span_id: s.span_id,
        parent_span_id: s.parent_span_id,
        name: s.name,
        kind: s.kind,
        start_ns,
        end_ns,
        status,
        message: s.message.map(|m| check_message(&m)).transpose()?,
        attributes: s.attributes.map(|a| check_attributes(&a)).transpose()?,
    })
}

fn nanos(member: &str, text: &str) -> std::result::Result<i64, String> {
    text.parse::<i64>()
        .ok()
        .filter(|n| *n >= 0)
        .ok_or_else(|| format!("{member} must be nanoseconds since the epoch as a decimal string"))
}

/// A span's error message, within [`MAX_MESSAGE_BYTES`].
pub fn check_message(m: &str) -> std::result::Result<String, String> {
    if m.len() > MAX_MESSAGE_BYTES {
        return Err(format!(
            "the message is {} bytes, over the limit of {MAX_MESSAGE_BYTES}",
            m.len()
        ));
    }
    Ok(m.to_string())
}

/// A span's attributes as JSON text: an object within [`MAX_ATTRIBUTES_BYTES`].
pub fn check_attributes(a: &Value) -> std::result::Result<String, String> {
    if !a.is_object() {
        return Err("attributes must be an object".into());
    }
    let text = a.to_string();
    if text.len() > MAX_ATTRIBUTES_BYTES {
        return Err(format!(
            "attributes are {} bytes of JSON, over the limit of {MAX_ATTRIBUTES_BYTES}",
            text.len()
        ));
    }
    Ok(text)
}

/// Places checked spans in `run`'s trace and stores as many as the run may still keep.
fn store_spans(tx: &mut Txn<'_>, run: &Run, spans: Vec<NewSpan>) -> Result<SpansAppended> {
    let RunTrace {
        trace_id,
        span_id: root,
    } = run.trace();
    let kept = tx.span_count(&run.id)?.max(0) as usize;
    let room = MAX_SPANS_PER_RUN.saturating_sub(kept);
    let dropped = spans.len().saturating_sub(room);
    let now = tx.now();
    let stored: Vec<Span> = spans
        .into_iter()
        .take(room)
        .map(|s| Span {
            seq: 0,
            run_id: run.id.clone(),
            trace_id: trace_id.clone(),
            span_id: s.span_id,
            parent_span_id: Some(s.parent_span_id.unwrap_or_else(|| root.clone())),
            name: s.name,
            kind: s.kind,
            start_ns: s.start_ns,
            end_ns: s.end_ns,
            status: s.status,
            message: s.message,
            attributes: s.attributes,
            created_at: now,
        })
        .collect();
    tx.insert_spans(&stored)?;
    Ok(SpansAppended { stored, dropped })
}

impl Engine {
    /// Appends spans, checked by [`check`], to the trace of the run whose lease the worker
    /// holds, in one write.
    pub async fn append_spans(
        &self,
        env_id: &str,
        run_id: &str,
        lease: &str,
        spans: Vec<NewSpan>,
    ) -> Result<SpansAppended> {
        let (env_id, run_id, lease) = (env_id.to_string(), run_id.to_string(), lease.to_string());
        self.write(move |tx| {
            let run = leased_run(tx, &env_id, &run_id, &lease)?;
            store_spans(tx, &run, spans)
        })
        .await
    }

    /// Adds spans that arrived over OTLP to the traces of the runs they name, in one write.
    /// A span naming no run of this environment is rejected and counted with the dropped.
    pub async fn ingest_spans(
        &self,
        env_id: &str,
        spans: Vec<(String, NewSpan)>,
    ) -> Result<SpansAppended> {
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let mut out = SpansAppended::default();
            for (run_id, group) in by_run(spans) {
                match tx.run(&env_id, &run_id)? {
                    Some(run) => {
                        let r = store_spans(tx, &run, group)?;
                        out.stored.extend(r.stored);
                        out.dropped += r.dropped;
                    }
                    None => out.dropped += group.len(),
                }
            }
            Ok(out)
        })
        .await
    }

    /// The spans of a run's trace, in order of arrival (at most [`MAX_SPANS_PER_RUN`]).
    pub async fn run_spans(&self, env_id: &str, run_id: &str) -> Result<Vec<Span>> {
        Ok(self.run_trace(env_id, run_id).await?.spans)
    }

    /// A run's trace: its ids and its spans in order of arrival.
    pub async fn run_trace(&self, env_id: &str, run_id: &str) -> Result<Trace> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            let run = tx
                .run(&env_id, &run_id)?
                .ok_or_else(|| Error::run_not_found(&run_id))?;
            let RunTrace { trace_id, span_id } = run.trace();
            Ok(Trace {
                spans: tx.spans(&run_id, MAX_SPANS_PER_RUN)?,
                trace_id,
                span_id,
                parent_span_id: run.parent_span_id,
            })
        })
        .await
    }
}

/// Spans grouped by run, each group in the order it came.
fn by_run<T>(items: Vec<(String, T)>) -> Vec<(String, Vec<T>)> {
    let mut groups: Vec<(String, Vec<T>)> = Vec::new();
    for (run_id, item) in items {
        match groups.iter_mut().find(|(id, _)| *id == run_id) {
            Some((_, g)) => g.push(item),
            None => groups.push((run_id, vec![item])),
        }
    }
    groups
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn line(kind: &str) -> SpanLine {
        SpanLine {
            span_id: "00f067aa0ba902b7".into(),
            parent_span_id: None,
            name: "charge".into(),
            kind: kind.into(),
            start_time_unix_nano: "1000".into(),
            end_time_unix_nano: "2000".into(),
            status: None,
            message: None,
            attributes: Some(json!({"n": 1})),
        }
    }

    #[test]
    fn checks_each_span() {
        let ok = check(vec![line("step")]).unwrap();
        assert_eq!(ok[0].status, "unset");
        assert_eq!(ok[0].attributes.as_deref(), Some("{\"n\":1}"));
        let e = check(vec![line("step"), line("dance")]).unwrap_err();
        assert!(
            e.to_string().contains("spans[1]: unknown kind 'dance'"),
            "{e}"
        );
        let mut backwards = line("step");
        backwards.end_time_unix_nano = "10".into();
        assert!(check(vec![backwards]).is_err());
        let mut bad_id = line("step");
        bad_id.span_id = "0000000000000000".into();
        assert!(check(vec![bad_id]).is_err());
        let mut list = line("step");
        list.attributes = Some(json!([1]));
        assert!(check(vec![list]).is_err());
        assert!(check(vec![line("step"); MAX_SPANS + 1]).is_err());
    }

    #[test]
    fn groups_keep_their_order() {
        let g = by_run(vec![("a".into(), 1), ("b".into(), 2), ("a".into(), 3)]);
        assert_eq!(g, vec![("a".into(), vec![1, 3]), ("b".into(), vec![2])]);
    }
}
