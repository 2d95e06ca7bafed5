//! Several real `trigr server` processes on one PostgreSQL database.
//!
//! Every test here needs PostgreSQL, whatever `TRIGR_TEST_BACKEND` says. They use the database
//! named by `TRIGR_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`), a
//! fresh schema per test shared by all its servers and dropped at the end — except the restart
//! test, which runs a private PostgreSQL instance of its own. Where PostgreSQL is missing a test
//! prints `PostgreSQL suite skipped: …` and passes, unless `TRIGR_REQUIRE_POSTGRES=1`.
//!
//! The tests take turns (they load the machine and measure latencies). They wait on conditions by
//! polling the HTTP API (or the workers' reports) against deadlines, never on sleeps; the only
//! other pauses are back-offs after a refused or failed request and the pacing of a steady load.
//!
//! * `two_servers_three_workers_survive_a_sigkill`: two servers, three worker *processes* (this
//!   test binary run again as `worker_process`), 10,000 runs on queues limited to 3, 5 and 10,
//!   some failing their first one or two attempts. One server is SIGKILLed halfway; its workers
//!   move to the other one and finish with the leases they hold. Proves, across servers: every
//!   run completes, once, at its latest attempt; no attempt is handed out twice; at most one
//!   completion per attempt is accepted; a completion with a superseded lease is refused
//!   (`409 lease_lost`) by either server; the queue limits hold (computed from the workers' lease
//!   intervals, each lying inside the time the run really held its slot).
//! * `database_restart_under_load_loses_nothing`: a private PostgreSQL is stopped and started
//!   again while a client keeps triggering on two servers and a worker keeps completing. Proves:
//!   while the database is down, requests answer 503 (never 500), `/healthz` answers and the
//!   servers stay up; afterwards they recover by themselves; every acknowledged trigger exists
//!   and completes.
//! * `a_worker_on_one_server_gets_a_run_triggered_on_the_other_at_once`: with a 10 s dequeue poll
//!   interval, a run triggered on one server reaches a worker long-polling the other within 3 s,
//!   in both directions: wake-ups cross servers.
//! * `timers_fire_once_across_servers`: delays and TTLs are fired by whichever of two servers
//!   looks first. Proves: each delayed run is handed out once, at attempt 1, not before its time;
//!   a TTL expires a run that never started, not before its time; a run racing its TTL either
//!   expires or is handed out (once), never both.

mod common;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use common::*;
use futures::StreamExt;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

// ---------------------------------------------------------------------------------------------
// PostgreSQL: the shared database, a schema per test.
// ---------------------------------------------------------------------------------------------

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// One test at a time in this file.
static TURN: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `None` after printing why the test does not run; a panic instead with
/// `TRIGR_REQUIRE_POSTGRES=1`.
fn skipped<T>(reason: &str) -> Option<T> {
    if std::env::var("TRIGR_REQUIRE_POSTGRES").as_deref() == Ok("1") {
        panic!("PostgreSQL is required (TRIGR_REQUIRE_POSTGRES=1) but {reason}");
    }
    println!("PostgreSQL suite skipped: {reason}");
    None
}

/// `url` with `schema` as its search path, as the store reads it.
fn with_search_path(url: &str, schema: &str) -> String {
    let sep = if url.contains('?') { '&' } else { '?' };
    format!("{url}{sep}options=-c%20search_path%3D{schema}")
}

/// Runs SQL on a plain thread (the sync client must not run on the async runtime's threads).
fn run_sql(url: &str, sql: &str) -> Result<(), String> {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut config: postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
        config.connect_timeout(Duration::from_secs(3));
        let mut client =
            config
                .connect(postgres::NoTls)
                .map_err(|e| match std::error::Error::source(&e) {
                    Some(cause) => format!("cannot connect to {url}: {e}: {cause}"),
                    None => format!("cannot connect to {url}: {e}"),
                })?;
        client.batch_execute(&sql).map_err(|e| e.to_string())
    })
    .join()
    .unwrap_or_else(|_| Err("the SQL thread panicked".into()))
}

/// A fresh schema in the shared database, dropped when this is.
struct Schema {
    base_url: String,
    name: String,
}

impl Schema {
    fn url(&self) -> String {
        with_search_path(&self.base_url, &self.name)
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let _ = run_sql(
            &self.base_url,
            &format!(
                "SET lock_timeout = '5s'; DROP SCHEMA IF EXISTS {} CASCADE",
                self.name
            ),
        );
    }
}

fn fresh_schema() -> Option<Schema> {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let base_url = std::env::var("TRIGR_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_URL.into());
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let name = format!(
        "mn_{}_{nanos}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    );
    match run_sql(&base_url, &format!("CREATE SCHEMA {name}")) {
        Ok(()) => Some(Schema { base_url, name }),
        Err(reason) => skipped(&format!("{reason} (set TRIGR_TEST_DATABASE_URL)")),
    }
}

// ---------------------------------------------------------------------------------------------
// Small helpers.
// ---------------------------------------------------------------------------------------------

fn now_us() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_micros() as i64
}

fn now_ms() -> i64 {
    now_us() / 1000
}

/// Back-off after a refused or failed request.
async fn back_off() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

/// How often a condition is looked at again.
async fn poll_pause() {
    tokio::time::sleep(Duration::from_millis(25)).await;
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

/// The run status a `409 lease_lost` names: the `status` field of a single completion's answer,
/// or "(the run is X)" in a batched completion's error item (whose `status` is the HTTP status).
fn lease_lost_status(body: &Value) -> String {
    if let Some(s) = body["status"].as_str() {
        return s.to_string();
    }
    let message = body["error"].as_str().unwrap_or("");
    message
        .split_once("the run is ")
        .and_then(|(_, rest)| rest.split(')').next())
        .unwrap_or("?")
        .to_string()
}

/// Problems found by a check, by kind, with a few examples each; reported all at once.
#[derive(Default)]
struct Problems(BTreeMap<String, (usize, Vec<String>)>);

impl Problems {
    fn add(&mut self, kind: &str, example: impl Into<String>) {
        let entry = self.0.entry(kind.to_string()).or_default();
        entry.0 += 1;
        if entry.1.len() < 4 {
            entry.1.push(example.into());
        }
    }

    /// `count` problems of one kind at once.
    fn add_count(&mut self, kind: &str, count: usize, examples: &[String]) {
        let entry = self.0.entry(kind.to_string()).or_default();
        entry.0 += count;
        entry.1.extend(examples.iter().take(4).cloned());
    }

    fn assert_none(&self, what: &str) {
        if self.0.is_empty() {
            return;
        }
        let mut text = String::new();
        for (kind, (count, examples)) in &self.0 {
            text.push_str(&format!(
                "\n  {kind}: {count}, e.g. {}",
                examples.join(" | ")
            ));
        }
        panic!("{what}:{text}");
    }
}

/// Triggers a batch of items on `server` (two-phase batch API, retrying 503s, which change
/// nothing) and returns its run ids in item order.
async fn batch_trigger(server: &TestServer, items: &[Value]) -> Vec<String> {
    let id = loop {
        let r = server.create_batch(json!({"runCount": items.len()})).await;
        match r.status {
            200 | 202 => break r.json["id"].as_str().expect("batch id").to_string(),
            503 => back_off().await,
            s => panic!("create batch on {}: {s} {}", server.base_url, r.text),
        }
    };
    loop {
        let r = server.send_items(&id, items).await;
        match r.status {
            200 => break,
            503 => back_off().await,
            s => panic!("batch items on {}: {s} {}", server.base_url, r.text),
        }
    }
    let (s, v) = server.get(&format!("/api/v2/batches/{id}")).await;
    assert_eq!(s, 200, "retrieve batch {id}: {v}");
    let runs: Vec<String> = v["runs"]
        .as_array()
        .expect("batch runs")
        .iter()
        .map(|r| r.as_str().expect("run id").to_string())
        .collect();
    assert_eq!(runs.len(), items.len(), "runs of batch {id}");
    runs
}

/// Counts the runs of each status (one listing of every run).
async fn status_counts(server: &TestServer) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    for run in server.list_all("").await {
        *counts
            .entry(run["status"].as_str().unwrap_or("?").to_string())
            .or_insert(0) += 1;
    }
    counts
}

// ---------------------------------------------------------------------------------------------
// Worker processes (test 1): this binary run again with the configuration in an env variable.
// ---------------------------------------------------------------------------------------------

const WORKER_ENV: &str = "TRIGR_MULTINODE_WORKER";
/// Prefix of a worker's report lines on its stdout (the rest of the line is one JSON event).
const MARK: &str = "@multinode-event ";

#[derive(Clone, Debug, Serialize, Deserialize)]
struct WorkerConfig {
    name: String,
    /// Base URLs of every server; the worker starts on `primary` and moves to the next one when
    /// its server stops answering.
    servers: Vec<String>,
    primary: usize,
    version: String,
    /// Concurrent dequeue-and-complete loops.
    lanes: usize,
    max_runs: u32,
}

/// What a worker reports, one line each.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "camelCase")]
enum Event {
    /// A run handed out, noted when the dequeue's answer had arrived (`start_us`): the run's slot
    /// was taken before that.
    Dequeued {
        worker: String,
        run: String,
        attempt: i64,
        lease: String,
        queue: String,
        server: usize,
        start_us: i64,
        lease_expires_ms: i64,
    },
    /// A completion and the server's verdict. `end_us` was noted before the completion was first
    /// sent: the slot was released after that. `unanswered_before` / `refused_before`: an earlier
    /// send of the same completion got no answer / a 503.
    Completion {
        worker: String,
        run: String,
        attempt: i64,
        lease: String,
        ok: bool,
        server: usize,
        end_us: i64,
        /// A deliberate resend with a lease already superseded (must be refused).
        probe: bool,
        unanswered_before: bool,
        refused_before: bool,
        verdict: Verdict,
    },
    Switched {
        worker: String,
        from: usize,
        to: usize,
        reason: String,
    },
    Unexpected {
        worker: String,
        what: String,
    },
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "camelCase")]
enum Verdict {
    Accepted { status: String, will_retry: bool },
    LeaseLost { status: String },
    Other { http: u16, body: String },
}

fn emit(event: &Event) {
    println!(
        "{MARK}{}",
        serde_json::to_string(event).expect("event as JSON")
    );
}

/// POSTs JSON with the dev key; a transport error (server gone) is returned, not a panic.
async fn post_json(
    http: &reqwest::Client,
    base: &str,
    path: &str,
    body: &Value,
) -> Result<(u16, Value), String> {
    let resp = http
        .post(format!("{base}{path}"))
        .bearer_auth(DEV_KEY)
        .json(body)
        .send()
        .await
        .map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let text = resp.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

struct Lane {
    config: Arc<WorkerConfig>,
    name: String,
    http: reqwest::Client,
    server: usize,
}

impl Lane {
    fn base(&self) -> &str {
        &self.config.servers[self.server]
    }

    fn switch(&mut self, reason: &str) {
        let from = self.server;
        self.server = (self.server + 1) % self.config.servers.len();
        emit(&Event::Switched {
            worker: self.name.clone(),
            from,
            to: self.server,
            reason: reason.to_string(),
        });
    }

    fn unexpected(&self, what: String) {
        emit(&Event::Unexpected {
            worker: self.name.clone(),
            what,
        });
    }

    async fn run(mut self, stop: Arc<AtomicBool>) {
        while !stop.load(Ordering::SeqCst) {
            let body = json!({"version": self.config.version, "maxRuns": self.config.max_runs,
                              "waitMs": 500, "workerId": self.name});
            let runs =
                match post_json(&self.http, self.base(), "/api/v1/worker/dequeue", &body).await {
                    Ok((200, v)) => v["runs"].as_array().cloned().unwrap_or_default(),
                    Ok((503, _)) => {
                        back_off().await;
                        continue;
                    }
                    Ok((s, v)) => {
                        self.unexpected(format!("dequeue answered {s}: {v}"));
                        back_off().await;
                        continue;
                    }
                    Err(e) => {
                        self.switch(&format!("dequeue: {e}"));
                        back_off().await;
                        continue;
                    }
                };
            if runs.is_empty() {
                continue;
            }
            let start_us = now_us();
            for run in &runs {
                emit(&Event::Dequeued {
                    worker: self.name.clone(),
                    run: run["runId"].as_str().unwrap_or("").to_string(),
                    attempt: run["attempt"].as_i64().unwrap_or(0),
                    lease: run["lease"].as_str().unwrap_or("").to_string(),
                    queue: run["queue"].as_str().unwrap_or("").to_string(),
                    server: self.server,
                    start_us,
                    lease_expires_ms: parse_ms(&run["leaseExpiresAt"]),
                });
            }
            self.complete(&runs).await;
        }
    }

    /// Completes `runs` in one batched call (failing the attempts their payload plans to fail),
    /// resending until some server answers; then probes fencing with each superseded lease.
    async fn complete(&mut self, runs: &[Value]) {
        let completions: Vec<Value> = runs
            .iter()
            .map(|run| {
                let attempt = run["attempt"].as_i64().unwrap_or(0);
                if attempt <= run["payload"]["fail"].as_i64().unwrap_or(0) {
                    json!({"runId": run["runId"], "lease": run["lease"], "ok": false,
                           "error": {"message": format!("planned failure of attempt {attempt}")}})
                } else {
                    json!({"runId": run["runId"], "lease": run["lease"], "ok": true,
                           "output": {"attempt": attempt}})
                }
            })
            .collect();
        let body = json!({ "completions": completions });
        let end_us = now_us();
        let (mut unanswered, mut refused) = (false, false);
        let mut tries = 0;
        let results = loop {
            tries += 1;
            match post_json(&self.http, self.base(), "/api/v1/worker/complete", &body).await {
                Ok((200, v)) => break v["results"].as_array().cloned().unwrap_or_default(),
                Ok((503, _)) => refused = true,
                Ok((s, v)) => {
                    self.unexpected(format!("batched complete answered {s}: {v}"));
                    if tries > 20 {
                        return;
                    }
                }
                Err(e) => {
                    unanswered = true;
                    self.switch(&format!("complete: {e}"));
                }
            }
            back_off().await;
        };
        if results.len() != runs.len() {
            self.unexpected(format!(
                "batched complete answered {} results for {} completions",
                results.len(),
                runs.len()
            ));
        }
        for ((run, sent), result) in runs.iter().zip(&completions).zip(&results) {
            let verdict = if result.get("error").is_some() {
                if result["code"] == json!("lease_lost") {
                    Verdict::LeaseLost {
                        status: lease_lost_status(result),
                    }
                } else {
                    Verdict::Other {
                        http: result["status"].as_u64().unwrap_or(0) as u16,
                        body: result.to_string(),
                    }
                }
            } else {
                Verdict::Accepted {
                    status: result["status"].as_str().unwrap_or("?").to_string(),
                    will_retry: result["willRetry"] == json!(true),
                }
            };
            let superseded = matches!(
                verdict,
                Verdict::Accepted {
                    will_retry: true,
                    ..
                }
            );
            let event = Event::Completion {
                worker: self.name.clone(),
                run: run["runId"].as_str().unwrap_or("").to_string(),
                attempt: run["attempt"].as_i64().unwrap_or(0),
                lease: run["lease"].as_str().unwrap_or("").to_string(),
                ok: sent["ok"] == json!(true),
                server: self.server,
                end_us,
                probe: false,
                unanswered_before: unanswered,
                refused_before: refused,
                verdict,
            };
            emit(&event);
            if superseded {
                self.probe(run, end_us).await;
            }
        }
    }

    /// Sends a success with the lease of an attempt whose failure was just accepted (so the
    /// lease is superseded) to the other server, or to this one if the other does not answer.
    async fn probe(&self, run: &Value, end_us: i64) {
        let id = run["runId"].as_str().unwrap_or("");
        let body = json!({"lease": run["lease"], "ok": true, "output": "stale"});
        let path = format!("/api/v1/worker/runs/{id}/complete");
        let other = (self.server + 1) % self.config.servers.len();
        let mut answer = None;
        for server in [other, self.server, other, self.server] {
            match post_json(&self.http, &self.config.servers[server], &path, &body).await {
                Ok((503, _)) | Err(_) => back_off().await,
                Ok((status, v)) => {
                    answer = Some((server, status, v));
                    break;
                }
            }
        }
        let Some((server, status, v)) = answer else {
            self.unexpected(format!("no server answered the fencing probe of {id}"));
            return;
        };
        let verdict = match status {
            200 => Verdict::Accepted {
                status: v["status"].as_str().unwrap_or("?").to_string(),
                will_retry: v["willRetry"] == json!(true),
            },
            409 if v["code"] == json!("lease_lost") => Verdict::LeaseLost {
                status: lease_lost_status(&v),
            },
            _ => Verdict::Other {
                http: status,
                body: v.to_string(),
            },
        };
        emit(&Event::Completion {
            worker: self.name.clone(),
            run: id.to_string(),
            attempt: run["attempt"].as_i64().unwrap_or(0),
            lease: run["lease"].as_str().unwrap_or("").to_string(),
            ok: true,
            server,
            end_us,
            probe: true,
            unanswered_before: false,
            refused_before: false,
            verdict,
        });
    }
}

/// Not a test of its own: the body of the worker processes of
/// `two_servers_three_workers_survive_a_sigkill`, which runs this binary with `--exact
/// worker_process` and the configuration in `TRIGR_MULTINODE_WORKER`. Without it, it does nothing.
/// It works until its stdin closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_process() {
    let Ok(config) = std::env::var(WORKER_ENV) else {
        return;
    };
    let config: Arc<WorkerConfig> =
        Arc::new(serde_json::from_str(&config).expect("worker configuration"));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut sink = Vec::new();
            let _ = std::io::stdin().read_to_end(&mut sink);
            stop.store(true, Ordering::SeqCst);
        });
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()
        .expect("http client");
    let lanes: Vec<_> = (0..config.lanes)
        .map(|i| {
            let lane = Lane {
                config: config.clone(),
                name: format!("{}.{i}", config.name),
                http: http.clone(),
                server: config.primary,
            };
            tokio::spawn(lane.run(stop.clone()))
        })
        .collect();
    for lane in lanes {
        lane.await.expect("worker lane panicked");
    }
}

/// What the parent collects from its worker processes.
#[derive(Default)]
struct Collected {
    events: Vec<Event>,
    /// Runs with an accepted successful completion (or one whose answer was lost, which a resend
    /// then found `COMPLETED`).
    finished: HashSet<String>,
    unexpected: usize,
}

/// The worker processes; killed if still running when dropped (a failed test).
struct Workers {
    children: Vec<Child>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

impl Workers {
    fn spawn(configs: &[WorkerConfig], collected: &Arc<Mutex<Collected>>) -> Workers {
        let exe = std::env::current_exe().expect("test binary path");
        let mut workers = Workers {
            children: Vec::new(),
            readers: Vec::new(),
        };
        for config in configs {
            let mut child = Command::new(&exe)
                .args([
                    "--exact",
                    "worker_process",
                    "--nocapture",
                    "--test-threads",
                    "1",
                ])
                .env(WORKER_ENV, serde_json::to_string(config).expect("config"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn a worker process");
            let stdout = child.stdout.take().expect("worker stdout");
            let collected = collected.clone();
            workers.readers.push(std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    let Some(at) = line.find(MARK) else { continue };
                    let event: Event = serde_json::from_str(&line[at + MARK.len()..])
                        .unwrap_or_else(|e| panic!("bad worker report {line:?}: {e}"));
                    let mut c = collected.lock().unwrap_or_else(|p| p.into_inner());
                    match &event {
                        Event::Completion {
                            run,
                            ok: true,
                            probe: false,
                            verdict: Verdict::Accepted { status, .. },
                            ..
                        } if status == "COMPLETED" => {
                            c.finished.insert(run.clone());
                        }
                        Event::Completion {
                            run,
                            ok: true,
                            probe: false,
                            unanswered_before,
                            refused_before,
                            verdict: Verdict::LeaseLost { status },
                            ..
                        } if status == "COMPLETED" && (*unanswered_before || *refused_before) => {
                            c.finished.insert(run.clone());
                        }
                        Event::Unexpected { worker, what } => {
                            eprintln!("worker {worker}: {what}");
                            c.unexpected += 1;
                        }
                        _ => {}
                    }
                    c.events.push(event);
                }
            }));
            workers.children.push(child);
        }
        workers
    }

    /// Closes the workers' stdin (their signal to stop), waits for them to exit and for their
    /// reports to be read; panics if one fails or does not stop within `patience`.
    async fn stop(&mut self, patience: Duration) {
        for child in &mut self.children {
            drop(child.stdin.take());
        }
        let deadline = Instant::now() + patience;
        for (i, child) in self.children.iter_mut().enumerate() {
            let status = loop {
                if let Some(status) = child.try_wait().expect("worker status") {
                    break status;
                }
                assert!(
                    Instant::now() < deadline,
                    "worker {i} did not stop within {patience:?}"
                );
                poll_pause().await;
            };
            assert!(status.success(), "worker {i} failed: {status}");
        }
        for reader in self.readers.drain(..) {
            reader.join().expect("report reader panicked");
        }
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        for child in &mut self.children {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Test 1: two servers, three worker processes, 10,000 runs, one server SIGKILLed halfway.
// ---------------------------------------------------------------------------------------------

/// (task, queue, concurrency limit); a run `i` goes to a queue by `i % 18`, in proportion to
/// the limits.
const LIMITED: [(&str, &str, usize); 3] = [
    ("t3", "limit-3", 3),
    ("t5", "limit-5", 5),
    ("t10", "limit-10", 10),
];
const RUNS: usize = 10_000;
const BATCH: usize = 1_000;

fn planned_task(i: usize) -> &'static str {
    match i % 18 {
        0..=2 => LIMITED[0].0,
        3..=7 => LIMITED[1].0,
        _ => LIMITED[2].0,
    }
}

/// Attempts run `i` fails before it succeeds.
fn planned_failures(i: usize) -> i64 {
    match (i % 23, i % 7) {
        (0, _) => 2,
        (_, 0) => 1,
        _ => 0,
    }
}

/// The largest number of intervals `[start, end)` that overlap at one moment.
fn max_overlap(intervals: &[(i64, i64)]) -> usize {
    let mut points: Vec<(i64, i32)> = intervals
        .iter()
        .flat_map(|&(s, e)| [(s, 1), (e, -1)])
        .collect();
    // At equal times an end comes before a start.
    points.sort_unstable();
    let (mut now, mut max) = (0i64, 0i64);
    for (_, d) in points {
        now += i64::from(d);
        max = max.max(now);
    }
    max as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_servers_three_workers_survive_a_sigkill() {
    let _turn = TURN.lock().await;
    let Some(schema) = fresh_schema() else {
        return;
    };
    let began = Instant::now();
    // Runs finish within milliseconds of their dequeue, so 5 s of lease is plenty; it bounds how
    // long a run stays stuck when the killed server had committed a dequeue whose answer never
    // left it (that attempt then expires and the run is retried).
    let server_args = args(&["--lease-timeout", "5"]);
    let mut servers = vec![
        TestServer::start_on(&schema.url(), &server_args).await,
        TestServer::start_on(&schema.url(), &server_args).await,
    ];
    let manifest: Vec<Value> = LIMITED
        .iter()
        .map(|(task, queue, limit)| {
            json!({"id": task, "queue": {"name": queue, "concurrencyLimit": limit},
                   "retry": {"maxAttempts": 5, "factor": 2, "minTimeoutInMs": 5,
                             "maxTimeoutInMs": 20, "randomize": false}})
        })
        .collect();
    let version = servers[1].deploy(Value::Array(manifest)).await;

    // Three worker processes, two lanes each: two start on server 0 (the one to be killed), one
    // on server 1.
    let collected = Arc::new(Mutex::new(Collected::default()));
    let urls: Vec<String> = servers.iter().map(|s| s.base_url.clone()).collect();
    let configs: Vec<WorkerConfig> = [0usize, 1, 0]
        .iter()
        .enumerate()
        .map(|(i, &primary)| WorkerConfig {
            name: format!("w{i}"),
            servers: urls.clone(),
            primary,
            version: version.clone(),
            lanes: 2,
            max_runs: 20,
        })
        .collect();
    let mut workers = Workers::spawn(&configs, &collected);

    // 10,000 runs in ten batches, five on each server, all at once.
    let items: Vec<Value> = (0..RUNS)
        .map(|i| {
            json!({"index": i % BATCH, "task": planned_task(i),
                   "payload": json!({"i": i, "fail": planned_failures(i)}).to_string(),
                   "options": {"payloadType": "application/json"}})
        })
        .collect();
    let batches = futures::future::join_all(
        items
            .chunks(BATCH)
            .enumerate()
            .map(|(b, chunk)| batch_trigger(&servers[b % 2], chunk)),
    )
    .await;
    let run_index: HashMap<String, usize> = batches
        .into_iter()
        .flatten()
        .enumerate()
        .map(|(i, id)| (id, i))
        .collect();
    assert_eq!(run_index.len(), RUNS, "distinct run ids");
    let triggered_after = began.elapsed();

    let finished = || {
        collected
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .finished
            .len()
    };
    let deadline = began + Duration::from_secs(150);
    while finished() < RUNS / 2 {
        assert!(
            Instant::now() < deadline,
            "only {} runs finished before the deadline (before the kill): {:?}",
            finished(),
            status_counts(&servers[1]).await
        );
        poll_pause().await;
    }
    let finished_at_kill = finished();
    servers[0].kill();
    let killed_after = began.elapsed();
    println!(
        "multinode: SIGKILLed server 0 after {killed_after:?} with {finished_at_kill} runs finished"
    );
    assert!(servers[1].is_running(), "the other server died too");
    while finished() < RUNS {
        if Instant::now() >= deadline {
            let counts = status_counts(&servers[1]).await;
            panic!(
                "{} of {RUNS} runs finished by the workers within 150 s; statuses: {counts:?}",
                finished()
            );
        }
        poll_pause().await;
    }
    let processed_after = began.elapsed();
    workers.stop(Duration::from_secs(20)).await;
    assert!(servers[1].is_running(), "the surviving server died");

    // What the survivor says about every run.
    let survivor = &servers[1];
    let listed = survivor.list_all("").await;
    let mut problems = Problems::default();
    if listed.len() != RUNS {
        problems.add(
            "runs listed",
            format!("{} listed, {RUNS} triggered", listed.len()),
        );
    }
    for run in &listed {
        let id = run["id"].as_str().unwrap_or("");
        if !run_index.contains_key(id) {
            problems.add("run nobody triggered", id.to_string());
        }
    }
    let fetched: Vec<Value> = futures::stream::iter(run_index.keys().cloned())
        .map(|id| async move { survivor.run(&id).await })
        .buffer_unordered(32)
        .collect()
        .await;
    let mut final_attempt: HashMap<String, i64> = HashMap::new();
    for run in &fetched {
        let id = run["id"].as_str().unwrap_or("").to_string();
        if run["status"] != json!("COMPLETED") {
            problems.add(
                "run not COMPLETED",
                format!(
                    "{id} is {} after {} attempts",
                    run["status"], run["attemptCount"]
                ),
            );
        }
        let i = run_index[&id];
        if run["output"]["attempt"] != run["attemptCount"] {
            problems.add(
                "output not from the latest attempt",
                format!(
                    "{id}: output {} attemptCount {}",
                    run["output"], run["attemptCount"]
                ),
            );
        }
        if run["attemptCount"].as_i64().unwrap_or(0) <= planned_failures(i) {
            problems.add(
                "completed before its planned failures",
                format!("{id}: attemptCount {}", run["attemptCount"]),
            );
        }
        final_attempt.insert(id, run["attemptCount"].as_i64().unwrap_or(0));
    }
    let verified_after = began.elapsed();

    // What the workers saw.
    let collected = collected.lock().unwrap_or_else(|p| p.into_inner());
    if collected.unexpected > 0 {
        problems.add(
            "unexpected answers to workers",
            format!("{} (printed above)", collected.unexpected),
        );
    }
    // (run, attempt) -> (lease, queue, interval start, lease expiry in µs)
    let mut dequeued: HashMap<(String, i64), (String, String, i64, i64)> = HashMap::new();
    let mut ends: HashMap<(String, i64), i64> = HashMap::new();
    let mut accepted: HashMap<(String, i64), usize> = HashMap::new();
    let mut accepted_success: HashMap<String, Vec<i64>> = HashMap::new();
    let mut lost_answers: HashSet<String> = HashSet::new();
    let (mut probes, mut lease_lost, mut failures, mut switches) = (0, 0, 0, 0);
    let mut leases = HashSet::new();
    for event in &collected.events {
        match event {
            Event::Dequeued {
                run,
                attempt,
                lease,
                queue,
                start_us,
                lease_expires_ms,
                ..
            } => {
                if !leases.insert(lease.clone()) {
                    problems.add("lease handed out twice", format!("{run}: {lease}"));
                }
                let previous = dequeued.insert(
                    (run.clone(), *attempt),
                    (
                        lease.clone(),
                        queue.clone(),
                        *start_us,
                        lease_expires_ms * 1000,
                    ),
                );
                if previous.is_some() {
                    problems.add(
                        "attempt handed out twice",
                        format!("{run} attempt {attempt}"),
                    );
                }
            }
            Event::Completion {
                run,
                attempt,
                lease,
                ok,
                end_us,
                probe,
                unanswered_before,
                refused_before,
                verdict,
                ..
            } => {
                let key = (run.clone(), *attempt);
                if !probe {
                    ends.insert(key.clone(), *end_us);
                    if dequeued.get(&key).map(|d| &d.0) != Some(lease) {
                        problems.add(
                            "completion of an attempt no worker dequeued",
                            format!("{run} attempt {attempt}"),
                        );
                    }
                }
                match (verdict, probe) {
                    (Verdict::Accepted { status, .. }, true) => problems.add(
                        "superseded lease accepted (fencing broken)",
                        format!("{run} attempt {attempt}: {status}"),
                    ),
                    (Verdict::LeaseLost { .. }, true) => probes += 1,
                    (Verdict::Accepted { status, will_retry }, false) => {
                        *accepted.entry(key).or_default() += 1;
                        if *ok {
                            accepted_success
                                .entry(run.clone())
                                .or_default()
                                .push(*attempt);
                            if status != "COMPLETED" || *will_retry {
                                problems.add(
                                    "success answered other than COMPLETED",
                                    format!("{run}: {status}"),
                                );
                            }
                        } else {
                            failures += 1;
                            if !will_retry {
                                problems.add(
                                    "planned failure not retried",
                                    format!("{run} attempt {attempt}: {status}"),
                                );
                            }
                        }
                    }
                    (Verdict::LeaseLost { status }, false) => {
                        if *unanswered_before || *refused_before {
                            // The first send may have been committed; its resend is refused.
                            if *ok && status == "COMPLETED" {
                                lost_answers.insert(run.clone());
                                if !unanswered_before {
                                    problems.add(
                                        "a 503 changed something (resend found it COMPLETED)",
                                        format!("{run} attempt {attempt}"),
                                    );
                                }
                            }
                        } else {
                            lease_lost += 1;
                        }
                    }
                    (Verdict::Other { http, body }, _) => problems.add(
                        "completion item neither accepted nor lease_lost",
                        format!("{run}: {http} {body}"),
                    ),
                }
            }
            Event::Switched { .. } => switches += 1,
            Event::Unexpected { .. } => {}
        }
    }
    for (key, n) in &accepted {
        if *n > 1 {
            problems.add(
                "attempt with several accepted completions",
                format!("{} attempt {}: {n}", key.0, key.1),
            );
        }
    }
    let mut orphaned = 0;
    for id in run_index.keys() {
        let successes = accepted_success.get(id).cloned().unwrap_or_default();
        let last = final_attempt.get(id).copied().unwrap_or(-1);
        let seen: Vec<i64> = (1..=10)
            .filter(|a| dequeued.contains_key(&(id.clone(), *a)))
            .collect();
        let max_dequeued = seen.last().copied().unwrap_or(0);
        // An attempt no worker saw was handed out by the killed server without its answer
        // leaving it: its lease expired and the run was retried.
        orphaned += (last - seen.len() as i64).max(0);
        match successes.as_slice() {
            [] if lost_answers.contains(id) => {}
            [] => problems.add("run without an accepted success", id.clone()),
            [attempt] => {
                if *attempt != last || *attempt != max_dequeued {
                    problems.add(
                        "accepted success not from the latest lease",
                        format!("{id}: accepted attempt {attempt}, run attempt {last}, last dequeued {max_dequeued}"),
                    );
                }
            }
            many => problems.add(
                "run with several accepted successes",
                format!("{id}: attempts {many:?}"),
            ),
        }
    }
    // Lease intervals, each inside the time its run held a slot: from the dequeue's answer to
    // the first send of its completion, cut at the lease's expiry.
    let mut overlaps = Vec::new();
    for (task, queue, limit) in LIMITED {
        let intervals: Vec<(i64, i64)> = dequeued
            .iter()
            .filter(|(_, d)| d.1 == queue)
            .map(|(key, d)| {
                let end = ends.get(key).copied().unwrap_or(d.3).min(d.3);
                (d.2, end)
            })
            .filter(|(s, e)| e > s)
            .collect();
        let max = max_overlap(&intervals);
        overlaps.push(format!("{queue} {max}/{limit}"));
        if max > limit {
            problems.add(
                "concurrency limit exceeded",
                format!(
                    "queue {queue} (task {task}): {max} leases at once, limit {limit}, {} intervals",
                    intervals.len()
                ),
            );
        }
    }
    let expected_failures: i64 = (0..RUNS).map(planned_failures).sum();
    println!(
        "multinode: {RUNS} runs triggered in {triggered_after:?}, processed in {processed_after:?}, \
         verified in {verified_after:?}; {} dequeues, {failures} accepted planned failures (of \
         {expected_failures}), {probes} superseded-lease probes refused, {lease_lost} leases lost, \
         {} answers lost to the kill, {orphaned} attempts orphaned by it, {switches} server \
         switches; most leases at once: {}",
        dequeued.len(),
        lost_answers.len(),
        overlaps.join(", ")
    );
    if probes == 0 {
        problems.add("no fencing probe was made", "no failure was accepted");
    }
    problems.assert_none("two servers, one SIGKILLed");
    drop(servers);
    drop(schema);
}

// ---------------------------------------------------------------------------------------------
// In-process worker lanes (tests 2 and 4).
// ---------------------------------------------------------------------------------------------

struct Delivery {
    run: String,
    attempt: i64,
    received_ms: i64,
}

#[derive(Default)]
struct LaneLog {
    deliveries: Vec<Delivery>,
    /// Runs whose success was accepted (or found COMPLETED when a resend was refused).
    completed: HashSet<String>,
    /// Answers other than 200, by status (0: no answer).
    refusals: BTreeMap<u16, usize>,
    /// A few answers of each status, as text.
    examples: BTreeMap<u16, Vec<String>>,
}

impl LaneLog {
    fn refused(&mut self, status: u16, what: String) {
        *self.refusals.entry(status).or_default() += 1;
        let examples = self.examples.entry(status).or_default();
        if examples.len() < 3 {
            examples.push(what);
        }
    }
}

/// Long-polls `base` for runs of `version` and completes each successfully (batched, resending
/// after 503s and transport errors) until `stop`.
async fn simple_lane(
    http: reqwest::Client,
    base: String,
    version: String,
    stop: Arc<AtomicBool>,
    log: Arc<Mutex<LaneLog>>,
) {
    let note = |status: u16, what: String| {
        log.lock()
            .unwrap_or_else(|p| p.into_inner())
            .refused(status, what)
    };
    while !stop.load(Ordering::SeqCst) {
        let body = json!({"version": version, "maxRuns": 50, "waitMs": 200});
        let runs = match post_json(&http, &base, "/api/v1/worker/dequeue", &body).await {
            Ok((200, v)) => v["runs"].as_array().cloned().unwrap_or_default(),
            Ok((s, v)) => {
                note(s, format!("dequeue: {s} {v}"));
                back_off().await;
                continue;
            }
            Err(e) => {
                note(0, format!("dequeue: {e}"));
                back_off().await;
                continue;
            }
        };
        if runs.is_empty() {
            continue;
        }
        let received_ms = now_ms();
        {
            let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
            for run in &runs {
                log.deliveries.push(Delivery {
                    run: run["runId"].as_str().unwrap_or("").to_string(),
                    attempt: run["attempt"].as_i64().unwrap_or(0),
                    received_ms,
                });
            }
        }
        let completions: Vec<Value> = runs
            .iter()
            .map(|r| json!({"runId": r["runId"], "lease": r["lease"], "ok": true, "output": {"attempt": r["attempt"]}}))
            .collect();
        let body = json!({ "completions": completions });
        let mut results = None;
        for _ in 0..3_000 {
            match post_json(&http, &base, "/api/v1/worker/complete", &body).await {
                Ok((200, v)) => {
                    results = v["results"].as_array().cloned();
                    break;
                }
                Ok((s, v)) => note(s, format!("complete: {s} {v}")),
                Err(e) => note(0, format!("complete: {e}")),
            }
            back_off().await;
        }
        let mut log = log.lock().unwrap_or_else(|p| p.into_inner());
        for (run, result) in runs.iter().zip(results.unwrap_or_default()) {
            let done = result["status"] == json!("COMPLETED")
                || (result["code"] == json!("lease_lost")
                    && lease_lost_status(&result) == "COMPLETED");
            if done {
                log.completed
                    .insert(run["runId"].as_str().unwrap_or("").to_string());
            }
        }
    }
}

fn spawn_lanes(
    servers: &[&TestServer],
    version: &str,
    stop: &Arc<AtomicBool>,
    log: &Arc<Mutex<LaneLog>>,
) -> Vec<tokio::task::JoinHandle<()>> {
    servers
        .iter()
        .map(|s| {
            tokio::spawn(simple_lane(
                s.http.clone(),
                s.base_url.clone(),
                version.to_string(),
                stop.clone(),
                log.clone(),
            ))
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Test 2: the database stops and starts again under load.
// ---------------------------------------------------------------------------------------------

/// A PostgreSQL instance of this test alone, in `/tmp/trigr-pg-…`; stopped and deleted on drop.
struct PrivatePostgres {
    bin: PathBuf,
    dir: tempfile::TempDir,
    port: u16,
    /// Running as root: the tools run as the `postgres` user (initdb refuses root).
    as_postgres: bool,
}

impl PrivatePostgres {
    fn create() -> Result<PrivatePostgres, String> {
        let mut bins: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
            .map_err(|e| format!("no PostgreSQL binaries (/usr/lib/postgresql: {e})"))?
            .filter_map(|e| e.ok())
            .map(|e| {
                let major = e.file_name().to_str().and_then(|n| n.parse().ok());
                (major.unwrap_or(0), e.path().join("bin"))
            })
            .filter(|(_, bin)| bin.join("initdb").exists() && bin.join("pg_ctl").exists())
            .collect();
        bins.sort();
        let (_, bin) = bins
            .pop()
            .ok_or("no PostgreSQL binaries under /usr/lib/postgresql/*/bin")?;
        let uid = Command::new("id")
            .arg("-u")
            .output()
            .map_err(|e| format!("id -u: {e}"))?;
        let as_postgres = String::from_utf8_lossy(&uid.stdout).trim() == "0";
        let dir = tempfile::Builder::new()
            .prefix("trigr-pg-")
            .tempdir_in("/tmp")
            .map_err(|e| format!("temporary directory: {e}"))?;
        // Traversable by the `postgres` user.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .map_err(|e| format!("chmod {}: {e}", dir.path().display()))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("free port: {e}"))?
            .port();
        let pg = PrivatePostgres {
            bin,
            dir,
            port,
            as_postgres,
        };
        if as_postgres {
            let mut chown = Command::new("chown");
            chown.arg("postgres:postgres").arg(pg.dir.path());
            pg.run(chown, "chown the PostgreSQL directory to postgres")?;
        }
        let mut initdb = pg.tool("initdb");
        initdb
            .arg("-D")
            .arg(pg.data())
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "--no-locale"])
            .args(["-E", "UTF8"]);
        pg.run(initdb, "initdb")?;
        Ok(pg)
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if self.as_postgres {
            let mut cmd = Command::new("runuser");
            cmd.args(["-u", "postgres", "--"]).arg(path);
            cmd
        } else {
            Command::new(path)
        }
    }

    fn run(&self, mut cmd: Command, what: &str) -> Result<(), String> {
        let out = cmd
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("{what}: {e}"))?;
        if out.status.success() {
            return Ok(());
        }
        Err(format!(
            "{what} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }

    /// Starts the instance (same port and data every time) and waits until it accepts
    /// connections.
    fn start(&self) -> Result<(), String> {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .arg("-l")
            .arg(self.dir.path().join("postgres.log"))
            .args(["-w", "-t", "60", "-o"])
            .arg(format!(
                "-p {} -k {} -c listen_addresses=127.0.0.1",
                self.port,
                self.dir.path().display()
            ))
            .arg("start");
        self.run(cmd, "pg_ctl start")
    }

    /// Stops it: `fast` ends every session (rolling back what is in flight), then shuts down.
    fn stop(&self, mode: &str) -> Result<(), String> {
        let mut cmd = self.tool("pg_ctl");
        cmd.arg("-D")
            .arg(self.data())
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        self.run(cmd, "pg_ctl stop")
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.data().join("postmaster.pid").exists() {
            let _ = self.stop("immediate");
        }
    }
}

/// One trigger answer of the load.
struct Answer {
    /// The trigger's number, in its payload.
    n: u64,
    server: usize,
    /// 0: no answer (transport error).
    status: u16,
    sent: Instant,
    body: String,
}

#[derive(Default)]
struct Load {
    answers: Vec<Answer>,
    acked: Vec<String>,
}

/// Triggers `t` on `server` again and again until `stop`, recording every answer.
async fn trigger_load(
    server: &TestServer,
    index: usize,
    stop: Arc<AtomicBool>,
    load: Arc<Mutex<Load>>,
) {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    while !stop.load(Ordering::SeqCst) {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let req = Req::new("POST", "/api/v1/tasks/t/trigger").json(&json!({
            "payload": json!({"n": n, "server": index}).to_string(),
            "options": {"payloadType": "application/json"}
        }));
        let answer = match server.try_send(req).await {
            Ok(r) => Answer {
                n,
                server: index,
                status: r.status,
                sent,
                body: r.text,
            },
            Err(e) => Answer {
                n,
                server: index,
                status: 0,
                sent,
                body: e.to_string(),
            },
        };
        let pause = answer.status != 200;
        {
            let mut load = load.lock().unwrap_or_else(|p| p.into_inner());
            if answer.status == 200 {
                let id: Value = serde_json::from_str(&answer.body).unwrap_or(Value::Null);
                load.acked.push(id["id"].as_str().unwrap_or("").to_string());
            }
            load.answers.push(answer);
        }
        // Pacing (a steady load, not a flood) and back-off after a refusal.
        tokio::time::sleep(Duration::from_millis(if pause { 20 } else { 5 })).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn database_restart_under_load_loses_nothing() {
    let _turn = TURN.lock().await;
    let pg = match tokio::task::block_in_place(PrivatePostgres::create) {
        Ok(pg) => pg,
        Err(reason) => {
            skipped::<()>(&format!("cannot create a private PostgreSQL: {reason}"));
            return;
        }
    };
    if let Err(reason) = tokio::task::block_in_place(|| pg.start()) {
        skipped::<()>(&format!("cannot start a private PostgreSQL: {reason}"));
        return;
    }
    let began = Instant::now();
    // A short lease: an attempt whose dequeue committed while its answer was lost is retried soon.
    let server_args = args(&["--lease-timeout", "3"]);
    let mut servers = vec![
        TestServer::start_on(&pg.url(), &server_args).await,
        TestServer::start_on(&pg.url(), &server_args).await,
    ];
    let retry = json!({"maxAttempts": 5, "factor": 1, "minTimeoutInMs": 10, "maxTimeoutInMs": 10,
                       "randomize": false});
    let version = servers[0]
        .deploy(json!([{"id": "t", "retry": retry}]))
        .await;

    let stop_lanes = Arc::new(AtomicBool::new(false));
    let lane_log = Arc::new(Mutex::new(LaneLog::default()));
    let lanes = spawn_lanes(
        &[&servers[0], &servers[1]],
        &version,
        &stop_lanes,
        &lane_log,
    );
    let stop_load = Arc::new(AtomicBool::new(false));
    let load = Arc::new(Mutex::new(Load::default()));
    let loaders = futures::future::join_all(
        (0..4).map(|i| trigger_load(&servers[i % 2], i % 2, stop_load.clone(), load.clone())),
    );
    let acked = || load.lock().unwrap_or_else(|p| p.into_inner()).acked.len();

    let scenario = async {
        // Load flowing.
        let deadline = Instant::now() + Duration::from_secs(30);
        while acked() < 200 {
            assert!(
                Instant::now() < deadline,
                "load did not start: {} acked",
                acked()
            );
            poll_pause().await;
        }
        let some_run = load.lock().unwrap_or_else(|p| p.into_inner()).acked[0].clone();

        // Down.
        let down_at = Instant::now();
        tokio::task::block_in_place(|| pg.stop("fast")).expect("stop PostgreSQL");
        let stopped_in = down_at.elapsed();
        // A server that knows the database is gone answers at once: well inside the pool's
        // 10 s connection timeout.
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let refused = load
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .answers
                .iter()
                .any(|a| a.status == 503 && a.sent >= down_at);
            if refused {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no trigger answered 503 within 5 s of stopping PostgreSQL"
            );
            poll_pause().await;
        }
        let first_503_after = down_at.elapsed();
        let mut reads = Vec::new();
        for server in &servers {
            let h = server.try_send(Req::new("GET", "/healthz").no_key()).await;
            let h = h.map(|r| r.status).unwrap_or(0);
            assert_eq!(
                h, 200,
                "/healthz of {} while the database is down",
                server.base_url
            );
            let r = server
                .try_send(Req::new("GET", &format!("/api/v3/runs/{some_run}")))
                .await
                .map(|r| (r.status, r.text))
                .unwrap_or_else(|e| (0, e.to_string()));
            assert!(
                r.0 == 200 || r.0 == 503,
                "a read on {} while the database is down answered {} {}",
                server.base_url,
                r.0,
                r.1
            );
            reads.push(r.0);
        }

        // Up again, same port and data.
        let down_for = down_at.elapsed();
        let up_at = Instant::now();
        tokio::task::block_in_place(|| pg.start()).expect("start PostgreSQL again");
        let deadline = up_at + Duration::from_secs(30);
        let mut recovered = [None, None];
        while recovered.iter().any(Option::is_none) {
            {
                let load = load.lock().unwrap_or_else(|p| p.into_inner());
                for a in &load.answers {
                    if a.status == 200 && a.sent >= up_at && recovered[a.server].is_none() {
                        recovered[a.server] = Some(up_at.elapsed());
                    }
                }
            }
            assert!(
                Instant::now() < deadline,
                "triggers did not succeed again within 30 s of the restart: {recovered:?}"
            );
            poll_pause().await;
        }
        let acked_at_recovery = acked();
        while acked() < acked_at_recovery + 200 {
            assert!(Instant::now() < deadline, "load did not resume");
            poll_pause().await;
        }
        println!(
            "multinode: PostgreSQL stopped in {stopped_in:?}, first 503 after {first_503_after:?}, \
             reads while down answered {reads:?}, down for {down_for:?}; triggers succeeded again \
             {recovered:?} after the restart"
        );
        stop_load.store(true, Ordering::SeqCst);
    };
    futures::future::join(loaders, scenario).await;

    // Every acknowledged run completes.
    let acked_ids: Vec<String> = load.lock().unwrap_or_else(|p| p.into_inner()).acked.clone();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let missing = {
            let log = lane_log.lock().unwrap_or_else(|p| p.into_inner());
            acked_ids
                .iter()
                .filter(|id| !log.completed.contains(*id))
                .count()
        };
        if missing == 0 {
            break;
        }
        if Instant::now() >= deadline {
            let counts = status_counts(&servers[0]).await;
            panic!(
                "{missing} of {} acknowledged runs not completed within 60 s; statuses: {counts:?}",
                acked_ids.len()
            );
        }
        poll_pause().await;
    }
    stop_lanes.store(true, Ordering::SeqCst);
    for lane in lanes {
        lane.await.expect("worker lane panicked");
    }
    let statuses: HashMap<String, String> = servers[1]
        .list_all("")
        .await
        .into_iter()
        .map(|r| {
            (
                r["id"].as_str().unwrap_or("").to_string(),
                r["status"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();

    let mut problems = Problems::default();
    for id in &acked_ids {
        match statuses.get(id).map(String::as_str) {
            Some("COMPLETED") => {}
            Some(other) => problems.add("acknowledged run not COMPLETED", format!("{id}: {other}")),
            None => problems.add("acknowledged run missing", id.clone()),
        }
    }
    let load = std::mem::take(&mut *load.lock().unwrap_or_else(|p| p.into_inner()));
    let mut by_status: BTreeMap<u16, usize> = BTreeMap::new();
    for a in &load.answers {
        *by_status.entry(a.status).or_default() += 1;
        if a.status != 200 && a.status != 503 {
            problems.add(
                &format!("trigger answered {}", a.status),
                format!("server {}: {}", a.server, a.body),
            );
        }
    }
    if by_status.get(&503).copied().unwrap_or(0) == 0 {
        problems.add("no trigger answered 503", "while the database was down");
    }
    // Runs of triggers that were not acknowledged (an answer lost with a connection the
    // shutdown cut) are allowed; show what their triggers were answered.
    let acked_set: HashSet<&String> = acked_ids.iter().collect();
    let mut unacknowledged = Vec::new();
    for id in statuses.keys().filter(|id| !acked_set.contains(id)) {
        let n = servers[1].run(id).await["payload"]["n"].as_u64();
        let answer = load.answers.iter().find(|a| Some(a.n) == n);
        unacknowledged.push(format!(
            "{id} (trigger {n:?} answered {:?})",
            answer.map(|a| a.status)
        ));
    }
    let log = lane_log.lock().unwrap_or_else(|p| p.into_inner());
    for (status, n) in &log.refusals {
        if *status != 503 {
            problems.add_count(
                &format!("worker calls answered {status} (0: no answer)"),
                *n,
                &log.examples[status],
            );
        }
    }
    for server in servers.iter_mut() {
        if !server.is_running() {
            problems.add("server exited", server.base_url.clone());
        }
    }
    println!(
        "multinode: database restart: {} triggers acknowledged ({} runs exist), trigger answers \
         {by_status:?}, worker refusals {:?}, {} deliveries, in {:?}; runs of unacknowledged \
         triggers: {unacknowledged:?}",
        acked_ids.len(),
        statuses.len(),
        log.refusals,
        log.deliveries.len(),
        began.elapsed()
    );
    problems.assert_none("database restart under load");
    drop(servers);
    drop(pg);
}

// ---------------------------------------------------------------------------------------------
// Test 3: a wake-up crosses servers.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_worker_on_one_server_gets_a_run_triggered_on_the_other_at_once() {
    let _turn = TURN.lock().await;
    let Some(schema) = fresh_schema() else {
        return;
    };
    // Without a wake-up, a parked dequeue looks again only every 10 s.
    let server_args = args(&["--poll-interval-ms", "10000"]);
    let servers = [
        TestServer::start_on(&schema.url(), &server_args).await,
        TestServer::start_on(&schema.url(), &server_args).await,
    ];
    let version = servers[0].deploy(tasks(&["wake"])).await;
    let mut latencies = Vec::new();
    for (round, (waiter, trigger)) in [(0usize, 1usize), (1, 0)].into_iter().enumerate() {
        let (http, base) = (
            servers[waiter].http.clone(),
            servers[waiter].base_url.clone(),
        );
        let body = json!({"version": version, "maxRuns": 1, "waitMs": 20_000});
        let mut dequeue = tokio::spawn(async move {
            let answer = post_json(&http, &base, "/api/v1/worker/dequeue", &body).await;
            (answer, Instant::now())
        });
        // The dequeue must be parked (its first look found nothing) before the trigger, or the
        // measurement proves nothing: it is still unanswered half a second after it was sent.
        if let Ok(early) = tokio::time::timeout(Duration::from_millis(500), &mut dequeue).await {
            panic!("the dequeue answered before anything was triggered: {early:?}");
        }
        let t0 = Instant::now();
        let id = servers[trigger]
            .trigger("wake", json!({"round": round}), json!({}))
            .await;
        let trigger_took = t0.elapsed();
        let (answer, at) = dequeue.await.expect("dequeue task");
        let latency = at - t0;
        println!(
            "multinode: round {round}: worker on server {waiter}, trigger on server {trigger} \
             (answered in {trigger_took:?}): run delivered {latency:?} after the trigger was sent"
        );
        let (status, v) = answer.expect("dequeue answered");
        assert_eq!(status, 200, "dequeue: {v}");
        let runs = v["runs"].as_array().expect("runs");
        assert_eq!(runs.len(), 1, "round {round}: {v}");
        assert_eq!(runs[0]["runId"], json!(id), "round {round}");
        let (s, v) = servers[waiter].complete_ok(&runs[0], json!("done")).await;
        assert_eq!(s, 200, "complete: {v}");
        latencies.push(latency);
    }
    assert!(
        latencies.iter().all(|l| *l < Duration::from_secs(3)),
        "a run triggered on one server reached a worker long-polling the other only after \
         {latencies:?} (limit 3 s; the poll interval is 10 s): no cross-server wake-up"
    );
    drop(servers);
    drop(schema);
}

// ---------------------------------------------------------------------------------------------
// Test 4: delays and TTLs across servers.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn timers_fire_once_across_servers() {
    let _turn = TURN.lock().await;
    let Some(schema) = fresh_schema() else {
        return;
    };
    let began = Instant::now();
    let servers = [
        TestServer::start_on(&schema.url(), &[]).await,
        TestServer::start_on(&schema.url(), &[]).await,
    ];
    let version = servers[0]
        .deploy(json!([
            {"id": "later", "queue": {"name": "open"}},
            {"id": "doomed", "queue": {"name": "closed", "concurrencyLimit": 0}},
            {"id": "racing", "queue": {"name": "narrow", "concurrencyLimit": 1}}
        ]))
        .await;
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(LaneLog::default()));
    let lanes = spawn_lanes(&[&servers[0], &servers[1]], &version, &stop, &log);

    // 200 runs due in 1 s; 100 that cannot start and expire 1 s after their trigger; 300 due in
    // 1 s with a TTL of 1 s on a queue of one slot: more than one slot can get through in a
    // second (each takes two commits), so some start and the rest expire, some at the very moment
    // a worker on the other server asks for them.
    let plan: Vec<(&str, Value)> = (0..600)
        .map(|i| match i % 6 {
            0 | 1 => ("later", json!({"delay": "1s"})),
            2 => ("doomed", json!({"ttl": "1s"})),
            _ => ("racing", json!({"delay": "1s", "ttl": "1s"})),
        })
        .collect();
    let triggered: Vec<(String, &str)> =
        futures::stream::iter(plan.iter().enumerate().map(|(i, (task, options))| {
            let server = &servers[i % 2];
            async move {
                let id = server.trigger(task, json!({"i": i}), options.clone()).await;
                (id, *task)
            }
        }))
        .buffered(16)
        .collect()
        .await;
    let triggered_in = began.elapsed();

    let deadline = Instant::now() + Duration::from_secs(30);
    let runs: HashMap<String, Value> = loop {
        let listed = servers[1].list_all("").await;
        let terminal = listed
            .iter()
            .filter(|r| ["COMPLETED", "EXPIRED"].contains(&r["status"].as_str().unwrap_or("")))
            .count();
        if terminal == plan.len() {
            break listed
                .into_iter()
                .map(|r| (r["id"].as_str().unwrap_or("").to_string(), r))
                .collect();
        }
        if Instant::now() >= deadline {
            let counts = status_counts(&servers[1]).await;
            panic!("runs not all COMPLETED or EXPIRED within 30 s: {counts:?}");
        }
        poll_pause().await;
    };
    let settled_in = began.elapsed();
    stop.store(true, Ordering::SeqCst);
    for lane in lanes {
        lane.await.expect("worker lane panicked");
    }

    let log = log.lock().unwrap_or_else(|p| p.into_inner());
    let mut deliveries: HashMap<&str, Vec<&Delivery>> = HashMap::new();
    for d in &log.deliveries {
        deliveries.entry(d.run.as_str()).or_default().push(d);
    }
    let mut problems = Problems::default();
    for (status, n) in &log.refusals {
        problems.add_count(
            &format!("worker calls answered {status} (0: no answer)"),
            *n,
            &log.examples[status],
        );
    }
    let (mut raced_completed, mut raced_expired) = (0, 0);
    for (id, task) in &triggered {
        let run = &runs[id];
        let status = run["status"].as_str().unwrap_or("");
        let got = deliveries.get(id.as_str()).cloned().unwrap_or_default();
        let delivered_once = got.len() == 1 && got[0].attempt == 1;
        if got.len() > 1 {
            problems.add(
                "run handed out several times",
                format!(
                    "{id} ({task}): attempts {:?}",
                    got.iter().map(|d| d.attempt).collect::<Vec<_>>()
                ),
            );
        }
        let created = parse_ms(&run["createdAt"]);
        match (*task, status) {
            ("later" | "racing", "COMPLETED") => {
                if !delivered_once {
                    problems.add(
                        "completed without exactly one delivery at attempt 1",
                        format!("{id} ({task}): {} deliveries", got.len()),
                    );
                }
                let due = parse_ms(&run["delayedUntil"]);
                if let Some(d) = got.first() {
                    if d.received_ms < due {
                        problems.add(
                            "handed out before its delay passed",
                            format!("{id}: {} ms early", due - d.received_ms),
                        );
                    }
                }
                if *task == "racing" {
                    raced_completed += 1;
                }
            }
            ("doomed" | "racing", "EXPIRED") => {
                if !got.is_empty() {
                    problems.add(
                        "expired run was handed out",
                        format!("{id} ({task}): {} deliveries", got.len()),
                    );
                }
                let available = run["delayedUntil"]
                    .as_str()
                    .map(|_| parse_ms(&run["delayedUntil"]))
                    .unwrap_or(created);
                let expired = parse_ms(&run["expiredAt"]);
                if expired < available + 1000 {
                    problems.add(
                        "expired before its TTL",
                        format!("{id} ({task}): {} ms early", available + 1000 - expired),
                    );
                }
                if *task == "racing" {
                    raced_expired += 1;
                }
            }
            _ => problems.add(
                "unexpected final status",
                format!("{id} ({task}): {status}"),
            ),
        }
    }
    println!(
        "multinode: timers: {} runs triggered in {triggered_in:?}, settled in {settled_in:?}; \
         {} deliveries; racing runs: {raced_completed} completed, {raced_expired} expired",
        plan.len(),
        log.deliveries.len()
    );
    problems.assert_none("timers across servers");
    drop(servers);
    drop(schema);
}
