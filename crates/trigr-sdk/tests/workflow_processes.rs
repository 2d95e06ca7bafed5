//! A plan's completed actions are never sent again when its worker is SIGKILLed mid-plan and
//! restarted, on SQLite and on PostgreSQL.
//!
//! The workers are this test binary run again (`--exact plan_worker_process`) with their
//! settings in `TRIGR_SDK_TEST_PLAN_WORKER`, each an SDK worker of a plan task registered under
//! the test's build id, so a restarted worker serves the runs already locked to its version.
//! The target HTTP server runs in the test process. Both sides append lines to one file opened
//! with `O_APPEND`, one `write(2)` per line, so the file's order is the order things happened:
//! the target writes `recv <key>` as each request arrives, a worker writes `done <key>` right
//! after the action's result was journaled (`PlanOptions::on_result`); the key is the request's
//! `Idempotency-Key`, `<run id>:<action id>`.
//!
//! What is proved: every run completes with every action completed; no request arrives for an
//! action after its result was journaled; each action is journaled once; and kills did land
//! mid-plan (runs needed more than one attempt). A request may arrive twice only when its first
//! sender was killed between the answer and the journal — the target sees the same idempotency
//! key, which is what lets a real target make the effect exactly-once; the test reports how
//! many there were.

mod http_target;
mod pg;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http_target::Target;
use pg::Schema;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};
use serde_json::json;
use trigr_sdk::testkit::{TestServer, KEY};
use trigr_sdk::workflow::{
    require_completed, ActionStatus, ExecutionPlan, HostPolicy, PlanOptions, WorkflowExecutor,
    WorkflowStatus,
};
use trigr_sdk::{task, Client, RetryPolicy, RunStatus, Worker};

const WORKER_ENV: &str = "TRIGR_SDK_TEST_PLAN_WORKER";
const TASK: &str = "plan-under-kills";
const RUNS: usize = 16;
const LAYERS: usize = 4;
const WIDTH: usize = 5;
/// Short, so that the attempts of killed workers are retried soon.
const LEASE: Duration = Duration::from_secs(2);
const KILLING: Duration = Duration::from_secs(12);
const DEADLINE: Duration = Duration::from_secs(90);

#[derive(Clone, Debug, Serialize, Deserialize)]
struct WorkerConfig {
    url: String,
    lines: PathBuf,
    build: String,
}

fn append(path: &Path, line: &str) {
    let text = format!("{line}\n");
    let mut file = std::fs::OpenOptions::new()
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

fn worker(config: &WorkerConfig) -> Worker {
    let client = Client::new(&config.url, KEY).expect("a client");
    let lines = config.lines.clone();
    let hosts = HostPolicy::deny_all()
        .allow_host("127.0.0.1")
        .expect("an address");
    let options =
        PlanOptions::new()
            .hosts(hosts)
            .parallelism(3)
            .on_result(move |run_id, result| {
                append(&lines, &format!("done {run_id}:{}", result.action_id));
            });
    let plans = task(TASK)
        .retry(RetryPolicy {
            max_attempts: 100,
            factor: 1.0,
            min_timeout_in_ms: 0,
            max_timeout_in_ms: 0,
            randomize: false,
        })
        .run(move |plan: ExecutionPlan, ctx| {
            let options = options.clone();
            async move { require_completed(ctx.run_plan_with(&plan, &options).await?) }
        });
    Worker::new(client)
        .poll_wait(Duration::from_millis(500))
        .concurrency(4)
        .build_id(Some(config.build.clone()))
        .task(plans)
}

/// Not a test of its own: the body of the worker processes. Without its settings it does
/// nothing. It writes `worker <pid>` once registered, and exits when its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_worker_process() {
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
    append(&config.lines, &format!("worker {}", std::process::id()));
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
                "plan_worker_process",
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

    fn assert_alive(&mut self) {
        if let Some(status) = self.child.try_wait().expect("worker status") {
            panic!(
                "worker process {} exited by itself: {status}",
                self.child.id()
            );
        }
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

/// Waits until the worker process registered.
async fn registered(lines: &Path, worker: &mut WorkerProcess) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let line = format!("worker {}", worker.child.id());
    while !read_lines(lines).contains(&line) {
        worker.assert_alive();
        assert!(Instant::now() < deadline, "worker did not register in 30 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// A plan of `LAYERS` layers of `WIDTH` actions, each depending on two of the layer before,
/// answering after 50–300 ms.
fn layered_plan(target: &Target, n: usize, rng: &mut StdRng) -> ExecutionPlan {
    let mut actions = Vec::new();
    for layer in 0..LAYERS {
        for i in 0..WIDTH {
            let deps: Vec<String> = if layer == 0 {
                Vec::new()
            } else {
                vec![
                    format!("l{}-{i}", layer - 1),
                    format!("l{}-{}", layer - 1, (i + 1) % WIDTH),
                ]
            };
            let delay = rng.gen_range(50..300);
            actions.push(json!({
                "id": format!("l{layer}-{i}"),
                "dependsOn": deps,
                "http": {"method": "POST", "url": format!("{}/ok/p{n}?delay_ms={delay}", target.url),
                    "body": {"plan": n}}
            }));
        }
    }
    serde_json::from_value(json!({"id": format!("layered-{n}"), "actions": actions}))
        .expect("a plan")
}

#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_sqlite() {
    completed_actions_are_not_sent_again_across_kills(Backend::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn on_postgres() {
    completed_actions_are_not_sent_again_across_kills(Backend::Postgres).await;
}

async fn completed_actions_are_not_sent_again_across_kills(backend: Backend) {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let schema = match backend {
        Backend::Sqlite => None,
        Backend::Postgres => match tokio::task::block_in_place(|| Schema::create("plans")) {
            Some(schema) => Some(schema),
            None => return,
        },
    };
    let mut builder = TestServer::builder().lease_timeout(LEASE);
    if let Some(schema) = &schema {
        builder = builder.database_url(schema.url());
    }
    let server = builder.start().await;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let config = WorkerConfig {
        url: server.url().to_string(),
        lines: dir.path().join("lines.txt"),
        build: format!(
            "plan-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
    };
    let target = Target::start_with(Some(config.lines.clone())).await;
    let mut workers = [WorkerProcess::spawn(&config), WorkerProcess::spawn(&config)];
    for w in &mut workers {
        registered(&config.lines, w).await;
    }
    let executor = WorkflowExecutor::new(server.client()).task(TASK);
    let mut rng = StdRng::from_entropy();
    let mut ids = Vec::new();
    for n in 0..RUNS {
        let plan = layered_plan(&target, n, &mut rng);
        ids.push(executor.execute(&plan).await.expect("start").execution_id);
    }

    let began = Instant::now();
    let mut kills = 0;
    let client = server.client();
    loop {
        let mut finished = 0;
        for id in &ids {
            let run = client.retrieve_run(id).await.expect("the run");
            assert!(
                !run.status.is_final() || run.status == RunStatus::Completed,
                "run {id} ended {}: {:?}",
                run.status,
                run.error
            );
            finished += usize::from(run.status == RunStatus::Completed);
        }
        if finished == RUNS {
            break;
        }
        assert!(
            began.elapsed() < DEADLINE,
            "{finished}/{RUNS} runs completed in {DEADLINE:?}"
        );
        if began.elapsed() < KILLING {
            tokio::time::sleep(Duration::from_millis(rng.gen_range(300..900))).await;
            let victim = rng.gen_range(0..workers.len());
            workers[victim] = WorkerProcess::spawn(&config);
            kills += 1;
            registered(&config.lines, &mut workers[victim]).await;
        } else {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    let mut retried = 0;
    for id in &ids {
        let run = client.retrieve_run(id).await.expect("the run");
        retried += run.attempt_count.saturating_sub(1);
        let state = client
            .workflow_state(id)
            .await
            .expect("read")
            .expect("a state");
        assert_eq!(state.status, WorkflowStatus::Completed);
        assert_eq!(state.count(ActionStatus::Completed), LAYERS * WIDTH, "{id}");
    }
    assert!(
        retried > 0,
        "no kill landed mid-plan: {kills} kills proved nothing"
    );

    // The order of arrivals and journal records, from the shared file.
    let mut journaled: HashMap<String, usize> = HashMap::new();
    let mut received: HashMap<String, usize> = HashMap::new();
    for line in read_lines(&config.lines) {
        if let Some(key) = line.strip_prefix("done ") {
            *journaled.entry(key.to_string()).or_insert(0) += 1;
        } else if let Some(key) = line.strip_prefix("recv ") {
            assert!(
                !journaled.contains_key(key),
                "{key} was sent again after its result was journaled"
            );
            *received.entry(key.to_string()).or_insert(0) += 1;
        }
    }
    assert_eq!(
        received.len(),
        RUNS * LAYERS * WIDTH,
        "every action was sent"
    );
    assert!(
        journaled.values().all(|&n| n == 1),
        "an action was journaled twice"
    );
    let resent = received.values().filter(|&&n| n > 1).count();
    println!(
        "{backend:?}: {kills} kills, {retried} retried attempts, {} actions, {resent} re-sent before their result was journaled (same idempotency key), {} journal records seen",
        received.len(),
        journaled.len()
    );
    drop(workers);
    server.stop().await;
    drop(schema);
}
