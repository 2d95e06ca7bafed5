//! One layer around every route, [`edge`], which in this order:
//!
//! 1. refuses a request target or headers over the server's limits in JSON (`414`, `431`)
//!    before any route looks at it ([`head_size`]);
//! 2. refuses a NUL byte in the path or the query (`400`, [`crate::extract::nul_in_url`]);
//! 3. gives the request body an idle timeout: a body that stalls is cut with `408`
//!    ([`body_idle`]);
//! 4. makes every error answer `{"error": "<sentence>"}`, including the ones the framework
//!    writes in plain text: extractor rejections, `405`, `413` ([`json_errors`]);
//! 5. runs the request in its span, times it for the metrics (by route template and status
//!    class) and writes its access log line ([`access_log`], [`Observe`]);
//! 6. gives every answer an `x-request-id` ([`request_id`]), named in the span and the
//!    access log line;
//! 7. on a test server, answers with an injected failure when a [`faults`] rule says so.
//!
//! One layer, not four: each layer costs every request a boxed future and a clone of the
//! routes.

pub(crate) mod access_log;
mod body_idle;
pub(crate) mod faults;
mod head_size;
mod json_errors;
pub(crate) mod request_id;

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use tracing::Instrument;

use crate::config::Connections;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// What the edge records of each request.
#[derive(Clone, Default)]
pub(crate) struct Observe {
    /// Request durations go to these metrics.
    pub(crate) metrics: Option<Arc<Metrics>>,
    /// One access log line per request.
    pub(crate) access_log: bool,
    /// Injected failures (test servers only).
    pub(crate) faults: Option<Arc<faults::Faults>>,
}

#[derive(Clone)]
struct Edge {
    idle: body_idle::IdleLimits,
    observe: Observe,
}

/// Wraps every route of `router` in [`edge`].
pub(crate) fn apply(router: Router, limits: &Connections, observe: Observe) -> Router {
    let idle = body_idle::IdleLimits {
        body: limits.body_idle_timeout,
        stream_write: limits.stream_idle_timeout,
    };
    router.layer(from_fn_with_state(Edge { idle, observe }, edge))
}

/// One request in its span, timed and logged once answered (see [`Observe`]).
async fn edge(State(edge): State<Edge>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().clone();
    let route = request.extensions().get::<MatchedPath>().cloned();
    let request_id = request_id::of(request.headers());
    let span = access_log::span(
        route.as_ref(),
        request.uri(),
        request.headers(),
        &request_id,
    );
    let faults = edge.observe.faults.as_deref();
    let mut response = checked(&edge.idle, faults, request, next)
        .instrument(span.clone())
        .await;
    request_id::set(response.headers_mut(), &request_id);
    let took = started.elapsed();
    if let Some(metrics) = &edge.observe.metrics {
        let route = route.as_ref().map(MatchedPath::as_str);
        metrics.http(&method, route, response.status(), took.as_secs_f64());
    }
    if edge.observe.access_log {
        span.in_scope(|| access_log::line(&method, route.as_ref(), &response, took));
    }
    response
}

/// The checks and rewrites of this module around one request.
async fn checked(
    idle: &body_idle::IdleLimits,
    faults: Option<&faults::Faults>,
    request: Request,
    next: Next,
) -> Response {
    if let Err(e) = head_size::check(request.uri(), request.headers()) {
        return e.into_response();
    }
    if let Some(problem) = crate::extract::nul_in_url(request.uri()) {
        return ApiError::bad_request(problem).into_response();
    }
    let method = request.method().clone();
    let path = request.uri().path().to_string();
    let fault = faults.and_then(|f| f.take(&method, &path));
    if let Some(fault) = fault.as_ref().filter(|f| !f.after_route) {
        return fault.answer(&path);
    }
    let (request, watch) = body_idle::watch(request, idle);
    let mut response = next.run(request).await;
    if let Some(watch) = watch {
        response = watch.answer(response);
    }
    if let Some(fault) = fault {
        return fault.answer(&path);
    }
    json_errors::rewrite(response, &method).await
}
