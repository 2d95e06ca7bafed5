//! # trigr-bench
//!
//! Measures a trigr server the way clients and workers use it: over HTTP, with the durable store
//! (every acknowledged write is on disk; no relaxed mode). The server runs inside this process on
//! `127.0.0.1` with a fresh temporary SQLite store for every run of every scenario, so scenarios
//! cannot disturb each other. Each scenario registers and promotes a deployment declaring one
//! task, `noop`, and every run's payload is a few bytes of JSON.
//!
//! ## Figures
//!
//! * **`trigger_per_s`** — single-run triggers per second. 32 concurrent clients send
//!   `POST /api/v1/tasks/noop/trigger`, one run per request, until `--runs` runs exist;
//!   figure = runs / wall time.
//! * **`batch_trigger_per_s`** — runs created per second through the two-phase batch API:
//!   4 concurrent senders, each batch `POST /api/v3/batches` (500 runs) then
//!   `POST /api/v3/batches/{id}/items` with 500 NDJSON lines answered `sealed: true`;
//!   figure = runs / wall time.
//! * **`e2e_runs_per_s`** — runs per second from trigger to `COMPLETED`. The batch senders
//!   create `--runs` runs while 4 protocol-level workers dequeue (`maxRuns` 200, long-poll 1 s)
//!   and complete each lot with one batched `complete` call; figure = runs / time from the first
//!   trigger to the answer that completed the last run. The server's view is checked afterwards
//!   (nothing left queued, a batch's runs all completed, a random sample reads `COMPLETED`).
//! * **`trigger_to_dequeue_p50_ms`, `trigger_to_dequeue_p99_ms`** — latency from just before a
//!   trigger request is sent to the arrival of the dequeue answer that hands the run to an
//!   already waiting worker (long-poll, `maxRuns` 10, `waitMs` 5000), at a steady 50 runs/s for
//!   10 s (3 s with `--quick`). Runs are matched by a sequence number in their payload; the first
//!   10 are warm-up and not counted. Nearest-rank percentiles, milliseconds.
//!
//! ## Repeats and output
//!
//! `--repeat K` runs every scenario K times (in rounds: all scenarios once, then again) and
//! reports the median of each figure; every run's value is printed to stderr as it finishes and
//! listed in the table. The table goes to stdout; `--json` prints the same figures as one JSON
//! line instead (see `report.rs`). `--quick` is a small single pass for CI: 2,000 runs per
//! throughput scenario and 3 s of latency sampling. Any unexpected server answer stops the
//! program with an error quoting the request and the response.

mod api;
mod report;
mod scenarios;
mod server;
mod stats;

use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;

use report::{Measured, Report};
use scenarios::{Scenario, Settings};
use stats::fmt_num;

/// Benchmark of a trigr server started in this process on a temporary durable store.
#[derive(Debug, Parser)]
#[command(name = "trigr-bench", version)]
struct Args {
    /// Runs created by each throughput scenario [default: 20000, or 2000 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    runs: Option<u64>,

    /// A small single pass for CI (2,000 runs, 3 s of latency sampling).
    #[arg(long)]
    quick: bool,

    /// Run every scenario this many times and report the medians.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    repeat: u32,

    /// Print the figures as one JSON line instead of a table.
    #[arg(long)]
    json: bool,

    /// Run only these scenarios (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,

    /// Seconds of steady-rate triggering in the latency scenario [default: 10, or 3 with --quick].
    #[arg(long)]
    latency_secs: Option<f64>,

    /// Longest one scenario run may take, in seconds, before the benchmark fails.
    #[arg(long, default_value_t = 600)]
    timeout_secs: u64,
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    let settings = Settings {
        runs: args.runs.unwrap_or(if args.quick { 2_000 } else { 20_000 }) as usize,
        latency_duration: Duration::from_secs_f64(
            args.latency_secs
                .unwrap_or(if args.quick { 3.0 } else { 10.0 })
                .max(0.02),
        ),
        timeout: Duration::from_secs(args.timeout_secs),
    };
    let chosen: Vec<Scenario> = if args.only.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        Scenario::ALL
            .into_iter()
            .filter(|s| args.only.contains(s))
            .collect()
    };

    let mut measured: Vec<Measured> = Vec::new();
    for round in 1..=args.repeat {
        for &scenario in &chosen {
            let outcome = scenario.run_once(&settings).await.with_context(|| {
                format!(
                    "scenario {} (run {round} of {})",
                    scenario.name(),
                    args.repeat
                )
            })?;
            let values: Vec<String> = outcome
                .figures
                .iter()
                .map(|(f, v)| format!("{} {} {}", f.key, fmt_num(*v, f.decimals), f.unit))
                .collect();
            eprintln!(
                "[{} {round}/{}] {} ({})",
                scenario.name(),
                args.repeat,
                values.join(", "),
                outcome.detail
            );
            for (figure, value) in outcome.figures {
                match measured.iter_mut().find(|m| m.figure == figure) {
                    Some(m) => m.values.push(value),
                    None => measured.push(Measured {
                        figure,
                        values: vec![value],
                    }),
                }
            }
        }
    }

    if args.json {
        println!("{}", Report::from_measured(&measured).to_json_line());
    } else {
        println!("{}", report::table(&measured));
    }
    Ok(())
}
