//! `e2e_runs_per_s`: runs going all the way from trigger to `COMPLETED`.
//!
//! The batch senders of the batch scenario create `runs` runs as fast as they can while 4
//! protocol-level workers, started at the same moment, loop on
//! `POST /api/v1/worker/dequeue` (`maxRuns` 200, `waitMs` 1000) and complete everything they got
//! with one `POST /api/v1/worker/complete` (output `null`). Only results with status `COMPLETED`
//! count. The figure is `runs` divided by the time from the first trigger to the answer that
//! brought the count of completed runs to `runs`.
//!
//! With several servers (PostgreSQL, two servers on one schema) batch sender `i` and worker `i`
//! talk to server `i % servers`: triggers and workers are split evenly over the servers, and a
//! run is often completed through another server than the one that created it.
//!
//! Afterwards the servers' view is checked: no run is left queued or executing, a random batch
//! lists only runs the workers completed, and a random sample of runs, read from every server in
//! turn, reads back `COMPLETED`.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use rand::seq::SliceRandom;
use tokio::task::JoinSet;

use super::batch::{send_batches, SentBatch};
use super::{Outcome, Settings};
use crate::api::{self, Api, TASK};
use crate::report::{E2E_RUNS_PER_S, PROCESS_RUNS_PER_S};
use crate::stats::{fmt_num, per_second};

/// Concurrent worker loops.
pub const WORKERS: usize = 4;
/// `maxRuns` of each dequeue.
pub const MAX_RUNS: u32 = 200;
/// `waitMs` of each dequeue.
pub const WAIT_MS: u64 = 1000;
/// The scenario fails when no run is created or completed for this long.
const STALL: Duration = Duration::from_secs(30);
/// Runs read back one by one at the end.
const SAMPLE: usize = 20;

/// Shared counters of the scenario.
#[derive(Default)]
pub(super) struct Progress {
    pub(super) created: Arc<AtomicUsize>,
    dequeued: AtomicUsize,
    /// Runs handed out by each server.
    dequeued_by: Mutex<Vec<usize>>,
    pub(super) completed: AtomicUsize,
    /// When the count of completed runs reached the target.
    finished: Mutex<Option<Instant>>,
    /// Every run id handed out, to catch a run handed out twice.
    pub(super) seen: Mutex<HashSet<String>>,
}

impl Progress {
    pub(super) fn on_servers(servers: usize) -> Self {
        Progress {
            dequeued_by: Mutex::new(vec![0; servers]),
            ..Progress::default()
        }
    }

    fn summary(&self, runs: usize) -> String {
        format!(
            "created {} of {runs}, dequeued {}, completed {}",
            self.created.load(Ordering::Relaxed),
            self.dequeued.load(Ordering::Relaxed),
            self.completed.load(Ordering::Relaxed)
        )
    }
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let version = apis[0].register_deployment(&[TASK]).await?;
    let runs = settings.runs;
    let progress = Arc::new(Progress::on_servers(apis.len()));

    let started = Instant::now();
    let mut tasks: JoinSet<Result<Option<Vec<SentBatch>>>> = JoinSet::new();
    {
        let (apis, progress) = (apis.to_vec(), progress.clone());
        tasks.spawn(async move {
            Ok(Some(
                send_batches(&apis, runs, progress.created.clone()).await?,
            ))
        });
    }
    spawn_workers(&mut tasks, apis, &version, runs, &progress);
    let batches = drive(tasks, &progress, runs).await?.unwrap_or_default();
    let elapsed = finished_at(&progress, runs)? - started;

    let seen = std::mem::take(&mut *progress.seen.lock().unwrap());
    verify(apis, &batches, &seen, runs).await?;

    let rate = per_second(runs, elapsed);
    let mut detail = format!(
        "{} runs triggered and completed in {:.2} s",
        fmt_num(runs as f64, 0),
        elapsed.as_secs_f64()
    );
    if apis.len() > 1 {
        let by: Vec<String> = progress
            .dequeued_by
            .lock()
            .unwrap()
            .iter()
            .map(|n| fmt_num(*n as f64, 0))
            .collect();
        detail.push_str(&format!("; dequeued per server {}", by.join(" / ")));
    }
    Ok(Outcome {
        figures: vec![(&E2E_RUNS_PER_S, rate)],
        detail,
    })
}

/// `process_runs_per_s`: the e2e runs created first, not timed, then processed. The batch
/// senders create `runs` runs with no worker running; once they are all answered and every
/// buffered trigger has become a run (the mollifier's buffer, `GET /api/v1/mollifier`, is empty),
/// the 4 workers start. The figure is `runs` divided by the time from their start to the answer
/// that completed the last run: processing alone, the figure queues that measure only that
/// report. Checked afterwards as `e2e` is.
pub async fn process(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let version = apis[0].register_deployment(&[TASK]).await?;
    let runs = settings.runs;
    let progress = Arc::new(Progress::on_servers(apis.len()));
    let batches = send_batches(apis, runs, progress.created.clone()).await?;
    let drained = wait_until_drained(&apis[0]).await?;

    let started = Instant::now();
    let mut tasks: JoinSet<Result<Option<Vec<SentBatch>>>> = JoinSet::new();
    spawn_workers(&mut tasks, apis, &version, runs, &progress);
    drive(tasks, &progress, runs).await?;
    let elapsed = finished_at(&progress, runs)? - started;

    let seen = std::mem::take(&mut *progress.seen.lock().unwrap());
    verify(apis, &batches, &seen, runs).await?;
    Ok(Outcome {
        figures: vec![(&PROCESS_RUNS_PER_S, per_second(runs, elapsed))],
        detail: format!(
            "{} runs created, buffered ones drained in {:.2} s, then completed in {:.2} s",
            fmt_num(runs as f64, 0),
            drained.as_secs_f64(),
            elapsed.as_secs_f64()
        ),
    })
}

/// Waits until the environment's mollifier buffer is empty; how long that took.
pub(super) async fn wait_until_drained(api: &Api) -> Result<Duration> {
    let started = Instant::now();
    let mut last = (u64::MAX, Instant::now());
    loop {
        let depth = api.mollifier().await?["depth"].as_u64().unwrap_or(0);
        if depth == 0 {
            return Ok(started.elapsed());
        }
        if depth != last.0 {
            last = (depth, Instant::now());
        } else if last.1.elapsed() > STALL {
            bail!(
                "the mollifier's buffer stayed at {depth} entries for {} s",
                STALL.as_secs()
            );
        }
        // The depth is counted over the whole buffer: asked often, it would slow the drain.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Starts the [`WORKERS`] worker loops, worker `i` on server `i % servers`.
pub(super) fn spawn_workers(
    tasks: &mut JoinSet<Result<Option<Vec<SentBatch>>>>,
    apis: &[Api],
    version: &str,
    runs: usize,
    progress: &Arc<Progress>,
) {
    for w in 0..WORKERS {
        let server = w % apis.len();
        let (api, progress) = (apis[server].clone(), progress.clone());
        let version = version.to_string();
        tasks.spawn(async move {
            worker(&api, server, &version, runs, &progress).await?;
            Ok(None)
        });
    }
}

/// Waits for every task, failing when no run is created or completed for [`STALL`]; the
/// batches the sender made, if a sender ran.
pub(super) async fn drive(
    mut tasks: JoinSet<Result<Option<Vec<SentBatch>>>>,
    progress: &Progress,
    runs: usize,
) -> Result<Option<Vec<SentBatch>>> {
    let mut batches = None;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = (0, 0);
    let mut last_change = Instant::now();
    loop {
        tokio::select! {
            joined = tasks.join_next() => match joined {
                None => return Ok(batches),
                Some(joined) => {
                    if let Some(sent) = joined?? {
                        batches = Some(sent);
                    }
                }
            },
            _ = tick.tick() => {
                let now = (
                    progress.created.load(Ordering::Relaxed),
                    progress.completed.load(Ordering::Relaxed),
                );
                if now != last {
                    last = now;
                    last_change = Instant::now();
                } else if last_change.elapsed() > STALL {
                    bail!(
                        "no progress for {} s: {}",
                        STALL.as_secs(),
                        progress.summary(runs)
                    );
                }
            }
        }
    }
}

/// When the count of completed runs reached `runs`.
pub(super) fn finished_at(progress: &Progress, runs: usize) -> Result<Instant> {
    progress
        .finished
        .lock()
        .unwrap()
        .ok_or_else(|| anyhow!("workers stopped early: {}", progress.summary(runs)))
}

/// One worker loop on server number `server`: dequeue, complete the whole lot at once, until
/// `runs` runs are completed.
async fn worker(
    api: &Api,
    server: usize,
    version: &str,
    runs: usize,
    progress: &Progress,
) -> Result<()> {
    while progress.completed.load(Ordering::Relaxed) < runs {
        let (got, _) = api.dequeue(version, MAX_RUNS, WAIT_MS).await?;
        if got.is_empty() {
            continue;
        }
        {
            let mut seen = progress.seen.lock().unwrap();
            for run in &got {
                ensure!(
                    seen.insert(run.run_id.clone()),
                    "run {} was handed out by POST /api/v1/worker/dequeue a second time",
                    run.run_id
                );
            }
        }
        progress.dequeued.fetch_add(got.len(), Ordering::Relaxed);
        progress.dequeued_by.lock().unwrap()[server] += got.len();
        let results = api.complete_ok(&got).await?;
        let answered = Instant::now();
        for (run, result) in got.iter().zip(&results) {
            ensure!(
                api::completed(result, &run.run_id),
                "POST /api/v1/worker/complete of run {} (lease {}, ok, output null) answered {result:?}",
                run.run_id,
                run.lease
            );
        }
        let before = progress.completed.fetch_add(got.len(), Ordering::Relaxed);
        if before < runs && before + got.len() >= runs {
            *progress.finished.lock().unwrap() = Some(answered);
        }
    }
    Ok(())
}

/// Checks the servers agree with what the workers saw.
pub(super) async fn verify(
    apis: &[Api],
    batches: &[SentBatch],
    seen: &HashSet<String>,
    runs: usize,
) -> Result<()> {
    ensure!(
        seen.len() == runs,
        "the workers completed {} distinct runs, {runs} were triggered",
        seen.len()
    );

    let api = &apis[0];
    // Nothing is left waiting or running.
    let query = "filter%5Bstatus%5D=PENDING_VERSION,DELAYED,QUEUED,DEQUEUED,EXECUTING,WAITING&page%5Bsize%5D=10";
    let open = api.list_runs(query).await?;
    ensure!(
        open.data.is_empty(),
        "after every run completed, GET /api/v1/runs?{query} still lists runs: {open:?}"
    );

    // The completed list is served.
    let query = "filter%5Bstatus%5D=COMPLETED&page%5Bsize%5D=100";
    let done = api.list_runs(query).await?;
    let listed = done.data.len();
    ensure!(
        listed == runs.min(100),
        "after {runs} runs completed, GET /api/v1/runs?{query} lists {listed}: {done:?}"
    );

    // A batch lists only runs the workers completed, one per item.
    let batch = batches.choose(&mut rand::thread_rng());
    if let Some(batch) = batch {
        let body = api.get_batch(&batch.id).await?;
        let ids = &body.runs;
        ensure!(
            ids.len() == batch.size,
            "GET /api/v2/batches/{} of {} items lists {} runs: {body:?}",
            batch.id,
            batch.size,
            ids.len()
        );
        if let Some(stranger) = ids.iter().find(|id| !seen.contains(id.as_str())) {
            bail!(
                "GET /api/v2/batches/{} lists run {stranger}, which no worker completed",
                batch.id
            );
        }
    }

    // A random sample reads back COMPLETED, from every server.
    let ids: Vec<&String> = seen.iter().collect();
    let sample: Vec<&String> = ids
        .choose_multiple(&mut rand::thread_rng(), SAMPLE)
        .copied()
        .collect();
    for (i, id) in sample.into_iter().enumerate() {
        let run = apis[i % apis.len()].get_run(id).await?;
        ensure!(
            run.summary.common.status == "COMPLETED",
            "GET /api/v3/runs/{id} of a run completed with status COMPLETED answered {run:?}"
        );
    }
    Ok(())
}
