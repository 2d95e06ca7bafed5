//! The scenarios. Each run of a scenario gets its own freshly started server on a fresh store,
//! registers a deployment of the `noop` task, measures, checks the server's view of the runs it
//! made, and stops the server.

pub mod batch;
pub mod disk;
pub mod e2e;
pub mod latency;
pub mod trigger;

use std::time::Duration;

use anyhow::{anyhow, Result};
use clap::ValueEnum;

use crate::report::Figure;
use crate::server::BenchServer;

/// What a scenario is told.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Runs created by each throughput scenario.
    pub runs: usize,
    /// How long the latency scenario triggers at its steady rate.
    pub latency_duration: Duration,
    /// Longest a single scenario run may take, server start and checks included.
    pub timeout: Duration,
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
    /// Trigger-to-dequeue latency at a steady 50 runs/s with one long-polling worker.
    Latency,
    /// The disk's own fsync latency where the stores live: the floor under every commit.
    Disk,
}

impl Scenario {
    pub const ALL: [Scenario; 5] = [
        Scenario::Trigger,
        Scenario::Batch,
        Scenario::E2e,
        Scenario::Latency,
        Scenario::Disk,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Scenario::Trigger => "trigger",
            Scenario::Batch => "batch",
            Scenario::E2e => "e2e",
            Scenario::Latency => "latency",
            Scenario::Disk => "disk",
        }
    }

    /// Starts a fresh server, runs the scenario once against it (within `settings.timeout`) and
    /// stops the server.
    pub async fn run_once(self, settings: &Settings) -> Result<Outcome> {
        let server = BenchServer::start().await?;
        let api = server.api.clone();
        let measured = async {
            match self {
                Scenario::Trigger => trigger::run(&api, settings).await,
                Scenario::Batch => batch::run(&api, settings).await,
                Scenario::E2e => e2e::run(&api, settings).await,
                Scenario::Latency => latency::run(&api, settings).await,
                Scenario::Disk => disk::run(settings).await,
            }
        };
        let result = match tokio::time::timeout(settings.timeout, measured).await {
            Ok(result) => result,
            Err(_) => Err(anyhow!(
                "scenario {} did not finish within {} s",
                self.name(),
                settings.timeout.as_secs()
            )),
        };
        server.shutdown().await;
        result
    }
}
