//! `--otlp`: the servers export their spans (requests, engine commands, store writes, runs'
//! root spans) over OTLP/HTTP, as they would to a collector, to a receiver in this process
//! that reads each export request whole and answers `200`. It measures what export costs the
//! servers; what a real collector then does with the spans is not part of it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{Context, Result};
use axum::body::Bytes;
use axum::routing::post;
use axum::Router;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use trigr_server::telemetry::Exporter;

/// The receiver and the exporter pointed at it; [`Otlp::finish`] flushes and reports.
pub struct Otlp {
    exporter: Option<Exporter>,
    requests: Arc<AtomicU64>,
    bytes: Arc<AtomicU64>,
}

impl Otlp {
    /// Starts the receiver on a free local port, points the OTLP exporter at it and installs
    /// the exporter's layer as this process's subscriber.
    pub async fn start() -> Result<Otlp> {
        let (requests, bytes) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
        let (r, b) = (requests.clone(), bytes.clone());
        let receive = move |body: Bytes| {
            let (r, b) = (r.clone(), b.clone());
            async move {
                r.fetch_add(1, Ordering::Relaxed);
                b.fetch_add(body.len() as u64, Ordering::Relaxed);
                ""
            }
        };
        let app = Router::new().route("/v1/{signal}", post(receive));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move { axum::serve(listener, app).await });
        std::env::set_var("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{addr}"));
        // The exporter's HTTP client is a blocking one: made off the runtime's threads.
        let exporter = tokio::task::spawn_blocking(Exporter::from_env)
            .await?
            .context("setting up the OTLP exporter")?
            .context("the OTLP exporter was not set up")?;
        tracing_subscriber::registry()
            .with(exporter.layer())
            .try_init()
            .context("installing the OTLP exporter's layer")?;
        Ok(Otlp {
            exporter: Some(exporter),
            requests,
            bytes,
        })
    }

    /// Flushes the spans still queued and says what the receiver got.
    pub async fn finish(mut self) -> String {
        let exporter = self.exporter.take();
        let _ = tokio::task::spawn_blocking(move || drop(exporter)).await;
        format!(
            "OTLP receiver: {} export requests, {} bytes",
            self.requests.load(Ordering::Relaxed),
            self.bytes.load(Ordering::Relaxed)
        )
    }
}
