//! The span of each HTTP request, installed around the routes only when spans are exported
//! ([`super::enabled`]). A request's `traceparent` header makes its span a child of the
//! caller's, so a trigger's request span and the run it creates share the caller's trace.

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use trigr_types::trace::TraceParent;

/// Runs the request inside a `SERVER` span named `METHOD /route/{param}`.
pub(crate) async fn trace_request(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", |p| p.as_str())
        .to_string();
    let span = tracing::debug_span!(
        "http.request",
        otel.name = format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        http.response.status_code = tracing::field::Empty,
    );
    if let Some(parent) = caller(&request) {
        // Fails only when the span is disabled: then there is nothing to link.
        let _ = span.set_parent(parent);
    }
    let response = next.run(request).instrument(span.clone()).await;
    span.record("http.response.status_code", response.status().as_u16());
    response
}

/// The caller's span from a valid `traceparent` header, as a remote parent.
fn caller(request: &Request) -> Option<opentelemetry::Context> {
    let header = request.headers().get("traceparent")?.to_str().ok()?;
    let parent = TraceParent::parse(header)?;
    let context = SpanContext::new(
        TraceId::from_hex(&parent.trace_id).ok()?,
        SpanId::from_hex(&parent.span_id).ok()?,
        TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    Some(opentelemetry::Context::new().with_remote_span_context(context))
}
