//! `scale_…` (SQLite, and `pg_scale_…` on one PostgreSQL server): a store holding a deep queue.
//!
//! The server runs as a `trigr server` process (as in the server-cost scenario), so that its
//! memory is its own. The batch senders of the batch scenario put `--scale-runs` runs
//! (1,000,000; 20,000 with `--quick`) of `noop` in the development environment, no worker
//! running, and the mollifier's buffer is let drain (`GET /api/v1/mollifier` empty): the store
//! then holds that many queued runs. At that depth:
//!
//! * `scale_runs_list_p50_ms`: `GET /api/v1/runs?page[size]=25` of that environment, one
//!   request at a time, the median of [`LISTS`] (after [`LISTS_WARMUP`] not counted); each
//!   answer must list 25 runs.
//! * `scale_trigger_to_dequeue_p50_ms` / `_p99_ms`: the latency scenario, unchanged, in the
//!   staging environment of the same server and store (a run triggered at the back of a queue
//!   of a million would wait for the million; what is measured is what the depth of the store
//!   does to everyone else's runs). The goal: within 2× of the empty store's
//!   `trigger_to_dequeue_p50_ms`.
//! * `scale_process_runs_per_s`: the 4 workers of the e2e scenario take `--runs` runs off the
//!   deep queue (`maxRuns` 200, batched completes); runs divided by the time from their start
//!   to the answer that completed the `--runs`th. No run may be handed out twice.
//! * `scale_server_rss_mb`: the server process's peak resident memory (`VmHWM`) over all of
//!   the above, filling included (goal: at most 500 MB).

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Result};
use tokio::task::JoinSet;

use super::batch::{send_batches, SentBatch};
use super::e2e::{self, Progress};
use super::{latency, server_cost, Outcome, Settings};
use crate::api::{Api, TASK};
use crate::report::{
    SCALE_PROCESS_RUNS_PER_S, SCALE_RUNS_LIST_P50_MS, SCALE_SERVER_RSS_MB,
    SCALE_TRIGGER_TO_DEQUEUE_P50_MS, SCALE_TRIGGER_TO_DEQUEUE_P99_MS, TRIGGER_TO_DEQUEUE_P50_MS,
    TRIGGER_TO_DEQUEUE_P99_MS,
};
use crate::server::STAGING_KEY;
use crate::stats::{fmt_num, median, millis, per_second};

/// Measured list requests.
const LISTS: usize = 30;
/// List requests sent first and not counted.
const LISTS_WARMUP: usize = 5;
/// The list asked for.
const LIST_QUERY: &str = "page%5Bsize%5D=25";

pub async fn run(apis: &[Api], pids: &[u32], settings: &Settings) -> Result<Outcome> {
    let ([api], [pid]) = (apis, pids) else {
        bail!("the scale scenario wants one server process, got {pids:?}");
    };
    let version = api.register_deployment(&[TASK]).await?;
    let depth = settings.scale_runs;
    let filling = Instant::now();
    send_batches(
        std::slice::from_ref(api),
        depth,
        Arc::new(AtomicUsize::new(0)),
    )
    .await?;
    e2e::wait_until_drained(api).await?;
    let filled = filling.elapsed();

    let list_ms = list_at_depth(api).await?;
    let staging = api.with_key(STAGING_KEY)?;
    let quiet = latency::run(std::slice::from_ref(&staging), settings).await?;
    let latency_of = |figure| {
        quiet
            .figures
            .iter()
            .find(|(f, _)| *f == figure)
            .map(|(_, v)| *v)
            .unwrap_or(f64::NAN)
    };
    let (p50, p99) = (
        latency_of(&TRIGGER_TO_DEQUEUE_P50_MS),
        latency_of(&TRIGGER_TO_DEQUEUE_P99_MS),
    );
    let (processed, elapsed) = process_at_depth(api, &version, settings.runs.min(depth)).await?;
    let rss_mb = server_cost::peak_rss_kb(*pid)? as f64 / 1024.0;

    Ok(Outcome {
        figures: vec![
            (&SCALE_TRIGGER_TO_DEQUEUE_P50_MS, p50),
            (&SCALE_TRIGGER_TO_DEQUEUE_P99_MS, p99),
            (&SCALE_RUNS_LIST_P50_MS, list_ms),
            (&SCALE_PROCESS_RUNS_PER_S, per_second(processed, elapsed)),
            (&SCALE_SERVER_RSS_MB, rss_mb),
        ],
        detail: format!(
            "{} runs queued in {:.1} s ({} runs/s); staging: {}; {} taken off the queue in {:.2} s; \
             server peak {rss_mb:.1} MB resident",
            fmt_num(depth as f64, 0),
            filled.as_secs_f64(),
            fmt_num(per_second(depth, filled), 0),
            quiet.detail,
            fmt_num(processed as f64, 0),
            elapsed.as_secs_f64()
        ),
    })
}

/// The median time of [`LISTS`] requests for the first page of runs.
async fn list_at_depth(api: &Api) -> Result<f64> {
    let mut samples = Vec::with_capacity(LISTS);
    for n in 0..LISTS_WARMUP + LISTS {
        let sent = Instant::now();
        let page = api.list_runs(LIST_QUERY).await?;
        let elapsed = sent.elapsed();
        ensure!(
            page.data.len() == 25,
            "GET /api/v1/runs?{LIST_QUERY} at depth listed {} runs",
            page.data.len()
        );
        if n >= LISTS_WARMUP {
            samples.push(millis(elapsed));
        }
    }
    Ok(median(&samples))
}

/// The e2e workers on the deep queue until `runs` runs are completed: how many they completed
/// and the time it took to complete `runs`.
async fn process_at_depth(api: &Api, version: &str, runs: usize) -> Result<(usize, Duration)> {
    let progress = Arc::new(Progress::on_servers(1));
    let started = Instant::now();
    let mut tasks: JoinSet<Result<Option<Vec<SentBatch>>>> = JoinSet::new();
    e2e::spawn_workers(
        &mut tasks,
        std::slice::from_ref(api),
        version,
        runs,
        &progress,
    );
    e2e::drive(tasks, &progress, runs).await?;
    let elapsed = e2e::finished_at(&progress, runs)? - started;
    let seen = progress.seen.lock().unwrap().len();
    ensure!(
        seen >= runs,
        "the workers completed {seen} distinct runs of the {runs} wanted"
    );
    Ok((runs, elapsed))
}
