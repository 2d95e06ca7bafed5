//! `POST /api/v1/runs/migrate`: move the runs of one version that hold no lease to another
//! version (`trigr_engine::migrate`).

use axum::extract::State;
use axum::response::IntoResponse;
use trigr_engine::migrate;
use trigr_types::wire::manage::{MigrationSkipped, RunsMigrated};
use trigr_types::wire::rest::MigrateRunsBody;

use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::AppState;

#[utoipa::path(
    post,
    path = "/api/v1/runs/migrate",
    tag = "runs",
    operation_id = "migrateRuns",
    security(("secretKey" = [])),
    request_body = MigrateRunsBody,
    responses(
        (status = 200, description = "The runs of `from` that were queued, delayed, waiting or queued again for a retry, moved to `to` (each only if `to` declares its task); `nextCursor` when more may follow", body = RunsMigrated),
        (status = 404, description = "No deployment has one of the versions", body = crate::openapi::schemas::ErrorBody),
        (status = 422, description = "The target version does not declare the task asked for", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn migrate(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<MigrateRunsBody>,
) -> ApiResult<impl IntoResponse> {
    let m = migrate::check(body)?;
    let (from, to) = (m.from.clone(), m.to.clone());
    let done = state.engine.migrate_runs(&auth.env_id, m).await?;
    Ok(axum::Json(RunsMigrated {
        from,
        to,
        moved: done.moved,
        skipped: done
            .skipped
            .into_iter()
            .map(|(task, runs)| MigrationSkipped { task, runs })
            .collect(),
        executing: done.executing,
        next_cursor: done.next.map(|n| n.to_string()),
    }))
}
