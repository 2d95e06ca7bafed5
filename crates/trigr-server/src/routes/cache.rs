//! `/api/v1/cache/…`: the environment's cache (`trigr_engine::kv`, space `cache`) — entries
//! with a time to live, read, written (or written only where absent: a lock), and deleted one
//! by one or up to 100 at a time. A secret key only.
//!
//! A key is 1 to 512 bytes in the path (`/api/v1/cache/entries/{key}`, percent-encoded, so
//! `/` is `%2F`) or in a body. A value is any JSON of at most 256 KiB (413 beyond); a time to
//! live is whole seconds from 1 to a year.

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use trigr_engine::kv::{self, KvSpace};
use trigr_types::wire::kv::{
    KvDeleted, KvEntries, KvEntry, KvKeysBody, KvSetBody, KvSetManyBody, KvWritten, KvWrittenMany,
};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Json};
use crate::AppState;

/// A stored entry as an answer shows it, with its value or without.
pub(crate) fn entry_view(e: kv::KvEntry, with_value: bool) -> ApiResult<KvEntry> {
    let value = match with_value {
        true => Some(serde_json::from_str(&e.value).map_err(|err| {
            tracing::error!("stored value of key '{}' is not JSON: {err}", e.key);
            ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "A stored value could not be read",
            )
        })?),
        false => None,
    };
    Ok(KvEntry {
        key: e.key,
        value,
        expires_at: e.expires_at.map(Into::into),
    })
}

/// `GET …/entries/{key}` of `space`: the entry or a 404.
pub(crate) async fn get_one(
    state: &AppState,
    env_id: &str,
    space: KvSpace,
    key: String,
) -> ApiResult<axum::Json<KvEntry>> {
    kv::check_key(&key)?;
    let found = state
        .engine
        .kv_get(env_id, space, vec![key.clone()])
        .await?
        .into_iter()
        .next()
        .ok_or_else(|| ApiError::not_found(format!("No entry with key '{key}'")))?;
    Ok(axum::Json(entry_view(found, true)?))
}

/// `POST …/lookup` of `space`: the live entries of the keys, in order.
pub(crate) async fn lookup_in(
    state: &AppState,
    env_id: &str,
    space: KvSpace,
    b: KvKeysBody,
) -> ApiResult<axum::Json<KvEntries>> {
    kv::check_keys(&b.keys)?;
    let with_values = b.values.unwrap_or(true);
    let found = state.engine.kv_get(env_id, space, b.keys).await?;
    let entries = found
        .into_iter()
        .map(|e| entry_view(e, with_values))
        .collect::<ApiResult<_>>()?;
    Ok(axum::Json(KvEntries { entries }))
}

/// `DELETE …/entries/{key}` of `space`.
pub(crate) async fn delete_one(
    state: &AppState,
    env_id: &str,
    space: KvSpace,
    key: String,
) -> ApiResult<axum::Json<KvDeleted>> {
    kv::check_key(&key)?;
    let deleted = state.engine.kv_delete(env_id, space, vec![key]).await?;
    Ok(axum::Json(KvDeleted { deleted }))
}

/// `PUT …/entries/{key}` of `space`, with `ifNotExists` only where `space` allows it.
pub(crate) async fn put_one(
    state: &AppState,
    env_id: &str,
    space: KvSpace,
    key: String,
    b: KvSetBody,
) -> ApiResult<axum::Json<KvWritten>> {
    let entry = kv::check_entry(space, &key, &b.value, b.ttl)?;
    let stored = match (b.if_not_exists.unwrap_or(false), space) {
        (true, KvSpace::Cache) => state.engine.kv_set_if_absent(env_id, space, entry).await?,
        (true, KvSpace::Metadata) => {
            return Err(ApiError::bad_request(
                "ifNotExists is for the cache; the metadata store sets unconditionally",
            ))
        }
        (false, _) => state
            .engine
            .kv_set(env_id, space, vec![entry])
            .await?
            .into_iter()
            .next(),
    };
    Ok(axum::Json(KvWritten {
        key,
        written: stored.is_some(),
        expires_at: stored.and_then(|s| s.expires_at).map(Into::into),
    }))
}

/// `GET /api/v1/cache/entries/{key}`.
#[utoipa::path(
    get,
    path = "/api/v1/cache/entries/{key}",
    tag = "cache",
    operation_id = "getCacheEntry",
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
    get_one(&state, &auth.env_id, KvSpace::Cache, key).await
}

/// `PUT /api/v1/cache/entries/{key}` with `{"value": …, "ttl": seconds, "ifNotExists"?: bool}`.
#[utoipa::path(
    put,
    path = "/api/v1/cache/entries/{key}",
    tag = "cache",
    operation_id = "setCacheEntry",
    security(("secretKey" = [])),
    params(("key" = String, Path, description = "The key (1 to 512 bytes), percent-encoded")),
    request_body = KvSetBody,
    responses(
        (status = 200, description = "Written; with ifNotExists, `written` is false when a live entry held the key (it is unchanged)", body = KvWritten),
        (status = 400, description = "A bad key or ttl (required, whole seconds from 1 to 31536000)", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The value is over 256 KiB of JSON", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn set(
    State(state): State<AppState>,
    auth: Auth,
    Path(key): Path<String>,
    Json(b): Json<KvSetBody>,
) -> ApiResult<impl IntoResponse> {
    put_one(&state, &auth.env_id, KvSpace::Cache, key, b).await
}

/// `DELETE /api/v1/cache/entries/{key}`.
#[utoipa::path(
    delete,
    path = "/api/v1/cache/entries/{key}",
    tag = "cache",
    operation_id = "deleteCacheEntry",
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
    delete_one(&state, &auth.env_id, KvSpace::Cache, key).await
}

/// `POST /api/v1/cache/lookup` with `{"keys": […], "values"?: bool}`.
#[utoipa::path(
    post,
    path = "/api/v1/cache/lookup",
    tag = "cache",
    operation_id = "lookupCacheEntries",
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
    lookup_in(&state, &auth.env_id, KvSpace::Cache, b).await
}

/// `POST /api/v1/cache/set` with `{"entries": [{"key", "value", "ttl"}, …]}`: all or nothing.
#[utoipa::path(
    post,
    path = "/api/v1/cache/set",
    tag = "cache",
    operation_id = "setCacheEntries",
    security(("secretKey" = [])),
    request_body = KvSetManyBody,
    responses(
        (status = 200, description = "Every entry was written, in one transaction", body = KvWrittenMany),
        (status = 400, description = "No entries, more than 100, a key named twice, a bad key or ttl: nothing was written", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "A value is over 256 KiB of JSON: nothing was written", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn set_many(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<KvSetManyBody>,
) -> ApiResult<impl IntoResponse> {
    kv::check_count(b.entries.len(), "entries")?;
    let keys: Vec<String> = b.entries.iter().map(|e| e.key.clone()).collect();
    kv::check_keys(&keys)?;
    let entries = b
        .entries
        .iter()
        .map(|e| kv::check_entry(KvSpace::Cache, &e.key, &e.value, Some(e.ttl)))
        .collect::<Result<Vec<_>, _>>()?;
    let written = state
        .engine
        .kv_set(&auth.env_id, KvSpace::Cache, entries)
        .await?;
    Ok(axum::Json(KvWrittenMany {
        written: written.len() as u64,
    }))
}

/// `POST /api/v1/cache/delete` with `{"keys": […]}`.
#[utoipa::path(
    post,
    path = "/api/v1/cache/delete",
    tag = "cache",
    operation_id = "deleteCacheEntries",
    security(("secretKey" = [])),
    request_body = KvKeysBody,
    responses(
        (status = 200, description = "How many of the keys had a live entry (all deleted in one transaction)", body = KvDeleted),
        (status = 400, description = "No keys, more than 100, one named twice, or a bad key", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn delete_many(
    State(state): State<AppState>,
    auth: Auth,
    Json(b): Json<KvKeysBody>,
) -> ApiResult<impl IntoResponse> {
    if b.values.is_some() {
        return Err(ApiError::bad_request(
            "values is for a lookup, not a delete",
        ));
    }
    kv::check_keys(&b.keys)?;
    let deleted = state
        .engine
        .kv_delete(&auth.env_id, KvSpace::Cache, b.keys)
        .await?;
    Ok(axum::Json(KvDeleted { deleted }))
}
