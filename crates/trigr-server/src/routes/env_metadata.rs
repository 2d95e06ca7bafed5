//! `/api/v1/env-metadata/…`: the environment's metadata store (`trigr_engine::kv`, space
//! `metadata`) — named JSON values that belong to the environment, kept until deleted unless
//! set with a time to live. Not a run's metadata (`/api/v1/runs/{id}/metadata`), which belongs
//! to one run and goes with it. A secret key only; keys and values have the cache's limits
//! (`super::cache`).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use trigr_engine::kv::KvSpace;
use trigr_types::wire::kv::{KvDeleted, KvEntries, KvEntry, KvKeysBody, KvSetBody, KvWritten};

use super::cache::{delete_one, get_one, lookup_in, put_one};
use crate::error::ApiResult;
use crate::extract::{Auth, Json};
use crate::AppState;

/// `GET /api/v1/env-metadata/entries/{key}`.
#[utoipa::path(
    get,
    path = "/api/v1/env-metadata/entries/{key}",
    tag = "envMetadata",
    operation_id = "getEnvMetadata",
    security(("secretKey" = [])),
    params(("key" = String, Path, description = "The key (1 to 512 bytes), percent-encoded")),
    responses(
        (status = 200, description = "The live entry", body = KvEntry),
        (status = 404, description = "No live entry has the key", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn get(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    get_one(&state, &auth.env_id, KvSpace::Metadata, key).await
}

/// `PUT /api/v1/env-metadata/entries/{key}` with `{"value": …, "ttl"?: seconds}`.
#[utoipa::path(
    put,
    path = "/api/v1/env-metadata/entries/{key}",
    tag = "envMetadata",
    operation_id = "setEnvMetadata",
    security(("secretKey" = [])),
    params(("key" = String, Path, description = "The key (1 to 512 bytes), percent-encoded")),
    request_body = KvSetBody,
    responses(
        (status = 200, description = "Written (replacing any entry with the key)", body = KvWritten),
        (status = 400, description = "A bad key or ttl (whole seconds from 1 to 31536000), or ifNotExists", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The value is over 256 KiB of JSON", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn set(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Json(b): Json<KvSetBody>,
) -> ApiResult<impl IntoResponse> {
    put_one(&state, &auth.env_id, KvSpace::Metadata, key, b).await
}

/// `DELETE /api/v1/env-metadata/entries/{key}`.
#[utoipa::path(
    delete,
    path = "/api/v1/env-metadata/entries/{key}",
    tag = "envMetadata",
    operation_id = "deleteEnvMetadata",
    security(("secretKey" = [])),
    params(("key" = String, Path, description = "The key (1 to 512 bytes), percent-encoded")),
    responses(
        (status = 200, description = "`deleted`: 1 when a live entry had the key, else 0", body = KvDeleted),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
) -> ApiResult<impl IntoResponse> {
    delete_one(&state, &auth.env_id, KvSpace::Metadata, key).await
}

/// `POST /api/v1/env-metadata/lookup` with `{"keys": […], "values"?: bool}`.
#[utoipa::path(
    post,
    path = "/api/v1/env-metadata/lookup",
    tag = "envMetadata",
    operation_id = "lookupEnvMetadata",
    security(("secretKey" = [])),
    request_body = KvKeysBody,
    responses(
        (status = 200, description = "The keys with a live entry, in the order asked, with their values unless `values` is false", body = KvEntries),
        (status = 400, description = "No keys, more than 100, one named twice, or a bad key", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn lookup(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<KvKeysBody>,
) -> ApiResult<impl IntoResponse> {
    lookup_in(&state, &auth.env_id, KvSpace::Metadata, b).await
}
