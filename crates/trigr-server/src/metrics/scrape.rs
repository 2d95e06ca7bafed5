//! `GET /metrics`: the in-memory metrics and the gauges read from the store at scrape time,
//! as OpenMetrics text (which Prometheus reads).
//!
//! Served on the metrics listener without credentials ([`listener_router`]: bind it to an
//! address only your scraper reaches), and on the API's listener only with
//! `Authorization: Bearer <metrics token>` ([`token_router`]).

use std::sync::Arc;

use axum::extract::State;
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use trigr_engine::observe::Gauges;
use trigr_engine::Engine;

use super::Metrics;
use crate::error::ApiError;

/// The content type of OpenMetrics text.
const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone)]
struct Scrape {
    metrics: Arc<Metrics>,
    engine: Engine,
    /// The bearer token a scrape must present; `None` on the metrics listener.
    token: Option<Arc<str>>,
}

/// The metrics listener's routes: `GET /metrics`, anything else `404`.
pub(crate) fn listener_router(metrics: Arc<Metrics>, engine: Engine) -> Router {
    Router::new()
        .route("/metrics", get(serve))
        .fallback(|| async {
            ApiError::not_found("No such endpoint: this listener serves /metrics")
        })
        .with_state(Scrape {
            metrics,
            engine,
            token: None,
        })
}

/// `GET /metrics` for the API's listener, behind `token`.
pub(crate) fn token_router(metrics: Arc<Metrics>, engine: Engine, token: String) -> Router {
    Router::new()
        .route("/metrics", get(serve))
        .with_state(Scrape {
            metrics,
            engine,
            token: Some(token.into()),
        })
}

async fn serve(State(scrape): State<Scrape>, headers: HeaderMap) -> Result<Response, ApiError> {
    if let Some(token) = &scrape.token {
        if !bearer_is(&headers, token) {
            return Err(ApiError::unauthorized(
                "Metrics need Authorization: Bearer with the server's metrics token",
            ));
        }
    }
    let gauges = scrape.engine.gauges().await?;
    let text = scrape.metrics.encode(gauges).map_err(|_| {
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "The metrics could not be written",
        )
    })?;
    Ok(([(header::CONTENT_TYPE, CONTENT_TYPE)], text).into_response())
}

/// Whether the request carries `Authorization: Bearer <token>`, compared in constant time.
fn bearer_is(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    env_id: String,
    queue: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct VersionLabels {
    env_id: String,
    version: String,
}

impl Metrics {
    /// The exposition: the metrics kept in memory, then `gauges`.
    fn encode(&self, gauges: Gauges) -> Result<String, std::fmt::Error> {
        let mut text = String::with_capacity(32 * 1024);
        encode_registry(&mut text, &self.registry)?;
        encode_registry(&mut text, &gauge_registry(gauges))?;
        encode_eof(&mut text)?;
        Ok(text)
    }
}

/// A registry of this scrape's gauges, made for it and dropped after it.
fn gauge_registry(gauges: Gauges) -> Registry {
    let mut registry = Registry::default();
    let depth = Family::<QueueLabels, Gauge>::default();
    let running = Family::<QueueLabels, Gauge>::default();
    for q in gauges.queues {
        let labels = QueueLabels {
            env_id: q.env_id,
            queue: q.name,
        };
        depth.get_or_create(&labels).set(q.queued);
        running.get_or_create(&labels).set(q.running);
    }
    registry.register(
        "trigr_queue_depth",
        "Runs queued, by environment and queue (read from the store at scrape)",
        depth,
    );
    registry.register(
        "trigr_queue_running",
        "Runs holding a slot (dequeued or executing), by environment and queue",
        running,
    );
    let workers = Family::<VersionLabels, Gauge>::default();
    for live in gauges.live_workers {
        let labels = VersionLabels {
            env_id: live.env_id,
            version: live.version,
        };
        workers.get_or_create(&labels).set(live.workers);
    }
    registry.register(
        "trigr_workers",
        "Workers that asked for runs within the last 30 s, by environment and version (told \
         apart by the worker id their dequeue names)",
        workers,
    );
    let subscribers = Gauge::<i64>::default();
    subscribers.set(gauges.realtime_subscribers as i64);
    registry.register(
        "trigr_realtime_subscribers",
        "Realtime subscribers (server-sent events, Electric shapes) connected to this server",
        subscribers,
    );
    registry
}
