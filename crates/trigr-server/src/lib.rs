//! The trigr HTTP server: the management REST API (Trigger.dev-compatible paths and shapes),
//! the worker protocol and auth, over the engine and the store.
//!
//! [`start`] opens the store, creates the default organization on first start, starts the
//! timer loop and serves HTTP until [`Running::shutdown`]. Routes live in `routes/`, one file
//! per resource; [`error::ApiError`] maps every failure to a status and a sentence, and the
//! layers of `middleware/` make every other error answer JSON too. `serve/` accepts the
//! connections and guards them against slow or stalled clients ([`Connections`]).

mod config;
pub mod dashboard;
pub mod error;
mod extract;
mod jwt;
mod metrics;
mod middleware;
mod openapi;
mod origin;
#[doc(hidden)]
pub mod parsers;
mod routes;
mod serve;
pub mod telemetry;
mod views;

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use tokio::sync::watch;
use trigr_engine::bootstrap::{Bootstrap, SeedKeys};
use trigr_engine::clock::{Clock, ManualClock, SystemClock};
use trigr_engine::mollifier::drainer::Drainer;
use trigr_engine::mollifier::shared_trip::SharedTripCounter;
use trigr_engine::timers::Timers;
use trigr_engine::Engine;
use trigr_store::Store;

pub use config::{Config, Connections, EncryptionKey};

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub engine: Engine,
    keys: Arc<extract::KeyCache>,
    manual_clock: Option<Arc<ManualClock>>,
    timers: Arc<Timers>,
    drainer: Arc<Drainer>,
    /// Injected failures: only on a server with the test routes (`--test-clock`).
    faults: Option<Arc<middleware::faults::Faults>>,
    /// How often a realtime WebSocket is pinged.
    ws_ping: std::time::Duration,
    /// Realtime WebSockets that may be open at once (an upgraded connection no longer counts
    /// against the connection cap, so it takes one of these): as many as connections.
    ws_slots: Arc<tokio::sync::Semaphore>,
}

/// A started server.
pub struct Running {
    addr: SocketAddr,
    bootstrap: Bootstrap,
    store_location: String,
    stop: watch::Sender<bool>,
    serve: tokio::task::JoinHandle<()>,
    timers: tokio::task::JoinHandle<()>,
    drainer: Option<tokio::task::JoinHandle<()>>,
    engine: Engine,
    /// The metrics listener's address and its serving task.
    metrics: Option<(SocketAddr, tokio::task::JoinHandle<()>)>,
}

impl Running {
    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Secret keys generated on this start, as `(environment slug, key)`; empty when the store
    /// already had keys or every key was seeded.
    pub fn created_keys(&self) -> &[(String, String)] {
        &self.bootstrap.created_keys
    }

    /// Sentences for the operator about the keys given on the command line.
    pub fn key_notes(&self) -> &[String] {
        &self.bootstrap.notes
    }

    /// Where the store is: the SQLite file's absolute path, or the PostgreSQL URL without its
    /// password.
    pub fn store_location(&self) -> &str {
        &self.store_location
    }

    /// The metrics listener's address (`Config::metrics_listen`), when there is one.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics.as_ref().map(|(addr, _)| *addr)
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(&mut self) {
        let _ = (&mut self.serve).await;
    }

    /// Stops accepting requests, lets the ones in flight finish until the shutdown deadline
    /// ([`Connections::shutdown_timeout`]), closes every connection and closes the store:
    /// everything acknowledged is on disk.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        self.engine.close();
        let _ = self.serve.await;
        if let Some((_, metrics)) = self.metrics {
            let _ = metrics.await;
        }
        let _ = self.timers.await;
        if let Some(drainer) = self.drainer {
            let _ = drainer.await;
        }
        let engine = self.engine.clone();
        let _ = tokio::task::spawn_blocking(move || engine.close_store()).await;
    }
}

/// The store's URL: `--database-url`, or the SQLite file in the data directory, made absolute
/// so that the server says where its data is whatever directory it was started in.
pub fn database_url(database_url: Option<&str>, data_dir: &std::path::Path) -> String {
    match database_url {
        Some(url) => url.to_string(),
        None => {
            let file = data_dir.join("trigr.db");
            let file = std::path::absolute(&file).unwrap_or(file);
            format!("sqlite://{}", file.display())
        }
    }
}

/// A database URL fit to print: the password of a PostgreSQL URL is replaced by `***`.
pub fn redacted(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) if userinfo.contains(':') => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}/{path}")
        }
        _ => url.to_string(),
    }
}

/// Refuses mollifier settings that cannot work, before anything starts.
fn check_mollifier(config: &Config) -> anyhow::Result<()> {
    let m = &config.mollifier;
    m.check()
        .map_err(|e| anyhow::anyhow!("invalid mollifier settings: {e}"))?;
    anyhow::ensure!(
        !m.drain.enabled || m.drain.shutdown_timeout <= config.connections.shutdown_timeout,
        "invalid mollifier settings: the drainer's shutdown timeout ({} s) is longer than the \
         server's ({} s)",
        m.drain.shutdown_timeout.as_secs_f64(),
        config.connections.shutdown_timeout.as_secs_f64()
    );
    Ok(())
}

/// The cipher of environment variable values: `--encryption-key`, else the data directory's
/// key file (made on first start). A server of a shared (PostgreSQL) store on its own key file
/// is warned about: the other servers of the database must use the same key.
fn env_var_cipher(config: &Config, shared: bool) -> anyhow::Result<trigr_engine::env_vars::Cipher> {
    use trigr_engine::env_vars::{Cipher, KeySource};
    let (cipher, source) = Cipher::resolve(
        config.encryption_key.as_ref().map(|k| k.0.as_str()),
        &config.data_dir,
    )
    .map_err(|e| anyhow::anyhow!("invalid encryption key: {e}"))?;
    let file = config.data_dir.join(trigr_engine::env_vars::KEY_FILE);
    if source == KeySource::NewFile {
        tracing::info!(
            "made the encryption key of environment variables: {}",
            file.display()
        );
    }
    if shared && source != KeySource::Given {
        tracing::warn!(
            "environment variables are encrypted with the key in {}; every server of this \
             database needs the same key (pass it with --encryption-key)",
            file.display()
        );
    }
    Ok(cipher)
}

/// The mollifier on Redis: its buffer and its shared trip counts, on one connection.
async fn redis_mollifier(
    config: &Config,
    url: &str,
) -> anyhow::Result<(trigr_engine::mollifier::Mollifier, Arc<SharedTripCounter>)> {
    use trigr_engine::mollifier::{redis_buffer, shared_trip, Mollifier, RedisBuffer};
    let prefix = redis_buffer::key_prefix(&config.redis_prefix)
        .map_err(|e| anyhow::anyhow!("invalid --redis-prefix: {e}"))?;
    let conn = redis_buffer::connect(url)
        .await
        .with_context(|| format!("could not reach Redis at {}", redacted(url)))?;
    let buffer = Arc::new(RedisBuffer::new(conn.clone(), &prefix));
    let sync = Arc::new(shared_trip::RedisTripSync::new(conn, &prefix));
    let counter = Arc::new(SharedTripCounter::new(sync));
    let mollifier = Mollifier::new(config.mollifier.clone(), buffer).with_counter(counter.clone());
    Ok((mollifier, counter))
}

/// Opens the store and starts serving.
///
/// The listener is bound first: a server that cannot listen creates nothing, so the keys a
/// first start generates are always shown.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    if let Some(after) = config.dev_migrate_after {
        let min = trigr_engine::migrate::MIN_DEV_MIGRATE_AFTER;
        anyhow::ensure!(
            after >= min,
            "the dev migration delay must be at least {} s (the worker presence window), got {} s",
            min.as_secs(),
            after.as_secs_f64()
        );
    }
    check_mollifier(&config)?;
    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("could not listen on {}", config.listen))?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            tokio::net::TcpListener::bind(addr)
                .await
                .with_context(|| format!("could not listen for metrics on {addr}"))?,
        ),
        None => None,
    };
    let metrics =
        (metrics_listener.is_some() || config.metrics_token.is_some()).then(metrics::Metrics::new);
    let url = database_url(config.database_url.as_deref(), &config.data_dir);
    let store_location = redacted(url.strip_prefix("sqlite://").unwrap_or(&url));
    let commits = metrics
        .clone()
        .map(|m| m as Arc<dyn trigr_store::observe::CommitObserver>);
    let store = tokio::task::spawn_blocking(move || Store::open_observed(&url, commits)).await??;
    let manual_clock = config
        .test_clock
        .then(|| Arc::new(ManualClock::new(chrono::Utc::now().timestamp_millis())));
    let clock: Arc<dyn Clock> = match &manual_clock {
        Some(c) => c.clone(),
        None => Arc::new(SystemClock),
    };
    let env_var_cipher = env_var_cipher(&config, store.is_shared())?;
    let engine_config = trigr_engine::Config {
        lease_timeout: config.lease_timeout,
        max_payload_bytes: config.max_payload_bytes,
        poll_interval: config.poll_interval,
        realtime_buffer: config.realtime_buffer,
        retention_days: config.retention_days,
        dev_migrate_after: config.dev_migrate_after,
        mollifier: config.mollifier.clone(),
        env_var_cipher: Some(env_var_cipher),
        ..Default::default()
    };
    let mut engine = Engine::new(store.clone(), clock.clone(), engine_config);
    let shared_trips = match &config.redis_url {
        Some(url) => {
            let (mollifier, counter) = redis_mollifier(&config, url).await?;
            engine = engine.with_mollifier(mollifier);
            Some(counter)
        }
        // The servers of one PostgreSQL database share their trip counts through it.
        None if store.is_shared() => {
            use trigr_engine::mollifier::{shared_trip::StoreTripSync, Mollifier, StoreBuffer};
            let sync = Arc::new(StoreTripSync::new(store.clone()));
            let counter = Arc::new(SharedTripCounter::new(sync));
            let buffer = Arc::new(StoreBuffer::new(store.clone()));
            let mollifier =
                Mollifier::new(config.mollifier.clone(), buffer).with_counter(counter.clone());
            engine = engine.with_mollifier(mollifier);
            Some(counter)
        }
        None => None,
    };
    if let Some(m) = &metrics {
        engine = engine.with_observer(m.clone());
    }
    engine.listen_for_wakes();
    telemetry::export_finished_runs(&engine);
    let seeds = SeedKeys {
        dev: config.dev_secret_key.clone(),
        staging: config.staging_secret_key.clone(),
        prod: config.prod_secret_key.clone(),
    };
    let bootstrap = engine
        .bootstrap(seeds, i64::from(config.env_concurrency_limit))
        .await
        .context("could not prepare the store")?;
    engine
        .load_mollifier_overrides()
        .await
        .context("could not read the mollifier overrides")?;
    let timers = Arc::new(Timers::new(engine.clone(), config.timer_interval));
    let drainer = Arc::new(Drainer::new(engine.clone()));
    let faults = manual_clock
        .is_some()
        .then(|| Arc::new(middleware::faults::Faults::default()));
    let state = AppState {
        engine: engine.clone(),
        keys: Arc::new(extract::KeyCache::default()),
        manual_clock,
        timers: timers.clone(),
        drainer: drainer.clone(),
        faults: faults.clone(),
        ws_ping: config.realtime_ws_ping,
        ws_slots: Arc::new(tokio::sync::Semaphore::new(
            config.connections.max_connections,
        )),
    };
    let addr = listener.local_addr()?;
    let (stop, stop_rx) = watch::channel(false);
    let timers_task = tokio::spawn(timers.run(stop_rx.clone()));
    if let Some(counter) = shared_trips.filter(|_| !engine.mollifier().is_off()) {
        tokio::spawn(counter.run(clock, stop_rx.clone()));
    }
    let drainer_task = config
        .mollifier
        .drain
        .enabled
        .then(|| tokio::spawn(drainer.run(stop_rx.clone())));
    tokio::spawn(trigr_engine::realtime::prune_loop(
        engine.clone(),
        trigr_engine::realtime::DEFAULT_RETENTION,
        stop_rx.clone(),
    ));
    let mut app = routes::router(state.clone()).merge(dashboard::router(state));
    if let (Some(m), Some(token)) = (&metrics, &config.metrics_token) {
        app = app.merge(metrics::token_router(
            m.clone(),
            engine.clone(),
            token.clone(),
        ));
    }
    let observe = middleware::Observe {
        metrics: metrics.clone(),
        access_log: config.access_log,
        faults,
    };
    let app = middleware::apply(app, &config.connections, observe);
    let metrics_serving = match (metrics_listener, &metrics) {
        (Some(listener), Some(m)) => {
            let addr = listener.local_addr()?;
            let app = metrics::listener_router(m.clone(), engine.clone());
            let app = middleware::apply(app, &config.connections, middleware::Observe::default());
            let task = serve::serve(listener, app, config.connections, stop_rx.clone());
            Some((addr, tokio::spawn(task)))
        }
        _ => None,
    };
    let serve = tokio::spawn(serve::serve(listener, app, config.connections, stop_rx));
    Ok(Running {
        addr,
        bootstrap,
        store_location,
        stop,
        serve,
        timers: timers_task,
        drainer: drainer_task,
        engine,
        metrics: metrics_serving,
    })
}
