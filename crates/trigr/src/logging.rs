//! The process's log subscriber: `RUST_LOG` filters (default `info`), lines go to stderr as
//! text or as one JSON object a line ([`Format`]).

use std::io::IsTerminal;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines are written.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object a line: `timestamp`, `level`, `target`, the event's fields
    /// (`message`, …) at the top level, and the fields of the request's span (`run_id`,
    /// `env_id`, `trace_id`) under `span`.
    Json,
}

/// Installs the subscriber for the whole process, with the OpenTelemetry exporter's layer
/// when one is configured.
///
/// The log filter is the printing layer's own, so spans it does not print cost nothing
/// unless the exporter's layer wants them.
pub fn init(format: Format, otel: Option<&trigr_server::telemetry::Exporter>) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    let fmt_layer = match format {
        // Colours only on a terminal: a file, a pipe or the journal gets plain text.
        Format::Text => tracing_subscriber::fmt::layer()
            .with_ansi(std::io::stderr().is_terminal())
            .with_writer(std::io::stderr)
            .boxed(),
        Format::Json => tracing_subscriber::fmt::layer()
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
            .with_writer(std::io::stderr)
            .boxed(),
    };
    tracing_subscriber::registry()
        .with(otel.map(|o| o.layer()))
        .with(fmt_layer.with_filter(filter))
        .init();
}
