//! The servers under test: started in this process on a fresh store, with a known dev secret
//! key, and stopped (store flushed, store removed) after each scenario run.
//!
//! On SQLite that is one server on a new temporary data directory. On PostgreSQL it is one or
//! two servers on a new schema `trigr_bench_<pid>_<n>` of the benchmark's database, created
//! before and dropped (`CASCADE`) after the run; the servers find it through
//! `options=-c search_path=<schema>` appended to the database URL. Two servers are two
//! independent instances in this process (each with its own engine, timer loop, connection pool
//! and listening port) sharing the schema, as two nodes would.
//!
//! A scenario run given server flags (the burst scenario's `--redis-url`) runs its servers as
//! `trigr server` child processes instead, on the same kind of store (see [`crate::process`]).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};

use crate::api::Api;
use crate::process::ServerProcess;
use crate::scenarios::Settings;

/// Dev environment key seeded into every benchmark store (`tr_dev_` + 24 alphanumerics).
pub const KEY: &str = "tr_dev_benchkey0000000000000001";

/// Staging environment key seeded into every benchmark store: a second environment of the
/// same project, for scenarios that measure one environment while another is busy.
pub const STAGING_KEY: &str = "tr_stg_benchkey0000000000000002";

/// Where the servers of a scenario run keep their runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// One server on a temporary SQLite file.
    Sqlite,
    /// One server on a fresh PostgreSQL schema.
    Pg1,
    /// Two servers on the same fresh PostgreSQL schema.
    Pg2,
}

impl Target {
    /// Table column order.
    pub const ALL: [Target; 3] = [Target::Sqlite, Target::Pg1, Target::Pg2];

    /// Short name, used in progress lines.
    pub fn name(self) -> &'static str {
        match self {
            Target::Sqlite => "sqlite",
            Target::Pg1 => "pg",
            Target::Pg2 => "pg2",
        }
    }

    /// Column heading of the table.
    pub fn heading(self) -> &'static str {
        match self {
            Target::Sqlite => "sqlite",
            Target::Pg1 => "pg 1 server",
            Target::Pg2 => "pg 2 servers",
        }
    }

    /// Servers started for one scenario run.
    pub fn servers(self) -> usize {
        match self {
            Target::Sqlite | Target::Pg1 => 1,
            Target::Pg2 => 2,
        }
    }
}

/// The store of one scenario run, removed by [`BenchServers::shutdown`].
enum Store {
    Sqlite(tempfile::TempDir),
    Postgres(Schema),
}

/// Running servers on one store, and a client for each.
pub struct BenchServers {
    running: Vec<trigr_server::Running>,
    processes: Vec<ServerProcess>,
    /// One client per server, in start order.
    pub apis: Vec<Api>,
    store: Store,
}

impl BenchServers {
    /// Starts the servers of `target` on a new store (the PostgreSQL ones in a new schema of
    /// `database_url`), each on a free local port with the default (durable) store settings,
    /// one after the other, waiting until each answers `/healthz`.
    /// With `settings.metrics`, each server keeps its Prometheus metrics and serves them on a
    /// listener of its own. The mollifier is switched as `settings.mollifier` says. With
    /// `as_processes` (or any `server_flags`), each server is a `trigr server` process, given
    /// those flags too.
    pub async fn start(
        target: Target,
        settings: &Settings,
        server_flags: &[String],
        as_processes: bool,
    ) -> Result<BenchServers> {
        let database_url = settings.database_url.as_str();
        let (store, url, data_dir) = match target {
            Target::Sqlite => {
                let dir = tempfile::Builder::new()
                    .prefix("trigr-bench-")
                    .tempdir()
                    .context("creating the temporary data directory")?;
                let path = dir.path().to_path_buf();
                (Store::Sqlite(dir), None, path)
            }
            Target::Pg1 | Target::Pg2 => {
                let schema = Schema::create(database_url).await?;
                let url = schema.url();
                // Unused with a database URL, but the server wants one.
                (Store::Postgres(schema), Some(url), std::env::temp_dir())
            }
        };
        let mut servers = BenchServers {
            running: Vec::new(),
            processes: Vec::new(),
            apis: Vec::new(),
            store,
        };
        for n in 1..=target.servers() {
            let started = if as_processes || !server_flags.is_empty() {
                servers
                    .start_process(url.as_deref(), &data_dir, settings, server_flags)
                    .await
            } else {
                servers
                    .start_one(url.clone(), data_dir.clone(), settings)
                    .await
            };
            if let Err(e) = started {
                servers.shutdown().await;
                return Err(e.context(format!(
                    "starting server {n} of {} ({})",
                    target.servers(),
                    target.heading()
                )));
            }
        }
        Ok(servers)
    }

    async fn start_one(
        &mut self,
        database_url: Option<String>,
        data_dir: PathBuf,
        settings: &Settings,
    ) -> Result<()> {
        let mut mollifier = trigr_engine::mollifier::Settings::default();
        mollifier.mode = settings.mollifier;
        if let Some(rate) = settings.mollifier_drain_rate {
            mollifier.drain.rate_per_sec = rate;
        }
        if let Some(admit) = settings.mollifier_admit {
            mollifier.admit = admit as usize;
        }
        let config = trigr_server::Config {
            listen: "127.0.0.1:0".parse()?,
            data_dir,
            database_url,
            dev_secret_key: Some(KEY.into()),
            staging_secret_key: Some(STAGING_KEY.into()),
            mollifier,
            metrics_listen: settings
                .metrics
                .then(|| "127.0.0.1:0".parse())
                .transpose()?,
            ..Default::default()
        };
        let running = trigr_server::start(config)
            .await
            .context("starting the server")?;
        let api = Api::new(running.addr(), KEY)?;
        self.running.push(running);
        self.wait_healthy(api).await
    }

    async fn start_process(
        &mut self,
        database_url: Option<&str>,
        data_dir: &Path,
        settings: &Settings,
        flags: &[String],
    ) -> Result<()> {
        let process = ServerProcess::start(database_url, data_dir, settings, flags).await?;
        let api = Api::new(process.addr(), KEY)?;
        self.processes.push(process);
        self.wait_healthy(api).await
    }

    /// The process ids of the servers that run as processes, in start order.
    pub fn process_ids(&self) -> Vec<u32> {
        self.processes.iter().map(ServerProcess::pid).collect()
    }

    /// Adds `api` to the clients once its server answers `/healthz`.
    async fn wait_healthy(&mut self, api: Api) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !api.healthy().await {
            if Instant::now() > deadline {
                bail!("GET /healthz did not answer 200 within 10 s of start");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.apis.push(api);
        Ok(())
    }

    /// Stops the servers (an in-process one finishes the requests in flight and flushes the
    /// store; a process is killed) and removes the
    /// store: the data directory, or the schema with everything in it. A schema that cannot be
    /// dropped is reported on stderr.
    pub async fn shutdown(self) {
        for running in self.running {
            running.shutdown().await;
        }
        for process in self.processes {
            process.stop();
        }
        match self.store {
            Store::Sqlite(dir) => drop(dir),
            Store::Postgres(schema) => {
                let name = schema.name.clone();
                if let Err(e) = schema.drop().await {
                    eprintln!("warning: could not drop the benchmark schema {name}: {e:#}");
                }
            }
        }
    }
}

/// A schema of its own in the benchmark's PostgreSQL database.
pub struct Schema {
    base_url: String,
    pub name: String,
}

impl Schema {
    /// Creates `trigr_bench_<pid>_<n>`.
    pub async fn create(base_url: &str) -> Result<Schema> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let name = format!(
            "trigr_bench_{}_{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let sql = format!("CREATE SCHEMA {name}");
        execute(base_url, sql)
            .await
            .with_context(|| format!("creating schema {name}"))?;
        Ok(Schema {
            base_url: base_url.to_string(),
            name,
        })
    }

    /// The database URL whose connections find their tables in this schema.
    pub fn url(&self) -> String {
        let sep = if self.base_url.contains('?') {
            '&'
        } else {
            '?'
        };
        format!(
            "{}{sep}options=-c%20search_path%3D{}",
            self.base_url, self.name
        )
    }

    pub async fn drop(self) -> Result<()> {
        let sql = format!(
            "SET lock_timeout = '10s'; DROP SCHEMA IF EXISTS {} CASCADE",
            self.name
        );
        execute(&self.base_url, sql).await
    }
}

/// Checks that the PostgreSQL database at `url` answers; the error says why not.
pub async fn check_postgres(url: &str) -> Result<()> {
    execute(url, "SELECT 1".to_string()).await
}

/// The database a URL names, without its password: `PostgreSQL at user@host:port/db`.
pub fn describe_url(url: &str) -> String {
    let Ok(config) = url.parse::<postgres::Config>() else {
        return "the database URL".to_string();
    };
    let host = match config.get_hosts().first() {
        Some(postgres::config::Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(postgres::config::Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "PostgreSQL at {}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

/// Runs `sql` on a new connection to `url`, on a plain thread of its own: the synchronous
/// client drives a runtime of its own, which must not run on this program's async threads.
async fn execute(url: &str, sql: String) -> Result<()> {
    let url = url.to_string();
    let (tx, rx) = tokio::sync::oneshot::channel();
    std::thread::Builder::new()
        .name("trigr-bench-sql".into())
        .spawn(move || {
            let result = connect(&url).and_then(|mut client| {
                client
                    .batch_execute(&sql)
                    .map_err(|e| anyhow!("{}", describe(&e)))
            });
            let _ = tx.send(result);
        })
        .context("starting a thread for PostgreSQL")?;
    rx.await
        .map_err(|_| anyhow!("the PostgreSQL thread stopped without answering"))?
}

pub fn connect(url: &str) -> Result<postgres::Client> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|e| anyhow!("invalid database URL: {e}"))?;
    config.connect_timeout(Duration::from_secs(3));
    config
        .connect(postgres::NoTls)
        .map_err(|e| anyhow!("{}", describe(&e)))
}

/// A PostgreSQL error with its cause (the bare error often says only "error connecting").
pub fn describe(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(cause) => format!("{e}: {cause}"),
        None => e.to_string(),
    }
}
