//! The runs' spans, exported as they are stored: each keeps its run's trace id, its own span
//! id, its parent and its times, so a collector shows the run's trace as the worker saw it.
//! A run's root span follows when the run finishes, from its trigger to its end, with a
//! status from the run's final status.

use std::time::{Duration, SystemTime};

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{KeyValue, Value as OtelValue};
use serde_json::Value;
use trigr_engine::spans::RootSpan;
use trigr_engine::Engine;
use trigr_store::Span;
use trigr_types::RunStatus;

use super::PROVIDER;

/// Exports stored run spans; returns at once when no exporter is configured.
pub fn export_run_spans(spans: &[Span]) {
    let Some(provider) = PROVIDER.get() else {
        return;
    };
    if spans.is_empty() {
        return;
    }
    let tracer = provider.tracer("trigr.runs");
    for s in spans {
        let (Ok(trace_id), Ok(span_id)) =
            (TraceId::from_hex(&s.trace_id), SpanId::from_hex(&s.span_id))
        else {
            continue;
        };
        let parent = parent_context(trace_id, s.parent_span_id.as_deref());
        let mut span = tracer
            .span_builder(s.name.clone())
            .with_trace_id(trace_id)
            .with_span_id(span_id)
            .with_kind(kind(&s.kind))
            .with_start_time(time(s.start_ns))
            .with_attributes(attributes(s))
            .start_with_context(&tracer, &parent);
        span.set_status(match s.status.as_str() {
            "ok" => Status::Ok,
            "error" => Status::error(s.message.clone().unwrap_or_default()),
            _ => Status::Unset,
        });
        span.end_with_timestamp(time(s.end_ns));
    }
}

/// Exports the root span of each run `engine` finishes, when an exporter is configured
/// (nothing is registered otherwise).
pub fn export_finished_runs(engine: &Engine) {
    if PROVIDER.get().is_none() {
        return;
    }
    engine.on_runs_finished(Box::new(export_root_spans));
}

fn export_root_spans(roots: &[RootSpan]) {
    let Some(provider) = PROVIDER.get() else {
        return;
    };
    let tracer = provider.tracer("trigr.runs");
    for r in roots {
        let (Ok(trace_id), Ok(span_id)) =
            (TraceId::from_hex(&r.trace_id), SpanId::from_hex(&r.span_id))
        else {
            continue;
        };
        let parent = parent_context(trace_id, r.parent_span_id.as_deref());
        let mut span = tracer
            .span_builder(format!("run {}", r.task_id))
            .with_trace_id(trace_id)
            .with_span_id(span_id)
            .with_kind(SpanKind::Consumer)
            .with_start_time(time(r.start_ms.saturating_mul(1_000_000)))
            .with_attributes([
                KeyValue::new("trigr.run_id", r.run_id.clone()),
                KeyValue::new("trigr.task_id", r.task_id.clone()),
                KeyValue::new("trigr.run.status", r.status.as_str()),
                KeyValue::new("trigr.span.kind", "run"),
            ])
            .start_with_context(&tracer, &parent);
        span.set_status(root_status(r));
        span.end_with_timestamp(time(r.end_ms.saturating_mul(1_000_000)));
    }
}

/// `Ok` for a completed run, `Unset` for one canceled, an error (with the run's error message,
/// else its status) for anything else.
fn root_status(r: &RootSpan) -> Status {
    match r.status {
        RunStatus::Completed => Status::Ok,
        RunStatus::Canceled => Status::Unset,
        other => {
            let message = r
                .error
                .as_deref()
                .and_then(|e| serde_json::from_str::<Value>(e).ok())
                .and_then(|e| e["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| other.as_str().to_string());
            Status::error(message)
        }
    }
}

/// The context a span starts in: under `parent` (a remote span of the same trace) or a root.
fn parent_context(trace_id: TraceId, parent: Option<&str>) -> opentelemetry::Context {
    match parent.map(SpanId::from_hex) {
        Some(Ok(p)) => opentelemetry::Context::new().with_remote_span_context(SpanContext::new(
            trace_id,
            p,
            TraceFlags::SAMPLED,
            true,
            TraceState::default(),
        )),
        _ => opentelemetry::Context::new(),
    }
}

fn kind(kind: &str) -> SpanKind {
    match kind {
        "http" => SpanKind::Client,
        "trigger" => SpanKind::Producer,
        _ => SpanKind::Internal,
    }
}

fn time(ns: i64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_nanos(ns.max(0) as u64)
}

/// The span's own attributes (scalars as they are, anything else as JSON text), its run and
/// its kind.
fn attributes(s: &Span) -> Vec<KeyValue> {
    let mut out = vec![
        KeyValue::new("trigr.run_id", s.run_id.clone()),
        KeyValue::new("trigr.span.kind", s.kind.clone()),
    ];
    let object = s
        .attributes
        .as_deref()
        .and_then(|a| serde_json::from_str::<serde_json::Map<String, Value>>(a).ok())
        .unwrap_or_default();
    for (k, v) in object {
        let value: OtelValue = match v {
            Value::String(s) => s.into(),
            Value::Bool(b) => b.into(),
            Value::Number(n) => match n.as_i64() {
                Some(i) => i.into(),
                None => n.as_f64().unwrap_or_default().into(),
            },
            other => other.to_string().into(),
        };
        out.push(KeyValue::new(k, value));
    }
    out
}
