//! The request span and the access log.
//!
//! Every request runs in a `request` span ([`span`]) whose fields say what it concerns where
//! that is known: `request_id` (always: the `x-request-id` of its answer), `run_id` (from the path of a run's route, or set by the trigger route once
//! the run exists), `env_id` (set when the credential is checked, [`record_env`]) and
//! `trace_id` (from a W3C `traceparent` header). Every log line written while the request is
//! handled carries them (in JSON, under `span`). Once it is answered, one access log line at
//! info ([`line`]) tells its method, route template, status, duration, request id and, when
//! known, the size of the answer; health checks are logged at debug.

use std::time::Duration;

use axum::extract::MatchedPath;
use axum::http::{HeaderMap, Method, Uri};
use axum::response::Response;
use tracing::field::Empty;
use tracing::Span;

/// Where the access log lines go (`RUST_LOG=trigr::access=off` silences them too).
const TARGET: &str = "trigr::access";
/// Longest run id taken from a path into the span.
const MAX_RUN_ID: usize = 100;

/// The span of one request.
pub(super) fn span(
    route: Option<&MatchedPath>,
    uri: &Uri,
    headers: &HeaderMap,
    request_id: &str,
) -> Span {
    let span = tracing::info_span!(
        "request",
        request_id,
        run_id = Empty,
        env_id = Empty,
        trace_id = Empty
    );
    if span.is_disabled() {
        return span;
    }
    if let Some(run_id) = route.and_then(|r| run_id_in(r.as_str(), uri.path())) {
        span.record("run_id", run_id);
    }
    if let Some(trace_id) = trace_id(headers) {
        span.record("trace_id", trace_id.as_str());
    }
    span
}

/// Records the environment of the request's credential in its span.
pub(crate) fn record_env(env_id: &str) {
    Span::current().record("env_id", env_id);
}

/// Records the run a request made (a trigger) in its span.
pub(crate) fn record_run(run_id: &str) {
    Span::current().record("run_id", run_id);
}

/// The access log line of an answered request.
pub(super) fn line(
    method: &Method,
    route: Option<&MatchedPath>,
    response: &Response,
    took: Duration,
) {
    let route = route.map_or(crate::metrics::UNMATCHED_ROUTE, |r| r.as_str());
    let status = response.status().as_u16();
    let duration_ms = took.as_secs_f64() * 1000.0;
    let bytes = http_body::Body::size_hint(response.body()).exact();
    let request_id = response
        .headers()
        .get(super::request_id::HEADER)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if route == "/healthz" || route == "/readyz" {
        tracing::debug!(target: TARGET, %method, route, status, duration_ms, bytes, request_id, "request");
    } else {
        tracing::info!(target: TARGET, %method, route, status, duration_ms, bytes, request_id, "request");
    }
}

/// The segment of `path` where `template` has `{run_id}`.
fn run_id_in<'p>(template: &str, path: &'p str) -> Option<&'p str> {
    let at = template.split('/').position(|s| s == "{run_id}")?;
    path.split('/')
        .nth(at)
        .filter(|id| !id.is_empty() && id.len() <= MAX_RUN_ID)
}

/// The trace id of a well-formed W3C `traceparent` header, read as run triggers read it.
fn trace_id(headers: &HeaderMap) -> Option<String> {
    let value = headers.get("traceparent")?.to_str().ok()?;
    trigr_types::trace::TraceParent::parse(value).map(|p| p.trace_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_ids_come_from_the_run_id_segment() {
        assert_eq!(
            run_id_in("/api/v3/runs/{run_id}", "/api/v3/runs/run_abc"),
            Some("run_abc")
        );
        assert_eq!(
            run_id_in(
                "/api/v1/worker/runs/{run_id}/complete",
                "/api/v1/worker/runs/run_x/complete"
            ),
            Some("run_x")
        );
        assert_eq!(
            run_id_in("/api/v1/queues/{queue}", "/api/v1/queues/q"),
            None
        );
    }

    #[test]
    fn trace_ids_come_from_well_formed_traceparents() {
        let mut headers = HeaderMap::new();
        assert_eq!(trace_id(&headers), None);
        headers.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            trace_id(&headers).as_deref(),
            Some("4bf92f3577b34da6a3ce929d0e0e4736")
        );
        headers.insert("traceparent", "00-xyz-00f067aa0ba902b7-01".parse().unwrap());
        assert_eq!(trace_id(&headers), None);
    }
}
