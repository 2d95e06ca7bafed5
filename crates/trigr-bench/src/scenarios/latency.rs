//! `trigger_to_dequeue_p50_ms` / `_p99_ms`: how long a run triggered into an idle system takes to
//! reach a waiting worker.
//!
//! One worker long-polls `POST /api/v1/worker/dequeue` (`maxRuns` 10, `waitMs` 5000). A trigger
//! loop ticks every 20 ms (50 runs/s) and on each tick starts one
//! `POST /api/v1/tasks/noop/trigger` whose payload is `{"seq":k}`; the instant just before the
//! request is sent is stored under `k`. The worker reads `seq` back from `runs[].payload` and the
//! sample is the arrival instant of that dequeue answer minus the send instant. The worker
//! completes what it got in the background and polls again at once, so the queue stays empty.
//! The first runs (connection warm-up) are not counted. Percentiles are nearest-rank.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Result};
use serde_json::Value;
use tokio::task::JoinSet;

use super::{Outcome, Settings};
use crate::api::{Api, DequeuedRun, TASK};
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
/// How long the worker may take to receive the last runs after the last trigger answered.
const DRAIN: Duration = Duration::from_secs(15);

/// Send instants of the triggers, by `seq`.
type SendTimes = Arc<Mutex<HashMap<u64, Instant>>>;

pub async fn run(api: &Api, settings: &Settings) -> Result<Outcome> {
    let version = api.register_deployment(&[TASK]).await?;
    // Opens the worker's connection before the measured part.
    api.dequeue(&version, MAX_RUNS, 0).await?;

    let measured = (settings.latency_duration.as_secs_f64() / INTERVAL.as_secs_f64()).ceil() as u64;
    let total = WARMUP + measured.max(1);
    let sent: SendTimes = Arc::new(Mutex::new(HashMap::new()));
    let received = Arc::new(AtomicUsize::new(0));

    let worker = {
        let (api, sent, received) = (api.clone(), sent.clone(), received.clone());
        tokio::spawn(async move { worker(&api, &version, total, &sent, &received).await })
    };

    let mut triggers = JoinSet::new();
    let mut tick = tokio::time::interval(INTERVAL);
    for seq in 0..total {
        tick.tick().await;
        let (api, sent) = (api.clone(), sent.clone());
        triggers.spawn(async move {
            let body = format!(
                r#"{{"payload":"{{\"seq\":{seq}}}","options":{{"payloadType":"application/json"}}}}"#
            );
            sent.lock().unwrap().insert(seq, Instant::now());
            api.trigger(TASK, &body).await.map(drop)
        });
        while let Some(joined) = triggers.try_join_next() {
            joined??;
        }
        if worker.is_finished() {
            break;
        }
    }
    while let Some(joined) = triggers.join_next().await {
        joined??;
    }

    let mut latencies = match tokio::time::timeout(DRAIN, worker).await {
        Ok(joined) => joined??,
        Err(_) => bail!(
            "the worker received {} of {total} triggered runs within {} s of the last trigger",
            received.load(Ordering::Relaxed),
            DRAIN.as_secs()
        ),
    };
    latencies.sort_by(f64::total_cmp);
    let p50 = percentile(&latencies, 50.0);
    let p99 = percentile(&latencies, 99.0);
    Ok(Outcome {
        figures: vec![
            (&TRIGGER_TO_DEQUEUE_P50_MS, p50),
            (&TRIGGER_TO_DEQUEUE_P99_MS, p99),
        ],
        detail: format!(
            "{} runs at 50/s, min {:.2} ms, max {:.2} ms",
            latencies.len(),
            latencies.first().copied().unwrap_or(f64::NAN),
            latencies.last().copied().unwrap_or(f64::NAN)
        ),
    })
}

/// Long-polls until runs `0..total` have all arrived; returns the latencies (ms) of the runs
/// after the warm-up.
async fn worker(
    api: &Api,
    version: &str,
    total: u64,
    sent: &SendTimes,
    received: &AtomicUsize,
) -> Result<Vec<f64>> {
    let mut latencies = Vec::with_capacity(total as usize);
    let mut arrived_seqs = vec![false; total as usize];
    let mut completions = JoinSet::new();
    let string_payload_seen = AtomicBool::new(false);
    while received.load(Ordering::Relaxed) < total as usize {
        let (runs, arrived) = api.dequeue(version, MAX_RUNS, WAIT_MS).await?;
        if runs.is_empty() {
            continue;
        }
        for run in &runs {
            let seq = seq_of(run, &string_payload_seen)?;
            ensure!(
                seq < total,
                "run {} carries seq {seq}, never triggered",
                run.run_id
            );
            ensure!(
                !arrived_seqs[seq as usize],
                "seq {seq} was dequeued twice (run {})",
                run.run_id
            );
            arrived_seqs[seq as usize] = true;
            let send = sent.lock().unwrap().get(&seq).copied().ok_or_else(|| {
                anyhow!(
                    "run {} (seq {seq}) was dequeued before its trigger was sent",
                    run.run_id
                )
            })?;
            if seq >= WARMUP {
                latencies.push(millis(arrived.saturating_duration_since(send)));
            }
        }
        received.fetch_add(runs.len(), Ordering::Relaxed);
        let api = api.clone();
        completions.spawn(async move { complete(&api, &runs).await });
        while let Some(joined) = completions.try_join_next() {
            joined??;
        }
    }
    while let Some(joined) = completions.join_next().await {
        joined??;
    }
    Ok(latencies)
}

async fn complete(api: &Api, runs: &[DequeuedRun]) -> Result<()> {
    let results = api.complete_ok(runs).await?;
    for (run, result) in runs.iter().zip(&results) {
        ensure!(
            result.completed(&run.run_id),
            "POST /api/v1/worker/complete of run {} (lease {}, ok, output null) answered {result:?}",
            run.run_id,
            run.lease
        );
    }
    Ok(())
}

/// The `seq` of a dequeued run's payload, which should be the plain JSON object `{"seq":k}`. A
/// payload handed back as the JSON text is accepted with a warning.
fn seq_of(run: &DequeuedRun, warned: &AtomicBool) -> Result<u64> {
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
