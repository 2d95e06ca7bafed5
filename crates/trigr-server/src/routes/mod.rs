//! The HTTP routes, one file per resource.
//!
//! Every route is registered through `utoipa_axum::routes!`, which takes a handler's path and
//! methods from its `#[utoipa::path]` entry: a route cannot be served without its entry in
//! the OpenAPI document (`crate::openapi`), and the document lists only served routes.

mod ai_tools;
pub(crate) mod batches;
mod cache;
mod cli_auth;
mod cli_worker;
mod deployments;
mod durable;
mod electric;
mod env_metadata;
mod env_vars;
pub(crate) mod events;
mod inputs;
mod logs;
mod migrate;
mod mollifier;
pub(crate) mod offset_page;
mod otlp;
pub(crate) mod output_streams;
mod packets;
mod plans;
mod queues;
mod realtime_ws;
mod region;
mod retention;
mod runs;
pub(crate) mod runs_list;
mod schedules;
mod spans;
mod testing;
mod tokens;
mod trigger;
mod worker;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::openapi::{self, schemas};
use crate::AppState;

/// `GET /healthz`: answers while the server serves, without auth (liveness: the process is
/// up, whatever its store does; see [`ready`]).
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "meta",
    operation_id = "health",
    responses((status = 200, description = "The server is serving", body = schemas::Health)),
)]
async fn health() -> axum::Json<schemas::Health> {
    axum::Json(schemas::Health {
        status: "ok".to_string(),
    })
}

/// How long `GET /readyz` waits for the store to answer.
const READY_PATIENCE: std::time::Duration = std::time::Duration::from_secs(5);

/// `GET /readyz`: without auth, `200 {"status": "ok"}` once the store answered a read, `503`
/// when it does not within [`READY_PATIENCE`] (readiness, for load balancers and the
/// container image's health check).
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "meta",
    operation_id = "ready",
    responses(
        (status = 200, description = "The server is serving and its store answers", body = schemas::Health),
        (status = 503, description = "The store does not answer", body = schemas::ErrorBody),
    ),
)]
async fn ready(
    axum::extract::State(state): axum::extract::State<AppState>,
) -> crate::error::ApiResult<axum::Json<schemas::Health>> {
    let read = state.engine.read(|tx| Ok(tx.has_environments()?));
    match tokio::time::timeout(READY_PATIENCE, read).await {
        Ok(Ok(_)) => Ok(axum::Json(schemas::Health {
            status: "ok".to_string(),
        })),
        Ok(Err(e)) => {
            tracing::warn!("readiness check: the store failed: {e}");
            Err(store_down())
        }
        Err(_) => Err(store_down()),
    }
}

fn store_down() -> crate::error::ApiError {
    crate::error::ApiError::new(
        axum::http::StatusCode::SERVICE_UNAVAILABLE,
        "The store does not answer",
    )
}

/// `POST /api/v1/auth/jwt/claims`: the claims the SDK puts in the public tokens it signs.
#[utoipa::path(
    post,
    path = "/api/v1/auth/jwt/claims",
    tag = "auth",
    operation_id = "publicTokenClaims",
    security(("secretKey" = [])),
    responses((status = 200, description = "The claims", body = schemas::JwtClaims)),
)]
async fn auth_claims(auth: crate::extract::Auth) -> axum::Json<schemas::JwtClaims> {
    axum::Json(schemas::JwtClaims {
        sub: auth.env_id,
        public: true,
    })
}

/// The management API: runs, batches, queues, schedules, deployments, tokens, packets,
/// retention, the cache, the environment's metadata store and AI tool definitions.
fn management() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(trigger::trigger))
        .routes(routes!(batches::create))
        .routes(routes!(batches::retrieve))
        .routes(routes!(batches::cancel))
        .routes(routes!(batches::statistics))
        .routes(routes!(runs::cancel_many))
        .routes(routes!(runs::retrieve))
        .routes(routes!(runs_list::list))
        .routes(routes!(runs::cancel))
        .routes(routes!(runs::replay))
        .routes(routes!(migrate::migrate))
        .routes(routes!(runs::reschedule))
        .routes(routes!(runs::add_tags))
        .routes(routes!(runs::get_metadata, runs::put_metadata))
        .routes(routes!(runs::reset_idempotency_key))
        .routes(routes!(logs::list))
        .routes(routes!(spans::list))
        .routes(routes!(queues::list, queues::create))
        .routes(routes!(queues::retrieve, queues::update, queues::delete))
        .routes(routes!(queues::pause))
        .routes(routes!(queues::override_limit))
        .routes(routes!(queues::reset_limit))
        .routes(routes!(schedules::list, schedules::create))
        .routes(routes!(
            schedules::retrieve,
            schedules::update,
            schedules::delete
        ))
        .routes(routes!(schedules::activate))
        .routes(routes!(schedules::deactivate))
        .routes(routes!(schedules::timezones))
        .routes(routes!(deployments::list))
        .routes(routes!(deployments::current))
        .routes(routes!(deployments::rollback))
        .routes(routes!(deployments::promote))
        .routes(routes!(tokens::list, tokens::create))
        .routes(routes!(tokens::retrieve))
        .routes(routes!(tokens::complete))
        .routes(callback_route())
        .routes(routes!(packets::presign_put))
        .routes(routes!(packets::presign_get))
        .routes(routes!(packets::upload, packets::download))
        .routes(routes!(
            retention::retrieve,
            retention::set,
            retention::reset
        ))
        .routes(routes!(region::retrieve, region::set, region::reset))
        .routes(routes!(
            mollifier::retrieve,
            mollifier::set,
            mollifier::reset
        ))
        .routes(routes!(cache::get, cache::set, cache::delete))
        .routes(routes!(cache::lookup))
        .routes(routes!(cache::set_many))
        .routes(routes!(cache::delete_many))
        .routes(routes!(
            env_metadata::get,
            env_metadata::set,
            env_metadata::delete
        ))
        .routes(routes!(env_metadata::lookup))
        .routes(routes!(env_vars::list, env_vars::create))
        .routes(routes!(
            env_vars::retrieve,
            env_vars::update,
            env_vars::update_post,
            env_vars::delete
        ))
        .routes(routes!(env_vars::import))
        .routes(routes!(ai_tools::list, ai_tools::create))
        .routes(routes!(ai_tools::export))
        .routes(routes!(
            ai_tools::retrieve,
            ai_tools::update,
            ai_tools::delete
        ))
        .routes(routes!(plans::plan_schema))
        .routes(routes!(plans::state_schema))
        .routes(routes!(plans::start))
        .routes(routes!(plans::retrieve))
        .routes(routes!(auth_claims))
        .routes(routes!(testing::clock))
        .routes(routes!(testing::mollifier_drain))
        .routes(routes!(testing::add_fault, testing::clear_faults))
}

/// A token's callback URL: `POST` only, any other method `405` with `Allow: POST`.
fn callback_route() -> utoipa_axum::router::UtoipaMethodRouter<AppState> {
    let (schemas, paths, method_router) = routes!(tokens::callback);
    (
        schemas,
        paths,
        method_router.fallback(tokens::callback_method),
    )
}

/// Realtime: server-sent events, WebSocket, Electric shape long-polls, input and output streams.
fn realtime() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(events::tagged))
        .routes(routes!(events::run))
        .routes(routes!(events::batch))
        .routes(routes!(realtime_ws::connect))
        .routes(routes!(inputs::send))
        .routes(routes!(electric::tagged))
        .routes(routes!(electric::run))
        .routes(routes!(electric::batch))
        // `{target}` names the run written to, or in a read the stream key.
        .routes(routes!(output_streams::read))
        .routes(routes!(
            output_streams::open,
            output_streams::write,
            output_streams::last_chunk
        ))
        .routes(routes!(output_streams::append))
}

/// The worker protocol (`docs/worker-protocol.md`).
fn worker() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(worker::register))
        .routes(routes!(worker::dequeue))
        .routes(routes!(worker::heartbeat))
        .routes(routes!(worker::complete))
        .routes(routes!(worker::complete_many))
        .routes(routes!(env_vars::values))
        .routes(routes!(durable::step))
        .routes(routes!(durable::wait))
        .routes(routes!(durable::poll))
        .routes(routes!(inputs::read))
        .routes(routes!(inputs::ack))
        .routes(routes!(logs::append))
        .routes(routes!(spans::append))
        // issue 16: traces
        .routes(routes!(otlp::traces))
        .routes(routes!(otlp::logs))
        .routes(routes!(otlp::metrics))
        .routes(routes!(otlp::env_traces))
        .routes(routes!(otlp::env_logs))
        .routes(routes!(otlp::env_metrics))
        .merge(cli_worker())
}

/// The official Trigger.dev CLI as a worker (`trigger.dev dev`, `docs/typescript.md`).
fn cli_worker() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cli_worker::register))
        .routes(routes!(cli_worker::config))
        .routes(routes!(cli_worker::dequeue))
        .routes(routes!(cli_worker::start))
        .routes(routes!(cli_worker::complete))
        .routes(routes!(cli_worker::heartbeat))
        .routes(routes!(cli_worker::latest))
        .routes(routes!(cli_worker::debug_log))
        .routes(routes!(cli_worker::disconnect))
        .routes(routes!(cli_worker::presence))
        .routes(routes!(cli_worker::wait_duration))
        .routes(routes!(cli_worker::wait_token))
        .routes(routes!(cli_worker::wait_input))
        .routes(routes!(cli_worker::socket::connect))
}

/// Every route whose body is read whole, within the server's body limit.
fn limited() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(openapi::base())
        .routes(routes!(health))
        .routes(routes!(ready))
        .routes(routes!(openapi::serve))
        .merge(management())
        .merge(realtime())
        .merge(worker())
        .merge(cli_login())
}

/// The official `trigger.dev` CLI's login calls, with a personal access token.
fn cli_login() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(cli_auth::whoami))
        .routes(routes!(cli_auth::platform_notifications))
        .routes(routes!(cli_auth::project_env))
        .routes(routes!(cli_auth::branches))
        .routes(routes!(cli_auth::env_vars))
        .routes(routes!(cli_auth::authorization_code))
        .routes(routes!(cli_auth::authorization_page))
        .routes(routes!(cli_auth::exchange))
}

/// Routes that read their body as a stream within their own limits (`batches::read_items`).
fn streamed() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(batches::items))
}

/// Every route with its OpenAPI entry.
#[cfg(test)]
pub(crate) fn api() -> OpenApiRouter<AppState> {
    limited().merge(streamed())
}

/// Every route within its body limit, the `404` fallback and the NUL check; publishes the
/// OpenAPI document of these routes (built once, here).
pub fn router(state: AppState) -> Router {
    let body_limit = state.engine.config().max_payload_bytes + 1024 * 1024;
    let (router, api) = limited()
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(streamed())
        .split_for_parts();
    openapi::publish(api);
    // issue 16: traces — a span per request, only when spans are exported.
    let router = match crate::telemetry::enabled() {
        true => router.route_layer(axum::middleware::from_fn(crate::telemetry::trace_request)),
        false => router,
    };
    router
        .fallback(|| async { crate::error::ApiError::not_found("No such endpoint") })
        .with_state(state)
}

#[cfg(test)]
mod tests {
    /// Routes go through `routes!` only, so that each has its OpenAPI entry; a plain
    /// `.route(…)` here would serve a path the document does not list.
    #[test]
    fn routes_are_registered_with_their_openapi_entries() {
        let source = include_str!("mod.rs");
        let code = source.split("#[cfg(test)]").next().unwrap();
        for plain in [".route(", ".route_service(", ".nest_service(", ".nest("] {
            assert!(
                !code.contains(plain),
                "mod.rs registers a route with {plain}"
            );
        }
    }
}
