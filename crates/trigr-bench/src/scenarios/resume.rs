//! `resume_p50_ms` / `_p99_ms`: how long a run suspended on a wait token takes to reach a
//! waiting worker again once the token is completed.
//!
//! Setup (not measured): the batch senders create the runs; they are dequeued and each is
//! parked as a worker parks a run waiting on a token, 32 runs at a time: `POST
//! /api/v1/waitpoints/tokens`, then `POST /api/v1/worker/runs/{id}/waits` at position 0 with
//! `{"type":"token","tokenId":…}` and `"suspend": true`, which must answer `WAITING` and
//! `suspended: true` (the run is now `WAITING`, its lease over, nothing left queued).
//!
//! Measured: one worker per server long-polls `POST /api/v1/worker/dequeue` (`maxRuns` 10,
//! `waitMs` 5000). A loop ticks every 20 ms (50 runs/s) and on tick `k` starts
//! `POST /api/v1/waitpoints/tokens/{id}/complete` with `{"data":{"seq":k}}` for the token of run
//! `k`, on server `k % servers`; the instant just before the request is sent is stored under `k`.
//! The worker recognizes the run by its id, checks that it is handed out with `resumed: true`
//! and a journal whose entry 0 is that token's wait, `COMPLETED` with output `{"seq":k}`, and
//! the sample is the arrival instant of that dequeue answer minus the send instant. The worker
//! completes what it got in the background and polls again at once. The first runs (warm-up) are
//! not counted. Percentiles are nearest-rank.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use futures::{StreamExt, TryStreamExt};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use trigr_types::wire::worker::{JournalKind, WaitFor, WaitStatus};

use super::batch::send_batches;
use super::latency::{complete, INTERVAL, MAX_RUNS, WAIT_MS, WARMUP};
use super::{Outcome, Settings};
use crate::api::{Api, DequeuedRun, TASK};
use crate::report::{RESUME_P50_MS, RESUME_P99_MS};
use crate::stats::{millis, percentile};

/// Runs parked at the same time during the setup.
const PARK_PARALLEL: usize = 32;
/// Name of the wait in the journal.
const WAIT_NAME: &str = "approval";
/// How long the workers may take to receive the last runs after the last token completed.
const DRAIN: Duration = Duration::from_secs(15);

/// A run waiting on its own token.
struct Parked {
    run_id: String,
    token: String,
}

/// What the completion loop and the workers share.
struct Shared {
    parked: Vec<Parked>,
    /// Index in `parked` of each run id.
    seq_of: HashMap<String, usize>,
    /// Send instants of the token completions, by `seq`.
    sent: Mutex<Vec<Option<Instant>>>,
    /// Which `seq`s have been handed out again.
    arrived: Mutex<Vec<bool>>,
    /// Runs handed out again so far.
    received: AtomicUsize,
    /// Set once every run has been handed out: the other workers stop waiting.
    done: watch::Sender<bool>,
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let version = apis[0].register_deployment(&[TASK]).await?;
    let measured = (settings.latency_duration.as_secs_f64() / INTERVAL.as_secs_f64()).ceil() as u64;
    let total = (WARMUP + measured.max(1)) as usize;

    let setup = Instant::now();
    let parked = park(apis, &version, total).await?;
    let setup = setup.elapsed();

    let seq_of = parked
        .iter()
        .enumerate()
        .map(|(seq, p)| (p.run_id.clone(), seq))
        .collect();
    let shared = Arc::new(Shared {
        parked,
        seq_of,
        sent: Mutex::new(vec![None; total]),
        arrived: Mutex::new(vec![false; total]),
        received: AtomicUsize::new(0),
        done: watch::channel(false).0,
    });

    let workers: Vec<JoinHandle<Result<Vec<f64>>>> = apis
        .iter()
        .map(|api| {
            let (api, version, shared) = (api.clone(), version.clone(), shared.clone());
            tokio::spawn(async move { worker(&api, &version, &shared).await })
        })
        .collect();

    let mut completions = JoinSet::new();
    let mut tick = tokio::time::interval(INTERVAL);
    for seq in 0..total {
        tick.tick().await;
        let (api, shared) = (apis[seq % apis.len()].clone(), shared.clone());
        completions.spawn(async move {
            let token = &shared.parked[seq].token;
            shared.sent.lock().unwrap()[seq] = Some(Instant::now());
            let answer = api.complete_token(token, json!({ "seq": seq })).await?;
            ensure!(
                answer.success && answer.already_completed.is_none(),
                "POST /api/v1/waitpoints/tokens/{token}/complete of a waiting token answered {answer:?}"
            );
            anyhow::Ok(())
        });
        while let Some(joined) = completions.try_join_next() {
            joined??;
        }
        if workers.iter().any(JoinHandle::is_finished) {
            break;
        }
    }
    while let Some(joined) = completions.join_next().await {
        joined??;
    }

    let all = async {
        let mut samples = Vec::new();
        for worker in workers {
            samples.extend(worker.await??);
        }
        anyhow::Ok(samples)
    };
    let mut latencies = match tokio::time::timeout(DRAIN, all).await {
        Ok(samples) => samples?,
        Err(_) => bail!(
            "the workers received {} of {total} resumed runs within {} s of the last token \
             completion",
            shared.received.load(Ordering::Relaxed),
            DRAIN.as_secs()
        ),
    };
    latencies.sort_by(f64::total_cmp);
    Ok(Outcome {
        figures: vec![
            (&RESUME_P50_MS, percentile(&latencies, 50.0)),
            (&RESUME_P99_MS, percentile(&latencies, 99.0)),
        ],
        detail: format!(
            "{} resumes at 50/s, min {:.2} ms, max {:.2} ms; {total} runs parked in {:.2} s",
            latencies.len(),
            latencies.first().copied().unwrap_or(f64::NAN),
            latencies.last().copied().unwrap_or(f64::NAN),
            setup.as_secs_f64()
        ),
    })
}

/// Creates `total` runs, dequeues them all and suspends each on a new token of its own, the
/// wait of run `j` posted to server `j % servers`. Returns the runs in dequeue order.
async fn park(apis: &[Api], version: &str, total: usize) -> Result<Vec<Parked>> {
    send_batches(apis, total, Arc::new(AtomicUsize::new(0))).await?;
    let mut runs: Vec<DequeuedRun> = Vec::with_capacity(total);
    while runs.len() < total {
        let (got, _) = apis[0].dequeue(version, 500, 1000).await?;
        ensure!(
            !got.is_empty(),
            "POST /api/v1/worker/dequeue handed out {} of {total} queued runs, then nothing for 1 s",
            runs.len()
        );
        runs.extend(got);
    }
    ensure!(
        runs.len() == total,
        "POST /api/v1/worker/dequeue handed out {} runs, {total} were triggered",
        runs.len()
    );
    futures::stream::iter(runs.into_iter().enumerate())
        .map(|(j, run)| {
            let api = apis[j % apis.len()].clone();
            async move {
                let token = api.create_token().await?;
                let wait = WaitFor::Token {
                    token_id: token.clone(),
                };
                let answer = api.wait(&run, 0, WAIT_NAME, true, wait).await?;
                ensure!(
                    answer.status == WaitStatus::Waiting
                        && answer.suspended == Some(true)
                        && answer.position == 0,
                    "POST /api/v1/worker/runs/{}/waits (position 0, token {token}, suspend) \
                     of a fresh run answered {answer:?}",
                    run.run_id
                );
                anyhow::Ok(Parked {
                    run_id: run.run_id,
                    token,
                })
            }
        })
        .buffered(PARK_PARALLEL)
        .try_collect()
        .await
}

/// One worker: long-polls until every parked run has been handed out again (to this worker or
/// another one); returns the latencies (ms) of the runs it received after the warm-up.
async fn worker(api: &Api, version: &str, shared: &Shared) -> Result<Vec<f64>> {
    let total = shared.parked.len();
    let mut samples = Vec::with_capacity(total);
    let mut completions = JoinSet::new();
    let mut done = shared.done.subscribe();
    while shared.received.load(Ordering::Relaxed) < total {
        let (runs, arrived) = tokio::select! {
            answer = api.dequeue(version, MAX_RUNS, WAIT_MS) => answer?,
            _ = done.wait_for(|done| *done) => break,
        };
        if runs.is_empty() {
            continue;
        }
        for run in &runs {
            let seq = *shared.seq_of.get(&run.run_id).ok_or_else(|| {
                anyhow!(
                    "POST /api/v1/worker/dequeue handed out run {}, which is not a parked run",
                    run.run_id
                )
            })?;
            check_resumed(run, &shared.parked[seq].token, seq)?;
            {
                let mut arrived_seqs = shared.arrived.lock().unwrap();
                ensure!(
                    !arrived_seqs[seq],
                    "run {} was handed out again twice after its token completed",
                    run.run_id
                );
                arrived_seqs[seq] = true;
            }
            let send = shared.sent.lock().unwrap()[seq].ok_or_else(|| {
                anyhow!(
                    "run {} was handed out again before its token {} was completed",
                    run.run_id,
                    shared.parked[seq].token
                )
            })?;
            if seq as u64 >= WARMUP {
                samples.push(millis(arrived.saturating_duration_since(send)));
            }
        }
        let before = shared.received.fetch_add(runs.len(), Ordering::Relaxed);
        if before + runs.len() >= total {
            shared.done.send_replace(true);
        }
        let api = api.clone();
        completions.spawn(async move { complete(&api, &runs).await });
        while let Some(joined) = completions.try_join_next() {
            joined??;
        }
    }
    while let Some(joined) = completions.join_next().await {
        joined??;
    }
    Ok(samples)
}

/// A resumed run: `resumed: true`, and entry 0 of its journal is the wait on `token`, completed
/// with `{"seq":seq}`.
fn check_resumed(run: &DequeuedRun, token: &str, seq: usize) -> Result<()> {
    ensure!(
        run.resumed,
        "run {} came back from its token wait with resumed: false",
        run.run_id
    );
    let expected = json!({ "seq": seq });
    let resumed_here = run.journal.first().is_some_and(|entry| {
        entry.position == 0
            && entry.kind == JournalKind::Wait
            && entry.name == WAIT_NAME
            && entry.waitpoint_id.as_deref() == Some(token)
            && entry.status == Some(WaitStatus::Completed)
            && entry.output.as_ref() == Some(&expected)
    });
    ensure!(
        resumed_here,
        "run {} resumed after token {token} completed with {{\"seq\":{seq}}} carries the journal {:?}",
        run.run_id,
        run.journal
    );
    Ok(())
}
