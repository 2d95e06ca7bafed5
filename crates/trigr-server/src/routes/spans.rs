//! Run traces: a worker reports its attempt's spans (worker protocol §7.8), the management API
//! reads a run's trace back. Stored spans are also exported over OTLP when an exporter is
//! configured (`crate::telemetry`).

use axum::extract::{Path, State};
use axum::response::IntoResponse;

use trigr_store::Span;
use trigr_types::wire::spans::{RunTrace, SpanView, SpansAccepted, SpansBody};
use trigr_types::wire::Timestamp;

use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::{telemetry, AppState};

/// `POST /api/v1/worker/runs/{id}/spans`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/spans",
    tag = "worker",
    operation_id = "appendRunSpans",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = SpansBody,
    responses(
        (status = 200, description = "The spans are stored; those past the run's limit are dropped and counted", body = SpansAccepted),
        (status = 400, description = "A span is invalid (named by its index)", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn append(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(b): Json<SpansBody>,
) -> ApiResult<impl IntoResponse> {
    let spans = trigr_engine::spans::check(b.spans)?;
    let r = state
        .engine
        .append_spans(&auth.env_id, &run_id, &b.lease, spans)
        .await?;
    telemetry::export_run_spans(&r.stored);
    Ok(axum::Json(SpansAccepted {
        accepted: r.stored.len() as u64,
        dropped: r.dropped as u64,
    }))
}

/// `GET /api/v1/runs/{id}/spans`: the run's trace, spans in order of arrival.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/spans",
    tag = "runs",
    operation_id = "listRunSpans",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    responses(
        (status = 200, description = "The run's trace", body = RunTrace),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let t = state.engine.run_trace(&auth.env_id, &run_id).await?;
    Ok(axum::Json(RunTrace {
        trace_id: Some(t.trace_id),
        span_id: Some(t.span_id),
        parent_span_id: t.parent_span_id,
        data: t.spans.iter().map(view).collect(),
    }))
}

/// A stored span as the API shows it.
fn view(s: &Span) -> SpanView {
    SpanView {
        span_id: s.span_id.clone(),
        parent_span_id: s.parent_span_id.clone(),
        name: s.name.clone(),
        kind: s.kind.clone(),
        start_time_unix_nano: s.start_ns.to_string(),
        end_time_unix_nano: s.end_ns.to_string(),
        start_time: Timestamp(s.start_ns / 1_000_000),
        duration_ms: (s.end_ns - s.start_ns) as f64 / 1e6,
        status: s.status.clone(),
        message: s.message.clone(),
        attributes: s
            .attributes
            .as_deref()
            .and_then(|a| serde_json::from_str(a).ok()),
    }
}
