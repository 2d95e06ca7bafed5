//! `durable3_p50_ms`, `durable3_p99_ms`, `durable3_runs_per_s` (and `pg_…`, `pg2_…`): runs of
//! three journaled steps, the smallest durable workflow, measured as a caller sees it.
//!
//! The task `durable3` runs three steps one after the other with the Rust SDK
//! (`ctx.step("one" | "two" | "three", …)`, each step's result the one before plus one, so the
//! run's output is `3`). Every step is journaled by the server before the next one starts. One
//! SDK worker per server runs it (as in the sdk-e2e scenario: concurrency 1000, long-poll 1 s,
//! batched completions). The caller side is the SDK's client: triggers carry the tag
//! `durable3`, and one realtime subscription of that tag (server-sent events, opened first, on
//! the first server) sees each run reach `COMPLETED`, which is when a waiting caller would
//! learn its result.
//!
//! * **Latency** (`durable3_p50_ms`, `durable3_p99_ms`): a run is triggered every 20 ms (50/s)
//!   for the latency sampling time (10 s; 3 s with `--quick`), alternating between the servers;
//!   a sample is the arrival of the run's `COMPLETED` event minus the instant just before its
//!   trigger was sent. The first [`WARMUP`] runs are not counted. Nearest-rank percentiles.
//! * **Throughput** (`durable3_runs_per_s`): then `--runs` / 10 runs (at least 100) are
//!   triggered by [`CLIENTS`] concurrent clients, one trigger after the answer to the one
//!   before (client `i` on server `i % servers`); the figure is those runs divided by the time
//!   from the first trigger to the arrival of the last one's `COMPLETED` event.
//!
//! Checked: every triggered run completed once, with the output `3`, and the task code ran
//! once per run.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context as _, Result};
use futures::StreamExt;
use serde_json::{json, Value};
use tokio::sync::Notify;
use tokio::task::{JoinHandle, JoinSet};
use trigr_sdk::realtime::SubscribeOptions;
use trigr_sdk::{Client, TriggerOptions};

use super::sdk_e2e::{start_workers, stop_workers};
use super::{latency, Outcome, Settings};
use crate::api::Api;
use crate::report::{DURABLE3_P50_MS, DURABLE3_P99_MS, DURABLE3_RUNS_PER_S};
use crate::server::KEY;
use crate::stats::{fmt_num, millis, per_second, percentile};

/// The task's id, and the tag its runs carry.
pub const TASK: &str = "durable3";
/// Runs at the start of the steady phase that are not counted.
const WARMUP: usize = 10;
/// Concurrent triggering clients of the throughput phase.
pub const CLIENTS: usize = 32;
/// How long the runs of a phase may take to complete after its last trigger.
const DRAIN: Duration = Duration::from_secs(30);

/// What the subscription and the task code saw.
#[derive(Default)]
struct Seen {
    /// Arrival of each run's `COMPLETED` event, by run id.
    completed: Mutex<HashMap<String, Instant>>,
    /// Woken at each completion.
    changed: Notify,
    /// Runs whose `COMPLETED` event came more than once, or with another output than `3`.
    wrong: Mutex<Vec<String>>,
    /// Runs the task code started, by run id, and how often.
    executed: Mutex<HashMap<String, usize>>,
    /// Executions in all.
    executions: AtomicUsize,
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let seen = Arc::new(Seen::default());
    let workers = start_workers(apis, task(seen.clone())).await?;
    let clients = apis
        .iter()
        .map(|api| Client::new(api.base_url(), KEY).context("an SDK client"))
        .collect::<Result<Vec<Client>>>()?;
    let listener = tokio::spawn(listen(clients[0].clone(), seen.clone()));
    let measured = measure(&clients, settings, &seen).await;
    listener.abort();
    let stopped = stop_workers(workers).await;
    let (latencies, flat) = measured?;
    stopped?;

    let wrong = seen.wrong.lock().unwrap().clone();
    ensure!(
        wrong.is_empty(),
        "{} run(s) completed twice or with another output than 3, e.g. {}",
        wrong.len(),
        wrong[0]
    );
    let executions = seen.executions.load(Ordering::Relaxed);
    let distinct = seen.executed.lock().unwrap().len();
    ensure!(
        executions == distinct,
        "the task code ran {executions} times for {distinct} runs"
    );

    let (flat_runs, flat_elapsed) = flat;
    Ok(Outcome {
        figures: vec![
            (&DURABLE3_P50_MS, percentile(&latencies, 50.0)),
            (&DURABLE3_P99_MS, percentile(&latencies, 99.0)),
            (&DURABLE3_RUNS_PER_S, per_second(flat_runs, flat_elapsed)),
        ],
        detail: format!(
            "{} runs of 3 steps at 50/s, min {:.2} ms, max {:.2} ms; {} flat out in {:.2} s",
            latencies.len(),
            latencies.first().copied().unwrap_or(f64::NAN),
            latencies.last().copied().unwrap_or(f64::NAN),
            fmt_num(flat_runs as f64, 0),
            flat_elapsed.as_secs_f64()
        ),
    })
}

/// The task: three journaled steps, each the one before plus one.
fn task(seen: Arc<Seen>) -> trigr_sdk::Task<Value, u64> {
    trigr_sdk::task(TASK).run(move |_payload: Value, ctx| {
        let seen = seen.clone();
        async move {
            seen.executions.fetch_add(1, Ordering::Relaxed);
            *seen
                .executed
                .lock()
                .unwrap()
                .entry(ctx.run.id.clone())
                .or_default() += 1;
            let one: u64 = ctx.step("one", || async { Ok(1) }).await?;
            let two: u64 = ctx.step("two", move || async move { Ok(one + 1) }).await?;
            ctx.step("three", move || async move { Ok(two + 1) }).await
        }
    })
}

/// Reads the tag's events until aborted, recording each run's `COMPLETED` event.
async fn listen(client: Client, seen: Arc<Seen>) -> Result<()> {
    let options = SubscribeOptions {
        stop_on_completion: false,
        ..SubscribeOptions::default()
    };
    let mut events = client.subscribe_to_runs_with_tags(&[TASK], options);
    while let Some(event) = events.next().await {
        let Some(run) = event.context("the durable3 subscription")?.run else {
            continue;
        };
        if run.status != "COMPLETED" {
            continue;
        }
        let arrived = Instant::now();
        let first = seen
            .completed
            .lock()
            .unwrap()
            .insert(run.id.clone(), arrived)
            .is_none();
        if !first || run.output != Some(json!(3)) {
            seen.wrong.lock().unwrap().push(run.id);
        }
        seen.changed.notify_waiters();
    }
    bail!("the durable3 subscription ended")
}

/// The steady phase's latencies (sorted, warm-up left out), and the flat-out phase's runs
/// and time.
async fn measure(
    clients: &[Client],
    settings: &Settings,
    seen: &Seen,
) -> Result<(Vec<f64>, (usize, Duration))> {
    let steady = WARMUP
        + (settings.latency_duration.as_secs_f64() / latency::INTERVAL.as_secs_f64()).ceil()
            as usize;
    let sent = steady_triggers(clients, steady).await?;
    wait_for(seen, sent.iter().map(|(id, _)| id.as_str())).await?;
    let completed = seen.completed.lock().unwrap().clone();
    let mut latencies: Vec<f64> = sent
        .iter()
        .skip(WARMUP)
        .map(|(id, at)| millis(completed[id].saturating_duration_since(*at)))
        .collect();
    latencies.sort_by(f64::total_cmp);

    let flat = (settings.runs / 10).max(100);
    let started = Instant::now();
    let ids = flat_out(clients, flat).await?;
    let last = wait_for(seen, ids.iter().map(String::as_str)).await?;
    Ok((latencies, (flat, last.saturating_duration_since(started))))
}

/// Triggers `count` runs 20 ms apart, alternating between the servers; each run's id and the
/// instant just before its trigger was sent, in order.
async fn steady_triggers(clients: &[Client], count: usize) -> Result<Vec<(String, Instant)>> {
    let mut tick = tokio::time::interval(latency::INTERVAL);
    let mut triggers: Vec<JoinHandle<Result<(String, Instant)>>> = Vec::with_capacity(count);
    for n in 0..count {
        tick.tick().await;
        let client = clients[n % clients.len()].clone();
        triggers.push(tokio::spawn(async move {
            let at = Instant::now();
            let id = trigger(&client, n).await?;
            Ok((id, at))
        }));
    }
    let mut sent = Vec::with_capacity(count);
    for trigger in triggers {
        sent.push(trigger.await??);
    }
    Ok(sent)
}

/// Triggers `count` runs from [`CLIENTS`] concurrent clients; their ids.
async fn flat_out(clients: &[Client], count: usize) -> Result<Vec<String>> {
    let next = Arc::new(AtomicUsize::new(0));
    let mut senders = JoinSet::new();
    for c in 0..CLIENTS {
        let (client, next) = (clients[c % clients.len()].clone(), next.clone());
        senders.spawn(async move {
            let mut ids = Vec::new();
            loop {
                let n = next.fetch_add(1, Ordering::Relaxed);
                if n >= count {
                    return anyhow::Ok(ids);
                }
                ids.push(trigger(&client, n).await?);
            }
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = senders.join_next().await {
        ids.extend(joined??);
    }
    Ok(ids)
}

async fn trigger(client: &Client, n: usize) -> Result<String> {
    let handle = client
        .trigger_id(TASK, &json!({ "n": n }), TriggerOptions::new().tag(TASK))
        .await
        .with_context(|| format!("triggering {TASK} run {n}"))?;
    Ok(handle.id)
}

/// Waits until every run of `ids` has its `COMPLETED` event, at most [`DRAIN`] after the
/// last new one; the arrival of the last of them.
async fn wait_for<'a>(seen: &Seen, ids: impl Iterator<Item = &'a str>) -> Result<Instant> {
    let ids: HashSet<&str> = ids.collect();
    let mut last_change = (0, Instant::now());
    loop {
        let changed = seen.changed.notified();
        let (done, last) = {
            let completed = seen.completed.lock().unwrap();
            let arrivals: Vec<Instant> = ids
                .iter()
                .filter_map(|id| completed.get(*id).copied())
                .collect();
            (arrivals.len(), arrivals.into_iter().max())
        };
        if done == ids.len() {
            return Ok(last.unwrap_or_else(Instant::now));
        }
        if done != last_change.0 {
            last_change = (done, Instant::now());
        } else if last_change.1.elapsed() > DRAIN {
            bail!(
                "{done} of {} durable3 runs completed; none more within {} s",
                ids.len(),
                DRAIN.as_secs()
            );
        }
        let _ = tokio::time::timeout(Duration::from_millis(100), changed).await;
    }
}
