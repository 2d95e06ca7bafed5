//! Durable execution with real worker processes, on SQLite and on PostgreSQL.
//!
//! The workers are this test binary run again (`--exact worker_process`) with their settings in
//! `TRIGR_SDK_TEST_WORKER`: each is an SDK [`Worker`] of every task below, registered under the
//! build id of its test, so a restarted worker serves the same deployment version and the runs
//! already locked to it. Tasks tell the test what they did by appending lines to a shared file,
//! one `write(2)` per line on a file opened with `O_APPEND`: a SIGKILL never tears or loses a
//! line that was written, and the file's order is the order in which the lines were written.
//!
//! Every scenario runs twice, `on_sqlite::…` and `on_postgres::…`. The PostgreSQL ones use the
//! database named by `TRIGR_TEST_DATABASE_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`), a fresh schema per test dropped at the end;
//! without PostgreSQL they print `PostgreSQL suite skipped: …` and pass, unless
//! `TRIGR_REQUIRE_POSTGRES=1`.
//!
//! * `a_journaled_step_never_runs_again_across_kills`: 100 runs of five steps with suspending
//!   waits between some of them and a planned failure of the first attempt of a quarter of them,
//!   while two worker processes are SIGKILLed at random moments and restarted. Proves: every run
//!   completes with its output; every step ran; no step started again after it was journaled.
//! * `a_one_hour_wait_completes_by_moving_the_clock`, `a_token_times_out`: the server's manual
//!   clock moves; nothing before its time, the run resumes after it.
//! * `completing_a_token_twice_says_so`: the second completion answers `alreadyCompleted` and
//!   the first data wins.
//! * `changing_step_order_fails_with_non_determinism`: a worker restarted with the steps swapped
//!   fails the resumed run, naming both steps, without a retry.
//! * `cancelling_a_parent_cancels_its_waiting_children`.
//! * `a_run_triggered_during_the_first_registration_is_not_left_pending`: triggers racing the
//!   first registration of the environment all run (a trigger holds the environment against
//!   a registration in progress, so its run is never left behind `PENDING_VERSION`).
//!
//! Conditions are polled against deadlines; the only pauses are the pacing of those polls, the
//! random moments of the kills and the simulated work inside the steps.

mod pg;

use pg::Schema;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use trigr_sdk::testkit::{Builder, TestServer, KEY};
use trigr_sdk::tokens::{CreateToken, TokenStatus};
use trigr_sdk::{
    task, Client, ListRuns, RetryPolicy, RunStatus, TaskError, TriggerOptions, WaitResult, Worker,
};

// ---------------------------------------------------------------------------------------------
// The worker processes and their tasks.
// ---------------------------------------------------------------------------------------------

const WORKER_ENV: &str = "TRIGR_SDK_TEST_WORKER";

/// What a worker process is told.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WorkerConfig {
    url: String,
    /// The shared file of lines.
    lines: PathBuf,
    /// Build id: the same for every worker process of one test.
    build: String,
    /// `ordered` runs its first two steps in the other order.
    swapped: bool,
}

/// Appends one line with a single `write(2)` on an `O_APPEND` file.
fn append(path: &Path, line: &str) {
    let text = format!("{line}\n");
    let mut file = OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    let written = file.write(text.as_bytes()).expect("append a line");
    assert_eq!(written, text.len(), "a short write of {line:?}");
}

fn read_lines(path: &Path) -> Vec<String> {
    match std::fs::read_to_string(path) {
        Ok(text) => text.lines().map(str::to_string).collect(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}

fn retry_at_once(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        factor: 1.0,
        min_timeout_in_ms: 0,
        max_timeout_in_ms: 0,
        randomize: false,
    }
}

/// Steps of a `journaled` run.
const STEPS: u32 = 5;

/// The payload of a `journaled` run.
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Job {
    run: u32,
    fail_first: bool,
}

/// What step `step` of run `run` returns.
fn step_output(run: u32, step: u32) -> u32 {
    run * 10 + step
}

/// A worker of every task of this file.
fn worker(config: &WorkerConfig) -> Worker {
    let client = Client::new(&config.url, KEY).expect("a client");
    let lines = config.lines.clone();
    let pid = std::process::id();

    let l = lines.clone();
    let journaled = task("journaled")
        .retry(retry_at_once(100))
        .run(move |job: Job, ctx| {
            let lines = l.clone();
            async move {
                let attempt = ctx.run.attempt;
                let mut outputs = Vec::new();
                for step in 0..STEPS {
                    let l = lines.clone();
                    let output: u32 = ctx
                        .step(&format!("step-{step}"), || {
                            // Some work, so that kills land inside steps too.
                            let work = Duration::from_millis(rand::thread_rng().gen_range(20..100));
                            async move {
                                append(&l, &format!("start {} {step} {attempt} {pid}", job.run));
                                tokio::time::sleep(work).await;
                                Ok(step_output(job.run, step))
                            }
                        })
                        .await?;
                    // The step returned: it is journaled.
                    append(&lines, &format!("done {} {step} {attempt} {pid}", job.run));
                    outputs.push(output);
                    if step == 1 || step == 3 {
                        ctx.wait_for(Duration::from_millis(100)).await?;
                    }
                    if step == 2 && job.fail_first && attempt == 1 {
                        return Err(TaskError::msg("the planned failure of the first attempt"));
                    }
                }
                Ok(outputs)
            }
        });

    let l = lines.clone();
    let sleeper = task("sleeper").run(move |_: Value, ctx| {
        let lines = l.clone();
        async move {
            let l = lines.clone();
            ctx.step("before", || async move {
                append(&l, &format!("sleeper before {pid}"));
                Ok(())
            })
            .await?;
            ctx.wait_for(Duration::from_secs(3600)).await?;
            let l = lines.clone();
            ctx.step("after", || async move {
                append(&l, &format!("sleeper after {pid}"));
                Ok(())
            })
            .await?;
            Ok(json!({ "resumed": ctx.run.resumed, "attempt": ctx.run.attempt }))
        }
    });

    let approval = task("approval").run(|payload: Value, ctx| async move {
        let token = payload["token"].as_str().unwrap_or_default().to_string();
        let result: WaitResult<Value> = ctx.wait_for_token(&token).await?;
        Ok(match result {
            WaitResult::Completed(data) => json!({ "completed": data }),
            WaitResult::TimedOut(t) => json!({ "timedOut": t.message }),
        })
    });

    let impatient = task("impatient").run(|_: Value, ctx| async move {
        let token = ctx
            .create_token(CreateToken::new().timeout(Duration::from_secs(3600)))
            .await?;
        let result: WaitResult<Value> = ctx.wait_for_token(&token.id).await?;
        Ok(match result {
            WaitResult::Completed(data) => json!({ "token": token.id, "completed": data }),
            WaitResult::TimedOut(t) => json!({ "token": token.id, "timedOut": t.message }),
        })
    });

    let l = lines.clone();
    let swapped = config.swapped;
    let ordered = task("ordered")
        .retry(retry_at_once(5))
        .run(move |payload: Value, ctx| {
            let lines = l.clone();
            async move {
                let order = if swapped { ["b", "a"] } else { ["a", "b"] };
                for name in order {
                    let l = lines.clone();
                    ctx.step(name, || async move {
                        append(&l, &format!("ordered {name} {pid}"));
                        Ok(())
                    })
                    .await?;
                }
                let token = payload["token"].as_str().unwrap_or_default().to_string();
                let _: WaitResult<Value> = ctx.wait_for_token(&token).await?;
                let l = lines.clone();
                ctx.step("c", || async move {
                    append(&l, &format!("ordered c {pid}"));
                    Ok(())
                })
                .await?;
                Ok(())
            }
        });

    let l = lines.clone();
    let child = task("cancel-child").run(move |_: Value, ctx| {
        let lines = l.clone();
        async move {
            ctx.wait_for(Duration::from_secs(3600)).await?;
            append(&lines, &format!("child after the wait {pid}"));
            Ok(())
        }
    });
    let l = lines.clone();
    let c = child.clone();
    let parent = task("cancel-parent").run(move |_: Value, ctx| {
        let (lines, child) = (l.clone(), c.clone());
        async move {
            let _ = ctx.trigger_and_wait(&child, &json!({})).await?;
            append(&lines, &format!("parent after the child {pid}"));
            Ok(())
        }
    });

    Worker::new(client)
        .build_id(Some(config.build.clone()))
        // Every wait suspends the run.
        .short_wait_threshold(Duration::ZERO)
        // Few slots: the runs go through in waves, and kills find some of them in flight.
        .concurrency(8)
        .poll_wait(Duration::from_secs(1))
        .shutdown_timeout(Duration::from_secs(1))
        .task(journaled)
        .task(sleeper)
        .task(approval)
        .task(impatient)
        .task(ordered)
        .task(child)
        .task(parent)
}

/// Not a test of its own: the body of the worker processes, which run this binary with `--exact
/// worker_process` and their settings in `TRIGR_SDK_TEST_WORKER`. Without them it does nothing.
/// It writes `worker <pid> <version>` once registered, and exits when its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process() {
    let Ok(config) = std::env::var(WORKER_ENV) else {
        return;
    };
    let config: WorkerConfig = serde_json::from_str(&config).expect("worker settings");
    std::thread::spawn(|| {
        let mut sink = Vec::new();
        let _ = std::io::stdin().read_to_end(&mut sink);
        std::process::exit(0);
    });
    let running = worker(&config).start().await.expect("the worker starts");
    append(
        &config.lines,
        &format!("worker {} {}", std::process::id(), running.version()),
    );
    running.stopped().await.expect("the worker runs");
}

/// A worker process; SIGKILLed when dropped.
struct WorkerProcess {
    child: Child,
}

impl WorkerProcess {
    fn spawn(config: &WorkerConfig) -> WorkerProcess {
        let exe = std::env::current_exe().expect("test binary path");
        let child = Command::new(exe)
            .args([
                "--exact",
                "worker_process",
                "--nocapture",
                "--test-threads",
                "1",
            ])
            .env(WORKER_ENV, serde_json::to_string(config).expect("settings"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn a worker process");
        WorkerProcess { child }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Panics if the process ended by itself.
    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("worker status") {
            panic!("worker process {} exited by itself: {status}", self.pid());
        }
    }

    /// SIGKILL, and wait for it to be gone.
    fn kill(self) {
        drop(self);
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------------
// Backends: SQLite, or a fresh PostgreSQL schema.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// A test server on a backend, the shared file of lines, and what its workers are told.
struct Env {
    server: TestServer,
    config: WorkerConfig,
    // Dropped after the server, in this order.
    _dir: tempfile::TempDir,
    _schema: Option<Schema>,
}

impl Env {
    /// `None` when the backend is not there (PostgreSQL, see [`skipped`]).
    async fn start(backend: Backend, builder: Builder) -> Option<Env> {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let schema = match backend {
            Backend::Sqlite => None,
            Backend::Postgres => Some(tokio::task::block_in_place(|| Schema::create("sdk"))?),
        };
        let builder = match &schema {
            Some(schema) => builder.database_url(schema.url()),
            None => builder,
        };
        let server = builder.start().await;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let config = WorkerConfig {
            url: server.url().to_string(),
            lines: dir.path().join("lines.txt"),
            build: format!(
                "sdk-test-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ),
            swapped: false,
        };
        Some(Env {
            server,
            config,
            _dir: dir,
            _schema: schema,
        })
    }

    fn spawn_worker(&self) -> WorkerProcess {
        WorkerProcess::spawn(&self.config)
    }

    fn spawn_swapped_worker(&self) -> WorkerProcess {
        WorkerProcess::spawn(&WorkerConfig {
            swapped: true,
            ..self.config.clone()
        })
    }

    fn lines(&self) -> Vec<String> {
        read_lines(&self.config.lines)
    }

    /// Lines starting with `prefix`.
    fn count_prefixed(&self, prefix: &str) -> usize {
        self.lines()
            .iter()
            .filter(|l| l.starts_with(prefix))
            .count()
    }

    /// Waits until the worker process registered; its version.
    async fn registered(&self, worker: &mut WorkerProcess) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        let prefix = format!("worker {} ", worker.pid());
        loop {
            if let Some(line) = self.lines().iter().find(|l| l.starts_with(&prefix)) {
                return line[prefix.len()..].to_string();
            }
            worker.assert_alive();
            assert!(
                Instant::now() < deadline,
                "worker process {} did not register within 30 s",
                worker.pid()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn stop(self) {
        let Env {
            server,
            _dir,
            _schema,
            ..
        } = self;
        server.stop().await;
    }
}

/// Each scenario as `on_sqlite::<name>` and `on_postgres::<name>`; `postgres #[…]` adds an
/// attribute to the PostgreSQL one only.
macro_rules! on_both_backends {
    ($($name:ident $(postgres #[$pg:meta])?),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(super::Backend::Sqlite).await;
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                $(#[$pg])?
                async fn $name() {
                    super::$name(super::Backend::Postgres).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_journaled_step_never_runs_again_across_kills,
    a_one_hour_wait_completes_by_moving_the_clock,
    a_token_times_out,
    completing_a_token_twice_says_so,
    changing_step_order_fails_with_non_determinism,
    cancelling_a_parent_cancels_its_waiting_children,
    a_run_triggered_during_the_first_registration_is_not_left_pending,
);

// ---------------------------------------------------------------------------------------------
// Runs that survive SIGKILLed workers.
// ---------------------------------------------------------------------------------------------

/// The kill tests take turns: they load the machine.
static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const RUNS: u32 = 100;
/// Short, so that the attempts of killed workers are retried soon.
const LEASE: Duration = Duration::from_secs(2);
/// Workers are killed for at most this long, then left to finish.
const KILLING: Duration = Duration::from_secs(35);
/// Everything done within this.
const DEADLINE: Duration = Duration::from_secs(55);

/// Runs of `task` in `status`, across pages.
async fn count_runs(client: &Client, task: &str, statuses: &[RunStatus]) -> usize {
    let mut total = 0;
    let mut after: Option<String> = None;
    loop {
        let mut filter = ListRuns::new().task(task).limit(100);
        for status in statuses {
            filter = filter.status(*status);
        }
        if let Some(cursor) = &after {
            filter = filter.after(cursor.clone());
        }
        let page = client.list_runs(filter).await.expect("list runs");
        total += page.data.len();
        match page.next {
            Some(next) => after = Some(next),
            None => return total,
        }
    }
}

/// A line of a `journaled` step: `start|done <run> <step> <attempt> <pid>`.
struct StepLine {
    done: bool,
    run: u32,
    step: u32,
    attempt: u32,
    pid: u32,
}

fn step_line(line: &str) -> Option<StepLine> {
    let mut words = line.split(' ');
    let done = match words.next()? {
        "start" => false,
        "done" => true,
        _ => return None,
    };
    let mut number = || -> Option<u32> { words.next()?.parse().ok() };
    Some(StepLine {
        done,
        run: number()?,
        step: number()?,
        attempt: number()?,
        pid: number()?,
    })
}

async fn a_journaled_step_never_runs_again_across_kills(backend: Backend) {
    let _turn = HEAVY.lock().await;
    let Some(env) = Env::start(backend, TestServer::builder().lease_timeout(LEASE)).await else {
        return;
    };
    let began = Instant::now();
    let client = env.server.client();
    let mut rng = StdRng::from_entropy();
    let mut workers = [env.spawn_worker(), env.spawn_worker()];
    let mut spawned = 2usize;
    // Triggered once the version is current (see `a_run_triggered_during_the_first_registration_
    // is_not_left_pending`); the kills start with the runs.
    for worker in &mut workers {
        env.registered(worker).await;
    }
    let mut ids = Vec::new();
    for run in 0..RUNS {
        let job = Job {
            run,
            fail_first: run % 4 == 0,
        };
        let handle = client
            .trigger_id("journaled", &job, TriggerOptions::new())
            .await
            .expect("trigger");
        ids.push(handle.id);
    }

    let pause = |rng: &mut StdRng| Duration::from_millis(rng.gen_range(100..=400));
    let mut kills = 0usize;
    let mut next_kill = Instant::now() + pause(&mut rng);
    let mut next_look = Instant::now();
    let completed_status = [RunStatus::Completed];
    let failed = [
        RunStatus::Failed,
        RunStatus::Crashed,
        RunStatus::SystemFailure,
        RunStatus::TimedOut,
        RunStatus::Canceled,
        RunStatus::Expired,
    ];
    loop {
        let now = Instant::now();
        if now >= next_look {
            for worker in &mut workers {
                worker.assert_alive();
            }
            let completed = count_runs(&client, "journaled", &completed_status).await;
            if completed == RUNS as usize {
                break;
            }
            let bad = count_runs(&client, "journaled", &failed).await;
            assert_eq!(bad, 0, "runs ended without completing");
            if began.elapsed() >= DEADLINE {
                let mut unfinished = Vec::new();
                for id in &ids {
                    let run = client.retrieve_run(id).await.expect("retrieve");
                    if run.status != RunStatus::Completed {
                        unfinished.push(format!(
                            "{id} {} after {} attempt(s), payload {}",
                            run.status,
                            run.attempt_count,
                            run.payload.unwrap_or_default()
                        ));
                    }
                }
                panic!(
                    "only {completed} of {RUNS} runs completed after {DEADLINE:?} ({kills} \
                     kills); unfinished: {unfinished:#?}"
                );
            }
            next_look = Instant::now() + Duration::from_millis(50);
        }
        let now = Instant::now();
        if now >= next_kill && began.elapsed() < KILLING {
            let i = rng.gen_range(0..workers.len());
            // A fresh worker of the same build takes the place of the SIGKILLed one.
            std::mem::replace(&mut workers[i], env.spawn_worker()).kill();
            spawned += 1;
            kills += 1;
            next_kill = now + pause(&mut rng);
        }
        let wake = if began.elapsed() < KILLING {
            next_look.min(next_kill)
        } else {
            next_look
        };
        tokio::time::sleep_until(wake.into()).await;
    }
    let elapsed = began.elapsed();
    drop(workers);

    // Every run completed with its output.
    let mut attempts = Vec::new();
    for (run, id) in ids.iter().enumerate() {
        let run_no = run as u32;
        let found = client.retrieve_run(id).await.expect("retrieve");
        assert_eq!(found.status, RunStatus::Completed, "{found:?}");
        let expected: Vec<u32> = (0..STEPS).map(|s| step_output(run_no, s)).collect();
        assert_eq!(found.output, Some(json!(expected)), "run {run}: {found:?}");
        attempts.push(found.attempt_count);
    }

    // The lines: at least one start and one done per step, no start after a done.
    let lines = env.lines();
    let mut starts: HashMap<(u32, u32), usize> = HashMap::new();
    let mut dones: HashMap<(u32, u32), usize> = HashMap::new();
    let mut violations = Vec::new();
    let mut versions = BTreeSet::new();
    let mut workers_seen = 0;
    for (at, line) in lines.iter().enumerate() {
        if let Some(version) = line.strip_prefix("worker ") {
            workers_seen += 1;
            versions.insert(version.split(' ').nth(1).unwrap_or_default().to_string());
            continue;
        }
        let parsed = step_line(line).unwrap_or_else(|| panic!("a torn or unknown line {line:?}"));
        let key = (parsed.run, parsed.step);
        if parsed.done {
            *dones.entry(key).or_default() += 1;
        } else {
            *starts.entry(key).or_default() += 1;
            if dones.contains_key(&key) {
                violations.push(format!(
                    "line {at}: run {} step {} started again (attempt {}, pid {}) after it was \
                     journaled",
                    parsed.run, parsed.step, parsed.attempt, parsed.pid
                ));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "{} journaled step(s) ran again: {:?}",
        violations.len(),
        &violations[..violations.len().min(10)]
    );
    for run in 0..RUNS {
        for step in 0..STEPS {
            assert!(
                starts.contains_key(&(run, step)),
                "run {run} step {step} never started"
            );
            assert!(
                dones.contains_key(&(run, step)),
                "run {run} step {step} never returned"
            );
        }
    }
    assert_eq!(
        versions.len(),
        1,
        "restarted workers served different versions: {versions:?}"
    );

    let restarted_steps = starts.values().filter(|&&n| n > 1).count();
    let replayed_steps = dones.values().filter(|&&n| n > 1).count();
    let unplanned_retries = (0..RUNS as usize)
        .filter(|&run| attempts[run] > if run % 4 == 0 { 2 } else { 1 })
        .count();
    let mut histogram = BTreeMap::new();
    for a in &attempts {
        *histogram.entry(*a).or_insert(0usize) += 1;
    }
    println!(
        "{backend:?}: {RUNS} runs completed in {elapsed:.1?}; {kills} SIGKILLs, {spawned} worker \
         processes ({workers_seen} registered, one version); runs by attempts {histogram:?}; \
         {unplanned_retries} run(s) with more attempts than planned; {restarted_steps} step(s) \
         started more than once (killed before journaled); {replayed_steps} step(s) replayed \
         from the journal; {} step starts in all",
        starts.values().sum::<usize>()
    );
    assert!(kills > 0, "no worker was killed");
    assert!(
        restarted_steps + unplanned_retries > 0,
        "no kill landed in a run ({kills} kills)"
    );
    assert!(
        attempts
            .iter()
            .enumerate()
            .any(|(run, &a)| run % 4 == 0 && a >= 2),
        "no planned failure was retried"
    );
    env.stop().await;
}

/// Rounds of [`a_run_triggered_during_the_first_registration_is_not_left_pending`], each on a
/// fresh server, and the trigger loops racing the registration in each.
const RACE_ROUNDS: usize = 10;
const RACE_LOOPS: usize = 4;
const RACE_TRIGGERS: usize = 40;

/// Runs triggered while the environment's first deployment registers all run: a trigger that
/// read "no current version" must not be left `PENDING_VERSION` by a promotion that did not see
/// it.
///
/// Ignored on PostgreSQL, where it fails: a trigger reads the environment without a lock
/// (`trigr-engine` `trigger/mod.rs`, `tx.environment`), so under READ COMMITTED it can read "no
/// current version" while a registration holds the row `FOR UPDATE`, and insert its run
/// `PENDING_VERSION` after the registration's `promote_in` looked for such runs. Nothing locks
/// it later: a restarted worker of the same build finds its version already current and does
/// not promote again. SQLite runs one write at a time and passes.
async fn a_run_triggered_during_the_first_registration_is_not_left_pending(backend: Backend) {
    for round in 0..RACE_ROUNDS {
        let Some(env) = Env::start(backend, TestServer::builder()).await else {
            return;
        };
        let client = env.server.client();
        let loops: Vec<_> = (0..RACE_LOOPS)
            .map(|l| {
                let client = client.clone();
                tokio::spawn(async move {
                    let mut ids = Vec::new();
                    for i in 0..RACE_TRIGGERS {
                        let handle = client
                            .trigger_id("racy", &(l * RACE_TRIGGERS + i), TriggerOptions::new())
                            .await
                            .expect("trigger");
                        ids.push(handle.id);
                    }
                    ids
                })
            })
            .collect();
        // The first triggers find no version; the registration lands among the others.
        let deadline = Instant::now() + Duration::from_secs(30);
        while count_runs(&client, "racy", &[]).await < RACE_LOOPS {
            assert!(Instant::now() < deadline, "no trigger was accepted");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let racy = task("racy").run(|n: usize, _ctx| async move { Ok(n) });
        let worker = env
            .server
            .worker()
            .task(racy)
            .start()
            .await
            .expect("worker");
        let mut ids = Vec::new();
        for l in loops {
            ids.extend(l.await.expect("trigger loop"));
        }
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let completed = count_runs(&client, "racy", &[RunStatus::Completed]).await;
            if completed == ids.len() {
                break;
            }
            if Instant::now() >= deadline {
                let pending = count_runs(&client, "racy", &[RunStatus::PendingVersion]).await;
                panic!(
                    "{backend:?}, round {round}: {completed} of {} runs completed in 15 s, \
                     {pending} are still PENDING_VERSION although version {} is current",
                    ids.len(),
                    worker.version()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        worker.shutdown().await.expect("shutdown");
        env.stop().await;
    }
}

// ---------------------------------------------------------------------------------------------
// The manual clock: long waits and token time-outs.
// ---------------------------------------------------------------------------------------------

const MINUTE: Duration = Duration::from_secs(60);

async fn a_one_hour_wait_completes_by_moving_the_clock(backend: Backend) {
    let Some(env) = Env::start(backend, TestServer::builder().test_clock(true)).await else {
        return;
    };
    let mut worker = env.spawn_worker();
    env.registered(&mut worker).await;
    let client = env.server.client();
    let handle = client
        .trigger_id("sleeper", &json!({}), TriggerOptions::new())
        .await
        .expect("trigger");
    env.server
        .wait_for_status(&handle.id, RunStatus::Waiting)
        .await;
    assert_eq!(env.count_prefixed("sleeper before "), 1);

    // A minute early: still waiting (the clock call fires what is due before it answers).
    env.server.advance_clock(59 * MINUTE).await;
    let run = client.retrieve_run(&handle.id).await.expect("retrieve");
    assert_eq!(run.status, RunStatus::Waiting, "woke early: {run:?}");

    env.server.advance_clock(MINUTE).await;
    let run = env.server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"resumed": true, "attempt": 1})));
    assert_eq!(run.attempt_count, 1);
    assert_eq!(
        env.count_prefixed("sleeper before "),
        1,
        "the step before the wait ran again"
    );
    assert_eq!(env.count_prefixed("sleeper after "), 1);
    worker.assert_alive();
    drop(worker);
    env.stop().await;
}

async fn a_token_times_out(backend: Backend) {
    let Some(env) = Env::start(backend, TestServer::builder().test_clock(true)).await else {
        return;
    };
    let mut worker = env.spawn_worker();
    env.registered(&mut worker).await;
    let client = env.server.client();
    let handle = client
        .trigger_id("impatient", &json!({}), TriggerOptions::new())
        .await
        .expect("trigger");
    env.server
        .wait_for_status(&handle.id, RunStatus::Waiting)
        .await;

    env.server.advance_clock(59 * MINUTE).await;
    let run = client.retrieve_run(&handle.id).await.expect("retrieve");
    assert_eq!(run.status, RunStatus::Waiting, "timed out early: {run:?}");

    env.server.advance_clock(MINUTE).await;
    let run = env.server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let output = run.output.expect("output");
    assert!(output["timedOut"].is_string(), "not timed out: {output}");
    assert!(output.get("completed").is_none(), "{output}");
    let token_id = output["token"].as_str().expect("token id");
    let token = client.tokens().retrieve(token_id).await.expect("token");
    assert_eq!(token.status, TokenStatus::TimedOut);
    assert_eq!(token.output(), None);
    assert!(token.error().is_some(), "{token:?}");

    // Completing it now changes nothing.
    let late = client
        .tokens()
        .complete(token_id, json!({"late": true}))
        .await
        .expect("complete");
    assert!(late.success && late.already_completed, "{late:?}");
    let token = client.tokens().retrieve(token_id).await.expect("token");
    assert_eq!(token.status, TokenStatus::TimedOut);
    worker.assert_alive();
    drop(worker);
    env.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Tokens, non-determinism, cancellation.
// ---------------------------------------------------------------------------------------------

async fn completing_a_token_twice_says_so(backend: Backend) {
    let Some(env) = Env::start(backend, TestServer::builder()).await else {
        return;
    };
    let mut worker = env.spawn_worker();
    env.registered(&mut worker).await;
    let client = env.server.client();
    let token = client
        .tokens()
        .create(CreateToken::new().tag("twice"))
        .await
        .expect("token");
    let handle = client
        .trigger_id(
            "approval",
            &json!({"token": token.id}),
            TriggerOptions::new(),
        )
        .await
        .expect("trigger");
    env.server
        .wait_for_status(&handle.id, RunStatus::Waiting)
        .await;

    let first = client
        .tokens()
        .complete(&token.id, json!({"n": 1}))
        .await
        .expect("first completion");
    assert!(first.success && !first.already_completed, "{first:?}");
    let second = client
        .tokens()
        .complete(&token.id, json!({"n": 2}))
        .await
        .expect("second completion");
    assert!(second.success && second.already_completed, "{second:?}");

    let run = env.server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"completed": {"n": 1}})));
    let info = client.tokens().retrieve(&token.id).await.expect("token");
    assert_eq!(info.status, TokenStatus::Completed);
    assert_eq!(info.output(), Some(json!({"n": 1})));

    // Through the signed callback URL as well.
    let third = reqwest::Client::new()
        .post(&token.url)
        .json(&json!({"n": 3}))
        .send()
        .await
        .expect("callback");
    assert!(third.status().is_success(), "{third:?}");
    let body: Value = third.json().await.expect("callback answer");
    assert_eq!(body["alreadyCompleted"], json!(true), "{body}");
    worker.assert_alive();
    drop(worker);
    env.stop().await;
}

async fn changing_step_order_fails_with_non_determinism(backend: Backend) {
    let Some(env) = Env::start(backend, TestServer::builder()).await else {
        return;
    };
    let mut first = env.spawn_worker();
    let version = env.registered(&mut first).await;
    let client = env.server.client();
    let token = client
        .tokens()
        .create(CreateToken::new())
        .await
        .expect("token");
    let handle = client
        .trigger_id(
            "ordered",
            &json!({"token": token.id}),
            TriggerOptions::new(),
        )
        .await
        .expect("trigger");
    env.server
        .wait_for_status(&handle.id, RunStatus::Waiting)
        .await;
    first.assert_alive();
    first.kill();

    // The same build with the first two steps swapped: the same version.
    let mut second = env.spawn_swapped_worker();
    let again = env.registered(&mut second).await;
    assert_eq!(
        again, version,
        "the restarted worker serves another version"
    );
    client
        .tokens()
        .complete(&token.id, json!({}))
        .await
        .expect("complete");

    let run = env.server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.attempt_count, 1, "the run was retried: {run:?}");
    let error = run.error.expect("an error");
    assert_eq!(error.name.as_deref(), Some("NonDeterminismError"));
    assert_eq!(
        error.message,
        "position 0: the journal has step \"a\" but the code reached step \"b\""
    );
    let lines = env.lines();
    let ordered: Vec<&str> = lines
        .iter()
        .filter(|l| l.starts_with("ordered "))
        .map(|l| l.rsplit_once(' ').map_or(l.as_str(), |(head, _)| head))
        .collect();
    assert_eq!(ordered, ["ordered a", "ordered b"], "steps ran again");
    second.assert_alive();
    drop(second);
    env.stop().await;
}

async fn cancelling_a_parent_cancels_its_waiting_children(backend: Backend) {
    let Some(env) = Env::start(backend, TestServer::builder().test_clock(true)).await else {
        return;
    };
    let mut worker = env.spawn_worker();
    env.registered(&mut worker).await;
    let client = env.server.client();
    let parent = client
        .trigger_id("cancel-parent", &json!({}), TriggerOptions::new())
        .await
        .expect("trigger");
    env.server
        .wait_for_status(&parent.id, RunStatus::Waiting)
        .await;
    let deadline = Instant::now() + Duration::from_secs(30);
    let child_id = loop {
        let page = client
            .list_runs(ListRuns::new().task("cancel-child"))
            .await
            .expect("list");
        if let Some(child) = page.data.first() {
            assert_eq!(page.data.len(), 1, "{:?}", page.data);
            break child.id.clone();
        }
        assert!(Instant::now() < deadline, "no child run after 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    env.server
        .wait_for_status(&child_id, RunStatus::Waiting)
        .await;

    client.cancel_run(&parent.id).await.expect("cancel");
    let run = env.server.wait_for_run(&parent.id).await;
    assert_eq!(run.status, RunStatus::Canceled, "{run:?}");
    let child = env.server.wait_for_run(&child_id).await;
    assert_eq!(child.status, RunStatus::Canceled, "{child:?}");

    // The child's timer is gone: moving past it wakes nothing.
    env.server.advance_clock(120 * MINUTE).await;
    for id in [&parent.id, &child_id] {
        let run = client.retrieve_run(id).await.expect("retrieve");
        assert_eq!(run.status, RunStatus::Canceled, "{run:?}");
    }
    assert_eq!(env.count_prefixed("child after the wait"), 0);
    assert_eq!(env.count_prefixed("parent after the child"), 0);
    worker.assert_alive();
    drop(worker);
    env.stop().await;
}
