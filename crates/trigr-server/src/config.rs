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
        }
    }
}
