//! The HTTP routes, one file per resource.

mod batches;
mod deployments;
mod durable;
mod electric;
mod events;
mod inputs;
mod logs;
mod offset_page;
mod output_streams;
mod packets;
mod queues;
mod runs;
mod runs_list;
mod schedules;
mod testing;
mod tokens;
mod trigger;
mod worker;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post, put};
use axum::Router;

use crate::AppState;

/// Largest NDJSON body of a batch items call.
const BATCH_ITEMS_LIMIT: usize = 256 * 1024 * 1024;

/// `POST /api/v1/auth/jwt/claims`: the claims the SDK puts in the public tokens it signs.
async fn auth_claims(auth: crate::extract::Auth) -> axum::Json<serde_json::Value> {
    axum::Json(serde_json::json!({ "sub": auth.env_id, "pub": true }))
}

pub fn router(state: AppState) -> Router {
    let body_limit = state.engine.config.max_payload_bytes + 1024 * 1024;
    let batch_items = Router::new()
        .route("/api/v3/batches/{batch_id}/items", post(batches::items))
        .layer(DefaultBodyLimit::max(BATCH_ITEMS_LIMIT));
    Router::new()
        .route(
            "/healthz",
            get(|| async { axum::Json(serde_json::json!({"status": "ok"})) }),
        )
        .route("/api/v1/tasks/{task_id}/trigger", post(trigger::trigger))
        .route("/api/v3/batches", post(batches::create))
        .route("/api/v2/batches/{batch_id}", get(batches::retrieve))
        .route("/api/v3/runs/{run_id}", get(runs::retrieve))
        .route("/api/v1/runs", get(runs_list::list))
        .route("/api/v1/runs/events", get(events::tagged))
        .route("/api/v1/runs/{run_id}/events", get(events::run))
        .route("/api/v1/batches/{batch_id}/events", get(events::batch))
        .route("/api/v2/runs/{run_id}/cancel", post(runs::cancel))
        .route("/api/v1/runs/{run_id}/replay", post(runs::replay))
        .route("/api/v1/runs/{run_id}/reschedule", post(runs::reschedule))
        .route("/api/v1/runs/{run_id}/tags", post(runs::add_tags))
        .route(
            "/api/v1/runs/{run_id}/metadata",
            get(runs::get_metadata).put(runs::put_metadata),
        )
        .route(
            "/api/v1/idempotencyKeys/{key}/reset",
            post(runs::reset_idempotency_key),
        )
        .route("/api/v1/queues", get(queues::list))
        .route("/api/v1/queues/{queue}", get(queues::retrieve))
        .route("/api/v1/queues/{queue}/pause", post(queues::pause))
        .route(
            "/api/v1/queues/{queue}/concurrency/override",
            post(queues::override_limit),
        )
        .route(
            "/api/v1/queues/{queue}/concurrency/reset",
            post(queues::reset_limit),
        )
        .route(
            "/api/v1/schedules",
            get(schedules::list).post(schedules::create),
        )
        .route(
            "/api/v1/schedules/{id}",
            get(schedules::retrieve)
                .put(schedules::update)
                .delete(schedules::delete),
        )
        .route("/api/v1/schedules/{id}/activate", post(schedules::activate))
        .route(
            "/api/v1/schedules/{id}/deactivate",
            post(schedules::deactivate),
        )
        .route("/api/v1/timezones", get(schedules::timezones))
        .route("/api/v1/deployments", get(deployments::list))
        .route("/api/v1/deployments/current", get(deployments::current))
        .route("/api/v1/deployments/rollback", post(deployments::rollback))
        .route(
            "/api/v1/deployments/{version}/promote",
            post(deployments::promote),
        )
        .route("/api/v1/worker/deployments", post(worker::register))
        .route("/api/v1/worker/dequeue", post(worker::dequeue))
        .route(
            "/api/v1/worker/runs/{run_id}/heartbeat",
            post(worker::heartbeat),
        )
        .route(
            "/api/v1/worker/runs/{run_id}/complete",
            post(worker::complete),
        )
        .route("/api/v1/worker/complete", post(worker::complete_many))
        .route("/api/v1/worker/runs/{run_id}/steps", post(durable::step))
        .route("/api/v1/worker/runs/{run_id}/waits", post(durable::wait))
        .route(
            "/api/v1/worker/runs/{run_id}/waits/{position}",
            get(durable::poll),
        )
        .route(
            "/api/v1/worker/runs/{run_id}/input/{stream_id}",
            get(inputs::read),
        )
        .route(
            "/api/v1/worker/runs/{run_id}/input/{stream_id}/ack",
            post(inputs::ack),
        )
        .route(
            "/realtime/v1/streams/{run_id}/input/{stream_id}",
            post(inputs::send),
        )
        // Run subscriptions of the official SDK (Electric shape long-polls).
        .route("/realtime/v1/runs", get(electric::tagged))
        .route("/realtime/v1/runs/{run_id}", get(electric::run))
        .route("/realtime/v1/batches/{batch_id}", get(electric::batch))
        // Output streams: `{target}` names the run written to, or in a read the stream key.
        .route(
            "/realtime/v1/streams/{run_id}/{target}",
            get(output_streams::read),
        )
        .route(
            "/realtime/v1/streams/{run_id}/{target}/{key}",
            put(output_streams::open)
                .post(output_streams::write)
                .head(output_streams::last_chunk),
        )
        .route(
            "/realtime/v1/streams/{run_id}/{target}/{key}/append",
            post(output_streams::append),
        )
        .route("/api/v1/worker/runs/{run_id}/logs", post(logs::append))
        .route("/api/v1/runs/{run_id}/logs", get(logs::list))
        .route(
            "/api/v1/waitpoints/tokens",
            get(tokens::list).post(tokens::create),
        )
        .route("/api/v1/waitpoints/tokens/{id}", get(tokens::retrieve))
        .route(
            "/api/v1/waitpoints/tokens/{id}/complete",
            post(tokens::complete),
        )
        .route(
            "/api/v1/waitpoints/tokens/{id}/callback/{hash}",
            post(tokens::callback).fallback(tokens::callback_method),
        )
        .route("/api/v2/packets/{*path}", put(packets::presign_put))
        .route("/api/v1/packets/{*path}", get(packets::presign_get))
        .route(
            "/api/v1/blobs/{token}",
            put(packets::upload).get(packets::download),
        )
        .route("/api/v1/auth/jwt/claims", post(auth_claims))
        .route("/api/v1/test/clock", post(testing::clock))
        .layer(DefaultBodyLimit::max(body_limit))
        .merge(batch_items)
        .fallback(|| async { crate::error::ApiError::not_found("No such endpoint") })
        .with_state(state)
}
