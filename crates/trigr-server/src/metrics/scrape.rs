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
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::{Registry, Unit};
use trigr_engine::observe::{Gauges, MollifierGauges};
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
    register_mollifier(&mut registry, gauges.mollifier);
    registry
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DecisionLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvLabels {
    env_id: String,
}

/// A counter holding `n` (the engine keeps the running totals).
fn counter(n: u64) -> Counter {
    let c = Counter::default();
    c.inc_by(n);
    c
}

/// The mollifier's counters (this server's, since it started) and its buffers (read now).
fn register_mollifier(registry: &mut Registry, m: MollifierGauges) {
    let decisions = Family::<DecisionLabels, Counter>::default();
    for (outcome, reason, n) in m.decisions {
        decisions
            .get_or_create(&DecisionLabels { outcome, reason })
            .inc_by(n);
    }
    registry.register(
        "trigr_mollifier_decisions",
        "Gate decisions on the trigger path, by outcome (pass_through, shadow_log, mollify) \
         and reason",
        decisions,
    );
    for (name, help, n) in [
        (
            "trigr_mollifier_buffered",
            "Triggers accepted into the buffer",
            m.buffered,
        ),
        (
            "trigr_mollifier_drained",
            "Buffered triggers the drainer made runs of",
            m.drained,
        ),
        (
            "trigr_mollifier_failed",
            "Buffered triggers that could not become runs (FAILED)",
            m.failed,
        ),
        (
            "trigr_mollifier_expired",
            "Buffered triggers whose time to live ran out (FAILED)",
            m.expired,
        ),
        (
            "trigr_mollifier_buffer_fail_open",
            "Mollified triggers sent straight to the engine because the buffer failed",
            m.buffer_fail_open,
        ),
        (
            "trigr_mollifier_drain_env_errors",
            "Environments skipped for a drain tick after a failure",
            m.env_errors,
        ),
        (
            "trigr_mollifier_admission_waits",
            "Trigger requests of a tripped environment that waited for an admission slot",
            m.admission_waits,
        ),
    ] {
        registry.register(name, help, counter(n));
    }
    let Some(buffers) = m.buffers else {
        return;
    };
    let depth = Family::<EnvLabels, Gauge>::default();
    let age = Family::<EnvLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
    let tripped = Family::<EnvLabels, Gauge>::default();
    for (env_id, entries, oldest_ms) in buffers {
        let labels = EnvLabels { env_id };
        depth.get_or_create(&labels).set(entries);
        age.get_or_create(&labels).set(oldest_ms as f64 / 1000.0);
        tripped
            .get_or_create(&labels)
            .set(i64::from(m.tripped.contains(&labels.env_id)));
    }
    registry.register(
        "trigr_mollifier_buffer_depth",
        "Buffered triggers waiting, by environment (read at scrape, at most 1000 environments)",
        depth,
    );
    registry.register_with_unit(
        "trigr_mollifier_buffer_oldest_age",
        "Age of the oldest buffered trigger, by environment",
        Unit::Seconds,
        age,
    );
    registry.register(
        "trigr_mollifier_tripped",
        "1 when an environment with buffered triggers is tripped on this server",
        tripped,
    );
}
