//! Runs an unchanged Trigger.dev v4 project (`examples/typescript`) with the official CLI,
//! `npx trigger.dev dev` (npm `trigger.dev` 4.8.3, pinned in the project's package.json),
//! against a real `trigr server`, then triggers every task of the project with its driver
//! (`scripts/run-all.mjs`, official SDK only) and checks what each run did: outputs, statuses,
//! metadata, streams, logs, and how late a 6 s wait resumed.
//!
//! Needs `node` and `npm` on the PATH. The project's dependencies are installed with `npm ci` the
//! first time (they stay in `examples/typescript/node_modules`, which git ignores). The CLI runs
//! in a copy of the project in a temporary directory (it writes `.trigger/` there, and its lock
//! file there kills any other `dev` of the same directory), with its configuration directories
//! in that temporary directory too: nothing is written to the home directory but npm's cache.
//!
//! `TRIGR_TYPESCRIPT_CHECKS="wait-long cancel"` runs only the named checks of the driver.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

use common::node::{npm_ci, repo_dir, require_tool, show};
use common::TestServer;

/// Every check of the driver; a check missing from its report fails the test.
const CHECKS: &[&str] = &[
    "wait-short",
    "wait-long",
    "wait-until",
    "token-completed-by-api",
    "token-completed-by-callback",
    "token-timeout",
    "trigger-and-wait",
    "batch-trigger-and-wait",
    "metadata",
    "output-stream",
    "input-stream",
    "idempotency",
    "tags",
    "schema-task",
    "retries",
    "max-duration",
    "cancel",
    "workflow-plan",
    "workflow-plan-failure",
];

/// How long the CLI may take to build the project and register it (a cold build, plus the
/// CLI's own lookups of third-party URLs that time out without a network).
const READY_TIMEOUT: Duration = Duration::from_secs(240);
/// How long the driver may take for every check.
const DRIVER_TIMEOUT: Duration = Duration::from_secs(300);

/// Variables that would change what the CLI or the SDK send, or where: the test sets its own.
const ENV_TO_CLEAR: &[&str] = &[
    "TRIGGER_API_URL",
    "TRIGGER_SECRET_KEY",
    "TRIGGER_ACCESS_TOKEN",
    "TRIGGER_PROJECT_REF",
    "TRIGGER_VERSION",
    "TRIGGER_PREVIEW_BRANCH",
    "TRIGGER_DEV_BRANCH",
    "VERCEL_GIT_COMMIT_REF",
    "TRIGGER_EXTERNAL_DEPLOYMENT_ID",
    "TRIGGER_AUTOMATIC_SKEW_VERSION_PROTECTION",
    "TRIGGER_STREAM_URL",
    "TRIGGER_V2_REALTIME_STREAMS",
    "TRIGGER_REALTIME_STREAMS_V2",
    "TRIGGER_OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "NODE_OPTIONS",
    "FORCE_COLOR",
    // Any one of these changes the format of the CLI's output.
    "AI_AGENT",
    "TRIGGER_MCP_SERVER",
    "CLAUDECODE",
    "CLAUDE_CODE",
    "CURSOR_AGENT",
    "CODEX_SANDBOX",
    "CODEX_THREAD_ID",
    "GEMINI_CLI",
    "OPENCODE",
    "AUGMENT_AGENT",
    "GOOSE_PROVIDER",
    "REPL_ID",
];

/// The project's files the CLI needs (node_modules is linked, not copied).
const PROJECT_FILES: &[&str] = &[
    "package.json",
    "package-lock.json",
    "trigger.config.ts",
    "tsconfig.json",
    "src",
    "scripts",
];

/// Runs a `trigr` admin command on the test server's store; returns its stdout.
fn admin(server: &TestServer, args: &[&str]) -> String {
    let out = Command::new(common::binary())
        .args(args)
        .args(common::store_args(server))
        .env_remove("TRIGR_DATA_DIR")
        .env_remove("TRIGR_DATABASE_URL")
        .output()
        .unwrap_or_else(|e| panic!("run trigr {args:?}: {e}"));
    assert!(
        out.status.success(),
        "trigr {args:?} failed\n{}",
        show(&out)
    );
    String::from_utf8_lossy(&out.stdout).to_string()
}

/// A new personal access token (`trigr keys pat create`), the credential the CLI logs in with.
fn personal_access_token(server: &TestServer) -> String {
    let text = admin(
        server,
        &["keys", "pat", "create", "--name", "typescript-dev"],
    );
    // The output names the token's prefix too; the token is the whole `tr_pat_` + 40 characters.
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .find(|w| w.starts_with("tr_pat_") && w.len() == "tr_pat_".len() + 40)
        .unwrap_or_else(|| panic!("no personal access token in {text}"))
        .to_string()
}

/// Copies the project into `to`, with `node_modules` a link to the installed one.
fn copy_project(from: &Path, to: &Path) {
    fn copy(from: &Path, to: &Path) {
        if from.is_dir() {
            std::fs::create_dir_all(to).expect("create dir");
            for entry in std::fs::read_dir(from).expect("read dir") {
                let entry = entry.expect("dir entry");
                copy(&entry.path(), &to.join(entry.file_name()));
            }
        } else {
            std::fs::copy(from, to)
                .unwrap_or_else(|e| panic!("copy {} to {}: {e}", from.display(), to.display()));
        }
    }
    std::fs::create_dir_all(to).expect("create the project's copy");
    for name in PROJECT_FILES {
        copy(&from.join(name), &to.join(name));
    }
    std::os::unix::fs::symlink(from.join("node_modules"), to.join("node_modules"))
        .expect("link node_modules");
}

/// Drops terminal colour codes.
fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            } else {
                // OSC (hyperlinks): up to BEL or ESC \
                while let Some(c) = chars.next() {
                    if c == '\u{7}' || (c == '\u{1b}' && chars.next_if_eq(&'\\').is_some()) {
                        break;
                    }
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `npx trigger.dev dev` in its own process group, its output kept; the whole group is
/// stopped when this is dropped, whatever happened in the test.
struct DevCli {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
    ready: mpsc::Receiver<()>,
    /// One message per output stream that reached its end.
    closed: mpsc::Receiver<()>,
}

impl DevCli {
    fn start(project: &Path, home: &Path, env: &[(&str, &str)]) -> DevCli {
        let mut cmd = Command::new("npx");
        cmd.args([
            "--no-install",
            "trigger.dev",
            "dev",
            "--skip-update-check",
            "--skip-platform-notifications",
            "--skip-mcp-install",
            "--skip-rules-install",
            "--skip-telemetry",
            "--log-level",
            "log",
        ])
        .current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_STATE_HOME", home.join("state"))
        .env("NO_COLOR", "1")
        .env("CI", "1")
        .process_group(0);
        for name in ENV_TO_CLEAR {
            cmd.env_remove(name);
        }
        cmd.envs(env.iter().copied());
        let mut child = cmd.spawn().expect("spawn npx trigger.dev dev");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, ready) = mpsc::channel();
        let (closed_tx, closed) = mpsc::channel();
        let stdout = child.stdout.take().expect("stdout");
        let stderr = child.stderr.take().expect("stderr");
        Self::keep(stdout, "", lines.clone(), Some(tx), closed_tx.clone());
        Self::keep(stderr, "[stderr] ", lines.clone(), None, closed_tx);
        DevCli {
            child,
            lines,
            ready,
            closed,
        }
    }

    /// Keeps the lines of one output stream; signals `ready` at the CLI's ready line.
    fn keep(
        stream: impl Read + Send + 'static,
        prefix: &'static str,
        lines: Arc<Mutex<Vec<String>>>,
        ready: Option<mpsc::Sender<()>>,
        closed: mpsc::Sender<()>,
    ) {
        std::thread::spawn(move || {
            for line in BufReader::new(stream).lines() {
                let Ok(line) = line else { break };
                let line = strip_ansi(&line);
                if line.contains("Local worker ready") {
                    if let Some(tx) = &ready {
                        let _ = tx.send(());
                    }
                }
                lines.lock().unwrap().push(format!("{prefix}{line}"));
            }
            let _ = closed.send(());
        });
    }

    fn output(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Waits for the ready line; panics with the CLI's output when it exits or takes too long.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.ready.recv_timeout(Duration::from_millis(500)) {
                Ok(()) => return,
                Err(mpsc::RecvTimeoutError::Disconnected) => {}
                Err(mpsc::RecvTimeoutError::Timeout) => {}
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                // Let the readers take the last lines.
                for _ in 0..2 {
                    let _ = self.closed.recv_timeout(Duration::from_secs(2));
                }
                panic!(
                    "`trigger.dev dev` exited ({status}) before it was ready\n--- CLI output ---\n{}",
                    self.output()
                );
            }
            if Instant::now() > deadline {
                panic!(
                    "`trigger.dev dev` was not ready within {} s\n--- CLI output ---\n{}",
                    READY_TIMEOUT.as_secs(),
                    self.output()
                );
            }
        }
    }

    fn signal_group(&self, signal: &str) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args([signal, "--", &group])
            .stderr(Stdio::null())
            .status();
    }
}

impl Drop for DevCli {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.signal_group("-TERM");
            // The CLI stopped when both of its output streams end (5 s at most).
            let deadline = Instant::now() + Duration::from_secs(5);
            for _ in 0..2 {
                let left = deadline.saturating_duration_since(Instant::now());
                let _ = self.closed.recv_timeout(left);
            }
        }
        // Whatever is left of the group (the task processes), and the CLI if it did not stop.
        self.signal_group("-KILL");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the driver; returns its output, or its partial output when it timed out.
fn run_driver(project: &Path, base_url: &str, checks: &[String]) -> (Option<Output>, String) {
    let mut cmd = Command::new("node");
    cmd.arg("scripts/run-all.mjs")
        .args(checks)
        .current_dir(project)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for name in ENV_TO_CLEAR {
        cmd.env_remove(name);
    }
    cmd.env("TRIGGER_API_URL", base_url)
        .env("TRIGGER_SECRET_KEY", common::DEV_KEY)
        // Four rounds of six checks, each waiting at most a minute for a run, fit in the
        // driver's time.
        .env("RUN_ALL_CHECK_TIMEOUT_MS", "60000")
        .env("NO_COLOR", "1");
    let child = cmd.spawn().expect("spawn node scripts/run-all.mjs");
    let pid = child.id();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(DRIVER_TIMEOUT) {
        Ok(out) => (Some(out.expect("driver output")), String::new()),
        Err(_) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
            let out = rx
                .recv_timeout(Duration::from_secs(10))
                .ok()
                .and_then(Result::ok);
            (
                out,
                format!("the driver took longer than {} s", DRIVER_TIMEOUT.as_secs()),
            )
        }
    }
}

/// The driver's report: one JSON value per check, by name.
fn parse_report(stdout: &str) -> Vec<(String, Value)> {
    stdout
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line.trim()).ok())
        .filter_map(|v| Some((v.get("check")?.as_str()?.to_string(), v)))
        .collect()
}

/// The run's log lines (`GET /api/v1/runs/{id}/logs`), once they contain every one of `wanted`
/// (OpenTelemetry exports arrive shortly after the run ends), or the last ones seen.
async fn run_logs(server: &TestServer, run_id: &str, wanted: &[&str]) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (status, body) = server
            .get(&format!("/api/v1/runs/{run_id}/logs?page[size]=1000"))
            .await;
        let messages: Vec<String> = body["data"]
            .as_array()
            .map(|lines| {
                lines
                    .iter()
                    .map(|l| l["message"].as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let complete = status == 200
            && wanted
                .iter()
                .all(|w| messages.iter().any(|m| m.contains(w)));
        if complete || Instant::now() > deadline {
            return messages;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn trigger_dev_cli_runs_the_typescript_project() {
    require_tool("node");
    let dir = repo_dir("examples/typescript");
    assert!(
        dir.join("package.json").exists(),
        "missing {}",
        dir.join("package.json").display()
    );
    let install_dir = dir.clone();
    tokio::task::spawn_blocking(move || {
        npm_ci(&install_dir, &["trigger.dev", "@trigger.dev/sdk", "zod"])
    })
    .await
    .expect("npm ci task");

    let server = TestServer::start().await;
    let project = common::default_project_ref(&server);
    let pat = personal_access_token(&server);

    let tmp = tempfile::tempdir().expect("temp dir");
    let copy = tmp.path().join("project");
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).expect("home dir");
    copy_project(&dir, &copy);

    let started = Instant::now();
    let mut cli = DevCli::start(
        &copy,
        &home,
        &[
            ("TRIGGER_API_URL", server.base_url.as_str()),
            ("TRIGGER_ACCESS_TOKEN", pat.as_str()),
            ("TRIGGER_PROJECT_REF", project.as_str()),
        ],
    );
    let cli = tokio::task::spawn_blocking(move || {
        cli.wait_ready();
        cli
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    println!(
        "trigger.dev dev was ready after {:.1} s",
        started.elapsed().as_secs_f64()
    );

    let only: Vec<String> = std::env::var("TRIGR_TYPESCRIPT_CHECKS")
        .map(|s| s.split_whitespace().map(str::to_string).collect())
        .unwrap_or_default();
    let expected: Vec<&str> = if only.is_empty() {
        CHECKS.to_vec()
    } else {
        only.iter().map(String::as_str).collect()
    };
    let base_url = server.base_url.clone();
    let driver_copy = copy.clone();
    let driver_only = only.clone();
    let (output, timeout_note) =
        tokio::task::spawn_blocking(move || run_driver(&driver_copy, &base_url, &driver_only))
            .await
            .expect("driver task");
    let stdout = output
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stdout).to_string())
        .unwrap_or_default();
    let stderr = output
        .as_ref()
        .map(|o| String::from_utf8_lossy(&o.stderr).to_string())
        .unwrap_or_default();
    let report = parse_report(&stdout);
    let find = |name: &str| report.iter().find(|(n, _)| n == name).map(|(_, v)| v);

    let mut failures = Vec::new();
    if !timeout_note.is_empty() {
        failures.push(timeout_note);
    }
    for name in &expected {
        match find(name) {
            None => failures.push(format!("{name}: no report")),
            Some(v) if v["ok"] != Value::Bool(true) => failures.push(format!("{name}: {v}")),
            Some(_) => {}
        }
    }

    // A 6 s wait resumes within a second of its due time.
    for name in ["wait-long", "wait-until"] {
        if let Some(v) = find(name) {
            let late = v["got"]["output"]["lateMs"].as_f64();
            if !late.is_some_and(|ms| ms < 1000.0) {
                failures.push(format!("{name}: resumed {late:?} ms after its due time"));
            }
        }
    }

    // The retried run printed its second attempt, and succeeded with it.
    if let Some(run) = find("retries").and_then(|v| v["runId"].as_str()) {
        let out = cli.output();
        let second = format!("{run}.2");
        if !out
            .lines()
            .any(|l| l.contains("flaky") && l.contains(&second) && l.contains("Success"))
        {
            failures.push(format!(
                "retries: the CLI printed no successful attempt {second}"
            ));
        }
    }

    // `logger.info` and `console.log` of a task reach the run's logs.
    if let Some(run) = find("metadata").and_then(|v| v["runId"].as_str()) {
        let wanted = ["progress finished", "with-progress finished 3 steps"];
        let logs = run_logs(&server, run, &wanted).await;
        for w in wanted {
            if !logs.iter().any(|m| m.contains(w)) {
                failures.push(format!("logs of {run}: no line with {w:?} in {logs:?}"));
            }
        }
    }

    if !failures.is_empty() {
        let out = cli.output();
        panic!(
            "{} check(s) failed:\n{}\n--- driver stdout ---\n{stdout}\n--- driver stderr ---\n{stderr}\n--- CLI output ---\n{out}",
            failures.len(),
            failures.join("\n")
        );
    }
    println!("{stdout}");
    drop(cli);
    drop(server);
}
