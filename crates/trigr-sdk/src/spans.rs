//! [`Spans`]: the trace of one attempt, buffered in the worker and shipped to the server with
//! the run's logs (`POST /api/v1/worker/runs/{id}/spans`, worker protocol §7.8).
//!
//! The attempt is one span under the run's root span; each step and each wait the code
//! reaches (not the ones replayed from the journal) is a span under the attempt's. At most
//! [`MAX_BUFFERED`] spans wait to be sent; more are dropped and counted.

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

/// The spans of one attempt.
#[derive(Debug)]
pub(crate) struct Spans {
    attempt_span: String,
    attempt_name: String,
    started_ns: i64,
    buffer: Mutex<Buffer>,
}

#[derive(Debug, Default)]
struct Buffer {
    spans: Vec<SpanLine>,
    dropped: usize,
}

impl Spans {
    pub(crate) fn new(attempt: u32) -> Spans {
        Spans {
            attempt_span: trace::new_span_id(),
            attempt_name: format!("attempt {attempt}"),
            started_ns: now_ns(),
            buffer: Mutex::new(Buffer::default()),
        }
    }

    /// Records a span under the attempt's, ending now.
    pub(crate) fn record(&self, f: Finished<'_>) {
        let line = self.line(trace::new_span_id(), Some(self.attempt_span.clone()), f);
        self.push(line);
    }

    /// Records the attempt's own span, under the run's root span.
    pub(crate) fn end_attempt(&self, outcome: Result<(), String>) {
        let f = Finished {
            name: &self.attempt_name,
            kind: "attempt",
            start_ns: self.started_ns,
            outcome,
            attributes: Value::Null,
        };
        let line = self.line(self.attempt_span.clone(), None, f);
        self.push(line);
    }

    fn line(&self, span_id: String, parent: Option<String>, f: Finished<'_>) -> SpanLine {
        let (status, message) = match f.outcome {
            Ok(()) => ("ok", None),
            Err(m) => ("error", Some(m.chars().take(1024).collect())),
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
            attributes: f.attributes.is_object().then_some(f.attributes),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn steps_hang_under_the_attempt_and_the_attempt_under_the_run() {
        let spans = Spans::new(2);
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
}
