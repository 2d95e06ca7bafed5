use axum::extract::{Path, State};
use axum::response::IntoResponse;
use trigr_types::wire::common::NoPagination;
use trigr_types::wire::manage::{Deployment, DeploymentList};

use crate::error::{ApiError, ApiResult};
use crate::extract::Auth;
use crate::{views, AppState};

/// `GET /api/v1/deployments`, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/deployments",
    tag = "deployments",
    operation_id = "listDeployments",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The newest 100 deployments, newest first", body = DeploymentList),
    ),
)]
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let list = state.engine.deployments(&auth.env_id, 100).await?;
    let data = list
        .deployments
        .iter()
        .map(|d| {
            let current = list.current.as_deref() == Some(d.version.as_str());
            views::deployment(d, current, &list.workers)
        })
        .collect();
    Ok(axum::Json(DeploymentList {
        data,
        pagination: NoPagination {},
    }))
}

/// `GET /api/v1/deployments/current`.
#[utoipa::path(
    get,
    path = "/api/v1/deployments/current",
    tag = "deployments",
    operation_id = "currentDeployment",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The current deployment", body = Deployment),
        (status = 404, description = "No deployment is current", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn current(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let list = state.engine.deployments(&auth.env_id, 1000).await?;
    let d = list
        .current
        .as_ref()
        .and_then(|v| list.deployments.iter().find(|d| &d.version == v))
        .ok_or_else(|| ApiError::not_found("No deployment is current in this environment"))?;
    Ok(axum::Json(views::deployment(d, true, &list.workers)))
}

/// `POST /api/v1/deployments/{version}/promote`.
#[utoipa::path(
    post,
    path = "/api/v1/deployments/{version}/promote",
    tag = "deployments",
    operation_id = "promoteDeployment",
    security(("secretKey" = [])),
    params(
        ("version" = String, Path, description = "The version (`YYYYMMDD.N`)"),
    ),
    responses(
        (status = 200, description = "The deployment, now current", body = Deployment),
        (status = 404, description = "No such version", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn promote(
    State(state): State<AppState>,
    auth: Auth,
    Path(version): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let d = state.engine.promote(&auth.env_id, &version).await?;
    let workers = state.engine.workers_seen(&auth.env_id).await?;
    Ok(axum::Json(views::deployment(&d, true, &workers)))
}

/// `POST /api/v1/deployments/rollback`: the newest deployment older than the current one
/// becomes current; answers it, with `rolledBackFrom` (the version that was current).
#[utoipa::path(
    post,
    path = "/api/v1/deployments/rollback",
    tag = "deployments",
    operation_id = "rollbackDeployment",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The deployment now current, with rolledBackFrom", body = Deployment),
        (status = 422, description = "No deployment is current, or none is older", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn rollback(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let (d, from) = state.engine.rollback(&auth.env_id).await?;
    let workers = state.engine.workers_seen(&auth.env_id).await?;
    let mut out = views::deployment(&d, true, &workers);
    out.rolled_back_from = Some(from);
    Ok(axum::Json(out))
}
