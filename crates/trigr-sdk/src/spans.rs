//! [`Spans`]: the trace of one attempt, buffered in the worker and shipped to the server with
//! the run's logs (`POST /api/v1/worker/runs/{id}/spans`, worker protocol §7.8).
//!
//! The attempt is one span under the run's root span; each step, wait, child trigger and HTTP
//! call the code makes (not the ones replayed from the journal) is a span under the attempt's.
//! An attempt that suspends ships its span, status `unset`, before the run is parked; should
//! the attempt go on after all, a new attempt span takes over. At most [`MAX_BUFFERED`] spans
//! wait to be sent; more are dropped and counted.

use std::sync::Mutex;
use std::time::SystemTime;

use serde_json::Value;
use trigr_types::trace;
use trigr_types::wire::spans::SpanLine;

/// Spans an attempt keeps waiting to be sent.
pub(crate) const MAX_BUFFERED: usize = 2_000;

/// Nanoseconds since the Unix epoch, now.
pub(crate) fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos().min(i64::MAX as u128) as i64)
}

/// A span that is over, to record with [`Spans::record`].
pub(crate) struct Finished<'a> {
    pub name: &'a str,
    pub kind: &'a str,
    pub start_ns: i64,
    /// `Err` carries the error message.
    pub outcome: Result<(), String>,
    pub attributes: Value,
}

/// How a span ended.
#[derive(Clone, Debug)]
enum Status {
    Ok,
    Error(String),
    Unset,
}

impl From<Result<(), String>> for Status {
    fn from(r: Result<(), String>) -> Status {
        match r {
            Ok(()) => Status::Ok,
            Err(m) => Status::Error(m),
        }
    }
}

/// The spans of one attempt.
#[derive(Debug)]
pub(crate) struct Spans {
    /// The run's trace id; `None` from a server that does not say it.
    trace_id: Option<String>,
    attempt_name: String,
    attempt: Mutex<AttemptSpan>,
    buffer: Mutex<Buffer>,
}

/// The attempt's span being recorded: its id and start.
#[derive(Debug)]
struct AttemptSpan {
    span_id: String,
    started_ns: i64,
}

impl AttemptSpan {
    fn starting_now() -> AttemptSpan {
        AttemptSpan {
            span_id: trace::new_span_id(),
            started_ns: now_ns(),
        }
    }
}

#[derive(Debug, Default)]
struct Buffer {
    spans: Vec<SpanLine>,
    dropped: usize,
}

impl Spans {
    /// The spans of attempt number `attempt` of a run in trace `trace_id`.
    pub(crate) fn new(attempt: u32, trace_id: Option<String>) -> Spans {
        Spans {
            trace_id: trace_id.filter(|t| trace::is_trace_id(t)),
            attempt_name: format!("attempt {attempt}"),
            attempt: Mutex::new(AttemptSpan::starting_now()),
            buffer: Mutex::new(Buffer::default()),
        }
    }

    /// Records a span under the attempt's, ending now.
    pub(crate) fn record(&self, f: Finished<'_>) {
        self.record_as(trace::new_span_id(), f);
    }

    /// [`record`](Spans::record) with the span id chosen beforehand (one a `traceparent`
    /// header already named).
    pub(crate) fn record_as(&self, span_id: String, f: Finished<'_>) {
        let parent = self.attempt_span().span_id.clone();
        let status = f.outcome.clone().into();
        let line = line(span_id, Some(parent), &f, status);
        self.push(line);
    }

    /// The W3C `traceparent` that makes `span_id` (a span of this attempt) the parent of what
    /// a called service records; `None` when the run's trace id is not known.
    pub(crate) fn traceparent(&self, span_id: &str) -> Option<String> {
        let trace_id = self.trace_id.as_deref()?;
        Some(format!("00-{trace_id}-{span_id}-01"))
    }

    /// Records the attempt's own span, under the run's root span.
    pub(crate) fn end_attempt(&self, outcome: Result<(), String>) {
        let attempt = self.attempt_span();
        let line = self.attempt_line(&attempt, outcome.into(), Value::Null);
        drop(attempt);
        self.push(line);
    }

    /// Records the attempt's span as the attempt suspends at wait `wait` (status `unset`,
    /// `trigr.suspended: true`), and starts a new attempt span in case the run is not parked
    /// after all and the attempt goes on.
    pub(crate) fn suspend_attempt(&self, wait: &str) {
        let mut attempt = self.attempt_span();
        let attributes = serde_json::json!({"trigr.suspended": true, "trigr.wait": wait});
        let line = self.attempt_line(&attempt, Status::Unset, attributes);
        *attempt = AttemptSpan::starting_now();
        drop(attempt);
        self.push(line);
    }

    fn attempt_line(&self, attempt: &AttemptSpan, status: Status, attributes: Value) -> SpanLine {
        let f = Finished {
            name: &self.attempt_name,
            kind: "attempt",
            start_ns: attempt.started_ns,
            outcome: Ok(()),
            attributes,
        };
        line(attempt.span_id.clone(), None, &f, status)
    }

    fn attempt_span(&self) -> std::sync::MutexGuard<'_, AttemptSpan> {
        self.attempt.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn push(&self, line: SpanLine) {
        let mut b = self.lock();
        if b.spans.len() >= MAX_BUFFERED {
            b.dropped += 1;
        } else {
            b.spans.push(line);
        }
    }

    /// Takes every span waiting to be sent, and how many were dropped since the last call.
    pub(crate) fn take(&self) -> (Vec<SpanLine>, usize) {
        let mut b = self.lock();
        (std::mem::take(&mut b.spans), std::mem::take(&mut b.dropped))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A finished span as the wire carries it, ending now.
fn line(span_id: String, parent: Option<String>, f: &Finished<'_>, status: Status) -> SpanLine {
    let (status, message) = match status {
        Status::Ok => ("ok", None),
        Status::Error(m) => ("error", Some(m.chars().take(1024).collect())),
        Status::Unset => ("unset", None),
    };
    SpanLine {
        span_id,
        parent_span_id: parent,
        name: f.name.chars().take(200).collect(),
        kind: f.kind.to_string(),
        start_time_unix_nano: f.start_ns.to_string(),
        end_time_unix_nano: now_ns().max(f.start_ns).to_string(),
        status: Some(status.to_string()),
        message,
        attributes: f.attributes.is_object().then(|| f.attributes.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_hang_under_the_attempt_and_the_attempt_under_the_run() {
        let spans = Spans::new(2, None);
        spans.record(Finished {
            name: "charge",
            kind: "step",
            start_ns: now_ns(),
            outcome: Err("declined".into()),
            attributes: json!({"position": 0}),
        });
        spans.end_attempt(Ok(()));
        let (lines, dropped) = spans.take();
        assert_eq!(dropped, 0);
        assert_eq!(lines[0].parent_span_id.as_ref(), Some(&lines[1].span_id));
        assert_eq!(lines[0].status.as_deref(), Some("error"));
        assert_eq!(lines[0].message.as_deref(), Some("declined"));
        assert_eq!(lines[1].name, "attempt 2");
        assert_eq!(lines[1].parent_span_id, None);
        assert!(spans.take().0.is_empty());
    }

    #[test]
    fn a_suspending_attempt_ships_its_span_and_a_new_one_takes_over() {
        let trace_id = "4bf92f3577b34da6a3ce929d0e0e4736".to_string();
        let spans = Spans::new(1, Some(trace_id.clone()));
        spans.suspend_attempt("sleep");
        spans.record(Finished {
            name: "after",
            kind: "step",
            start_ns: now_ns(),
            outcome: Ok(()),
            attributes: Value::Null,
        });
        spans.end_attempt(Ok(()));
        let (lines, _) = spans.take();
        let (suspended, step, resumed) = (&lines[0], &lines[1], &lines[2]);
        assert_eq!(suspended.status.as_deref(), Some("unset"));
        assert_eq!(
            suspended.attributes.as_ref().unwrap()["trigr.suspended"],
            true
        );
        assert_ne!(suspended.span_id, resumed.span_id);
        assert_eq!(step.parent_span_id.as_ref(), Some(&resumed.span_id));
        assert_eq!(resumed.status.as_deref(), Some("ok"));
        let header = spans.traceparent(&step.span_id).unwrap();
        assert_eq!(header, format!("00-{trace_id}-{}-01", step.span_id));
        assert_eq!(Spans::new(1, None).traceparent(&step.span_id), None);
    }
}
