//! `/api/v1/mollifier`: the mollifier of the key's environment (see `docs/mollifier.md`):
//! its state (`GET`), its override (`PUT {"mode", "threshold", "holdMs"}`, any of them), or
//! back to the organization's and the server's settings (`DELETE`). A secret key only;
//! organization-wide overrides are set with `trigr mollifier set --org`.

use axum::extract::State;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use trigr_engine::mollifier::overrides::Scope;
use trigr_engine::mollifier::Override;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::AppState;

async fn answer(state: &AppState, env_id: &str) -> ApiResult<axum::Json<Value>> {
    let engine = &state.engine;
    let status = engine
        .mollifier_status(Some(env_id))
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found("Environment not found"))?;
    let m = engine.mollifier();
    let settings = m.settings();
    let o = m.override_for(env_id);
    let limits = o.limits(settings.limits);
    Ok(axum::Json(json!({
        "envId": status.env_id,
        "globalMode": settings.mode.as_str(),
        "mode": o.mode.unwrap_or(settings.mode).as_str(),
        "threshold": limits.threshold,
        "holdMs": limits.hold_ms,
        "envOverride": status.env_override,
        "orgOverride": status.org_override,
        "depth": status.depth,
        "oldestAgeMs": status.oldest_age_ms,
        "tripped": status.tripped_until.is_some(),
        "trippedUntil": status.tripped_until,
    })))
}

/// `GET /api/v1/mollifier`.
#[utoipa::path(
    get,
    path = "/api/v1/mollifier",
    tag = "mollifier",
    operation_id = "retrieveMollifier",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The environment's mollifier: mode and limits in force, overrides, buffer depth and oldest entry, tripped or not"),
    ),
)]
pub async fn retrieve(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    answer(&state, &auth.env_id).await
}

/// `PUT /api/v1/mollifier` with `{"mode": "on"|"off"|"shadow", "threshold": n, "holdMs": n}`.
#[utoipa::path(
    put,
    path = "/api/v1/mollifier",
    tag = "mollifier",
    operation_id = "setMollifier",
    security(("secretKey" = [])),
    request_body(content = Object, description = "`mode` (on, off, shadow), `threshold` (triggers per second, at least 1), `holdMs` (0 to 86400000); absent fields follow the organization's override, else the server"),
    responses(
        (status = 200, description = "The environment's mollifier with its new override"),
        (status = 400, description = "An unknown field or a value out of range", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn set(
    State(state): State<AppState>,
    auth: Auth,
    Json(body): Json<Value>,
) -> ApiResult<impl IntoResponse> {
    let o: Override = serde_json::from_value(body)
        .map_err(|e| ApiError::bad_request(format!("Invalid mollifier override: {e}")))?;
    state
        .engine
        .set_mollifier_override(Scope::Environment(auth.env_id.clone()), Some(o))
        .await?;
    answer(&state, &auth.env_id).await
}

/// `DELETE /api/v1/mollifier`: the environment's override removed.
#[utoipa::path(
    delete,
    path = "/api/v1/mollifier",
    tag = "mollifier",
    operation_id = "resetMollifier",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The environment follows its organization's override, else the server, again"),
    ),
)]
pub async fn reset(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    state
        .engine
        .set_mollifier_override(Scope::Environment(auth.env_id.clone()), None)
        .await?;
    answer(&state, &auth.env_id).await
}
