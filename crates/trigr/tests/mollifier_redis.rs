//! The mollifier on Redis (`--redis-url`), against a real `redis-server` each test starts on a
//! port of its own (append-only file, `appendfsync always`): triggers fail open while Redis
//! is stopped and buffer again once it is back, the entries it acknowledged surviving its
//! restart; and the trip counts are shared by the servers of one database, through Redis or,
//! without it, through PostgreSQL.
//!
//! The rest of the mollifier's behaviour on Redis is `tests/mollifier.rs` run again with
//! `TRIGR_TEST_MOLLIFIER_BUFFER=redis` (CI does).

mod common;

use std::collections::HashSet;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// A `redis-server` of the test's own, persisting to a temporary directory.
struct RedisProcess {
    port: u16,
    dir: tempfile::TempDir,
    child: Option<Child>,
}

impl RedisProcess {
    fn start() -> RedisProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = RedisProcess {
            port,
            dir: tempfile::tempdir().unwrap(),
            child: None,
        };
        r.run();
        r
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts it (again) on its port and directory, and waits until it answers.
    fn run(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args([
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
            ])
            .arg("--dir")
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server (Debian's redis-server package) must be installed");
        self.child = Some(child);
        for _ in 0..200 {
            if std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start on port {}", self.port);
    }

    /// SIGKILLs it.
    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for RedisProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

async fn server(
    redis: &RedisProcess,
    threshold: u32,
    data_dir: Option<std::path::PathBuf>,
) -> TestServer {
    TestServer::start_with(Options {
        test_clock: true,
        args: [
            "--mollifier-threshold",
            &threshold.to_string(),
            "--mollifier-drain",
            "false",
            "--redis-url",
            &redis.url(),
            "--redis-prefix",
            "t",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        data_dir,
        ..Default::default()
    })
    .await
}

async fn drain_all(s: &TestServer) -> u64 {
    let mut total = 0;
    for _ in 0..1000 {
        let (status, v) = s.post("/api/v1/test/mollifier/drain", json!({})).await;
        assert_eq!(status, 200, "drain: {v}");
        let n = v["created"].as_u64().unwrap();
        if n == 0 {
            return total;
        }
        total += n;
    }
    panic!("the buffer never emptied");
}

async fn reason(s: &TestServer, id: &str) -> Option<String> {
    let run = s.run(id).await;
    run["waitingFor"]["reason"].as_str().map(str::to_string)
}

async fn metric(s: &TestServer, token: &str, name: &str, labels: &[&str]) -> Option<f64> {
    let r = s.send(Req::new("GET", "/metrics").key(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
        .lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(head, _)| {
            let (n, rest) = head.split_once('{').unwrap_or((head, ""));
            n == name && labels.iter().all(|l| rest.contains(l))
        })
        .map(|(_, v)| v.parse().expect("a number"))
}

async fn run_ids(s: &TestServer) -> Vec<String> {
    let (status, list) = s.get("/api/v1/runs?page[size]=100").await;
    assert_eq!(status, 200, "{list}");
    list["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn triggers_fail_open_while_redis_is_down_and_buffer_again_after() {
    let mut redis = RedisProcess::start();
    let token = "metrics-token-0123456789";
    let s = TestServer::start_with(Options {
        test_clock: true,
        args: [
            "--mollifier-threshold",
            "1",
            "--mollifier-drain",
            "false",
            "--redis-url",
            &redis.url(),
            "--metrics-token",
            token,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..Default::default()
    })
    .await;
    s.deploy(json!([{"id": "t"}])).await;
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(s.trigger("t", json!({"i": i}), json!({})).await);
    }
    for id in &ids[1..] {
        assert_eq!(reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    // Redis dies: every trigger is still answered, its run created straight away.
    redis.kill();
    let mut direct = Vec::new();
    for i in 0..4 {
        let (status, v) = s.try_trigger("t", json!({"late": i}), json!({})).await;
        assert_eq!(status, 200, "{v}");
        direct.push(v["id"].as_str().unwrap().to_string());
    }
    for id in &direct {
        assert_eq!(s.status(id).await, "QUEUED");
        assert_ne!(reason(&s, id).await.as_deref(), Some("BUFFERED"));
    }
    let failed_open = metric(&s, token, "trigr_mollifier_buffer_fail_open_total", &[]).await;
    let evaluator_open = metric(
        &s,
        token,
        "trigr_mollifier_decisions_total",
        &["outcome=\"pass_through\"", "reason=\"fail_open\""],
    )
    .await;
    assert!(
        failed_open.unwrap_or(0.0) + evaluator_open.unwrap_or(0.0) >= 4.0,
        "fail-opens counted: buffer {failed_open:?}, evaluator {evaluator_open:?}"
    );
    // Redis is back with what it acknowledged (its append-only file): drained, every
    // acknowledged trigger is exactly one run.
    redis.run();
    let mut drained = 0;
    for _ in 0..100 {
        drained += drain_all(&s).await;
        if drained >= 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(drained, 3);
    let listed = run_ids(&s).await;
    let unique: HashSet<&String> = listed.iter().collect();
    assert_eq!((listed.len(), unique.len()), (8, 8), "{listed:?}");
    for id in ids.iter().chain(&direct) {
        assert!(unique.contains(id), "{id} is a run");
    }
    // And it buffers again: the environment is still tripped.
    let mut buffered_again = false;
    for _ in 0..50 {
        let id = s.trigger("t", json!({"again": 1}), json!({})).await;
        if reason(&s, &id).await.as_deref() == Some("BUFFERED") {
            buffered_again = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(buffered_again, "buffering resumed once Redis answered");
}

#[tokio::test]
async fn buffered_runs_on_redis_are_read_cancelled_and_repeated_like_runs() {
    let redis = RedisProcess::start();
    let s = server(&redis, 1, None).await;
    let version = s.deploy(json!([{"id": "t"}])).await;
    let first = s.trigger("t", json!({}), json!({})).await;
    let keyed = s
        .trigger(
            "t",
            json!({"k": 1}),
            json!({"idempotencyKey": "k1", "tags": ["a"]}),
        )
        .await;
    let other = s.trigger("t", json!({"k": 2}), json!({})).await;
    let run = s.run(&keyed).await;
    assert_eq!(run["waitingFor"]["reason"], "BUFFERED", "{run}");
    assert_eq!(run["tags"], json!(["a"]));
    assert_eq!(run["version"], version.as_str());
    // A repeat of its key gets it, from the buffer.
    let (status, again) = s
        .try_trigger("t", json!({}), json!({"idempotencyKey": "k1"}))
        .await;
    assert_eq!((status, again["id"].as_str()), (200, Some(keyed.as_str())));
    assert_eq!(again["isCached"], true);
    // Listed first, newest first, before the created run.
    let listed = run_ids(&s).await;
    let keyed_at = listed.iter().position(|i| *i == keyed).unwrap();
    let other_at = listed.iter().position(|i| *i == other).unwrap();
    let first_at = listed.iter().position(|i| *i == first).unwrap();
    assert!(other_at < keyed_at && keyed_at < first_at, "{listed:?}");
    // Metadata and tags of a buffered run make it a run first.
    let (status, v) = s
        .post(
            &format!("/api/v1/runs/{other}/tags"),
            json!({"tags": ["b"]}),
        )
        .await;
    assert_eq!(status, 200, "{v}");
    assert_ne!(reason(&s, &other).await.as_deref(), Some("BUFFERED"));
    // Cancelled while buffered: a canceled run, never drained again.
    let (status, v) = s
        .post(&format!("/api/v2/runs/{keyed}/cancel"), json!({}))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(s.status(&keyed).await, "CANCELED");
    assert_eq!(drain_all(&s).await, 0, "nothing left to drain");
    let listed = run_ids(&s).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let (status, v) = s.get("/api/v1/mollifier").await;
    assert_eq!(status, 200, "{v}");
    let _: Value = v;
}

#[tokio::test]
async fn servers_of_one_database_share_their_trip_counts_through_redis() {
    if postgres_url().is_none() {
        eprintln!("PostgreSQL suite skipped: TRIGR_TEST_BACKEND is not postgres");
        return;
    }
    let redis = RedisProcess::start();
    share_trip_counts(&["--redis-url", &redis.url()]).await;
}

#[tokio::test]
async fn servers_of_one_database_share_their_trip_counts_through_the_store() {
    if postgres_url().is_none() {
        eprintln!("PostgreSQL suite skipped: TRIGR_TEST_BACKEND is not postgres");
        return;
    }
    share_trip_counts(&[]).await;
}

/// Two servers of one database, each counting 8 triggers of an environment whose threshold
/// is 10: only their shared count trips it, on both.
async fn share_trip_counts(extra: &[&str]) {
    let args: Vec<String> = ["--mollifier-threshold", "10", "--mollifier-drain", "false"]
        .iter()
        .chain(extra)
        .map(|s| s.to_string())
        .collect();
    // The real clock: both servers count in the same one-second windows.
    let a = TestServer::start_with(Options {
        args: args.clone(),
        ..Default::default()
    })
    .await;
    a.deploy(json!([{"id": "t"}])).await;
    let b = TestServer::start_with(Options {
        args,
        data_dir: Some(a.data_dir.clone()),
        ..Default::default()
    })
    .await;
    // Start at the beginning of a second so the 16 triggers share one window.
    loop {
        let ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_millis();
        if ms < 100 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // Each server counts 8 of its own, under the threshold of 10; their exchange sums 16.
    for i in 0..8 {
        a.trigger("t", json!({"a": i}), json!({})).await;
        b.trigger("t", json!({"b": i}), json!({})).await;
    }
    // So the environment is tripped on both (alone, neither would be).
    tokio::time::sleep(Duration::from_millis(400)).await;
    for s in [&a, &b] {
        let id = s.trigger("t", json!({"after": 1}), json!({})).await;
        assert_eq!(reason(s, &id).await.as_deref(), Some("BUFFERED"), "{id}");
    }
}
