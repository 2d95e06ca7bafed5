//! `/api/v1/region`: the environment's default region, where its runs that name no region go
//! and what its workers that name none serve (see `trigr_engine::regions`). Read, set
//! (`PUT {"region": "…"}`), or returned to the server's default, `default` (`DELETE`). A
//! secret key only.

use axum::extract::State;
use axum::response::IntoResponse;
use trigr_engine::regions;
use trigr_engine::trigger::check_region;
use trigr_types::wire::manage::DefaultRegion;
use trigr_types::wire::rest::RegionBody;

use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::AppState;

fn answer(r: regions::DefaultRegion) -> axum::Json<DefaultRegion> {
    axum::Json(DefaultRegion {
        region: r.region,
        is_default: r.is_default,
    })
}

/// `GET /api/v1/region`.
#[utoipa::path(
    get,
    path = "/api/v1/region",
    tag = "regions",
    operation_id = "retrieveDefaultRegion",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The environment's default region", body = DefaultRegion),
    ),
)]
pub async fn retrieve(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    Ok(answer(state.engine.default_region(&auth.env_id).await?))
}

/// `PUT /api/v1/region` with `{"region": "…"}`.
#[utoipa::path(
    put,
    path = "/api/v1/region",
    tag = "regions",
    operation_id = "setDefaultRegion",
    security(("secretKey" = [])),
    request_body = RegionBody,
    responses(
        (status = 200, description = "The environment's new default region: runs triggered from now on without a region go there", body = DefaultRegion),
        (status = 400, description = "The region is not 1-64 letters, digits, '-', '_' or '.'", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn set(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<RegionBody>,
) -> ApiResult<impl IntoResponse> {
    let region = check_region(Some(b.region), "region")?;
    Ok(answer(
        state
            .engine
            .set_default_region(&auth.env_id, region)
            .await?,
    ))
}

/// `DELETE /api/v1/region`: back to the server's default.
#[utoipa::path(
    delete,
    path = "/api/v1/region",
    tag = "regions",
    operation_id = "resetDefaultRegion",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "The environment follows the server's default region again", body = DefaultRegion),
    ),
)]
pub async fn reset(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    Ok(answer(
        state.engine.set_default_region(&auth.env_id, None).await?,
    ))
}
