//! The `trigr` binary: `trigr server` runs the platform; the admin commands (`keys`,
//! `projects`, `backup`, `restore`) work on its store; the other commands talk to a server.

mod admin;
mod logging;

use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "trigr",
    version,
    about = "Durable background tasks: server and CLI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the trigr server.
    Server(ServerArgs),
    #[command(flatten)]
    Admin(admin::AdminCommand),
    #[command(flatten)]
    Client(trigr_cli::Command),
}

#[derive(Args)]
struct ServerArgs {
    /// Address to listen on.
    #[arg(long, env = "TRIGR_LISTEN", default_value = "127.0.0.1:3030")]
    listen: SocketAddr,
    #[command(flatten)]
    store: admin::StoreArgs,
    /// Secret key of the dev environment of the default project, used instead of a generated
    /// one on a new store and added to an existing one (its other keys stay valid).
    #[arg(long, env = "TRIGR_DEV_SECRET_KEY", hide_env_values = true)]
    dev_secret_key: Option<String>,
    /// Secret key of the staging environment to use instead of a generated one.
    #[arg(long, env = "TRIGR_STAGING_SECRET_KEY", hide_env_values = true)]
    staging_secret_key: Option<String>,
    /// Secret key of the prod environment to use instead of a generated one.
    #[arg(long, env = "TRIGR_PROD_SECRET_KEY", hide_env_values = true)]
    prod_secret_key: Option<String>,
    /// Largest accepted payload in bytes.
    #[arg(long, env = "TRIGR_MAX_PAYLOAD_BYTES", default_value_t = 3 * 1024 * 1024)]
    max_payload_bytes: usize,
    /// Seconds a dequeued run's lease lasts without a heartbeat.
    #[arg(long, env = "TRIGR_LEASE_TIMEOUT", default_value_t = 30)]
    lease_timeout: u64,
    /// Concurrency limit of each environment.
    #[arg(long, env = "TRIGR_ENV_CONCURRENCY_LIMIT", default_value_t = 1000)]
    env_concurrency_limit: u32,
    /// Live events a realtime subscriber may fall behind before it reads what it missed from
    /// the store instead (memory for speed: each one held is shared by every subscriber).
    #[arg(long, env = "TRIGR_REALTIME_BUFFER", default_value_t = 1024, value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    realtime_buffer: u32,
    /// Milliseconds between pings on a realtime WebSocket; a peer silent for three intervals
    /// is disconnected.
    #[arg(long, env = "TRIGR_REALTIME_WS_PING_MS", default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(10..=3_600_000))]
    realtime_ws_ping_ms: u64,
    /// Seconds a client may take to send a request's head (request line and headers); the
    /// connection is closed when it takes longer.
    #[arg(long, env = "TRIGR_HEADER_TIMEOUT", default_value_t = 30, value_parser = seconds())]
    header_timeout: u64,
    /// Seconds a request body may pause between two pieces before it is cut with 408 (an
    /// upload that keeps moving is never cut).
    #[arg(long, env = "TRIGR_BODY_TIMEOUT", default_value_t = 30, value_parser = seconds())]
    body_timeout: u64,
    /// Seconds an output stream write (a body a task writes while it runs) may pause between
    /// two chunks before it is cut with 408.
    #[arg(long, env = "TRIGR_STREAM_IDLE_TIMEOUT", default_value_t = 900, value_parser = seconds())]
    stream_idle_timeout: u64,
    /// Seconds a kept-alive connection may wait for its next request.
    #[arg(long, env = "TRIGR_KEEP_ALIVE_TIMEOUT", default_value_t = 75, value_parser = seconds())]
    keep_alive_timeout: u64,
    /// Most connections served at once; more wait to be accepted. Keep it below the process's
    /// open-file limit.
    #[arg(long, env = "TRIGR_MAX_CONNECTIONS", default_value_t = 10_000, value_parser = clap::value_parser!(u32).range(1..))]
    max_connections: u32,
    /// Seconds requests in flight may take to finish after SIGTERM before every connection is
    /// closed.
    #[arg(long, env = "TRIGR_SHUTDOWN_TIMEOUT", default_value_t = 30, value_parser = clap::value_parser!(u64).range(0..=86_400))]
    shutdown_timeout: u64,
    /// Days a finished run is kept (with its logs, journal and streams) in environments that
    /// set no period of their own (`trigr retention set`); 0 keeps finished runs for good.
    #[arg(long, env = "TRIGR_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u32).range(0..=36_500))]
    retention_days: u32,
    /// In dev environments, seconds a version may have no worker before its runs that are not
    /// executing move to the newest version with workers that declares their task (0: never).
    #[arg(long, env = "TRIGR_DEV_MIGRATE_AFTER", default_value_t = 60, value_parser = dev_migrate_after())]
    dev_migrate_after: u64,
    /// Use a manual clock moved by POST /api/v1/test/clock (for tests only).
    #[arg(long, hide = true)]
    test_clock: bool,
    /// Milliseconds a long-polling dequeue waits before looking again when nothing woke it
    /// (for tests only).
    #[arg(long, hide = true, default_value_t = 250)]
    poll_interval_ms: u64,
    // issue 16: metrics and logs
    /// Address of a listener that serves Prometheus metrics at /metrics without credentials
    /// (e.g. 127.0.0.1:9464); none by default.
    #[arg(long, env = "TRIGR_METRICS_LISTEN")]
    metrics_listen: Option<SocketAddr>,
    /// Bearer token that opens /metrics on the API's listener too; not served there without.
    #[arg(long, env = "TRIGR_METRICS_TOKEN", hide_env_values = true, value_parser = metrics_token())]
    metrics_token: Option<String>,
    /// How log lines are written to stderr: text, or one JSON object a line.
    #[arg(long, env = "TRIGR_LOG_FORMAT", value_enum, default_value_t = logging::Format::Text)]
    log_format: logging::Format,
    /// No access log line per HTTP request (TRIGR_ACCESS_LOG=false does the same).
    #[arg(long)]
    no_access_log: bool,
    /// Burst smoothing on the trigger path: on (buffer tripped environments), off (no gate at
    /// all), or shadow (count what would be buffered, buffer nothing).
    #[arg(long, env = "TRIGR_MOLLIFIER", default_value = "on", value_parser = ["on", "off", "shadow"])]
    mollifier: String,
    /// Triggers per second of one environment above which it trips.
    #[arg(long, env = "TRIGR_MOLLIFIER_THRESHOLD", default_value_t = 1000, value_parser = clap::value_parser!(u32).range(1..))]
    mollifier_threshold: u32,
    /// Milliseconds a tripped environment stays tripped after its last window over the threshold.
    #[arg(long, env = "TRIGR_MOLLIFIER_HOLD_MS", default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(0..=86_400_000))]
    mollifier_hold_ms: u64,
    /// Seconds a buffered trigger may wait before it becomes a FAILED run.
    #[arg(long, env = "TRIGR_MOLLIFIER_ENTRY_TTL", default_value_t = 86_400, value_parser = clap::value_parser!(u64).range(1..=2_592_000))]
    mollifier_entry_ttl: u64,
    /// Whether this server drains the buffer (any number of servers may).
    #[arg(long, env = "TRIGR_MOLLIFIER_DRAIN", default_value_t = true, action = clap::ArgAction::Set)]
    mollifier_drain: bool,
    /// Trigger requests of one tripped environment this server works on at once; the others
    /// wait their turn (0: no limit).
    #[arg(long, env = "TRIGR_MOLLIFIER_ADMIT", default_value_t = trigr_engine::mollifier::DEFAULT_ADMIT as u32, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    mollifier_admit: u32,
    /// Most runs per second this server creates from the buffer.
    #[arg(long, env = "TRIGR_MOLLIFIER_DRAIN_RATE", default_value_t = 20_000, value_parser = clap::value_parser!(u32).range(1..))]
    mollifier_drain_rate: u32,
    /// Most entries of one environment made runs in one write.
    #[arg(long, env = "TRIGR_MOLLIFIER_DRAIN_BATCH", default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=1000))]
    mollifier_drain_batch: u32,
    /// Milliseconds between the starts of two drain ticks.
    #[arg(long, env = "TRIGR_MOLLIFIER_DRAIN_INTERVAL_MS", default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    mollifier_drain_interval_ms: u64,
    /// Most environments drained at once.
    #[arg(long, env = "TRIGR_MOLLIFIER_DRAIN_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    mollifier_drain_concurrency: u32,
    /// Most organizations served per drain tick.
    #[arg(long, env = "TRIGR_MOLLIFIER_MAX_ORGS_PER_TICK", default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..))]
    mollifier_max_orgs_per_tick: u32,
    /// Seconds shutdown waits for the drain tick in flight, at most --shutdown-timeout
    /// [default: 10, or --shutdown-timeout when that is shorter].
    #[arg(long, env = "TRIGR_MOLLIFIER_DRAIN_SHUTDOWN_TIMEOUT", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    mollifier_drain_shutdown_timeout: Option<u64>,
    /// Redis (redis://host:port/db) for the mollifier's buffer and the trip counts shared by
    /// every server; without it the buffer is in the store and each server counts alone.
    /// Give Redis `appendonly yes` and `appendfsync always` for buffered triggers to be as
    /// durable as the store's.
    #[arg(long, env = "TRIGR_REDIS_URL", hide_env_values = true)]
    redis_url: Option<String>,
    /// The name every Redis key of this deployment starts with (servers that share one
    /// buffer use the same).
    #[arg(long, env = "TRIGR_REDIS_PREFIX", default_value = "trigr")]
    redis_prefix: String,
    /// The key that encrypts environment variable values at rest: 32 bytes as 64 hex digits
    /// or base64. Without it, the key file `encryption.key` of the data directory (made on
    /// first start, mode 0600). Servers sharing a PostgreSQL database need the same key.
    #[arg(long, env = "TRIGR_ENCRYPTION_KEY", hide_env_values = true)]
    encryption_key: Option<String>,
    /// Whether to write an access log line per HTTP request.
    #[arg(long, env = "TRIGR_ACCESS_LOG", hide = true, default_value_t = true, action = clap::ArgAction::Set)]
    access_log: bool,
}

/// How long shutdown waits for the mollifier's drain tick in flight, unless told (seconds).
const DRAIN_SHUTDOWN_DEFAULT_SECS: u64 = 10;

/// A metrics token: at least 16 visible ASCII characters, so that it is neither guessable
/// nor mangled in a header.
fn metrics_token() -> impl clap::builder::TypedValueParser<Value = String> {
    use clap::builder::TypedValueParser;
    clap::builder::StringValueParser::new().try_map(|t| {
        if t.len() >= 16 && t.bytes().all(|b| b.is_ascii_graphic()) {
            Ok(t)
        } else {
            Err("must be at least 16 visible ASCII characters".to_string())
        }
    })
}

/// A number of seconds, at least 1 and at most a day.
fn seconds() -> clap::builder::RangedU64ValueParser {
    clap::value_parser!(u64).range(1..=86_400)
}

/// 0 (never), or at least the 30 s of the worker presence window, at most a week.
fn dev_migrate_after() -> impl clap::builder::TypedValueParser<Value = u64> {
    use clap::builder::TypedValueParser;
    clap::value_parser!(u64).try_map(|n| match n {
        0 | 30..=604_800 => Ok(n),
        _ => Err(format!(
            "must be 0 (never) or 30 to 604800 seconds, got {n}"
        )),
    })
}

impl ServerArgs {
    fn connections(&self) -> trigr_server::Connections {
        trigr_server::Connections {
            header_timeout: Duration::from_secs(self.header_timeout),
            body_idle_timeout: Duration::from_secs(self.body_timeout),
            stream_idle_timeout: Duration::from_secs(self.stream_idle_timeout),
            keep_alive_timeout: Duration::from_secs(self.keep_alive_timeout),
            max_connections: self.max_connections as usize,
            shutdown_timeout: Duration::from_secs(self.shutdown_timeout),
        }
    }

    fn mollifier(&self) -> trigr_engine::mollifier::Settings {
        use trigr_engine::mollifier::{drainer::DrainSettings, Limits, Mode, Settings};
        Settings {
            mode: Mode::parse(&self.mollifier).unwrap_or(Mode::On),
            limits: Limits {
                threshold: self.mollifier_threshold,
                hold_ms: i64::try_from(self.mollifier_hold_ms).unwrap_or(i64::MAX),
            },
            entry_ttl: Duration::from_secs(self.mollifier_entry_ttl),
            drain: DrainSettings {
                enabled: self.mollifier_drain,
                rate_per_sec: self.mollifier_drain_rate,
                concurrency: self.mollifier_drain_concurrency as usize,
                batch: self.mollifier_drain_batch as usize,
                interval: Duration::from_millis(self.mollifier_drain_interval_ms),
                max_orgs_per_tick: self.mollifier_max_orgs_per_tick as usize,
                shutdown_timeout: Duration::from_secs(
                    self.mollifier_drain_shutdown_timeout
                        .unwrap_or(self.shutdown_timeout.min(DRAIN_SHUTDOWN_DEFAULT_SECS)),
                ),
                ..DrainSettings::default()
            },
            admit: self.mollifier_admit as usize,
        }
    }

    fn into_config(self) -> trigr_server::Config {
        let connections = self.connections();
        let mollifier = self.mollifier();
        trigr_server::Config {
            listen: self.listen,
            data_dir: self.store.data_dir,
            database_url: self.store.database_url,
            dev_secret_key: self.dev_secret_key,
            staging_secret_key: self.staging_secret_key,
            prod_secret_key: self.prod_secret_key,
            max_payload_bytes: self.max_payload_bytes,
            lease_timeout: Duration::from_secs(self.lease_timeout.max(1)),
            test_clock: self.test_clock,
            env_concurrency_limit: self.env_concurrency_limit,
            poll_interval: Duration::from_millis(self.poll_interval_ms.max(1)),
            realtime_buffer: self.realtime_buffer as usize,
            realtime_ws_ping: Duration::from_millis(self.realtime_ws_ping_ms),
            retention_days: self.retention_days,
            connections,
            dev_migrate_after: (self.dev_migrate_after > 0)
                .then(|| Duration::from_secs(self.dev_migrate_after)),
            // issue 16: metrics and logs
            metrics_listen: self.metrics_listen,
            metrics_token: self.metrics_token,
            access_log: self.access_log && !self.no_access_log,
            mollifier,
            redis_url: self.redis_url,
            redis_prefix: self.redis_prefix,
            encryption_key: self.encryption_key.map(trigr_server::EncryptionKey),
            ..Default::default()
        }
    }
}

async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let shutdown_timeout = Duration::from_secs(args.shutdown_timeout);
    let running = trigr_server::start(args.into_config()).await?;
    println!(
        "store: {} (schema version {})",
        running.store_location(),
        trigr_store::SCHEMA_VERSION
    );
    if !running.created_keys().is_empty() {
        println!("Created the default project. Secret keys (shown once, stored hashed):");
        for (slug, key) in running.created_keys() {
            println!("# {slug}\nTRIGGER_SECRET_KEY={key}");
        }
    }
    for note in running.key_notes() {
        println!("{note}");
    }
    if let Some(addr) = running.metrics_addr() {
        println!("trigr metrics on http://{addr}/metrics");
    }
    println!("trigr listening on http://{}", running.addr());
    shutdown_signal().await;
    eprintln!(
        "shutting down: finishing requests in flight (at most {} s)",
        shutdown_timeout.as_secs()
    );
    running.shutdown().await;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = ctrl_c.await;
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // issue 16: traces — the server exports spans over OTLP when OTEL_EXPORTER_OTLP_* say
    // where; dropping the exporter at exit flushes them.
    let otel = match &cli.command {
        Command::Server(_) => match trigr_server::telemetry::Exporter::from_env() {
            Ok(otel) => otel,
            Err(e) => {
                eprintln!("error: {e:#}");
                return ExitCode::FAILURE;
            }
        },
        _ => None,
    };
    logging::init(
        match &cli.command {
            Command::Server(args) => args.log_format,
            _ => logging::Format::Text,
        },
        otel.as_ref(),
    );
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: could not start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Server(args) => serve(args).await,
            Command::Admin(cmd) => admin::execute(cmd).await.map(|text| print!("{text}")),
            Command::Client(cmd) => trigr_cli::run(cmd).await,
        }
    });
    drop(runtime);
    drop(otel);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
