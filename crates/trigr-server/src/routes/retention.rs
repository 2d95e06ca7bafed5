//! `/api/v1/retention`: how long the environment keeps finished runs (see
//! `trigr_engine::retention`). Read, set (`PUT {"days": n}`, 0 keeping them for good), or
//! returned to the server's default (`DELETE`). A secret key only.

use axum::extract::State;
use axum::response::IntoResponse;
use trigr_engine::retention::{self, RetentionPeriod};
use trigr_types::wire::manage::Retention;
use trigr_types::wire::rest::RetentionBody;

use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::AppState;

fn answer(p: RetentionPeriod) -> axum::Json<Retention> {
    axum::Json(Retention {
        days: p.days,
        default_days: p.default_days,
        is_default: p.is_default,
    })
}

/// `GET /api/v1/retention`.
#[utoipa::path(
    get,
    path = "/api/v1/retention",
    tag = "retention",
    operation_id = "retrieveRetention",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "How long the environment keeps finished runs", body = Retention),
    ),
)]
pub async fn retrieve(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    Ok(answer(state.engine.retention(&auth.env_id).await?))
}

/// `PUT /api/v1/retention` with `{"days": n}`.
#[utoipa::path(
    put,
    path = "/api/v1/retention",
    tag = "retention",
    operation_id = "setRetention",
    security(("secretKey" = [])),
    request_body = RetentionBody,
    responses(
        (status = 200, description = "The environment's new retention period; finished runs older than it are deleted from now on", body = Retention),
        (status = 400, description = "days is not a whole number from 0 to 36500", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn set(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<RetentionBody>,
) -> ApiResult<impl IntoResponse> {
    let days = retention::check(b.days)?;
    Ok(answer(
        state.engine.set_retention(&auth.env_id, Some(days)).await?,
    ))
}

/// `DELETE /api/v1/retention`: back to the server's default.
#[utoipa::path(
    delete,
    path = "/api/v1/retention",
    tag = "retention",
    operation_id = "resetRetention",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The environment follows the server's default again", body = Retention),
    ),
)]
pub async fn reset(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    Ok(answer(
        state.engine.set_retention(&auth.env_id, None).await?,
    ))
}
