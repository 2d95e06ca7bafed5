//! One layer around every route, [`edge`], which in this order:
//!
//! 1. refuses a request target or headers over the server's limits in JSON (`414`, `431`)
//!    before any route looks at it ([`head_size`]);
//! 2. refuses a NUL byte in the path or the query (`400`, [`crate::extract::nul_in_url`]);
//! 3. gives the request body an idle timeout: a body that stalls is cut with `408`
//!    ([`body_idle`]);
//! 4. makes every error answer `{"error": "<sentence>"}`, including the ones the framework
//!    writes in plain text: extractor rejections, `405`, `413` ([`json_errors`]).
//!
//! One layer, not four: each layer costs every request a boxed future and a clone of the
//! routes.

mod body_idle;
mod head_size;
mod json_errors;

use axum::extract::{Request, State};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;

use crate::config::Connections;
use crate::error::ApiError;

/// Wraps every route of `router` in [`edge`].
pub(crate) fn apply(router: Router, limits: &Connections) -> Router {
    let idle = body_idle::IdleLimits {
        body: limits.body_idle_timeout,
        stream_write: limits.stream_idle_timeout,
    };
    router.layer(from_fn_with_state(idle, edge))
}

/// The checks and rewrites of this module around one request.
async fn edge(State(idle): State<body_idle::IdleLimits>, request: Request, next: Next) -> Response {
    if let Err(e) = head_size::check(request.uri(), request.headers()) {
        return e.into_response();
    }
    if let Some(problem) = crate::extract::nul_in_url(request.uri()) {
        return ApiError::bad_request(problem).into_response();
    }
    let method = request.method().clone();
    let (request, watch) = body_idle::watch(request, &idle);
    let mut response = next.run(request).await;
    if let Some(watch) = watch {
        response = watch.answer(response);
    }
    json_errors::rewrite(response, &method).await
}
