//! `/api/v1/projects/{ref}/envvars/{slug}/…`: Trigger.dev's environment variable routes
//! (`trigr_engine::env_vars`), with its wire shapes — list (a bare array, secret values
//! redacted), create, retrieve, update (`PUT`, or `POST` as upstream accepts), delete and
//! import. A secret key only, and only for its own project and environment: another project
//! reference or environment slug is a 400 with upstream's message, checked before a body is
//! read. `stg` and `staging` both name the staging environment.
//!
//! `GET /api/v1/worker/env-vars` gives a task's worker every value of its environment, secret
//! ones included (`ctx.env_var` in the Rust SDK).

use axum::extract::{Path, State};
use axum::response::IntoResponse;
use trigr_engine::env_vars::{self, Import, Target, Variable};
use trigr_types::wire::env_vars::{
    EnvVarCreateBody, EnvVarImportBody, EnvVarSuccess, EnvVarUpdateBody, EnvVarValue, EnvVarValues,
};

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, Unread};
use crate::AppState;

const SUCCESS: EnvVarSuccess = EnvVarSuccess { success: true };

fn view(v: Variable) -> EnvVarValue {
    EnvVarValue {
        name: v.name,
        value: v.value,
        is_secret: v.is_secret,
    }
}

/// The environment the path names, which must be the key's own.
async fn target(state: &AppState, auth: &Auth, project_ref: &str, slug: &str) -> ApiResult<Target> {
    Ok(state
        .engine
        .env_var_target(&auth.env_id, project_ref, slug)
        .await?)
}

/// `GET /api/v1/projects/{ref}/envvars/{slug}`.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}",
    tag = "envVars",
    operation_id = "listEnvVars",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference, `proj_…`: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
    ),
    responses(
        (status = 200, description = "Every variable by name, secret values as `<redacted>`", body = Vec<EnvVarValue>),
        (status = 400, description = "Another project or environment than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "A value was encrypted with another key than the server's", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn list(
    State(state): State<AppState>,
    auth: Auth,
    Path((project_ref, slug)): Path<(String, String)>,
) -> ApiResult<impl IntoResponse> {
    let target = target(&state, &auth, &project_ref, &slug).await?;
    let vars = state.engine.list_env_vars(&target).await?;
    Ok(axum::Json(vars.into_iter().map(view).collect::<Vec<_>>()))
}

/// `POST /api/v1/projects/{ref}/envvars/{slug}` with `{name, value, isSecret?}`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}",
    tag = "envVars",
    operation_id = "createEnvVar",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
    ),
    request_body = EnvVarCreateBody,
    responses(
        (status = 200, description = "Created", body = EnvVarSuccess),
        (status = 400, description = "A bad name or value, or another project or environment than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "A variable has the name, or the environment holds 500", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The value is over 64 KiB", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn create(
    State(state): State<AppState>,
    auth: Auth,
    Path((project_ref, slug)): Path<(String, String)>,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    let target = target(&state, &auth, &project_ref, &slug).await?;
    let b: EnvVarCreateBody = body.json().await?;
    env_vars::check_name(&b.name)?;
    env_vars::check_value(&b.name, &b.value)?;
    let secret = b.is_secret.unwrap_or(false);
    state
        .engine
        .create_env_var(&target, b.name, b.value, secret)
        .await?;
    Ok(axum::Json(SUCCESS))
}

/// `GET /api/v1/projects/{ref}/envvars/{slug}/{name}`.
#[utoipa::path(
    get,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}/{name}",
    tag = "envVars",
    operation_id = "retrieveEnvVar",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
        ("name" = String, Path, description = "The variable's name"),
    ),
    responses(
        (status = 200, description = "The variable, a secret value as `<redacted>`", body = EnvVarValue),
        (status = 400, description = "A bad name, or another project or environment than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No variable has the name", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The value was encrypted with another key than the server's", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn retrieve(
    State(state): State<AppState>,
    auth: Auth,
    Path((project_ref, slug, name)): Path<(String, String, String)>,
) -> ApiResult<impl IntoResponse> {
    let target = target(&state, &auth, &project_ref, &slug).await?;
    env_vars::check_name(&name)?;
    Ok(axum::Json(view(
        state.engine.env_var(&target, &name).await?,
    )))
}

/// `PUT /api/v1/projects/{ref}/envvars/{slug}/{name}` with `{value}`.
#[utoipa::path(
    put,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}/{name}",
    tag = "envVars",
    operation_id = "updateEnvVar",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
        ("name" = String, Path, description = "The variable's name"),
    ),
    request_body = EnvVarUpdateBody,
    responses(
        (status = 200, description = "Updated (its secrecy kept)", body = EnvVarSuccess),
        (status = 400, description = "A bad name or value, or another project or environment than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No variable has the name", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The value is over 64 KiB", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn update(
    State(state): State<AppState>,
    auth: Auth,
    Path((project_ref, slug, name)): Path<(String, String, String)>,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    let target = target(&state, &auth, &project_ref, &slug).await?;
    env_vars::check_name(&name)?;
    let b: EnvVarUpdateBody = body.json().await?;
    env_vars::check_value(&name, &b.value)?;
    state.engine.update_env_var(&target, name, b.value).await?;
    Ok(axum::Json(SUCCESS))
}

/// `POST /api/v1/projects/{ref}/envvars/{slug}/{name}`: the same as `PUT`, as upstream
/// accepts.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}/{name}",
    tag = "envVars",
    operation_id = "updateEnvVarPost",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
        ("name" = String, Path, description = "The variable's name"),
    ),
    request_body = EnvVarUpdateBody,
    responses(
        (status = 200, description = "Updated (its secrecy kept)", body = EnvVarSuccess),
        (status = 400, description = "A bad name or value, or another project or environment than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No variable has the name", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "The value is over 64 KiB", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn update_post(
    state: State<AppState>,
    auth: Auth,
    path: Path<(String, String, String)>,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    update(state, auth, path, body).await
}

/// `DELETE /api/v1/projects/{ref}/envvars/{slug}/{name}`.
#[utoipa::path(
    delete,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}/{name}",
    tag = "envVars",
    operation_id = "deleteEnvVar",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
        ("name" = String, Path, description = "The variable's name"),
    ),
    responses(
        (status = 200, description = "Deleted", body = EnvVarSuccess),
        (status = 400, description = "A bad name, or another project or environment than the key's", body = crate::openapi::schemas::ErrorBody),
        (status = 404, description = "No variable has the name", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn delete(
    State(state): State<AppState>,
    auth: Auth,
    Path((project_ref, slug, name)): Path<(String, String, String)>,
) -> ApiResult<impl IntoResponse> {
    let target = target(&state, &auth, &project_ref, &slug).await?;
    env_vars::check_name(&name)?;
    state.engine.delete_env_var(&target, name).await?;
    Ok(axum::Json(SUCCESS))
}

/// `POST /api/v1/projects/{ref}/envvars/{slug}/import` with `{variables, override?,
/// isSecret?}`.
#[utoipa::path(
    post,
    path = "/api/v1/projects/{projectRef}/envvars/{slug}/import",
    tag = "envVars",
    operation_id = "importEnvVars",
    security(("secretKey" = [])),
    params(
        ("projectRef" = String, Path, description = "The project's reference: the key's own"),
        ("slug" = String, Path, description = "`dev`, `stg` (or `staging`) or `prod`: the key's own environment"),
    ),
    request_body = EnvVarImportBody,
    responses(
        (status = 200, description = "Every variable written (existing ones kept unless `override`)", body = EnvVarSuccess),
        (status = 400, description = "No variables, a bad name or value, parent variables, or another project or environment than the key's; nothing written", body = crate::openapi::schemas::ErrorBody),
        (status = 409, description = "The environment would hold more than 500 variables; nothing written", body = crate::openapi::schemas::ErrorBody),
        (status = 413, description = "More than 500 variables, or a value over 64 KiB; nothing written", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn import(
    State(state): State<AppState>,
    auth: Auth,
    Path((project_ref, slug)): Path<(String, String)>,
    body: Unread,
) -> ApiResult<impl IntoResponse> {
    let target = target(&state, &auth, &project_ref, &slug).await?;
    let b: EnvVarImportBody = body.json().await?;
    if b.parent_variables.as_ref().is_some_and(|p| !p.is_empty()) {
        return Err(ApiError::bad_request(
            "parentVariables are for preview branches, which trigr does not have",
        ));
    }
    let variables: Vec<(String, String)> = b.variables.into_iter().collect();
    env_vars::check_import(&variables)?;
    let import = Import {
        variables,
        override_existing: b.override_existing.unwrap_or(false),
        is_secret: b.is_secret.unwrap_or(false),
    };
    state.engine.import_env_vars(&target, import).await?;
    Ok(axum::Json(SUCCESS))
}

/// `GET /api/v1/worker/env-vars`: every variable of the key's environment with its value.
#[utoipa::path(
    get,
    path = "/api/v1/worker/env-vars",
    tag = "worker",
    operation_id = "workerEnvVars",
    security(("secretKey" = [])),
    responses(
        (status = 200, description = "Every variable of the environment with its value, secret ones included", body = EnvVarValues),
        (status = 409, description = "A value was encrypted with another key than the server's", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn values(State(state): State<AppState>, auth: Auth) -> ApiResult<impl IntoResponse> {
    let variables = state.engine.env_var_values(&auth.env_id).await?;
    Ok(axum::Json(EnvVarValues { variables }))
}
