use axum::extract::{Path, State};
use axum::response::IntoResponse;
use serde_json::json;

use crate::error::{ApiError, ApiResult};
use crate::extract::Auth;
use crate::{views, AppState};

/// `GET /api/v1/deployments`, newest first.
pub async fn list(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let (deployments, current) = state.engine.deployments(&auth.env_id, 100).await?;
    let data: Vec<_> = deployments
        .iter()
        .map(|d| views::deployment(d, current.as_deref() == Some(d.version.as_str())))
        .collect();
    Ok(axum::Json(json!({ "data": data, "pagination": {} })))
}

/// `GET /api/v1/deployments/current`.
pub async fn current(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let (deployments, current) = state.engine.deployments(&auth.env_id, 1000).await?;
    let d = current
        .and_then(|v| deployments.into_iter().find(|d| d.version == v))
        .ok_or_else(|| ApiError::not_found("No deployment is current in this environment"))?;
    Ok(axum::Json(views::deployment(&d, true)))
}

/// `POST /api/v1/deployments/{version}/promote`.
pub async fn promote(
    State(state): State<AppState>,
    auth: Auth,
    Path(version): Path<String>,
) -> ApiResult<impl IntoResponse> {
    let d = state.engine.promote(&auth.env_id, &version).await?;
    Ok(axum::Json(views::deployment(&d, true)))
}
