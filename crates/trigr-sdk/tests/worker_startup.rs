//! A worker's first seconds, with real worker processes: one that cannot start says why in one
//! readable line, at once, and one that starts names its build without reading its whole
//! binary.
//!
//! The workers are this test binary run again (`--exact startup_process`) with their settings
//! in `TRIGR_SDK_STARTUP_WORKER`. Like a `main` that returns `Result<(), trigr_sdk::Error>`,
//! a worker that fails to start writes `Error: {:?}` of the error and exits with status 1.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use trigr_sdk::testkit::{TestServer, KEY};
use trigr_sdk::{task, Client, Worker};

const WORKER_ENV: &str = "TRIGR_SDK_STARTUP_WORKER";

/// What a worker process is told.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct WorkerConfig {
    url: String,
    key: String,
}

/// Not a test of its own: the body of the worker processes. Without its settings it does
/// nothing. A worker that starts writes `serving <version>` and exits (its first dequeue is
/// cut: the test is about starting).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_process() {
    let Ok(config) = std::env::var(WORKER_ENV) else {
        return;
    };
    let config: WorkerConfig = serde_json::from_str(&config).expect("worker settings");
    let started = async {
        let hello = task("hello").run(|name: String, _ctx| async move { Ok(format!("Hi {name}")) });
        let worker = Worker::new(Client::new(&config.url, &config.key)?)
            .task(hello)
            .start()
            .await?;
        Ok::<_, trigr_sdk::Error>(worker.version().to_string())
    };
    let mut err = std::io::stderr();
    match started.await {
        Ok(version) => {
            let _ = writeln!(err, "serving {version}");
            std::process::exit(0);
        }
        Err(e) => {
            // What the standard library prints for an `Err` returned from `main`.
            let _ = writeln!(err, "Error: {e:?}");
            std::process::exit(1);
        }
    }
}

/// What a worker process did: whether it succeeded, its standard error, how long it took.
struct Outcome {
    ok: bool,
    stderr: String,
    took: Duration,
}

fn run_worker(url: &str, key: &str) -> Outcome {
    run_worker_as(None, url, key)
}

/// [`run_worker`] with another executable than this test binary.
fn run_worker_as(exe: Option<std::path::PathBuf>, url: &str, key: &str) -> Outcome {
    let exe = exe.unwrap_or_else(|| std::env::current_exe().expect("test binary path"));
    let config = WorkerConfig {
        url: url.to_string(),
        key: key.to_string(),
    };
    let started = Instant::now();
    let out = Command::new(exe)
        .args([
            "--exact",
            "startup_process",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(
            WORKER_ENV,
            serde_json::to_string(&config).expect("settings"),
        )
        .env_remove("TRIGR_BUILD_ID")
        .env("RUST_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("run a worker process");
    Outcome {
        ok: out.status.success(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: started.elapsed(),
    }
}

/// The one line of standard error, checked to be readable: no field dump of the error.
fn one_line(outcome: &Outcome) -> String {
    assert!(!outcome.ok, "the worker started: {}", outcome.stderr);
    let lines: Vec<&str> = outcome.stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one line, got {:?}", outcome.stderr);
    let line = lines[0].to_string();
    for dump in ["Api {", "Unreachable {", "request:", "status:"] {
        assert!(!line.contains(dump), "a dump of fields: {line}");
    }
    line
}

/// The retries a registration would make against a server that cannot be reached take 3 s
/// (0.2 + 0.4 + 0.8 + 1.6); a worker that says so at once is done well before.
const AT_ONCE: Duration = Duration::from_millis(2_500);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_key_is_one_readable_line_at_once() {
    let server = TestServer::start().await;
    let url = server.url().to_string();
    let wrong = format!("{}9", &KEY[..KEY.len() - 1]);
    let outcome = tokio::task::spawn_blocking(move || run_worker(&url, &wrong))
        .await
        .expect("worker process");
    let line = one_line(&outcome);
    assert!(
        line.starts_with("Error: POST /api/v1/worker/deployments failed with 401: "),
        "{line}"
    );
    assert!(outcome.took < AT_ONCE, "took {:?}", outcome.took);

    // The right key starts the worker, as fast.
    let url = server.url().to_string();
    let outcome = tokio::task::spawn_blocking(move || run_worker(&url, KEY))
        .await
        .expect("worker process");
    assert!(outcome.ok, "{}", outcome.stderr);
    assert!(outcome.stderr.starts_with("serving "), "{}", outcome.stderr);
    assert!(outcome.took < AT_ONCE, "took {:?}", outcome.took);
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_server_is_one_readable_line_at_once() {
    // A port nothing listens on any more.
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        listener.local_addr().expect("address").port()
    };
    let url = format!("http://127.0.0.1:{port}");
    let u = url.clone();
    let outcome = tokio::task::spawn_blocking(move || run_worker(&u, KEY))
        .await
        .expect("worker process");
    let line = one_line(&outcome);
    assert_eq!(
        line,
        format!("Error: the server at {url} could not be reached: connection refused")
    );
    assert!(outcome.took < AT_ONCE, "took {:?}", outcome.took);
}

/// A copy of this test binary whose GNU build id differs in one byte: what a relink of
/// changed code looks like to the worker (the linker's id hashes the whole output).
#[cfg(target_os = "linux")]
fn rebuilt_copy(dir: &std::path::Path) -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let mut bytes = std::fs::read(&exe).expect("read the test binary");
    // The note: name size 4, descriptor size, type 3 (NT_GNU_BUILD_ID), "GNU\0", descriptor.
    let marker = [3u8, 0, 0, 0, b'G', b'N', b'U', 0];
    let at = bytes
        .windows(marker.len())
        .position(|w| w == marker)
        .filter(|at| *at >= 8 && bytes[at - 8..at - 4] == [4, 0, 0, 0])
        .expect("a GNU build id note");
    bytes[at + marker.len()] ^= 0xff;
    let copy = dir.join("rebuilt-worker");
    std::fs::write(&copy, &bytes).expect("write the copy");
    let mut perms = std::fs::metadata(&exe).expect("metadata").permissions();
    use std::os::unix::fs::PermissionsExt;
    perms.set_mode(0o755);
    std::fs::set_permissions(&copy, perms).expect("make it executable");
    copy
}

#[cfg(target_os = "linux")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rebuilt_binary_gets_a_new_version_and_the_same_binary_the_same() {
    let server = TestServer::start().await;
    let url = server.url().to_string();
    let run = |exe: Option<std::path::PathBuf>| {
        let url = url.clone();
        async move {
            let outcome = tokio::task::spawn_blocking(move || run_worker_as(exe, &url, KEY))
                .await
                .expect("worker process");
            assert!(outcome.ok, "{}", outcome.stderr);
            assert!(outcome.took < AT_ONCE, "took {:?}", outcome.took);
            outcome
                .stderr
                .trim()
                .strip_prefix("serving ")
                .unwrap_or_else(|| panic!("{}", outcome.stderr))
                .to_string()
        }
    };
    let first = run(None).await;
    let again = run(None).await;
    assert_eq!(first, again, "the same binary serves the same version");

    let dir = tempfile::tempdir().expect("a temporary directory");
    let rebuilt = run(Some(rebuilt_copy(dir.path()))).await;
    assert_ne!(rebuilt, first, "a rebuilt binary registers a new version");
    server.stop().await;
}
