//! `trigger_to_dequeue_p50_ms` / `_p99_ms`: how long a run triggered into an idle system takes to
//! reach a waiting worker.
//!
//! One worker per server long-polls `POST /api/v1/worker/dequeue` (`maxRuns` 10, `waitMs` 5000).
//! A trigger loop ticks every 20 ms (50 runs/s) and on each tick starts one
//! `POST /api/v1/tasks/noop/trigger` whose payload is `{"seq":k}`, to server `k % servers`; the
//! instant just before the request is sent is stored under `k`. The worker reads `seq` back from
//! `runs[].payload` and the sample is the arrival instant of that dequeue answer minus the send
//! instant. The worker completes what it got in the background and polls again at once, so the
//! queue stays empty. The first runs (connection warm-up) are not counted. Percentiles are
//! nearest-rank.
//!
//! With two servers a run is taken by whichever worker asks first, so part of the runs reach a
//! worker of the other server than the one they were triggered on; how many, and their median,
//! is said in the detail line.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::{Outcome, Settings};
use crate::api::{self, Api, DequeuedRun, TASK};
use crate::report::{TRIGGER_TO_DEQUEUE_P50_MS, TRIGGER_TO_DEQUEUE_P99_MS};
use crate::stats::{millis, percentile};

/// Time between two triggers (50 runs/s).
pub const INTERVAL: Duration = Duration::from_millis(20);
/// `maxRuns` of each dequeue.
pub const MAX_RUNS: u32 = 10;
/// `waitMs` of each dequeue.
pub const WAIT_MS: u64 = 5000;
/// Runs at the start that are triggered and dequeued but not counted.
pub const WARMUP: u64 = 10;
/// How long the workers may take to receive the last runs after the last trigger answered.
const DRAIN: Duration = Duration::from_secs(15);

/// What the trigger loop and the workers share.
struct Shared {
    /// Runs triggered in all.
    total: u64,
    /// Servers the triggers are spread over.
    servers: usize,
    /// Send instants of the triggers, by `seq`.
    sent: Mutex<HashMap<u64, Instant>>,
    /// Which `seq`s have been handed out.
    arrived: Mutex<Vec<bool>>,
    /// Runs handed out so far.
    received: AtomicUsize,
    /// Set once every run has been handed out: the other workers stop waiting.
    done: watch::Sender<bool>,
    /// Whether a payload came back as a JSON string (warned once).
    string_payload_seen: AtomicBool,
}

/// One measured run: its latency (ms) and whether a worker of another server than the one it
/// was triggered on received it.
struct Sample {
    ms: f64,
    other_server: bool,
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let version = apis[0].register_deployment(&[TASK]).await?;
    // Opens each worker's connection before the measured part.
    for api in apis {
        api.dequeue(&version, MAX_RUNS, 0).await?;
    }

    let measured = (settings.latency_duration.as_secs_f64() / INTERVAL.as_secs_f64()).ceil() as u64;
    let total = WARMUP + measured.max(1);
    let shared = Arc::new(Shared {
        total,
        servers: apis.len(),
        sent: Mutex::new(HashMap::new()),
        arrived: Mutex::new(vec![false; total as usize]),
        received: AtomicUsize::new(0),
        done: watch::channel(false).0,
        string_payload_seen: AtomicBool::new(false),
    });

    let workers: Vec<JoinHandle<Result<Vec<Sample>>>> = apis
        .iter()
        .enumerate()
        .map(|(server, api)| {
            let (api, version, shared) = (api.clone(), version.clone(), shared.clone());
            tokio::spawn(async move { worker(&api, server, &version, &shared).await })
        })
        .collect();

    let mut triggers = JoinSet::new();
    let mut tick = tokio::time::interval(INTERVAL);
    for seq in 0..total {
        tick.tick().await;
        let (api, shared) = (apis[seq as usize % apis.len()].clone(), shared.clone());
        triggers.spawn(async move {
            let body = format!(
                r#"{{"payload":"{{\"seq\":{seq}}}","options":{{"payloadType":"application/json"}}}}"#
            );
            shared.sent.lock().unwrap().insert(seq, Instant::now());
            api.trigger(TASK, &body).await.map(drop)
        });
        while let Some(joined) = triggers.try_join_next() {
            joined??;
        }
        if workers.iter().any(JoinHandle::is_finished) {
            break;
        }
    }
    while let Some(joined) = triggers.join_next().await {
        joined??;
    }

    let all = async {
        let mut samples = Vec::new();
        for worker in workers {
            samples.extend(worker.await??);
        }
        anyhow::Ok(samples)
    };
    let samples = match tokio::time::timeout(DRAIN, all).await {
        Ok(samples) => samples?,
        Err(_) => bail!(
            "the workers received {} of {total} triggered runs within {} s of the last trigger",
            shared.received.load(Ordering::Relaxed),
            DRAIN.as_secs()
        ),
    };
    let mut latencies: Vec<f64> = samples.iter().map(|s| s.ms).collect();
    latencies.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    let mut detail = format!(
        "{} runs at 50/s, min {:.2} ms, max {:.2} ms",
        latencies.len(),
        latencies.first().copied().unwrap_or(f64::NAN),
        latencies.last().copied().unwrap_or(f64::NAN)
    );
    if apis.len() > 1 {
        let mut crossed: Vec<f64> = samples
            .iter()
            .filter(|s| s.other_server)
            .map(|s| s.ms)
            .collect();
        crossed.sort_by(f64::total_cmp);
        detail.push_str(&format!(
            "; {} reached a worker of the other server",
            crossed.len()
        ));
        if !crossed.is_empty() {
            detail.push_str(&format!(" (p50 {:.2} ms)", percentile(&crossed, 50.0)));
        }
    }
    Ok(Outcome {
        figures: vec![
            (&TRIGGER_TO_DEQUEUE_P50_MS, p50),
            (&TRIGGER_TO_DEQUEUE_P99_MS, p99),
        ],
        detail,
    })
}

/// The worker of server number `server`: long-polls until every triggered run has arrived (at
/// this worker or another one); returns the samples of the runs it received after the warm-up.
async fn worker(api: &Api, server: usize, version: &str, shared: &Shared) -> Result<Vec<Sample>> {
    let total = shared.total;
    let mut samples = Vec::with_capacity(total as usize);
    let mut completions = JoinSet::new();
    let mut done = shared.done.subscribe();
    while shared.received.load(Ordering::Relaxed) < total as usize {
        let (runs, arrived) = tokio::select! {
            answer = api.dequeue(version, MAX_RUNS, WAIT_MS) => answer?,
            _ = done.wait_for(|done| *done) => break,
        };
        if runs.is_empty() {
            continue;
        }
        for run in &runs {
            let seq = seq_of(run, &shared.string_payload_seen)?;
            ensure!(
                seq < total,
                "run {} carries seq {seq}, never triggered",
                run.run_id
            );
            {
                let mut arrived_seqs = shared.arrived.lock().unwrap();
                ensure!(
                    !arrived_seqs[seq as usize],
                    "seq {seq} was dequeued twice (run {})",
                    run.run_id
                );
                arrived_seqs[seq as usize] = true;
            }
            let send = shared
                .sent
                .lock()
                .unwrap()
                .get(&seq)
                .copied()
                .ok_or_else(|| {
                    anyhow!(
                        "run {} (seq {seq}) was dequeued before its trigger was sent",
                        run.run_id
                    )
                })?;
            if seq >= WARMUP {
                samples.push(Sample {
                    ms: millis(arrived.saturating_duration_since(send)),
                    other_server: seq as usize % shared.servers != server,
                });
            }
        }
        let before = shared.received.fetch_add(runs.len(), Ordering::Relaxed);
        if before + runs.len() >= total as usize {
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

/// Completes `runs` (output `null`) in one batched call; every one must answer `COMPLETED`.
pub(super) async fn complete(api: &Api, runs: &[DequeuedRun]) -> Result<()> {
    let results = api.complete_ok(runs).await?;
    for (run, result) in runs.iter().zip(&results) {
        ensure!(
            api::completed(result, &run.run_id),
            "POST /api/v1/worker/complete of run {} (lease {}, ok, output null) answered {result:?}",
            run.run_id,
            run.lease
        );
    }
    Ok(())
}

/// The `seq` of a dequeued run's payload, which should be the plain JSON object `{"seq":k}`. A
/// payload handed back as the JSON text is accepted with a warning.
pub(super) fn seq_of(run: &DequeuedRun, warned: &AtomicBool) -> Result<u64> {
    let parsed;
    let payload = match &run.payload {
        Value::String(text) => {
            if !warned.swap(true, Ordering::Relaxed) {
                eprintln!(
                    "warning: dequeue returned the payload of run {} as a string ({text:?}), \
                     expected the plain JSON value",
                    run.run_id
                );
            }
            parsed = serde_json::from_str::<Value>(text).unwrap_or(Value::Null);
            &parsed
        }
        other => other,
    };
    payload["seq"].as_u64().ok_or_else(|| {
        anyhow!(
            "dequeued run {} has payload {}, expected {{\"seq\":<n>}}",
            run.run_id,
            run.payload
        )
    })
}
