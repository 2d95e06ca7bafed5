//! Test routes, only on a server started with `--test-clock`:
//!
//! * `POST /api/v1/test/clock`: moving the clock runs the timers once, sweeps what outlived
//!   its retention period, reclaims the expired key-value entries and prunes the run events
//!   older than theirs;
//! * `POST /api/v1/test/mollifier/drain`: one drainer tick;
//! * `POST` and `DELETE /api/v1/test/faults`: injected failure answers
//!   ([`crate::middleware::faults`]), for testing how clients retry.

use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;
use trigr_engine::realtime;
use trigr_types::format_time;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::middleware::faults::{Fault, Faults, MAX_COUNT, MAX_HEADER, MAX_PATH};
use crate::AppState;
use axum::http::{HeaderValue, Method, StatusCode};

use trigr_types::wire::rest::{ClockBody, FaultBody};

#[utoipa::path(
    post,
    path = "/api/v1/test/clock",
    tag = "testing",
    operation_id = "moveTestClock",
    security(("secretKey" = [])),
    request_body = ClockBody,
    responses(
        (status = 200, description = "Test-only (`trigr server --test-clock`): the clock moved and the timers ran once", body = crate::openapi::schemas::ClockMoved),
        (status = 404, description = "The server was not started with --test-clock", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn clock(
    State(state): State<AppState>,
    _auth: Auth,
    Json(b): Json<ClockBody>,
) -> ApiResult<impl IntoResponse> {
    let clock = state.manual_clock.as_ref().ok_or_else(|| {
        ApiError::not_found(
            "No such endpoint: the test clock is only served with `trigr server --test-clock`",
        )
    })?;
    let change = match (b.advance_ms, b.set_ms) {
        (Some(ms), None) if ms >= 0 => Change::Advance(ms),
        (None, Some(at)) => Change::Set(at),
        _ => {
            return Err(ApiError::bad_request(
                "Send either advanceMs (≥ 0) or setMs",
            ))
        }
    };
    // The move and the pass that reports what it made due, with no background pass between.
    let (fired, swept, reclaimed) = state
        .timers
        .run_after_and_sweep(|| match change {
            Change::Advance(ms) => {
                clock.advance(ms);
            }
            Change::Set(at) => clock.set(at),
        })
        .await?;
    // Run events past retention go too, as the prune loop would do by now.
    let pruned = state
        .engine
        .prune_run_events(realtime::DEFAULT_RETENTION)
        .await?;
    state.engine.wake_all();
    Ok(axum::Json(json!({
        "now": format_time(state.engine.now()),
        "fired": fired,
        "retention": swept,
        "runEventsPruned": pruned,
        "kvReclaimed": reclaimed.entries,
    })))
}

/// How a test moves the clock.
enum Change {
    Advance(i64),
    Set(i64),
}

/// `POST /api/v1/test/mollifier/drain`: one drainer tick, answered with what it did (only
/// with `--test-clock`).
#[utoipa::path(
    post,
    path = "/api/v1/test/mollifier/drain",
    tag = "testing",
    operation_id = "testMollifierDrain",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "Test-only (`trigr server --test-clock`): one drainer tick ran"),
        (status = 404, description = "The server was not started with --test-clock", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn mollifier_drain(
    State(state): State<AppState>,
    _auth: Auth,
) -> ApiResult<impl IntoResponse> {
    if state.manual_clock.is_none() {
        return Err(ApiError::not_found(
            "No such endpoint: test routes are only served with `trigr server --test-clock`",
        ));
    }
    let t = state.drainer.run_once().await?;
    state.engine.wake_all();
    Ok(axum::Json(json!({
        "created": t.created,
        "existed": t.existed,
        "failed": t.failed,
        "expired": t.expired,
        "requeued": t.requeued,
        "envErrors": t.env_errors,
    })))
}

/// `POST /api/v1/test/faults`: answer the next requests to a path with an error status.
#[utoipa::path(
    post,
    path = "/api/v1/test/faults",
    tag = "testing",
    operation_id = "addTestFault",
    security(("secretKey" = [])),
    request_body = FaultBody,
    responses(
        (status = 200, description = "Test-only (`trigr server --test-clock`): the rule is held; `rules` counts the rules held"),
        (status = 400, description = "A field is out of range; `field` names it", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "The server was not started with --test-clock", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn add_fault(
    State(state): State<AppState>,
    _auth: Auth,
    Json(b): Json<FaultBody>,
) -> ApiResult<impl IntoResponse> {
    let faults = test_faults(&state)?;
    let rules = faults.add(fault_of(b)?).map_err(ApiError::bad_request)?;
    Ok(axum::Json(json!({ "rules": rules })))
}

/// `DELETE /api/v1/test/faults`: drop every injected failure rule.
#[utoipa::path(
    delete,
    path = "/api/v1/test/faults",
    tag = "testing",
    operation_id = "clearTestFaults",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "Test-only (`trigr server --test-clock`): every rule is gone; `deleted` counts them"),
        (status = 404, description = "The server was not started with --test-clock", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn clear_faults(
    State(state): State<AppState>,
    _auth: Auth,
) -> ApiResult<impl IntoResponse> {
    let deleted = test_faults(&state)?.clear();
    Ok(axum::Json(json!({ "deleted": deleted })))
}

fn test_faults(state: &AppState) -> ApiResult<&Faults> {
    state.faults.as_deref().ok_or_else(|| {
        ApiError::not_found(
            "No such endpoint: test routes are only served with `trigr server --test-clock`",
        )
    })
}

/// A rule from its body, each field checked.
fn fault_of(b: FaultBody) -> ApiResult<Fault> {
    let path_ok = b.path.starts_with('/') && b.path.len() <= MAX_PATH && !b.path.contains('\0');
    if !path_ok {
        return Err(field_error(
            "path",
            format!("path must start with / and have at most {MAX_PATH} characters"),
        ));
    }
    let method = b.method.as_deref().map(method_of).transpose()?;
    let status = StatusCode::from_u16(b.status)
        .ok()
        .filter(|s| s.is_client_error() || s.is_server_error())
        .ok_or_else(|| field_error("status", "status must be from 400 to 599"))?;
    let count = b.count.unwrap_or(1);
    if !(1..=MAX_COUNT).contains(&count) {
        return Err(field_error(
            "count",
            format!("count must be from 1 to {MAX_COUNT}"),
        ));
    }
    Ok(Fault {
        path: b.path,
        method,
        status,
        remaining: count,
        retry_after: header_value("retryAfter", b.retry_after)?,
        ratelimit_reset: header_value("ratelimitReset", b.ratelimit_reset)?,
        after_route: b.after_route,
    })
}

/// The method a rule answers.
fn method_of(name: &str) -> ApiResult<Method> {
    Ok(match name.to_ascii_uppercase().as_str() {
        "GET" => Method::GET,
        "POST" => Method::POST,
        "PUT" => Method::PUT,
        "PATCH" => Method::PATCH,
        "DELETE" => Method::DELETE,
        "HEAD" => Method::HEAD,
        _ => {
            return Err(field_error(
                "method",
                "method must be one of GET, POST, PUT, PATCH, DELETE, HEAD",
            ))
        }
    })
}

/// A header value of a rule: short visible ASCII.
fn header_value(field: &'static str, value: Option<String>) -> ApiResult<Option<HeaderValue>> {
    let Some(value) = value else {
        return Ok(None);
    };
    let visible = value.bytes().all(|b| b.is_ascii_graphic() || b == b' ');
    if value.is_empty() || value.len() > MAX_HEADER || !visible {
        return Err(field_error(
            field,
            format!("{field} must be 1-{MAX_HEADER} visible ASCII characters"),
        ));
    }
    HeaderValue::from_str(&value)
        .map(Some)
        .map_err(|_| field_error(field, format!("{field} cannot be sent as a header")))
}

/// A `400` naming the field it is about.
fn field_error(field: &str, message: impl Into<String>) -> ApiError {
    let mut e = ApiError::bad_request(message);
    e.extra = Some(json!({ "field": field }));
    e
}
