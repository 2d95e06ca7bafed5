//! `burst_*`: one environment's burst of triggers, and what it does to another environment.
//!
//! Two environments of one project: A (the dev key) and B (the staging key). One worker serves
//! both; a worker is bound to one environment (its key) and version, so it is one dequeue loop
//! per environment: A's like the e2e scenario's (`maxRuns` 200, `waitMs` 1000, each lot
//! completed with one batched `complete`, at most 4 lots completing at once), B's like the
//! latency scenario's (`maxRuns` 10, `waitMs` 5000).
//!
//! B triggers a run every 20 ms (50/s) for the whole scenario, its payload `{"seq":k}`. After
//! B's first 50 triggers (1 s; the first 10 are warm-up, the other 40 the quiet figure of the
//! detail line), A's 32 clients send `settings.burst_triggers` single triggers
//! (`POST /api/v1/tasks/noop/trigger`, one run each) as fast as they are answered. Then the
//! scenario waits until A's loop has completed every run A's triggers were answered with; it
//! gives up when no run of A completes for 30 s. B's triggers stop then, and its last runs may
//! take 15 s to arrive.
//!
//! Figures, from a run on servers with the mollifier as the benchmark's `--mollifier` says
//! (on by default):
//!
//! * `burst_trigger_p50_ms`, `_p99_ms`: A's trigger latency, from just before the request is
//!   sent to its answer;
//! * `burst_other_env_start_p50_ms`, `_p99_ms`: B's trigger→dequeue latency (as in the latency
//!   scenario) of B's triggers sent from A's first trigger until A's last run completed;
//! * `burst_lost`: triggers of A answered `200` whose run id did not end `COMPLETED` exactly
//!   once (by the completion answers) when the wait ended;
//! * `burst_drain_s`: from the answer to A's last trigger until the completion answer that
//!   completed A's last run (`NaN`, `null` in JSON, when the wait gave up).
//!
//! Then the same on fresh servers with the mollifier off, for
//! `burst_off_other_env_start_p50_ms` and `_p99_ms`: the effect on B without burst smoothing.
//!
//! When nothing was lost the servers' view is checked too: A lists no open run (buffered runs
//! included) and a sample of A's runs reads back `COMPLETED`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{anyhow, ensure, Result};
use rand::seq::SliceRandom;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::latency::{self, seq_of};
use super::{Outcome, Settings};
use crate::api::{self, Api, DequeuedRun, TASK, TRIGGER_BODY};
use crate::report::{
    BURST_DRAIN_S, BURST_LOST, BURST_OFF_OTHER_ENV_START_P50_MS, BURST_OFF_OTHER_ENV_START_P99_MS,
    BURST_OTHER_ENV_START_P50_MS, BURST_OTHER_ENV_START_P99_MS, BURST_TRIGGER_P50_MS,
    BURST_TRIGGER_P99_MS,
};
use crate::server::STAGING_KEY;
use crate::stats::{fmt_num, millis, per_second, percentile};

/// Concurrent trigger clients of environment A.
pub const CLIENTS: usize = 32;
/// B's triggers before A's burst starts.
const B_BEFORE: u64 = 50;
/// B's first triggers, not counted (connection warm-up).
const B_WARMUP: u64 = 10;
/// `maxRuns` of A's dequeues.
const A_MAX_RUNS: u32 = 200;
/// `waitMs` of A's dequeues.
const A_WAIT_MS: u64 = 1000;
/// Lots of A's runs being completed at once.
const A_COMPLETING: usize = 4;
/// The wait for A's runs gives up when none completes for this long.
const STALL: Duration = Duration::from_secs(30);
/// How long B's last runs may take to arrive after B's last trigger.
const B_TAIL: Duration = Duration::from_secs(15);
/// How often the wait looks at the progress and at A's buffer.
const LOOK: Duration = Duration::from_millis(100);
/// A's runs read back one by one at the end.
const SAMPLE: usize = 20;

/// What A's trigger clients and A's dequeue loop share.
struct BurstA {
    /// Triggers to send.
    total: usize,
    /// Next trigger number to send.
    next: AtomicUsize,
    /// `COMPLETED` completion answers, by run id.
    completions: Mutex<HashMap<String, u32>>,
    /// Distinct runs answered `COMPLETED`.
    completed: AtomicUsize,
    /// Completions answered anything but `COMPLETED`.
    refused: AtomicUsize,
    /// When the count of distinct completed runs reached `total`.
    all_completed: Mutex<Option<Instant>>,
}

/// What B's trigger loop and B's dequeue loop share.
#[derive(Default)]
struct SteadyB {
    /// Send instants, by `seq`.
    sent: Mutex<HashMap<u64, Instant>>,
    /// Trigger answer latencies, ms, by `seq`.
    answered: Mutex<HashMap<u64, f64>>,
    /// Arrival instants of the dequeue answers, by `seq`.
    arrived: Mutex<HashMap<u64, Instant>>,
    /// Whether a payload came back as a JSON string (warned once).
    string_payload_seen: AtomicBool,
}

/// A's burst as its clients saw it.
struct Sent {
    /// Run ids of the triggers answered `200`.
    ids: Vec<String>,
    /// Trigger latencies, ms, sorted.
    latencies: Vec<f64>,
    /// From the first request to the last answer.
    elapsed: Duration,
    /// The last answer.
    last_answer: Instant,
}

/// A's buffer as `GET /api/v1/mollifier` showed it during the wait.
#[derive(Default)]
struct BufferSeen {
    tripped: bool,
    max_depth: u64,
}

/// One burst on one set of servers.
pub struct Phase {
    sent: Sent,
    /// From A's last answer to the completion of A's last run; `None` when the wait gave up.
    drain: Option<Duration>,
    lost: usize,
    /// Runs of A answered `COMPLETED` more than once.
    twice: usize,
    refused: usize,
    buffer: BufferSeen,
    /// B's latencies during the burst and drain, and before it, ms, sorted.
    b_during: Vec<f64>,
    b_quiet: Vec<f64>,
    /// B's trigger answer latencies during the burst and drain, ms, sorted: the part of
    /// `b_during` spent waiting for the trigger's answer.
    b_trigger_during: Vec<f64>,
}

/// The figures of a burst on servers as configured (`smoothed`) and with the mollifier off
/// (`unsmoothed`).
pub fn outcome(smoothed: &Phase, unsmoothed: &Phase, settings: &Settings) -> Outcome {
    let total = settings.burst_triggers;
    let detail = format!(
        "mollifier {}: {}; mollifier off: {}",
        settings.mollifier.as_str(),
        describe(smoothed, total),
        describe(unsmoothed, total)
    );
    let drain_s = smoothed.drain.map_or(f64::NAN, |d| d.as_secs_f64());
    let (with, without) = (smoothed, unsmoothed);
    Outcome {
        figures: vec![
            (
                &BURST_TRIGGER_P50_MS,
                percentile(&with.sent.latencies, 50.0),
            ),
            (
                &BURST_TRIGGER_P99_MS,
                percentile(&with.sent.latencies, 99.0),
            ),
            (
                &BURST_OTHER_ENV_START_P50_MS,
                percentile(&with.b_during, 50.0),
            ),
            (
                &BURST_OTHER_ENV_START_P99_MS,
                percentile(&with.b_during, 99.0),
            ),
            (&BURST_LOST, with.lost as f64),
            (&BURST_DRAIN_S, drain_s),
            (
                &BURST_OFF_OTHER_ENV_START_P50_MS,
                percentile(&without.b_during, 50.0),
            ),
            (
                &BURST_OFF_OTHER_ENV_START_P99_MS,
                percentile(&without.b_during, 99.0),
            ),
        ],
        detail,
    }
}

/// The detail of one phase.
fn describe(p: &Phase, total: usize) -> String {
    let drain = match p.drain {
        Some(d) => format!("drained {:.2} s after the last answer", d.as_secs_f64()),
        None => format!("NOT drained (no completion for {} s)", STALL.as_secs()),
    };
    let mut text = format!(
        "A sent {} triggers in {:.2} s ({} /s, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms), {}, \
         {}buffer depth up to {}, lost {}; B p50 {:.2} / p99 {:.2} ms over {} runs, of which \
         its trigger's answer p50 {:.2} / p99 {:.2} ms (quiet p50 {:.2} ms)",
        fmt_num(total as f64, 0),
        p.sent.elapsed.as_secs_f64(),
        fmt_num(per_second(total, p.sent.elapsed), 0),
        percentile(&p.sent.latencies, 50.0),
        percentile(&p.sent.latencies, 99.0),
        p.sent.latencies.last().copied().unwrap_or(f64::NAN),
        drain,
        if p.buffer.tripped { "tripped, " } else { "" },
        fmt_num(p.buffer.max_depth as f64, 0),
        p.lost,
        percentile(&p.b_during, 50.0),
        percentile(&p.b_during, 99.0),
        p.b_during.len(),
        percentile(&p.b_trigger_during, 50.0),
        percentile(&p.b_trigger_during, 99.0),
        percentile(&p.b_quiet, 50.0),
    );
    if p.twice > 0 || p.refused > 0 {
        text.push_str(&format!(
            " ({} runs completed twice, {} completions refused)",
            p.twice, p.refused
        ));
    }
    text
}

/// One burst of `total` triggers on the server of `api_a`: B alone for a second, then A's
/// burst, until A's runs are all completed.
pub async fn phase(api_a: &Api, total: usize) -> Result<Phase> {
    let api_b = api_a.with_key(STAGING_KEY)?;
    let version_a = api_a.register_deployment(&[TASK]).await?;
    let version_b = api_b.register_deployment(&[TASK]).await?;
    // Opens each loop's connection before the measured part.
    api_a.dequeue(&version_a, 1, 0).await?;
    api_b.dequeue(&version_b, 1, 0).await?;

    let a = Arc::new(BurstA {
        total,
        next: AtomicUsize::new(0),
        completions: Mutex::new(HashMap::with_capacity(total)),
        completed: AtomicUsize::new(0),
        refused: AtomicUsize::new(0),
        all_completed: Mutex::new(None),
    });
    let b = Arc::new(SteadyB::default());
    let (stop, stopped) = watch::channel(false);
    let (stop_b, b_stopped) = watch::channel(false);
    let a_loop = tokio::spawn(dequeue_a(
        api_a.clone(),
        version_a,
        a.clone(),
        stopped.clone(),
    ));
    let b_loop = tokio::spawn(dequeue_b(api_b.clone(), version_b, b.clone(), b_stopped));
    let b_triggers = tokio::spawn(trigger_b(api_b, b.clone(), stopped));

    tokio::time::sleep(latency::INTERVAL * B_BEFORE as u32).await;
    let burst_started = Instant::now();
    let sent = send_burst(api_a, &a).await?;
    let loop_ended = || a_loop.is_finished() || b_loop.is_finished() || b_triggers.is_finished();
    let (drained, buffer) = wait_for_drain(api_a, &a, loop_ended).await?;
    let window_end = drained.unwrap_or_else(Instant::now);
    stop.send_replace(true);

    // A loop that ended early did so with an error, which these answers carry.
    a_loop.await??;
    let b_total = b_triggers.await??;
    wait_for_b(&b, b_total, &b_loop).await?;
    stop_b.send_replace(true);
    b_loop.await??;

    let (lost, twice) = tally(&a, &sent.ids);
    if lost == 0 {
        verify(api_a, &sent.ids).await?;
    }
    let (b_quiet, b_during) = b_samples(&b, &b.arrived_ms(), burst_started, window_end);
    let (_, b_trigger_during) = b_samples(&b, &b.answered_ms(), burst_started, window_end);
    Ok(Phase {
        drain: drained.map(|d| d.saturating_duration_since(sent.last_answer)),
        sent,
        lost,
        twice,
        refused: a.refused.load(Ordering::Relaxed),
        buffer,
        b_during,
        b_quiet,
        b_trigger_during,
    })
}

/// A's 32 clients: single triggers until `a.total` were answered.
async fn send_burst(api: &Api, a: &Arc<BurstA>) -> Result<Sent> {
    let started = Instant::now();
    let mut clients = JoinSet::new();
    for _ in 0..CLIENTS {
        let (api, a) = (api.clone(), a.clone());
        clients.spawn(async move {
            let mut ids = Vec::new();
            let mut latencies = Vec::new();
            while a.next.fetch_add(1, Ordering::Relaxed) < a.total {
                let before = Instant::now();
                ids.push(api.trigger(TASK, TRIGGER_BODY).await?);
                latencies.push(millis(before.elapsed()));
            }
            anyhow::Ok((ids, latencies, Instant::now()))
        });
    }
    let mut sent = Sent {
        ids: Vec::with_capacity(a.total),
        latencies: Vec::with_capacity(a.total),
        elapsed: Duration::ZERO,
        last_answer: started,
    };
    while let Some(joined) = clients.join_next().await {
        let (ids, latencies, last) = joined??;
        sent.ids.extend(ids);
        sent.latencies.extend(latencies);
        sent.last_answer = sent.last_answer.max(last);
    }
    sent.elapsed = sent.last_answer - started;
    sent.latencies.sort_by(f64::total_cmp);
    Ok(sent)
}

/// Waits until A's loop completed every run, none completed for [`STALL`], or `loop_ended`
/// (a loop stopped with an error); returns when the last run completed (if they all did) and
/// what A's buffer looked like meanwhile.
async fn wait_for_drain(
    api: &Api,
    a: &BurstA,
    loop_ended: impl Fn() -> bool,
) -> Result<(Option<Instant>, BufferSeen)> {
    let mut buffer = BufferSeen::default();
    let mut last = (a.completed.load(Ordering::Relaxed), Instant::now());
    loop {
        if let Some(done) = *a.all_completed.lock().unwrap() {
            return Ok((Some(done), buffer));
        }
        if loop_ended() {
            return Ok((None, buffer));
        }
        let status = api.mollifier().await?;
        buffer.tripped |= status["tripped"].as_bool() == Some(true);
        buffer.max_depth = buffer.max_depth.max(status["depth"].as_u64().unwrap_or(0));
        let completed = a.completed.load(Ordering::Relaxed);
        if completed != last.0 {
            last = (completed, Instant::now());
        } else if last.1.elapsed() > STALL {
            return Ok((None, buffer));
        }
        tokio::time::sleep(LOOK).await;
    }
}

/// A's dequeue loop: takes lots of up to 200 runs and completes each in the background (at
/// most [`A_COMPLETING`] at once), until stopped.
async fn dequeue_a(
    api: Api,
    version: String,
    a: Arc<BurstA>,
    mut stopped: watch::Receiver<bool>,
) -> Result<()> {
    let mut completing = JoinSet::new();
    loop {
        let (runs, _) = tokio::select! {
            answer = api.dequeue(&version, A_MAX_RUNS, A_WAIT_MS) => answer?,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        if runs.is_empty() {
            continue;
        }
        while completing.len() >= A_COMPLETING {
            if let Some(joined) = completing.join_next().await {
                joined??;
            }
        }
        let (api, a) = (api.clone(), a.clone());
        completing.spawn(async move { complete_a(&api, &runs, &a).await });
        while let Some(joined) = completing.try_join_next() {
            joined??;
        }
    }
    while let Some(joined) = completing.join_next().await {
        joined??;
    }
    Ok(())
}

/// Completes a lot of A's runs and counts every `COMPLETED` answer by run id.
async fn complete_a(api: &Api, runs: &[DequeuedRun], a: &BurstA) -> Result<()> {
    let results = api.complete_ok(runs).await?;
    let answered = Instant::now();
    let mut completions = a.completions.lock().unwrap();
    for (run, result) in runs.iter().zip(&results) {
        if !api::completed(result, &run.run_id) {
            a.refused.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let count = completions.entry(run.run_id.clone()).or_insert(0);
        *count += 1;
        if *count == 1 && a.completed.fetch_add(1, Ordering::Relaxed) + 1 == a.total {
            *a.all_completed.lock().unwrap() = Some(answered);
        }
    }
    Ok(())
}

/// B's trigger loop: one trigger every 20 ms with payload `{"seq":k}` until stopped; returns
/// how many it sent.
async fn trigger_b(api: Api, b: Arc<SteadyB>, mut stopped: watch::Receiver<bool>) -> Result<u64> {
    let mut tick = tokio::time::interval(latency::INTERVAL);
    let mut triggers = JoinSet::new();
    let mut sent = 0;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stopped.wait_for(|stop| *stop) => break,
        }
        let seq: u64 = sent;
        sent += 1;
        let (api, b) = (api.clone(), b.clone());
        triggers.spawn(async move {
            let body = format!(
                r#"{{"payload":"{{\"seq\":{seq}}}","options":{{"payloadType":"application/json"}}}}"#
            );
            let before = Instant::now();
            b.sent.lock().unwrap().insert(seq, before);
            api.trigger(TASK, &body).await?;
            b.answered
                .lock()
                .unwrap()
                .insert(seq, millis(before.elapsed()));
            anyhow::Ok(())
        });
        while let Some(joined) = triggers.try_join_next() {
            joined??;
        }
    }
    while let Some(joined) = triggers.join_next().await {
        joined??;
    }
    Ok(sent)
}

/// B's dequeue loop: long-polls, notes when each `seq` arrived, completes in the background,
/// until stopped.
async fn dequeue_b(
    api: Api,
    version: String,
    b: Arc<SteadyB>,
    mut stopped: watch::Receiver<bool>,
) -> Result<()> {
    let mut completing = JoinSet::new();
    loop {
        let (runs, arrived) = tokio::select! {
            answer = api.dequeue(&version, latency::MAX_RUNS, latency::WAIT_MS) => answer?,
            _ = stopped.wait_for(|stop| *stop) => break,
        };
        if runs.is_empty() {
            continue;
        }
        {
            let mut arrivals = b.arrived.lock().unwrap();
            for run in &runs {
                let seq = seq_of(run, &b.string_payload_seen)?;
                ensure!(
                    arrivals.insert(seq, arrived).is_none(),
                    "B's seq {seq} was dequeued twice (run {})",
                    run.run_id
                );
            }
        }
        let api = api.clone();
        completing.spawn(async move { latency::complete(&api, &runs).await });
        while let Some(joined) = completing.try_join_next() {
            joined??;
        }
    }
    while let Some(joined) = completing.join_next().await {
        joined??;
    }
    Ok(())
}

/// Waits (at most [`B_TAIL`]) until B's loop received all `b_total` runs of B.
async fn wait_for_b(b: &SteadyB, b_total: u64, b_loop: &JoinHandle<Result<()>>) -> Result<()> {
    let deadline = Instant::now() + B_TAIL;
    loop {
        let received = b.arrived.lock().unwrap().len() as u64;
        if received >= b_total {
            return Ok(());
        }
        ensure!(
            !b_loop.is_finished(),
            "B's dequeue loop stopped with {received} of {b_total} runs received"
        );
        ensure!(
            Instant::now() < deadline,
            "B's loop received {received} of {b_total} runs within {} s of B's last trigger",
            B_TAIL.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Acknowledged runs of A not completed exactly once, and runs completed more than once.
fn tally(a: &BurstA, acked: &[String]) -> (usize, usize) {
    let completions = a.completions.lock().unwrap();
    let count = |id: &String| completions.get(id).copied().unwrap_or(0);
    let lost = acked.iter().filter(|id| count(id) != 1).count();
    let twice = acked.iter().filter(|id| count(id) > 1).count();
    (lost, twice)
}

impl SteadyB {
    /// Trigger→dequeue latency, ms, by `seq`, of the runs that arrived.
    fn arrived_ms(&self) -> HashMap<u64, f64> {
        let sent = self.sent.lock().unwrap();
        let arrived = self.arrived.lock().unwrap();
        sent.iter()
            .filter_map(|(seq, send)| {
                let arrival = arrived.get(seq)?;
                Some((*seq, millis(arrival.saturating_duration_since(*send))))
            })
            .collect()
    }

    /// Trigger answer latency, ms, by `seq`.
    fn answered_ms(&self) -> HashMap<u64, f64> {
        self.answered.lock().unwrap().clone()
    }
}

/// `latencies` (ms, by `seq`) of B's triggers sent before `from`, and of those sent from
/// `from` to `to`, each sorted; the warm-up left out.
fn b_samples(
    b: &SteadyB,
    latencies: &HashMap<u64, f64>,
    from: Instant,
    to: Instant,
) -> (Vec<f64>, Vec<f64>) {
    let sent = b.sent.lock().unwrap();
    let (mut quiet, mut during) = (Vec::new(), Vec::new());
    for (seq, send) in sent.iter().filter(|(seq, _)| **seq >= B_WARMUP) {
        let Some(ms) = latencies.get(seq).copied() else {
            continue;
        };
        if *send < from {
            quiet.push(ms);
        } else if *send <= to {
            during.push(ms);
        }
    }
    quiet.sort_by(f64::total_cmp);
    during.sort_by(f64::total_cmp);
    (quiet, during)
}

/// The server's view of A once every run completed: no open run (buffered ones included),
/// and a sample reads back `COMPLETED`.
async fn verify(api: &Api, ids: &[String]) -> Result<()> {
    let query = "filter%5Bstatus%5D=PENDING_VERSION,DELAYED,QUEUED,DEQUEUED,EXECUTING,WAITING&page%5Bsize%5D=10";
    let open = api.list_runs(query).await?;
    ensure!(
        open.data.is_empty(),
        "after every run of A completed, GET /api/v1/runs?{query} still lists runs: {open:?}"
    );
    let sample: Vec<&String> = ids
        .choose_multiple(&mut rand::thread_rng(), SAMPLE)
        .collect();
    for id in sample {
        let run = api.get_run(id).await?;
        if run.summary.common.status != "COMPLETED" {
            return Err(anyhow!(
                "GET /api/v3/runs/{id} of a run completed with status COMPLETED answered {run:?}"
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn burst_with(completions: &[(&str, u32)]) -> BurstA {
        BurstA {
            total: 3,
            next: AtomicUsize::new(0),
            completions: Mutex::new(
                completions
                    .iter()
                    .map(|(id, n)| (id.to_string(), *n))
                    .collect(),
            ),
            completed: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            all_completed: Mutex::new(None),
        }
    }

    #[test]
    fn a_run_completed_twice_or_never_is_lost() {
        let acked: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let a = burst_with(&[("a", 1), ("b", 2), ("d", 1), ("stranger", 1)]);
        assert_eq!(tally(&a, &acked), (2, 1));
        let a = burst_with(&[("a", 1), ("b", 1), ("c", 1), ("d", 1)]);
        assert_eq!(tally(&a, &acked), (0, 0));
    }

    #[test]
    fn b_samples_split_at_the_burst_and_leave_out_the_warm_up() {
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let b = SteadyB::default();
        {
            let (mut sent, mut arrived) = (b.sent.lock().unwrap(), b.arrived.lock().unwrap());
            // Warm-up: not counted even with a huge latency.
            sent.insert(0, at(0));
            arrived.insert(0, at(900));
            // Before the burst (starting at 1000 ms): quiet.
            sent.insert(B_WARMUP, at(200));
            arrived.insert(B_WARMUP, at(202));
            // During it (to 2000 ms).
            sent.insert(B_WARMUP + 1, at(1000));
            arrived.insert(B_WARMUP + 1, at(1030));
            sent.insert(B_WARMUP + 2, at(1500));
            arrived.insert(B_WARMUP + 2, at(1510));
            // After it: neither.
            sent.insert(B_WARMUP + 3, at(2100));
            arrived.insert(B_WARMUP + 3, at(2101));
        }
        let (quiet, during) = b_samples(&b, &b.arrived_ms(), at(1000), at(2000));
        let rounded = |v: Vec<f64>| v.iter().map(|ms| ms.round() as u64).collect::<Vec<_>>();
        assert_eq!(rounded(quiet), vec![2]);
        assert_eq!(rounded(during), vec![10, 30]);
    }
}
