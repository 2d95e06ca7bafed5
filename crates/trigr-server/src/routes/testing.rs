//! `POST /api/v1/test/clock`: only on a server started with `--test-clock`. Moving the clock
//! runs the timers once, sweeps what outlived its retention period and reclaims the expired
//! key-value entries, and prunes the run events older than theirs.

use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::json;
use trigr_engine::realtime;
use trigr_types::format_time;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::AppState;

use trigr_types::wire::rest::ClockBody;

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
