//! `steps_per_s`: journaled steps per second, for runs of 100 steps each.
//!
//! Setup (not measured): the batch senders create the runs (`runs / 40`, at least 64). Then 64
//! executors start at once, executor `i` talking to server `i % servers`. Each one loops: a
//! long-poll `POST /api/v1/worker/dequeue` for one run (`maxRuns` 1, `waitMs` 1000), then the
//! run's 100 steps one after the other, `POST /api/v1/worker/runs/{id}/steps` at positions 0 to
//! 99 (`name` `step`, output `{"i":position}`), each answered `recorded: true` before the next
//! is sent, then `POST /api/v1/worker/complete` of that run, which must answer `COMPLETED`. So
//! up to 64 runs are in flight, each with one step request outstanding. The figure is the steps
//! journaled divided by the time from the start of the executors to the completion of the last
//! run.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::JoinSet;

use super::batch::send_batches;
use super::latency::complete;
use super::{Outcome, Settings};
use crate::api::{Api, TASK};
use crate::report::STEPS_PER_S;
use crate::stats::{fmt_num, per_second};

/// Steps journaled by each run.
pub const STEPS_PER_RUN: u32 = 100;
/// Runs executing at once.
pub const IN_FLIGHT: usize = 64;
/// Runs of this scenario per run of the throughput scenarios (`--runs`).
const RUNS_DIVISOR: usize = 40;
/// `waitMs` of each dequeue.
const WAIT_MS: u64 = 1000;
/// The scenario fails when no step is journaled for this long.
const STALL: Duration = Duration::from_secs(30);

/// Shared counters of the scenario.
struct Progress {
    runs: usize,
    steps: AtomicUsize,
    completed: AtomicUsize,
    /// When the last run completed.
    finished: Mutex<Option<Instant>>,
    /// Set once every run is completed: idle executors stop waiting.
    done: watch::Sender<bool>,
}

/// Runs the scenario creates for `settings`.
pub fn runs_for(settings: &Settings) -> usize {
    (settings.runs / RUNS_DIVISOR).max(IN_FLIGHT)
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let version = apis[0].register_deployment(&[TASK]).await?;
    let runs = runs_for(settings);
    send_batches(apis, runs, Arc::new(AtomicUsize::new(0))).await?;

    let progress = Arc::new(Progress {
        runs,
        steps: AtomicUsize::new(0),
        completed: AtomicUsize::new(0),
        finished: Mutex::new(None),
        done: watch::channel(false).0,
    });
    let started = Instant::now();
    let mut executors = JoinSet::new();
    for i in 0..IN_FLIGHT {
        let (api, version, progress) = (
            apis[i % apis.len()].clone(),
            version.clone(),
            progress.clone(),
        );
        executors.spawn(async move { executor(&api, &version, &progress).await });
    }

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last = 0;
    let mut last_change = Instant::now();
    loop {
        tokio::select! {
            joined = executors.join_next() => match joined {
                None => break,
                Some(joined) => joined??,
            },
            _ = tick.tick() => {
                let now = progress.steps.load(Ordering::Relaxed);
                if now != last {
                    last = now;
                    last_change = Instant::now();
                } else if last_change.elapsed() > STALL {
                    bail!(
                        "no step journaled for {} s: {now} steps, {} of {runs} runs completed",
                        STALL.as_secs(),
                        progress.completed.load(Ordering::Relaxed)
                    );
                }
            }
        }
    }
    let finished = progress.finished.lock().unwrap().ok_or_else(|| {
        anyhow!(
            "the executors stopped with {} of {runs} runs completed",
            progress.completed.load(Ordering::Relaxed)
        )
    })?;
    let elapsed = finished - started;
    let steps = progress.steps.load(Ordering::Relaxed);
    ensure!(
        steps == runs * STEPS_PER_RUN as usize,
        "{steps} steps journaled for {runs} runs of {STEPS_PER_RUN} steps"
    );

    // Nothing is left waiting or running.
    let query = "filter%5Bstatus%5D=QUEUED,DEQUEUED,EXECUTING,WAITING&page%5Bsize%5D=10";
    let open = apis[0].list_runs(query).await?;
    ensure!(
        open.data.is_empty(),
        "after every run completed, GET /api/v1/runs?{query} answered {open:?}"
    );

    Ok(Outcome {
        figures: vec![(&STEPS_PER_S, per_second(steps, elapsed))],
        detail: format!(
            "{} steps of {} runs, {IN_FLIGHT} at once, in {:.2} s",
            fmt_num(steps as f64, 0),
            fmt_num(runs as f64, 0),
            elapsed.as_secs_f64()
        ),
    })
}

/// One executor: dequeue a run, journal its steps one by one, complete it; until every run of
/// the scenario is completed.
async fn executor(api: &Api, version: &str, progress: &Progress) -> Result<()> {
    let mut done = progress.done.subscribe();
    while progress.completed.load(Ordering::Relaxed) < progress.runs {
        let (runs, _) = tokio::select! {
            answer = api.dequeue(version, 1, WAIT_MS) => answer?,
            _ = done.wait_for(|done| *done) => break,
        };
        let Some(run) = runs.first() else { continue };
        ensure!(
            runs.len() == 1,
            "POST /api/v1/worker/dequeue with maxRuns 1 handed out {} runs",
            runs.len()
        );
        for position in 0..STEPS_PER_RUN {
            let answer = api
                .record_step(run, position, "step", json!({ "i": position }))
                .await?;
            ensure!(
                answer.recorded && answer.position == position,
                "POST /api/v1/worker/runs/{}/steps at the new position {position} answered {answer:?}",
                run.run_id
            );
            progress.steps.fetch_add(1, Ordering::Relaxed);
        }
        complete(api, &runs).await?;
        let answered = Instant::now();
        if progress.completed.fetch_add(1, Ordering::Relaxed) + 1 == progress.runs {
            *progress.finished.lock().unwrap() = Some(answered);
            progress.done.send_replace(true);
        }
    }
    Ok(())
}
