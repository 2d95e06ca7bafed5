//! Run logs: a worker appends (worker protocol §7.5), the management API reads them back.

use axum::extract::{Path, Query, State};
use axum::response::IntoResponse;

use trigr_types::wire::runs::{LogPage, LogPagination};
use trigr_types::wire::worker::{Accepted, LogsBody};

use crate::error::{ApiError, ApiResult};
use crate::extract::{whole_number, Auth, Json};
use crate::{views, AppState};

/// Lines on a page when `page[size]` is absent.
const DEFAULT_PAGE: usize = 100;
/// Most lines on a page (`page[size]`); more is a 400.
const MAX_PAGE: usize = 1000;

/// `POST /api/v1/worker/runs/{id}/logs`.
#[utoipa::path(
    post,
    path = "/api/v1/worker/runs/{run_id}/logs",
    tag = "worker",
    operation_id = "appendRunLogs",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
    ),
    request_body = LogsBody,
    responses(
        (status = 200, description = "The lines are stored", body = Accepted),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The lease is no longer the run's (code `lease_lost`)", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn append(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Json(b): Json<LogsBody>,
) -> ApiResult<impl IntoResponse> {
    let lines = trigr_engine::logs::check(b.entries)?;
    let n = state
        .engine
        .append_logs(&auth.env_id, &run_id, &b.lease, lines)
        .await?;
    Ok(axum::Json(Accepted { accepted: n as u64 }))
}

/// `GET /api/v1/runs/{id}/logs?page[size]=&page[after]=&waitMs=`: oldest first; with
/// `waitMs`, an empty page waits up to that long for a line while the run is not final.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/logs",
    tag = "runs",
    operation_id = "listRunLogs",
    security(("secretKey" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("page[size]" = Option<u32>, Query, minimum = 1, maximum = 1000, description = "Lines a page (100 when absent)"),
        ("page[after]" = Option<String>, Query, description = "The previous page's pagination.next or pagination.cursor"),
        ("waitMs" = Option<u32>, Query, minimum = 0, maximum = 30000, description = "How long an empty page waits for a line while the run is not final"),
    ),
    responses(
        (status = 200, description = "A page of log lines, oldest first", body = LogPage),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path(run_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> ApiResult<impl IntoResponse> {
    let mut size = DEFAULT_PAGE;
    let mut after = None;
    let mut wait_ms = 0u64;
    for (k, v) in params {
        match k.as_str() {
            "waitMs" => {
                let max = trigr_engine::logs_follow::MAX_WAIT.as_millis() as u64;
                wait_ms = whole_number(&k, &v, 0, max)?
            }
            "page[size]" => size = whole_number(&k, &v, 1, MAX_PAGE as u64)? as usize,
            "page[after]" if !v.is_empty() => {
                after = Some(v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "page[after] must be a cursor from pagination.next, got '{v}'"
                    ))
                })?)
            }
            _ => {}
        }
    }
    let (lines, more) = if wait_ms > 0 {
        let page = state
            .engine
            .follow_run_logs(
                &auth.env_id,
                &run_id,
                after,
                size,
                std::time::Duration::from_millis(wait_ms),
            )
            .await?;
        (page.lines, page.more)
    } else {
        state
            .engine
            .run_logs(&auth.env_id, &run_id, after, size)
            .await?
    };
    // A trigr addition: `cursor`, where the lines that come later start (`page[after]`).
    let cursor = lines.last().map(|last| last.seq.to_string());
    let pagination = LogPagination {
        next: cursor.clone().filter(|_| more),
        cursor,
    };
    Ok(axum::Json(LogPage {
        data: lines.iter().map(views::log_line).collect(),
        pagination,
    }))
}
