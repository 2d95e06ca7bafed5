//! `sdk_e2e_runs_per_s`: runs from trigger to `COMPLETED` with the real Rust SDK worker.
//!
//! The task is a `trigr_sdk::task("noop")` whose code only records its run id. One
//! `trigr_sdk::Worker` per server runs it with concurrency 1000 (`poll_wait` 1 s, the rest the
//! SDK's defaults: a heartbeat when a run starts, batched completions); the first registers and
//! promotes the deployment, the others serve its version. Once they are started, the batch
//! senders of the batch scenario create `runs` runs (sender `i` on server `i % servers`). When
//! the task code has run `runs` times, `GET /api/v1/runs` of the open statuses is polled every
//! 2 ms until it is empty; the figure is `runs` divided by the time from the first trigger to the
//! answer that showed nothing open. Then the workers are shut down and the servers' view is
//! checked as in the e2e scenario, plus: no run failed, and no run executed twice.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use serde_json::Value;
use tokio::task::JoinSet;
use trigr_sdk::{Client, RunningWorker, Worker};

use super::batch::{send_batches, SentBatch};
use super::e2e::verify;
use super::{Outcome, Settings};
use crate::api::{Api, TASK};
use crate::report::SDK_E2E_RUNS_PER_S;
use crate::server::KEY;
use crate::stats::{fmt_num, per_second};

/// Runs each SDK worker executes at once.
pub const CONCURRENCY: usize = 1000;
/// How long one dequeue of the SDK worker waits.
const POLL_WAIT: Duration = Duration::from_secs(1);
/// How often the counters are looked at while the runs execute.
const WATCH: Duration = Duration::from_millis(1);
/// Pause between two reads of the open runs once every run has executed.
const POLL_OPEN: Duration = Duration::from_millis(2);
/// The scenario fails when no run is created or executed for this long.
const STALL: Duration = Duration::from_secs(30);

/// Runs not yet final.
const OPEN: &str =
    "filter%5Bstatus%5D=PENDING_VERSION,DELAYED,QUEUED,DEQUEUED,EXECUTING,WAITING&page%5Bsize%5D=1";
/// Runs that ended otherwise than completed.
const UNSUCCESSFUL: &str =
    "filter%5Bstatus%5D=FAILED,CRASHED,SYSTEM_FAILURE,TIMED_OUT,EXPIRED,CANCELED&page%5Bsize%5D=10";

/// What the task code saw.
#[derive(Default)]
struct Executed {
    count: AtomicUsize,
    ids: Mutex<HashSet<String>>,
    twice: Mutex<Vec<String>>,
}

impl Executed {
    fn record(&self, run_id: &str) {
        if !self.ids.lock().unwrap().insert(run_id.to_string()) {
            self.twice.lock().unwrap().push(run_id.to_string());
        }
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let runs = settings.runs;
    let executed = Arc::new(Executed::default());
    let noop = {
        let executed = executed.clone();
        trigr_sdk::task(TASK).run(move |_payload: Value, ctx| {
            let executed = executed.clone();
            async move {
                executed.record(&ctx.run.id);
                Ok(())
            }
        })
    };

    let workers = start_workers(apis, noop).await?;
    let measured = measure(apis, runs, &executed).await;
    let stopped = stop_workers(workers).await;
    let (elapsed, batches) = measured?;
    stopped?;

    let twice = executed.twice.lock().unwrap().clone();
    ensure!(
        twice.is_empty(),
        "the SDK worker executed {} run(s) twice, e.g. {}",
        twice.len(),
        twice[0]
    );
    let failed = apis[0].list_runs(UNSUCCESSFUL).await?;
    ensure!(
        failed.data.is_empty(),
        "GET /api/v1/runs?{UNSUCCESSFUL} lists runs: {failed:?}"
    );
    let seen = std::mem::take(&mut *executed.ids.lock().unwrap());
    verify(apis, &batches, &seen, runs).await?;

    Ok(Outcome {
        figures: vec![(&SDK_E2E_RUNS_PER_S, per_second(runs, elapsed))],
        detail: format!(
            "{} runs triggered and completed in {:.2} s, {} SDK worker(s) of concurrency {CONCURRENCY}",
            fmt_num(runs as f64, 0),
            elapsed.as_secs_f64(),
            apis.len()
        ),
    })
}

/// Starts one SDK worker of `task` per server (concurrency [`CONCURRENCY`], dequeue long-poll
/// [`POLL_WAIT`]): the first registers and promotes the deployment, the others serve its
/// version.
pub(super) async fn start_workers<P, O>(
    apis: &[Api],
    task: trigr_sdk::Task<P, O>,
) -> Result<Vec<RunningWorker>>
where
    P: serde::Serialize + serde::de::DeserializeOwned + Send + Sync + 'static,
    O: serde::Serialize + serde::de::DeserializeOwned + Send + 'static,
{
    let mut workers: Vec<RunningWorker> = Vec::new();
    let mut version = None;
    for api in apis {
        let client = Client::new(api.base_url(), KEY).context("an SDK client")?;
        let mut worker = Worker::new(client)
            .task(task.clone())
            .concurrency(CONCURRENCY)
            .poll_wait(POLL_WAIT)
            .shutdown_timeout(Duration::from_secs(10));
        if let Some(version) = &version {
            worker = worker.serve_version(String::clone(version));
        }
        let started = worker.start().await;
        let started = match started {
            Ok(started) => started,
            Err(e) => {
                // The workers already running are stopped before the error is returned.
                let _ = stop_workers(workers).await;
                return Err(e)
                    .with_context(|| format!("starting an SDK worker of {}", api.base_url()));
            }
        };
        version.get_or_insert_with(|| started.version().to_string());
        workers.push(started);
    }
    Ok(workers)
}

/// Shuts every worker down; the first error, after trying them all.
pub(super) async fn stop_workers(workers: Vec<RunningWorker>) -> Result<()> {
    let mut stopped = Ok(());
    for worker in workers {
        let result = worker
            .shutdown()
            .await
            .context("shutting an SDK worker down");
        stopped = stopped.and(result);
    }
    stopped
}

/// Triggers the runs and waits until the server has every one of them final; returns the time
/// from the first trigger to the answer that showed none open, and the batches sent.
async fn measure(
    apis: &[Api],
    runs: usize,
    executed: &Executed,
) -> Result<(Duration, Vec<SentBatch>)> {
    let created = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    // A set, so that the senders stop when the measurement fails.
    let mut sender = JoinSet::new();
    {
        let (apis, created) = (apis.to_vec(), created.clone());
        sender.spawn(async move { send_batches(&apis, runs, created).await });
    }

    let mut batches = None;
    let mut last = (0, 0);
    let mut last_change = Instant::now();
    while executed.count.load(Ordering::Relaxed) < runs || batches.is_none() {
        tokio::select! {
            Some(joined) = sender.join_next(), if batches.is_none() => batches = Some(joined??),
            _ = tokio::time::sleep(WATCH) => {}
        }
        let now = (
            created.load(Ordering::Relaxed),
            executed.count.load(Ordering::Relaxed),
        );
        if now != last {
            last = now;
            last_change = Instant::now();
        } else if last_change.elapsed() > STALL {
            bail!(
                "no progress for {} s: {} of {runs} runs created, the task code ran {} times",
                STALL.as_secs(),
                now.0,
                now.1
            );
        }
    }

    let executed_all = Instant::now();
    loop {
        let open = apis[0].list_runs(OPEN).await?;
        let answered = Instant::now();
        if open.data.is_empty() {
            return Ok((answered - started, batches.unwrap_or_default()));
        }
        if executed_all.elapsed() > STALL {
            bail!(
                "{} s after the task code ran for every run, GET /api/v1/runs?{OPEN} still \
                 answers {open:?}",
                STALL.as_secs()
            );
        }
        tokio::time::sleep(POLL_OPEN).await;
    }
}
