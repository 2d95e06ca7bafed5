//! OpenTelemetry export: the server's own spans (HTTP requests, trigger, dequeue, complete,
//! store writes — `tracing` spans bridged by `tracing-opentelemetry`) and the runs' spans as
//! they arrive, sent over OTLP/HTTP to the collector the standard environment variables name.
//!
//! [`Exporter::from_env`] is `None` unless `OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set (and `OTEL_SDK_DISABLED` is not `true`). Then
//! the binary adds [`Exporter::layer`] to its subscriber and keeps the exporter until it
//! exits: dropping it flushes what is queued. Spans go through a batch processor with a
//! bounded queue on its own thread; a full queue drops spans, so export never blocks a
//! request.
//!
//! A run's root span is exported once the run finishes ([`export_finished_runs`]), so a
//! collector has the parent of the attempt spans.
//!
//! Without an exporter nothing here runs on a request: the HTTP span layer is not installed
//! (`http.rs`), the engine's spans are at `DEBUG` and disabled at their call sites, and
//! [`export_run_spans`] returns at once.

mod http;
mod runs;

use std::sync::OnceLock;

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::{Level, Subscriber};
use tracing_subscriber::filter::Targets;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;

pub(crate) use http::trace_request;
pub use runs::{export_finished_runs, export_run_spans};

/// Spans waiting to be exported; more are dropped (and counted by the SDK's own log).
const MAX_QUEUE: usize = 8_192;
/// Spans in one export request.
const MAX_BATCH: usize = 512;

/// The configured tracer provider, set once by [`Exporter::from_env`].
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Whether spans are exported: an [`Exporter`] was made.
pub fn enabled() -> bool {
    PROVIDER.get().is_some()
}

/// The OTLP exporter of this process. Dropping it flushes the spans still queued and stops
/// the export thread.
pub struct Exporter {
    provider: SdkTracerProvider,
}

impl Exporter {
    /// The exporter the `OTEL_*` environment variables ask for, or `None` when they name no
    /// endpoint. `OTEL_EXPORTER_OTLP_PROTOCOL` is `http/protobuf` (the default) or
    /// `http/json`; `grpc` is refused. Endpoints, `OTEL_EXPORTER_OTLP_HEADERS` and the
    /// timeout are read by the OTLP exporter itself, `OTEL_SERVICE_NAME` (default `trigr`)
    /// and `OTEL_RESOURCE_ATTRIBUTES` by the resource.
    ///
    /// Call it before starting an async runtime's work on this thread: the HTTP client it
    /// builds is a blocking one, used from the export thread only.
    pub fn from_env() -> anyhow::Result<Option<Exporter>> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
        let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"));
        let endpoint =
            var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or(var("OTEL_EXPORTER_OTLP_ENDPOINT"));
        if disabled || endpoint.is_none() {
            return Ok(None);
        }
        let protocol = match var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
            .or(var("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .as_deref()
        {
            None | Some("http/protobuf") => Protocol::HttpBinary,
            Some("http/json") => Protocol::HttpJson,
            Some(other) => anyhow::bail!(
                "OTEL_EXPORTER_OTLP_PROTOCOL '{other}' is not supported by trigr: use http/protobuf or http/json"
            ),
        };
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(protocol)
            .build()
            .context("could not set up the OTLP exporter")?;
        let batch = BatchConfigBuilder::default()
            .with_max_queue_size(MAX_QUEUE)
            .with_max_export_batch_size(MAX_BATCH)
            .build();
        let processor = BatchSpanProcessor::builder(exporter)
            .with_batch_config(batch)
            .build();
        let mut resource = Resource::builder();
        if var("OTEL_SERVICE_NAME").is_none() {
            resource = resource.with_service_name("trigr");
        }
        let provider = SdkTracerProvider::builder()
            .with_span_processor(processor)
            .with_resource(resource.build())
            .build();
        PROVIDER
            .set(provider.clone())
            .map_err(|_| anyhow::anyhow!("the OTLP exporter was set up twice"))?;
        Ok(Some(Exporter { provider }))
    }

    /// The `tracing` layer that exports the server's spans: those of trigr's crates at
    /// `DEBUG` and above, whatever the log filter prints.
    pub fn layer<S>(&self) -> impl Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let targets = Targets::new()
            .with_target("trigr_server", Level::DEBUG)
            .with_target("trigr_engine", Level::DEBUG)
            .with_target("trigr_store", Level::DEBUG);
        tracing_opentelemetry::layer()
            .with_tracer(self.provider.tracer("trigr"))
            .with_filter(targets)
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        if let Err(e) = self.provider.shutdown() {
            eprintln!("warning: OTLP export did not flush at shutdown: {e}");
        }
    }
}
