//! The scenarios. Each run of a scenario gets its own freshly started servers on a fresh store
//! (see [`BenchServers`]), registers a deployment of the `noop` task, measures, checks the
//! servers' view of the runs it made, and stops the servers. A scenario given several servers
//! spreads its triggers and its workers over them.

pub mod batch;
pub mod burst;
pub mod dashboard;
pub mod disk;
pub mod durable3;
pub mod e2e;
pub mod floor;
pub mod latency;
pub mod loopback;
pub mod plan;
pub mod resume;
pub mod scale;
pub mod sdk_e2e;
pub mod server_cost;
pub mod sse;
pub mod steps;
pub mod trigger;

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::ValueEnum;

use crate::api::Api;
use crate::report::Figure;
use crate::server::{BenchServers, Target};

/// What a scenario is told.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Runs created by each throughput scenario.
    pub runs: usize,
    /// How long the latency and resume scenarios sample at their steady rate.
    pub latency_duration: Duration,
    /// Longest a single scenario run may take, server start and checks included.
    pub timeout: Duration,
    /// The PostgreSQL database the PostgreSQL runs make their schemas in.
    pub database_url: String,
    /// Concurrent subscribers of the sse scenario.
    pub sse_subscribers: usize,
    /// Runs in the store of the dashboard scenario.
    pub dashboard_runs: usize,
    /// Queued runs in the store of the scale scenario.
    pub scale_runs: usize,
    /// Servers keep their Prometheus metrics.
    pub metrics: bool,
    /// The servers' mollifier switch (`--mollifier`).
    pub mollifier: trigr_engine::mollifier::Mode,
    /// The servers' drain rate, when not the default.
    pub mollifier_drain_rate: Option<u32>,
    /// The servers' admission limit, when not the default.
    pub mollifier_admit: Option<u32>,
    /// Triggers of the burst scenario's bursting environment.
    pub burst_triggers: usize,
    /// Redis of the burst scenario's PostgreSQL servers (`trigr server --redis-url`).
    pub redis_url: Option<String>,
}

/// The measured figures of one scenario run, plus a human sentence about it.
pub struct Outcome {
    pub figures: Vec<(&'static Figure, f64)>,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Scenario {
    /// One run per `POST /api/v1/tasks/noop/trigger`, 32 concurrent clients.
    Trigger,
    /// Two-phase batches of 500 runs, 4 concurrent senders.
    Batch,
    /// Batches in, protocol-level workers dequeue and complete, until every run is COMPLETED.
    E2e,
    /// Batches made first (not timed), then protocol-level workers dequeue and complete them.
    Process,
    /// The same durable writes per run straight to the database, no server: the floor.
    Floor,
    /// Batches in, the Rust SDK's worker executes a no-op task, until every run is COMPLETED.
    SdkE2e,
    /// The e2e workload against a `trigr server` process: its peak memory and CPU time.
    ServerCost,
    /// Trigger-to-dequeue latency at a steady 50 runs/s with one long-polling worker.
    Latency,
    /// Token-complete-to-dequeue latency of runs suspended on wait tokens, 50 tokens/s.
    Resume,
    /// Journaled steps per second: runs of 100 sequential steps, 64 runs at once.
    Steps,
    /// Runs of three journaled steps with the SDK worker: latency at 50/s, then flat out.
    Durable3,
    /// A store holding 1,000,000 queued runs: latency, list, processing and memory at depth.
    Scale,
    /// The disk's own fsync latency where the stores live: the floor under every commit.
    Disk,
    /// 1,000 SSE subscribers of one tag while runs carrying it are triggered and completed.
    Sse,
    /// The sse delay's floor: the same messages over plain loopback sockets, no server.
    Loopback,
    /// The dashboard's runs page, first and filtered, of an environment of 1,000,000 runs.
    Dashboard,
    /// One environment's burst of 100,000 triggers (32 clients) while another triggers at 50/s,
    /// with the mollifier on, then off.
    Burst,
    /// Workflow plans of 100 HTTP actions in 10 layers on the built-in plan task.
    Plan,
}

impl Scenario {
    pub const ALL: [Scenario; 18] = [
        Scenario::Trigger,
        Scenario::Batch,
        Scenario::E2e,
        Scenario::Process,
        Scenario::Floor,
        Scenario::SdkE2e,
        Scenario::ServerCost,
        Scenario::Latency,
        Scenario::Resume,
        Scenario::Steps,
        Scenario::Durable3,
        Scenario::Disk,
        Scenario::Sse,
        Scenario::Loopback,
        Scenario::Dashboard,
        Scenario::Burst,
        Scenario::Plan,
        Scenario::Scale,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Trigger => "trigger",
            Scenario::Batch => "batch",
            Scenario::E2e => "e2e",
            Scenario::Process => "process",
            Scenario::Floor => "floor",
            Scenario::SdkE2e => "sdk-e2e",
            Scenario::ServerCost => "server-cost",
            Scenario::Latency => "latency",
            Scenario::Resume => "resume",
            Scenario::Steps => "steps",
            Scenario::Durable3 => "durable3",
            Scenario::Scale => "scale",
            Scenario::Disk => "disk",
            Scenario::Sse => "sse",
            Scenario::Loopback => "loopback",
            Scenario::Dashboard => "dashboard",
            Scenario::Burst => "burst",
            Scenario::Plan => "plan",
        }
    }

    /// Whether the scenario measures the store, so that it is also run on PostgreSQL (the
    /// others measure the SQLite server only, or the disk).
    pub fn on_postgres(self) -> bool {
        self.runs_on(Target::Pg1)
    }

    /// Whether the scenario is run on `target`: every scenario on SQLite; those that measure
    /// the store on PostgreSQL with one server and with two; the burst, the scale and the
    /// floor (which has no server) with one.
    pub fn runs_on(self, target: Target) -> bool {
        let measures_store = matches!(
            self,
            Scenario::E2e
                | Scenario::Process
                | Scenario::SdkE2e
                | Scenario::Latency
                | Scenario::Resume
                | Scenario::Steps
                | Scenario::Durable3
        );
        let one_pool = matches!(self, Scenario::Burst | Scenario::Floor | Scenario::Scale);
        match target {
            Target::Sqlite => true,
            Target::Pg1 => measures_store || one_pool,
            Target::Pg2 => measures_store,
        }
    }

    /// Flags the servers of a run on `target` are started with beyond their usual settings:
    /// the burst on PostgreSQL gets the Redis buffer when the benchmark is given one, under a
    /// key prefix of its own (a run cut short leaves nothing a later run would drain).
    fn server_flags(self, target: Target, settings: &Settings) -> Vec<String> {
        static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        match (self, target, &settings.redis_url) {
            (Scenario::Burst, Target::Pg1, Some(url)) => {
                let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let prefix = format!("trigr_bench_{}_{n}", std::process::id());
                vec![
                    "--redis-url".into(),
                    url.clone(),
                    "--redis-prefix".into(),
                    prefix,
                ]
            }
            _ => Vec::new(),
        }
    }

    /// Starts fresh servers on `target`, runs the scenario once against them (within
    /// `settings.timeout`) and stops them. The figures are those of `target`. The burst does
    /// that twice, the second time with the mollifier off (each within the timeout).
    pub async fn run_once(self, target: Target, settings: &Settings) -> Result<Outcome> {
        let flags = self.server_flags(target, settings);
        let outcome = match self {
            Scenario::Burst => {
                let triggers = settings.burst_triggers;
                let smoothed = self
                    .on_servers(target, settings, &flags, |apis, _| async move {
                        burst::phase(&apis[0], triggers).await
                    })
                    .await?;
                let off = Settings {
                    mollifier: trigr_engine::mollifier::Mode::Off,
                    ..settings.clone()
                };
                let unsmoothed = self
                    .on_servers(target, &off, &flags, |apis, _| async move {
                        burst::phase(&apis[0], triggers).await
                    })
                    .await
                    .context("the burst with the mollifier off")?;
                burst::outcome(&smoothed, &unsmoothed, settings)
            }
            Scenario::Floor => {
                let floor = floor::run(target, settings);
                tokio::time::timeout(settings.timeout, floor)
                    .await
                    .map_err(|_| {
                        anyhow!(
                            "scenario floor did not finish within {} s",
                            settings.timeout.as_secs()
                        )
                    })??
            }
            _ => {
                self.on_servers(target, settings, &flags, |apis, pids| {
                    self.measure(apis, pids, settings)
                })
                .await?
            }
        };
        let mut figures = Vec::new();
        for (figure, value) in outcome.figures {
            let on_target = figure
                .on(target)
                .ok_or_else(|| anyhow!("{} has no figure on {}", figure.key, target.heading()))?;
            figures.push((on_target, value));
        }
        Ok(Outcome {
            figures,
            detail: outcome.detail,
        })
    }

    /// Runs the scenario (every one but the burst and the floor) against `apis` (their
    /// servers' process ids in `pids` when they run as processes).
    async fn measure(self, apis: Vec<Api>, pids: Vec<u32>, settings: &Settings) -> Result<Outcome> {
        match self {
            Scenario::Trigger => trigger::run(&apis[0], settings).await,
            Scenario::Batch => batch::run(&apis[0], settings).await,
            Scenario::E2e => e2e::run(&apis, settings).await,
            Scenario::Process => e2e::process(&apis, settings).await,
            Scenario::SdkE2e => sdk_e2e::run(&apis, settings).await,
            Scenario::ServerCost => server_cost::run(&apis, &pids, settings).await,
            Scenario::Latency => latency::run(&apis, settings).await,
            Scenario::Resume => resume::run(&apis, settings).await,
            Scenario::Steps => steps::run(&apis, settings).await,
            Scenario::Durable3 => durable3::run(&apis, settings).await,
            Scenario::Scale => scale::run(&apis, &pids, settings).await,
            Scenario::Disk => disk::run(settings).await,
            Scenario::Sse => sse::run(&apis[0..1], settings).await,
            Scenario::Loopback => loopback::run(settings).await,
            Scenario::Dashboard => dashboard::run(&apis[0], settings).await,
            Scenario::Plan => plan::run(&apis, settings).await,
            Scenario::Burst | Scenario::Floor => {
                bail!(
                    "the {} scenario runs without this (see run_once)",
                    self.name()
                )
            }
        }
    }

    /// Starts fresh servers on `target` (given `flags`; as processes for the server-cost and
    /// scale scenarios), runs `measure` against their clients and process ids within
    /// `settings.timeout`, and stops them.
    async fn on_servers<T, F, Fut>(
        self,
        target: Target,
        settings: &Settings,
        flags: &[String],
        measure: F,
    ) -> Result<T>
    where
        F: FnOnce(Vec<Api>, Vec<u32>) -> Fut,
        Fut: std::future::Future<Output = Result<T>>,
    {
        let as_processes = matches!(self, Scenario::ServerCost | Scenario::Scale);
        let servers = BenchServers::start(target, settings, flags, as_processes).await?;
        let measured = measure(servers.apis.clone(), servers.process_ids());
        let result = match tokio::time::timeout(settings.timeout, measured).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!(
                "scenario {} did not finish within {} s",
                self.name(),
                settings.timeout.as_secs()
            )),
        };
        servers.shutdown().await;
        result
    }
}
