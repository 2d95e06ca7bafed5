//! # trigr-bench
//!
//! Measures trigr servers the way clients and workers use them: over HTTP, with durable stores
//! (every acknowledged write is on disk; no relaxed mode). The servers run inside this process
//! on `127.0.0.1` with a fresh store for every run of every scenario, so scenarios cannot
//! disturb each other. Each scenario registers and promotes a deployment declaring one task,
//! `noop`, and every run's payload is a few bytes of JSON.
//!
//! ## Stores
//!
//! * **SQLite** (`sqlite` column, unprefixed keys): one server on a new temporary SQLite file
//!   (WAL, `synchronous=FULL`).
//! * **PostgreSQL, one server** (`pg 1 server` column, keys `pg_…`): one server on a new schema
//!   `trigr_bench_<pid>_<n>` of the database `--database-url` names (or
//!   `TRIGR_BENCH_DATABASE_URL`; default `postgres://postgres@127.0.0.1:5432/postgres`),
//!   reached through `options=-c search_path=<schema>` appended to the URL. The schema is
//!   created before the run and dropped after it, like the temporary SQLite file. Commits wait
//!   for the WAL flush (`synchronous_commit = on`).
//! * **PostgreSQL, two servers** (`pg 2 servers` column, keys `pg2_…`): two server instances on
//!   the same fresh schema. They run in this process, but are independent as two nodes would be:
//!   each has its own engine, wake-up signals, timer loop, connection pool and port; they share
//!   only the database. Triggers and workers are split evenly over both.
//!
//! `--backend sqlite,postgres` picks the stores. By default SQLite is measured, and PostgreSQL
//! too when its database answers; when it does not, a line saying
//! `PostgreSQL scenarios skipped: …` and why goes to stderr and under the table. With an
//! explicit `--backend postgres` an unreachable database is an error. The `trigger`, `batch`,
//! `sse`, `loopback`, `dashboard`, `disk`, `server-cost` and `plan` scenarios run on SQLite
//! only (they measure the SQLite server alone, the machine's loopback network or its disk);
//! `burst`, `scale` and `floor` run on SQLite and on PostgreSQL with one server (the floor with
//! no server at all); the others run on every store.
//!
//! ## Figures
//!
//! * **`trigger_per_s`** — single-run triggers per second. 32 concurrent clients send
//!   `POST /api/v1/tasks/noop/trigger`, one run per request, until `--runs` runs exist;
//!   figure = runs / wall time.
//! * **`trigger_serial_per_s`** — the same trigger from one client, each sent after the answer
//!   to the one before (a tenth of `--runs`, 100 to 2,000): what one durable write per trigger
//!   costs, to read next to `1000 / disk_fsync_p50_ms` (one fsync per trigger).
//! * **`batch_trigger_per_s`** — runs created per second through the two-phase batch API:
//!   4 concurrent senders, each batch `POST /api/v3/batches` (500 runs) then
//!   `POST /api/v3/batches/{id}/items` with 500 NDJSON lines answered `sealed: true`;
//!   figure = runs / wall time.
//! * **`e2e_runs_per_s`, `pg_e2e_runs_per_s`, `pg2_e2e_runs_per_s`** — runs per second from
//!   trigger to `COMPLETED`. The batch senders create `--runs` runs while 4 protocol-level
//!   workers dequeue (`maxRuns` 200, long-poll 1 s) and complete each lot with one batched
//!   `complete` call; figure = runs / time from the first trigger to the answer that completed
//!   the last run. With two servers, batch sender `i` and worker `i` talk to server `i % 2` (2
//!   senders and 2 workers per server). The servers' view is checked afterwards (nothing left
//!   queued, a batch's runs all completed, a random sample, read from each server in turn,
//!   reads `COMPLETED`).
//! * **`process_runs_per_s`** (and `pg_…`, `pg2_…`) — processing alone, as queues that
//!   measure only that report it: the batch senders create `--runs` runs with no worker
//!   running (not timed); once every buffered trigger has become a run (the mollifier's buffer,
//!   `GET /api/v1/mollifier`, is empty) the 4 `e2e` workers start; figure = runs / time from
//!   their start to the answer that completed the last run. Checked afterwards as `e2e` is.
//! * **`server_rss_mb`, `server_cpu_s_per_10k`** (SQLite, scenario `server-cost`) — the `e2e`
//!   workload against the real `trigr server` binary as a child process (beside this one, as
//!   for `--redis-url`), so that the server's costs are not mixed with the clients': its peak
//!   resident memory (`VmHWM`) and the CPU time it used during the workload per 10,000 runs.
//! * **`floor_runs_per_s`** (SQLite, and `pg_…` with one connection pool; scenario `floor`) —
//!   the store's own capacity for the e2e workload's durable writes, with no server, HTTP,
//!   engine or trigr code: runs created 500 per commit, claimed 200 per commit and completed 200
//!   per commit, straight through SQLite's and PostgreSQL's own clients (SQLite: one thread;
//!   PostgreSQL: 4 creating and 4 claiming connections). `e2e_runs_per_s / floor_runs_per_s`
//!   is what the layers above the database cost. See `scenarios/floor.rs`.
//! * **`sdk_e2e_runs_per_s`** (and `pg_…`, `pg2_…`) — the same end-to-end figure with the
//!   Rust SDK's own worker (`trigr-sdk`, public API only) instead of protocol-level loops: a
//!   no-op `trigr_sdk::task("noop")` served by one `trigr_sdk::Worker` per server
//!   (concurrency 1000, dequeue long-poll 1 s; the SDK heartbeats each run as it starts it and
//!   batches the completions). The first worker registers and promotes the deployment, the
//!   others serve its version. Once they run, the batch senders create `--runs` runs; when the
//!   task code has run for every one of them, `GET /api/v1/runs` of the open statuses is read
//!   every 2 ms; figure = runs / time from the first trigger to the answer that listed none.
//!   Then the workers are shut down and the runs checked as in `e2e`, plus: none failed and none
//!   was executed twice.
//! * **`trigger_to_dequeue_p50_ms`, `trigger_to_dequeue_p99_ms`** (and `pg_…`, `pg2_…`) —
//!   latency from just before a trigger request is sent to the arrival of the dequeue answer
//!   that hands the run to an already waiting worker (long-poll, `maxRuns` 10, `waitMs` 5000),
//!   at a steady 50 runs/s for 10 s (3 s with `--quick`). With two servers, one worker waits on
//!   each and the triggers alternate between the servers; a run goes to whichever worker asks
//!   first (the progress line says how many reached the other server's worker). Runs are matched
//!   by a sequence number in their payload; the first 10 are warm-up and not counted.
//!   Nearest-rank percentiles, milliseconds.
//! * **`resume_p50_ms`, `resume_p99_ms`** (and `pg_…`, `pg2_…`) — latency from just before
//!   `POST /api/v1/waitpoints/tokens/{id}/complete` is sent to the arrival of the dequeue answer
//!   that hands the resumed run back (`resumed: true`, its journal holding the completed wait) to
//!   an already waiting worker (long-poll, `maxRuns` 10, `waitMs` 5000). Setup, not measured:
//!   the runs are created, dequeued and each suspended on a token of its own (`POST
//!   /api/v1/waitpoints/tokens`, then `POST /api/v1/worker/runs/{id}/waits` with
//!   `{"type":"token"}` and `suspend: true`, answered `WAITING`). Then one token is completed
//!   every 20 ms (50/s) for 10 s (3 s with `--quick`), alternating between the servers when
//!   there are two; the first 10 are warm-up. Nearest-rank percentiles, milliseconds.
//! * **`steps_per_s`** (and `pg_…`, `pg2_…`) — journaled steps per second for runs of 100 steps.
//!   `--runs` / 40 runs (at least 64) are created first, not measured. Then 64 executors (split
//!   over the servers) each loop: dequeue one run, journal its 100 steps one after the other
//!   (`POST /api/v1/worker/runs/{id}/steps`, positions 0–99, each answered `recorded: true`
//!   before the next is sent), complete it. So 64 runs are in flight, each with one step
//!   outstanding. Figure = steps / time from the start of the executors to the completion of the
//!   last run.
//! * **`durable3_p50_ms`, `durable3_p99_ms`, `durable3_runs_per_s`** (and `pg_…`, `pg2_…`) —
//!   runs of a task of three journaled steps (`ctx.step`) with one Rust SDK worker per server,
//!   triggered through the SDK's client with a tag whose realtime subscription (opened first)
//!   says when each run is `COMPLETED`: trigger→completed-event latency at 50 runs/s for the
//!   latency sampling time (the first 10 not counted), then `--runs` / 10 runs (at least 100)
//!   from 32 concurrent clients, runs divided by the time from the first trigger to the last
//!   completion event. Every run must complete once with the output `3`. See
//!   `scenarios/durable3.rs`.
//! * **`sse_fanout_events_per_s`, `sse_event_p50_ms`, `sse_event_p99_ms`** (SQLite) — realtime
//!   fan-out to 1,000 server-sent-event subscribers of one tag: events delivered per second
//!   across all of them for a burst of `--runs` / 20 runs, then the delay from a change to its
//!   arrival at a subscriber under a steady 20 runs/s for 10 s (3 s with `--quick`); see
//!   `scenarios/sse.rs`. The subscribers share the machine (and its cores) with the server.
//!   `--sse-subscribers N` measures with another count, to see how the delay grows with it.
//! * **`loopback_fanout_p50_ms`, `loopback_fanout_p99_ms`** — for context, the floor under
//!   the sse delay on this machine: the sse steady load's messages (three 300-byte messages
//!   1 ms apart every 50 ms) written to as many plain loopback TCP connections by one thread
//!   per core and read by one `epoll` thread, with no server, HTTP or runtime; delay = arrival
//!   minus the moment the message was due. See `scenarios/loopback.rs`.
//! * **`disk_fsync_p50_ms`, `disk_fsync_p99_ms`** — the disk's own fsync latency where the
//!   temporary SQLite stores live, for context.
//! * **`dashboard_runs_page_p50_ms`, `dashboard_runs_page_filtered_p50_ms`** (SQLite) — the
//!   dashboard's runs page of an environment holding 1,000,000 queued runs
//!   (`--dashboard-runs N`; 20,000 with `--quick`), signed in with the environment's key: the
//!   first page, and the first page filtered by task and status (one run in 100 matches),
//!   request to last byte over loopback, medians of 60 requests each. See
//!   `scenarios/dashboard.rs`.
//! * **`burst_…`** (and `pg_burst_…`, one server) — one environment's burst and what it does
//!   to another. Environment A (dev) sends `--burst-triggers` single triggers (100,000; 5,000
//!   with `--quick`) from 32 concurrent clients as fast as they are answered, while environment
//!   B (staging, same project) triggers a run every 20 ms (50/s, from a second before the burst
//!   until A's last run completed). One worker serves both: a worker is bound to one
//!   environment's key, so it is a dequeue loop per environment — A's like `e2e`'s (`maxRuns`
//!   200, batched completes, 4 lots completing at once), B's like `latency`'s. Figures:
//!   `burst_trigger_p50_ms` / `_p99_ms` (A's trigger answer latency), `burst_other_env_start_p50_ms`
//!   / `_p99_ms` (B's trigger→dequeue latency, as `trigger_to_dequeue_…`, of B's triggers sent
//!   from A's first trigger until A's last run completed), `burst_lost` (A's triggers answered
//!   `200` whose run did not end `COMPLETED` exactly once, by the completion answers, when A's
//!   runs were all completed or none had completed for 30 s) and `burst_drain_s` (from the answer
//!   to A's last trigger to the completion of A's last run; `null` when the wait gave up). The
//!   servers run with the mollifier as `--mollifier` says (on by default); then the same burst
//!   runs on fresh servers with the mollifier off, for `burst_off_other_env_start_p50_ms` /
//!   `_p99_ms`. The issue's targets: A's p99 ≤ 50 ms with the mollifier on, and B's latency within
//!   2× the quiet `trigger_to_dequeue_p50_ms`. With `--redis-url` (or `TRIGR_BENCH_REDIS_URL`)
//!   the PostgreSQL burst's servers run as `trigr server --redis-url <url>` processes, the
//!   `trigr` binary beside this one (`cargo build --release -p trigr -p trigr-bench`), so that
//!   the buffer is in Redis. See `scenarios/burst.rs`.
//! * **`plan_actions_per_s`, `plan_action_overhead_p50_ms`** (SQLite) — workflow plans of 100
//!   HTTP actions in 10 layers on the built-in plan task, served by one SDK worker, against a
//!   no-op HTTP server in the bench process: actions per second for 16 plans at once, and the
//!   median of each action's start minus its last dependency's end over 3 plans run one after
//!   the other (the journaling of the result and the scheduling between two actions; the goal
//!   is ≤ 2 ms). See `scenarios/plan.rs`.
//! * **`scale_…`** (SQLite, and `pg_scale_…` with one server; scenario `scale`) — a deep
//!   queue: `--scale-runs` runs (1,000,000; 20,000 with `--quick`) put in the development
//!   environment through the batch API of a `trigr server` process, then, at that depth, the
//!   runs list's first page (`scale_runs_list_p50_ms`, median of 30), the latency scenario in
//!   the staging environment of the same store (`scale_trigger_to_dequeue_p50_ms`, `_p99_ms`;
//!   compare with the empty store's `trigger_to_dequeue_p50_ms`), the e2e workers taking
//!   `--runs` runs off the deep queue (`scale_process_runs_per_s`) and the server process's
//!   peak resident memory over all of it (`scale_server_rss_mb`). See `scenarios/scale.rs`.
//!
//! ## Repeats and output
//!
//! `--repeat K` runs every scenario K times (in rounds: every scenario on every store once, then
//! again) and reports the median of each figure; every run's value is printed to stderr as it
//! finishes and listed under the table. The table has one row per quantity and one column per
//! store, PostgreSQL beside SQLite; `--json` prints the same figures as one JSON line instead
//! (see `report.rs`). `--quick` is a small single pass for CI: 2,000 runs per throughput
//! scenario (64 runs of 100 steps in `steps`), 3 s of latency sampling (150 triggers, 150
//! token resumes) and bursts of 5,000 triggers, PostgreSQL runs (one and two servers) included
//! when the database answers.
//! Any unexpected server answer stops the program with an error quoting the request and the
//! response.
//!
//! The servers run with the mollifier on, as `trigr serve` does; `--mollifier off|shadow`
//! switches it (`--mollifier-drain-rate N` sets its drain rate, `--mollifier-admit N` its
//! admission slots), to measure what burst smoothing costs a tripped environment (`--only e2e`
//! trips it at once).
//!
//! ## Comparing two revisions
//!
//! A performance claim is a before/after ratio measured on one machine in one sitting:
//!
//! ```text
//! cargo run --release -p trigr-bench -- --compare <git-rev> [--only e2e,latency] [--rounds 3] [other options]
//! ```
//!
//! builds the bench of `<git-rev>` (once; later comparisons with the same commit reuse it) in a
//! detached git worktree `target/compare/<commit>/src` with its own target directory
//! `target/compare/<commit>/target` (`target/` is `$CARGO_TARGET_DIR` when that is set; the
//! checkout's `target/` is git-ignored), using `nice cargo build --release -p trigr-bench`.
//! Then it runs that bench and this binary alternately, base then current, `--rounds` times
//! (3 by default), each with `--json` and the scenario options given, and prints one line per
//! figure: which way is better (`*_ms` lower, `*_per_s` higher), the median of each side, the
//! ratio current/base and a verdict (`better`/`worse` only when no value of one side reaches
//! the other's, else `overlap`; from 3 rounds on, and chance alone does that 1 time in 10 with
//! 3), then every run's value. A figure one side does not report
//! shows `-`. Options the base revision's bench does not take are given to neither side (a
//! note says so); with `--json` the comparison is one JSON object (`figures.<key>.ratio`, …).
//! An unknown revision, a failed build (the error quotes the end of cargo's output, all of
//! which is in `target/compare/<commit>/build.log`) or a failed run stops it with an error. See
//! `compare.rs`.
//!
//! To remove a compared revision: `git worktree remove --force target/compare/<commit>/src`,
//! `rm -rf target/compare/<commit>`; after deleting `target/compare` (or `target`) by hand,
//! `git worktree prune` forgets the worktrees.

mod api;
mod compare;
mod otlp;
mod process;
mod report;
mod scenarios;
mod server;
mod stats;

use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

use report::{Measured, Report};
use scenarios::{Scenario, Settings};
use server::Target;
use stats::fmt_num;

/// The PostgreSQL database used when none is named.
const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// Longest one scenario run may take when `--timeout-secs` is not given.
const DEFAULT_TIMEOUT_SECS: u64 = 600;

/// Benchmark of trigr servers started in this process on temporary durable stores.
#[derive(Debug, Parser)]
#[command(name = "trigr-bench", version)]
struct Args {
    /// Runs created by each throughput scenario [default: 20000, or 2000 with --quick]; the
    /// steps scenario makes a 40th of them (at least 64), each of 100 steps.
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..))]
    runs: Option<u64>,

    /// A small single pass for CI (2,000 runs, 3 s of latency sampling, bursts of 5,000).
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

    /// Stores to measure (comma-separated) [default: sqlite, plus postgres when its database
    /// answers]. An unreachable database is an error when postgres is named here.
    #[arg(long, value_enum, value_delimiter = ',')]
    backend: Vec<Backend>,

    /// PostgreSQL database of the postgres runs; each run works in a new schema of its own,
    /// dropped afterwards.
    #[arg(
        long,
        env = "TRIGR_BENCH_DATABASE_URL",
        default_value = DEFAULT_DATABASE_URL,
        hide_env_values = true
    )]
    database_url: String,

    /// Seconds of steady-rate sampling in the latency and resume scenarios [default: 10, or 3
    /// with --quick].
    #[arg(long)]
    latency_secs: Option<f64>,

    /// Concurrent subscribers of the sse scenario (its figures are defined for the default:
    /// other counts show how the delay grows with them).
    #[arg(long, default_value_t = scenarios::sse::SUBSCRIBERS as u64, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    sse_subscribers: u64,

    /// Runs in the store of the dashboard scenario [default: 1000000, or 20000 with --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    dashboard_runs: Option<u64>,

    /// Queued runs in the store of the scale scenario [default: 1000000, or 20000 with
    /// --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    scale_runs: Option<u64>,

    /// Longest one scenario run may take, in seconds, before the benchmark fails.
    #[arg(long, default_value_t = DEFAULT_TIMEOUT_SECS)]
    timeout_secs: u64,

    /// Compare with the bench of this git revision: build it in a worktree under
    /// `target/compare/<commit>/` (once), run it and this binary alternately with the options
    /// given here, and print each figure's medians and the ratio current/base.
    #[arg(long, value_name = "GIT_REV")]
    compare: Option<String>,

    /// With --compare: runs of each side, alternating base and current.
    #[arg(long, default_value_t = 3, requires = "compare", value_parser = clap::value_parser!(u32).range(1..))]
    rounds: u32,

    /// Run the servers with their Prometheus metrics on (a metrics listener), to measure what
    /// the metrics cost.
    #[arg(long)]
    metrics: bool,

    /// Export the servers' spans over OTLP/HTTP to a receiver in this process, to measure
    /// what export costs (see `otlp.rs`).
    #[arg(long)]
    otlp: bool,

    /// The servers' burst smoothing: on (the default, as `trigr serve`), off or shadow.
    #[arg(long, default_value = "on", value_parser = ["on", "off", "shadow"])]
    mollifier: String,

    /// The servers' drain rate, runs per second (`--mollifier-drain-rate`; default the
    /// server's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    mollifier_drain_rate: Option<u32>,

    /// The servers' admission limit, trigger requests of one tripped environment at once
    /// (`--mollifier-admit`; 0: none; default the server's).
    #[arg(long, value_parser = clap::value_parser!(u32).range(0..=10_000))]
    mollifier_admit: Option<u32>,

    /// Triggers of the burst scenario's bursting environment [default: 100000, or 5000 with
    /// --quick].
    #[arg(long, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    burst_triggers: Option<u64>,

    /// Redis for the mollifier's buffer of the PostgreSQL burst: its servers then run as
    /// `trigr server --redis-url <URL>` processes (the `trigr` binary beside this one).
    #[arg(long, env = "TRIGR_BENCH_REDIS_URL", value_parser = redis_url, hide_env_values = true)]
    redis_url: Option<String>,
}

/// A Redis URL: `redis://` or `rediss://` and a host.
fn redis_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("redis://")
        .or_else(|| text.strip_prefix("rediss://"))
        .ok_or_else(|| format!("{text:?} is not a redis:// or rediss:// URL"))?;
    match rest.rsplit('@').next() {
        Some(host) if !host.is_empty() && !host.starts_with('/') => Ok(text.to_string()),
        _ => Err(format!("{text:?} names no host")),
    }
}

/// A store the benchmark can measure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Backend {
    /// The embedded SQLite store: one server.
    Sqlite,
    /// PostgreSQL: one server, and two servers on the same database.
    #[value(alias = "pg")]
    Postgres,
}

/// One scenario on one target, run `--repeat` times.
#[derive(Clone, Copy, Debug)]
struct Case {
    scenario: Scenario,
    target: Target,
}

impl Case {
    fn name(self) -> String {
        format!("{} {}", self.scenario.name(), self.target.name())
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args = Args::parse();
    if let Some(rev) = &args.compare {
        return compare::run(&args, rev);
    }
    let settings = Settings {
        runs: args.runs.unwrap_or(if args.quick { 2_000 } else { 20_000 }) as usize,
        latency_duration: Duration::from_secs_f64(
            args.latency_secs
                .unwrap_or(if args.quick { 3.0 } else { 10.0 })
                .max(0.02),
        ),
        timeout: Duration::from_secs(args.timeout_secs),
        database_url: args.database_url.clone(),
        sse_subscribers: args.sse_subscribers as usize,
        dashboard_runs: args
            .dashboard_runs
            .unwrap_or(if args.quick { 20_000 } else { 1_000_000 })
            as usize,
        scale_runs: args
            .scale_runs
            .unwrap_or(if args.quick { 20_000 } else { 1_000_000 }) as usize,
        metrics: args.metrics,
        mollifier: trigr_engine::mollifier::Mode::parse(&args.mollifier)
            .unwrap_or(trigr_engine::mollifier::Mode::On),
        mollifier_drain_rate: args.mollifier_drain_rate,
        mollifier_admit: args.mollifier_admit,
        burst_triggers: args
            .burst_triggers
            .unwrap_or(if args.quick { 5_000 } else { 100_000 }) as usize,
        redis_url: args.redis_url.clone(),
    };
    let chosen: Vec<Scenario> = if args.only.is_empty() {
        Scenario::ALL.to_vec()
    } else {
        Scenario::ALL
            .into_iter()
            .filter(|s| args.only.contains(s))
            .collect()
    };

    let sqlite = args.backend.is_empty() || args.backend.contains(&Backend::Sqlite);
    let wants_postgres = chosen.iter().any(|s| s.on_postgres())
        && (args.backend.is_empty() || args.backend.contains(&Backend::Postgres));
    let mut skipped = None;
    let postgres = if wants_postgres {
        match server::check_postgres(&args.database_url).await {
            Ok(()) => true,
            Err(e) if args.backend.is_empty() => {
                let line = format!(
                    "PostgreSQL scenarios skipped: {} did not answer ({e:#}); set --database-url \
                     or TRIGR_BENCH_DATABASE_URL, or --backend sqlite to silence this",
                    server::describe_url(&args.database_url)
                );
                eprintln!("{line}");
                skipped = Some(line);
                false
            }
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "--backend postgres: {} did not answer",
                        server::describe_url(&args.database_url)
                    )
                })
            }
        }
    } else {
        false
    };

    let mut cases = Vec::new();
    for &scenario in &chosen {
        if sqlite {
            cases.push(Case {
                scenario,
                target: Target::Sqlite,
            });
        }
        if postgres {
            for target in [Target::Pg1, Target::Pg2] {
                if scenario.runs_on(target) {
                    cases.push(Case { scenario, target });
                }
            }
        }
    }
    if cases.is_empty() {
        bail!(
            "nothing to run: the trigger, batch, sse, loopback and disk scenarios run on SQLite only \
             (--only and --backend leave no scenario)"
        );
    }

    let otlp = match args.otlp {
        true => Some(otlp::Otlp::start().await?),
        false => None,
    };
    let mut measured: Vec<Measured> = Vec::new();
    for round in 1..=args.repeat {
        for &case in &cases {
            let outcome = case
                .scenario
                .run_once(case.target, &settings)
                .await
                .with_context(|| {
                    format!("scenario {} (run {round} of {})", case.name(), args.repeat)
                })?;
            let values: Vec<String> = outcome
                .figures
                .iter()
                .map(|(f, v)| format!("{} {} {}", f.key, fmt_num(*v, f.decimals), f.unit))
                .collect();
            eprintln!(
                "[{} {round}/{}] {} ({})",
                case.name(),
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

    if let Some(otlp) = otlp {
        eprintln!("{}", otlp.finish().await);
    }
    if args.json {
        println!("{}", Report::from_measured(&measured).to_json_line());
    } else {
        println!("{}", report::table(&measured));
        if let Some(line) = skipped {
            println!("\n{line}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_need_the_scheme_and_a_host() {
        assert!(redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(redis_url("rediss://:pw@cache.example:6380/2").is_ok());
        assert!(redis_url("127.0.0.1:6379").is_err());
        assert!(redis_url("http://127.0.0.1:6379").is_err());
        assert!(redis_url("redis://").is_err());
        assert!(redis_url("redis://user@").is_err());
    }

    #[test]
    fn burst_runs_on_sqlite_and_one_postgres_server() {
        assert!(Scenario::Burst.runs_on(Target::Sqlite));
        assert!(Scenario::Burst.runs_on(Target::Pg1));
        assert!(!Scenario::Burst.runs_on(Target::Pg2));
        assert!(Scenario::E2e.runs_on(Target::Pg2));
        assert!(!Scenario::Trigger.runs_on(Target::Pg1));
    }
}
