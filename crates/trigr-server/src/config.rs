//! Server configuration, filled from flags and `TRIGR_*` environment variables by the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything `trigr server` can be told.
#[derive(Clone, Debug)]
pub struct Config {
    /// Address to listen on; port 0 picks a free port (see [`crate::Running::addr`]).
    pub listen: SocketAddr,
    /// Directory for the embedded store when no `database_url` is given.
    pub data_dir: PathBuf,
    /// `sqlite://path/to/file.db`; `None` means `<data_dir>/trigr.db`.
    pub database_url: Option<String>,
    /// Known secret keys to seed instead of generating them (`tr_dev_…`, `tr_stg_…`, `tr_prod_…`).
    pub dev_secret_key: Option<String>,
    pub staging_secret_key: Option<String>,
    pub prod_secret_key: Option<String>,
    /// Largest accepted payload, in bytes (413 above it).
    pub max_payload_bytes: usize,
    /// How long a dequeued run's lease lasts without a heartbeat.
    pub lease_timeout: Duration,
    /// Manual clock moved by `POST /api/v1/test/clock`, for tests.
    pub test_clock: bool,
    /// Concurrency limit of each environment.
    pub env_concurrency_limit: u32,
    /// How often the timer loop looks for due timers.
    pub timer_interval: Duration,
    /// How often a long-polling dequeue looks again when nothing woke it.
    pub poll_interval: Duration,
    /// Live events a realtime subscriber may fall behind before it reads what it missed from
    /// the store.
    pub realtime_buffer: usize,
    /// How often a realtime WebSocket is pinged; a peer silent for three intervals is
    /// disconnected.
    pub realtime_ws_ping: Duration,
    /// How the server treats connections: timeouts, the connection cap, the shutdown deadline.
    pub connections: Connections,
    /// Days finished runs are kept in environments without a period of their own (0: for
    /// good).
    pub retention_days: u32,
    /// In development environments, how long a version may have no worker before its runs
    /// that hold no lease move to the newest version with workers that declares their task;
    /// `None` never moves them.
    pub dev_migrate_after: Option<Duration>,
    // issue 16: metrics and logs
    /// Address of the metrics listener (`GET /metrics` without credentials); `None`: no such
    /// listener.
    pub metrics_listen: Option<SocketAddr>,
    /// Bearer token that opens `GET /metrics` on the API's listener; `None`: not served there.
    pub metrics_token: Option<String>,
    /// One access log line (at info) per request.
    pub access_log: bool,
    /// Burst smoothing on the trigger path: switch, trip limits, buffer and drainer.
    pub mollifier: trigr_engine::mollifier::Settings,
    /// Redis for the mollifier's buffer and shared trip counts (`None`: the store's buffer,
    /// counts in this server's memory).
    pub redis_url: Option<String>,
    /// What every Redis key of this deployment starts with (servers sharing a buffer use the
    /// same).
    pub redis_prefix: String,
    /// The key that encrypts environment variable values: 32 bytes as hex or base64. `None`:
    /// the key file `encryption.key` of `data_dir`, made on first start (servers sharing a
    /// PostgreSQL database must be given the same key).
    pub encryption_key: Option<EncryptionKey>,
}

/// The text of the key that encrypts environment variable values; printed as `..` by
/// `Debug`, so a logged `Config` never shows it.
#[derive(Clone)]
pub struct EncryptionKey(pub String);

impl std::fmt::Debug for EncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EncryptionKey(..)")
    }
}

/// Limits on client connections, so slow or stalled clients cannot hold the server's sockets.
///
/// None of them cuts an answer being sent: a long-polling dequeue, a server-sent event
/// subscription or a slow download lasts as long as it needs.
#[derive(Clone, Copy, Debug)]
pub struct Connections {
    /// Longest time a client may take to send a request's head (request line and headers),
    /// counted from the connection's start, or from the first byte of a later request on a
    /// kept-alive connection. The connection is closed without an answer when it runs out.
    pub header_timeout: Duration,
    /// Longest pause between two pieces of a request body; a stalled body is cut with
    /// `408`. A large upload that keeps moving is never cut.
    pub body_idle_timeout: Duration,
    /// The same pause for output stream writes (`POST /realtime/v1/streams/{run}/{target}/{key}`),
    /// whose bodies a task writes over its whole run: they may pause this long between chunks.
    pub stream_idle_timeout: Duration,
    /// Longest time a kept-alive connection may wait for its next request.
    pub keep_alive_timeout: Duration,
    /// Most connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// On shutdown, how long requests in flight may take to finish before every connection
    /// is closed.
    pub shutdown_timeout: Duration,
}

impl Default for Connections {
    fn default() -> Self {
        Connections {
            header_timeout: Duration::from_secs(30),
            body_idle_timeout: Duration::from_secs(30),
            // The official SDK's stream writer gives up on a silent socket after 15 minutes
            // (and resumes from the last stored chunk); the server waits as long.
            stream_idle_timeout: Duration::from_secs(15 * 60),
            keep_alive_timeout: Duration::from_secs(75),
            max_connections: 10_000,
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            listen: "127.0.0.1:3030".parse().expect("static address"),
            data_dir: PathBuf::from(".trigr"),
            database_url: None,
            dev_secret_key: None,
            staging_secret_key: None,
            prod_secret_key: None,
            max_payload_bytes: 3 * 1024 * 1024,
            lease_timeout: Duration::from_secs(30),
            test_clock: false,
            env_concurrency_limit: 1000,
            timer_interval: Duration::from_millis(100),
            poll_interval: Duration::from_millis(250),
            realtime_buffer: trigr_engine::realtime::DEFAULT_BUFFER,
            realtime_ws_ping: Duration::from_secs(20),
            connections: Connections::default(),
            retention_days: trigr_engine::retention::DEFAULT_DAYS,
            dev_migrate_after: Some(trigr_engine::migrate::DEV_MIGRATE_AFTER),
            // issue 16: metrics and logs
            metrics_listen: None,
            metrics_token: None,
            access_log: true,
            mollifier: trigr_engine::mollifier::Settings::default(),
            redis_url: None,
            redis_prefix: "trigr".to_string(),
            encryption_key: None,
        }
    }
}
