//! Engine semantics seen over HTTP: concurrency limits under parallel dequeues, ordering,
//! fairness, delays, TTL, retries and backoff, leases, max duration, PENDING_VERSION.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::{json, Value};

/// In-flight bookkeeping for the stress tests: counts per group and the maximum ever seen.
#[derive(Default)]
struct InFlight {
    now: HashMap<String, i64>,
    max: HashMap<String, i64>,
}

impl InFlight {
    fn inc(&mut self, group: &str) -> i64 {
        let n = self.now.entry(group.to_string()).or_insert(0);
        *n += 1;
        let v = *n;
        let m = self.max.entry(group.to_string()).or_insert(0);
        *m = (*m).max(v);
        v
    }
    fn dec(&mut self, group: &str) {
        *self.now.get_mut(group).unwrap() -= 1;
    }
}

struct Stress {
    server: TestServer,
    version: String,
    total: usize,
    limits: HashMap<String, i64>,
}

/// Runs `workers` concurrent dequeue loops until every one of `total` runs is completed; each
/// run is held a random short time. `group_of` maps a dequeued run to the limit groups it
/// counts against. Returns the maximum in-flight count per group.
async fn stress(
    s: Arc<Stress>,
    workers: usize,
    group_of: fn(&Value) -> Vec<String>,
) -> HashMap<String, i64> {
    let inflight = Arc::new(Mutex::new(InFlight::default()));
    let done = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(HashSet::<String>::new()));
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut handles = Vec::new();
    for w in 0..workers {
        let s = s.clone();
        let inflight = inflight.clone();
        let done = done.clone();
        let seen = seen.clone();
        let violations = violations.clone();
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(0x9E37_79B9_7F4A_7C15 ^ (w as u64 + 1));
            let mut rounds = 0;
            while done.load(Ordering::SeqCst) < s.total {
                rounds += 1;
                let max = rng.range(1, 4) as u32;
                let runs = s.server.dequeue(&s.version, max, 200).await;
                for r in &runs {
                    let id = r["runId"].as_str().unwrap().to_string();
                    assert!(
                        seen.lock().unwrap().insert(id.clone()),
                        "run {id} handed out twice"
                    );
                    let mut f = inflight.lock().unwrap();
                    for g in group_of(r) {
                        let n = f.inc(&g);
                        let lim = s.limits.get(&g).copied().or_else(|| {
                            g.split_once('#')
                                .and_then(|(q, _)| s.limits.get(q).copied())
                        });
                        if let Some(lim) = lim {
                            if n > lim {
                                violations
                                    .lock()
                                    .unwrap()
                                    .push(format!("{g}: {n} in flight > limit {lim}"));
                            }
                        }
                    }
                }
                // Simulated work: hold the runs a random short time, then release and complete.
                let hold = rng.range(0, 15);
                tokio::time::sleep(Duration::from_millis(hold)).await;
                for r in &runs {
                    {
                        let mut f = inflight.lock().unwrap();
                        for g in group_of(r) {
                            f.dec(&g);
                        }
                    }
                    let (st, v) = s.server.complete_ok(r, json!({"w": w})).await;
                    assert_eq!(st, 200, "complete: {v}");
                    done.fetch_add(1, Ordering::SeqCst);
                }
                assert!(rounds < 20_000, "too many rounds");
            }
        }));
    }
    let all = futures::future::join_all(handles);
    let res = tokio::time::timeout(Duration::from_secs(240), all)
        .await
        .expect("stress test did not finish in 240 s");
    for r in res {
        r.expect("worker task panicked");
    }
    let v = violations.lock().unwrap().clone();
    assert!(v.is_empty(), "concurrency limit exceeded: {v:?}");
    assert_eq!(seen.lock().unwrap().len(), s.total);
    let max = inflight.lock().unwrap().max.clone();
    max
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_and_concurrency_key_limits_hold_under_parallel_dequeues() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([
            {"id": "lim3", "queue": {"name": "q3", "concurrencyLimit": 3}},
            {"id": "keyed", "queue": {"name": "qk", "concurrencyLimit": 2}},
            {"id": "free"}
        ]))
        .await;
    // 200 runs: 80 on q3, 80 on qk split over 4 concurrency keys, 40 unlimited.
    let mut futs = Vec::new();
    for i in 0..200 {
        let (task, opts) = match i % 5 {
            0 | 1 => ("lim3", json!({})),
            2 | 3 => (
                "keyed",
                json!({"concurrencyKey": format!("tenant-{}", i % 4)}),
            ),
            _ => ("free", json!({})),
        };
        futs.push(server.try_trigger(task, json!({"i": i}), opts));
    }
    for (s, v) in futures::future::join_all(futs).await {
        assert_eq!(s, 200, "{v}");
    }
    let limits: HashMap<String, i64> = [("q3".to_string(), 3), ("qk".to_string(), 2)]
        .into_iter()
        .collect();
    let s = Arc::new(Stress {
        server,
        version,
        total: 200,
        limits,
    });
    fn groups(r: &Value) -> Vec<String> {
        let q = r["queue"].as_str().unwrap_or("?").to_string();
        match r["concurrencyKey"].as_str() {
            // A concurrency key partitions its queue: the queue's limit applies per key.
            Some(k) => vec![format!("{q}#{k}"), format!("{q}*")],
            None => vec![q],
        }
    }
    let max = stress(s.clone(), 8, groups).await;
    eprintln!("max in flight per group: {max:?}");
    assert!(max.get("q3").copied().unwrap_or(0) >= 1);
    assert!(max.get("q3").copied().unwrap_or(0) <= 3);
    for k in 0..4 {
        let g = format!("qk#tenant-{k}");
        assert!(max.get(&g).copied().unwrap_or(0) <= 2, "{g}: {max:?}");
    }
    // Every run finished.
    let completed = s
        .server
        .list_all(&query(&[("filter[status]", "COMPLETED")]))
        .await;
    assert_eq!(completed.len(), 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn environment_limit_holds_under_parallel_dequeues() {
    let server = TestServer::start_with(Options {
        args: vec!["--env-concurrency-limit".into(), "4".into()],
        ..Default::default()
    })
    .await;
    let version = server.deploy(tasks(&["a", "b", "c"])).await;
    let mut futs = Vec::new();
    for i in 0..60 {
        futs.push(server.try_trigger(["a", "b", "c"][i % 3], json!({"i": i}), json!({})));
    }
    for (s, v) in futures::future::join_all(futs).await {
        assert_eq!(s, 200, "{v}");
    }
    // With nothing released, a single dequeue gets at most 4.
    let first = server.dequeue(&version, 50, 0).await;
    assert_eq!(first.len(), 4, "environment limit 4");
    assert!(server.dequeue(&version, 50, 0).await.is_empty());
    for r in &first {
        assert_eq!(server.complete_ok(r, json!(null)).await.0, 200);
    }
    let limits: HashMap<String, i64> = [("env".to_string(), 4)].into_iter().collect();
    let s = Arc::new(Stress {
        server,
        version,
        total: 56,
        limits,
    });
    fn groups(_: &Value) -> Vec<String> {
        vec!["env".to_string()]
    }
    let max = stress(s, 6, groups).await;
    assert!(max["env"] <= 4, "{max:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn priority_first_then_fifo() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["p"])).await;
    let r1 = server.trigger("p", json!({"n": 1}), json!({})).await;
    let r2 = server.trigger("p", json!({"n": 2}), json!({})).await;
    let r3 = server
        .trigger("p", json!({"n": 3}), json!({"priority": 10}))
        .await;
    let r4 = server.trigger("p", json!({"n": 4}), json!({})).await;
    let r5 = server
        .trigger("p", json!({"n": 5}), json!({"priority": 5}))
        .await;
    let mut order = Vec::new();
    for _ in 0..5 {
        let got = server.dequeue(&version, 1, 0).await;
        assert_eq!(got.len(), 1);
        order.push(got[0]["runId"].as_str().unwrap().to_string());
    }
    assert_eq!(
        order,
        vec![r3, r5, r1, r2, r4],
        "priority seconds first, then oldest first"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifo_with_a_frozen_clock() {
    // Every run gets the same enqueue time; the order must still be the trigger order.
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["p"])).await;
    let mut ids = Vec::new();
    for i in 0..6 {
        ids.push(server.trigger("p", json!({"n": i}), json!({})).await);
    }
    let got = server.dequeue(&version, 6, 0).await;
    let order: Vec<String> = got
        .iter()
        .map(|r| r["runId"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(order, ids);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queues_are_served_round_robin() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([{"id": "a", "queue": {"name": "qa"}}, {"id": "b", "queue": {"name": "qb"}}]))
        .await;
    for i in 0..10 {
        server.trigger("a", json!({"i": i}), json!({})).await;
    }
    for i in 0..2 {
        server.trigger("b", json!({"i": i}), json!({})).await;
    }
    let mut first_two = HashSet::new();
    for _ in 0..2 {
        let got = server.dequeue(&version, 1, 0).await;
        assert_eq!(got.len(), 1);
        first_two.insert(got[0]["taskIdentifier"].as_str().unwrap().to_string());
    }
    assert_eq!(
        first_two.len(),
        2,
        "both queues served within the first two dequeues, got {first_two:?}"
    );

    // A batch dequeue also mixes queues rather than draining the older one first.
    let got = server.dequeue(&version, 4, 0).await;
    assert_eq!(got.len(), 4);
    assert!(
        got.iter().any(|r| r["taskIdentifier"] == json!("b")),
        "qb served in a multi-run dequeue: {got:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn delayed_run_waits_for_its_time() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server
        .trigger("t", json!({}), json!({"delay": "10s"}))
        .await;
    assert_eq!(server.status(&id).await, "DELAYED");
    assert!(server.dequeue(&version, 5, 0).await.is_empty());
    let a = server.advance(5_000).await;
    assert_eq!(a["fired"]["delayed"].as_u64().unwrap_or(0), 0, "{a}");
    assert_eq!(server.status(&id).await, "DELAYED");
    assert!(server.dequeue(&version, 5, 0).await.is_empty());
    let a = server.advance(5_001).await;
    assert_eq!(a["fired"]["delayed"], json!(1), "{a}");
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("QUEUED"));
    assert_eq!(run["version"], json!(version));
    let got = server.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ttl_expires_runs_not_started() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let started = server.trigger("t", json!({}), json!({"ttl": "10s"})).await;
    let lapsing = server.trigger("t", json!({}), json!({"ttl": "10s"})).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(started), "FIFO");
    assert_eq!(server.heartbeat(&got[0]).await.0, 200);

    server.advance(9_000).await;
    assert_eq!(server.status(&lapsing).await, "QUEUED");
    let a = server.advance(1_001).await;
    assert_eq!(a["fired"]["expired"], json!(1), "{a}");
    let run = server.run(&lapsing).await;
    assert_eq!(run["status"], json!("EXPIRED"));
    assert!(run["expiredAt"].is_string(), "{run}");
    assert_eq!(
        run["isCompleted"],
        json!(false),
        "EXPIRED is not isCompleted (upstream quirk)"
    );
    assert!(server.dequeue(&version, 5, 0).await.is_empty());
    // The started run does not expire.
    assert_eq!(server.status(&started).await, "EXECUTING");
    assert_eq!(server.complete_ok(&got[0], json!(1)).await.0, 200);
    assert_eq!(server.status(&started).await, "COMPLETED");

    // A delayed run whose ttl is longer than its delay becomes QUEUED, not EXPIRED.
    let d = server
        .trigger("t", json!({}), json!({"delay": "5s", "ttl": "60s"}))
        .await;
    server.advance(6_000).await;
    assert_eq!(server.status(&d).await, "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retries_then_fails_after_max_attempts() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 3, "factor": 2, "minTimeoutInMs": 1000, "maxTimeoutInMs": 10000, "randomize": false}}]))
        .await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let mut leases = HashSet::new();
    let mut waits = Vec::new();
    for attempt in 1..=3 {
        let got = server.dequeue(&version, 1, 0).await;
        assert_eq!(got.len(), 1, "attempt {attempt} dequeued");
        assert_eq!(got[0]["runId"], json!(id));
        assert_eq!(got[0]["attempt"], json!(attempt));
        assert!(
            leases.insert(got[0]["lease"].as_str().unwrap().to_string()),
            "a new lease per attempt"
        );
        assert_eq!(server.heartbeat(&got[0]).await.0, 200);
        let now = server.now_ms().await;
        let (s, v) = server
            .complete_err(&got[0], &format!("fail {attempt}"))
            .await;
        assert_eq!(s, 200, "{v}");
        if attempt < 3 {
            assert_eq!(v["willRetry"], json!(true), "{v}");
            assert_eq!(v["status"], json!("QUEUED"), "{v}");
            let retry_at = parse_ms(&v["retryAt"]);
            let wait = retry_at - now;
            waits.push(wait);
            let run = server.run(&id).await;
            assert_eq!(run["status"], json!("QUEUED"));
            assert_eq!(run["attemptCount"], json!(attempt));
            assert!(
                server.dequeue(&version, 1, 0).await.is_empty(),
                "not before retryAt"
            );
            server.advance((wait - 100) as u64).await;
            assert!(
                server.dequeue(&version, 1, 0).await.is_empty(),
                "not 100 ms before retryAt"
            );
            server.advance(101).await;
        } else {
            assert_eq!(v["willRetry"], json!(false), "{v}");
            assert_eq!(v["status"], json!("FAILED"), "{v}");
            assert!(v.get("retryAt").is_none() || v["retryAt"].is_null(), "{v}");
        }
    }
    assert_eq!(waits, vec![1000, 2000]);
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("FAILED"));
    assert_eq!(run["isFailed"], json!(true));
    assert_eq!(run["isCompleted"], json!(true));
    assert_eq!(run["error"]["message"], json!("fail 3"));
    assert_eq!(run["attemptCount"], json!(3));
    assert!(run["finishedAt"].is_string());
    assert!(server.dequeue(&version, 1, 0).await.is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn backoff_follows_the_policy() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([
            {"id": "t", "retry": {"maxAttempts": 4, "factor": 2, "minTimeoutInMs": 1000, "maxTimeoutInMs": 10000, "randomize": false}},
            {"id": "capped", "retry": {"maxAttempts": 5, "factor": 3, "minTimeoutInMs": 500, "maxTimeoutInMs": 3000, "randomize": false}},
            {"id": "jitter", "retry": {"maxAttempts": 6, "factor": 2, "minTimeoutInMs": 1000, "maxTimeoutInMs": 100000, "randomize": true}}
        ]))
        .await;

    async fn waits(server: &TestServer, version: &str, task: &str, n: usize) -> Vec<i64> {
        let id = server.trigger(task, json!({}), json!({})).await;
        let mut out = Vec::new();
        for _ in 0..n {
            let got = server.dequeue(version, 1, 0).await;
            assert_eq!(got.len(), 1, "{task}: attempt dequeued");
            assert_eq!(got[0]["runId"], json!(id));
            let now = server.now_ms().await;
            let (s, v) = server.complete_err(&got[0], "x").await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["willRetry"], json!(true), "{v}");
            let w = parse_ms(&v["retryAt"]) - now;
            out.push(w);
            server.advance(w as u64).await;
        }
        out
    }
    assert_eq!(
        waits(&server, &version, "t", 3).await,
        vec![1000, 2000, 4000]
    );
    let got = server.dequeue(&version, 1, 0).await;
    let (_, v) = server.complete_err(&got[0], "last").await;
    assert_eq!(
        v["status"],
        json!("FAILED"),
        "4th failure of maxAttempts 4: {v}"
    );

    assert_eq!(
        waits(&server, &version, "capped", 4).await,
        vec![500, 1500, 3000, 3000],
        "capped at maxTimeoutInMs"
    );
    let got = server.dequeue(&version, 1, 0).await;
    server.complete_err(&got[0], "last").await;

    let j = waits(&server, &version, "jitter", 5).await;
    for (i, w) in j.iter().enumerate() {
        let base = 1000 * (1 << i);
        assert!(
            *w >= base && *w < 2 * base,
            "randomized backoff {w} for attempt {} not in [{base}, {})",
            i + 1,
            2 * base
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn retry_false_and_retry_after_and_trigger_max_attempts() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 5, "factor": 2, "minTimeoutInMs": 1000, "maxTimeoutInMs": 10000, "randomize": false}}]))
        .await;

    // retry: false fails at once.
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    let (s, v) = server
        .complete_err_with(&got[0], "fatal", json!({"retry": false, "error": {"message": "fatal", "name": "FatalError", "stackTrace": "at x"}}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("FAILED"));
    assert_eq!(v["willRetry"], json!(false));
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("FAILED"));
    assert_eq!(run["attemptCount"], json!(1));
    assert_eq!(run["error"]["message"], json!("fatal"));
    assert_eq!(run["error"]["name"], json!("FatalError"));
    assert_eq!(run["error"]["stackTrace"], json!("at x"));

    // retryAfterMs replaces the policy's delay.
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    let now = server.now_ms().await;
    let (s, v) = server
        .complete_err_with(&got[0], "later", json!({"retryAfterMs": 7000}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(parse_ms(&v["retryAt"]) - now, 7000);
    server.advance(6_999).await;
    assert!(server.dequeue(&version, 1, 0).await.is_empty());
    server.advance(1).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(id));
    assert_eq!(got[0]["attempt"], json!(2));
    assert_eq!(server.complete_ok(&got[0], json!("fine")).await.0, 200);
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert_eq!(run["output"], json!("fine"));
    assert_eq!(run["attemptCount"], json!(2));

    // maxAttempts on the trigger overrides the task's.
    let id = server
        .trigger("t", json!({}), json!({"maxAttempts": 1}))
        .await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["maxAttempts"], json!(1));
    let (_, v) = server.complete_err(&got[0], "once").await;
    assert_eq!(v["status"], json!("FAILED"), "{v}");
    assert_eq!(server.status(&id).await, "FAILED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn success_output_and_timestamps() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({"in": 1}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(server.status(&id).await, "DEQUEUED");
    let (s, v) = server.heartbeat(&got[0]).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("EXECUTING"));
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("EXECUTING"));
    assert_eq!(run["isExecuting"], json!(true));
    assert!(run["startedAt"].is_string(), "{run}");
    let (s, v) = server
        .complete_ok(&got[0], json!({"out": [1, 2, 3], "s": "é"}))
        .await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["status"], json!("COMPLETED"));
    assert_eq!(v["willRetry"], json!(false));
    assert_eq!(v["runId"], json!(id));
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert_eq!(run["isSuccess"], json!(true));
    assert_eq!(run["isCompleted"], json!(true));
    assert_eq!(run["isFailed"], json!(false));
    assert_eq!(run["output"], json!({"out": [1, 2, 3], "s": "é"}));
    assert_eq!(run["attemptCount"], json!(1));
    assert!(parse_ms(&run["finishedAt"]) >= parse_ms(&run["startedAt"]));
    assert!(parse_ms(&run["startedAt"]) >= parse_ms(&run["createdAt"]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_expiry_requeues_on_the_same_version() {
    let server = TestServer::start_with_clock().await;
    let manifest = json!([{"id": "t", "retry": {"maxAttempts": 3, "factor": 2, "minTimeoutInMs": 1000, "maxTimeoutInMs": 1000, "randomize": false}}]);
    let v1 = server.deploy(manifest.clone()).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let first = server.dequeue(&v1, 1, 0).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0]["attempt"], json!(1));
    let expires = parse_ms(&first[0]["leaseExpiresAt"]);
    let now = server.now_ms().await;
    assert_eq!(expires - now, 30_000, "default lease 30 s");

    // A new dev version does not take a run that already started.
    let v2 = server.deploy(manifest).await;
    assert_ne!(v1, v2);

    let a = server.advance(29_000).await;
    assert_eq!(a["fired"]["leasesExpired"].as_u64().unwrap_or(0), 0, "{a}");
    assert_eq!(server.status(&id).await, "DEQUEUED");
    let a = server.advance(1_001).await;
    assert_eq!(a["fired"]["leasesExpired"], json!(1), "{a}");
    let run = server.run(&id).await;
    assert_eq!(
        run["status"],
        json!("QUEUED"),
        "a crashed attempt is retried"
    );
    assert_eq!(run["version"], json!(v1), "retried on the same version");

    server.advance(1_000).await;
    assert!(
        server.dequeue(&v2, 5, 0).await.is_empty(),
        "the new version does not get the retry"
    );
    let second = server.dequeue(&v1, 5, 0).await;
    assert_eq!(second.len(), 1);
    assert_eq!(second[0]["runId"], json!(id));
    assert_eq!(second[0]["attempt"], json!(2));
    assert_ne!(second[0]["lease"], first[0]["lease"]);

    let (s, v) = server.complete_ok(&first[0], json!("stale")).await;
    assert_eq!(s, 409, "old lease refused: {v}");
    assert_eq!(v["code"], json!("lease_lost"));
    assert!(v["error"].is_string());
    let (s, v) = server.heartbeat(&first[0]).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");

    let (s, v) = server.complete_ok(&second[0], json!("fresh")).await;
    assert_eq!(s, 200, "{v}");
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert_eq!(run["output"], json!("fresh"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_expiry_on_the_last_attempt_crashes_the_run() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 1}}]))
        .await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(server.heartbeat(&got[0]).await.0, 200);
    server.advance(30_001).await;
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("CRASHED"));
    assert_eq!(run["isFailed"], json!(true));
    let (s, v) = server.complete_ok(&got[0], json!(1)).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")), "{v}");
    assert_eq!(server.status(&id).await, "CRASHED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn heartbeat_extends_the_lease() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    server.advance(20_000).await;
    let (s, v) = server.heartbeat(&got[0]).await;
    assert_eq!(s, 200, "{v}");
    let now = server.now_ms().await;
    assert_eq!(parse_ms(&v["leaseExpiresAt"]) - now, 30_000, "{v}");
    let a = server.advance(20_000).await;
    assert_eq!(a["fired"]["leasesExpired"].as_u64().unwrap_or(0), 0, "{a}");
    assert_eq!(
        server.status(&id).await,
        "EXECUTING",
        "still held 40 s after dequeue"
    );
    let (s, _) = server.heartbeat(&got[0]).await;
    assert_eq!(s, 200);
    server.advance(29_000).await;
    assert_eq!(server.status(&id).await, "EXECUTING");
    let (s, v) = server.complete_ok(&got[0], json!("ok")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(server.run(&id).await["attemptCount"], json!(1));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn max_duration_times_out() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "maxDuration": 60}, {"id": "u"}]))
        .await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["maxDuration"], json!(60));
    assert_eq!(server.heartbeat(&got[0]).await.0, 200);
    for step in [20_000, 20_000, 15_000] {
        server.advance(step).await;
        let (s, v) = server.heartbeat(&got[0]).await;
        assert_eq!(s, 200, "{v}");
    }
    assert_eq!(server.status(&id).await, "EXECUTING");
    let a = server.advance(10_000).await;
    assert_eq!(a["fired"]["timedOut"], json!(1), "{a}");
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("TIMED_OUT"));
    assert_eq!(
        run["isCompleted"],
        json!(false),
        "TIMED_OUT is not isCompleted (upstream quirk)"
    );
    let (s, v) = server.heartbeat(&got[0]).await;
    assert_eq!(s, 409, "{v}");
    assert_eq!(v["code"], json!("lease_lost"));
    assert_eq!(v["status"], json!("TIMED_OUT"));
    let (s, _) = server.complete_ok(&got[0], json!(1)).await;
    assert_eq!(s, 409);

    // maxDuration given on the trigger.
    let id = server
        .trigger("u", json!({}), json!({"maxDuration": 10}))
        .await;
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(id));
    assert_eq!(server.heartbeat(&got[0]).await.0, 200);
    server.advance(11_000).await;
    assert_eq!(server.status(&id).await, "TIMED_OUT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn pending_version_until_a_deployment_has_the_task() {
    let server = TestServer::start().await;
    let id = server.trigger("t", json!({"early": true}), json!({})).await;
    let other = server.trigger("other", json!({}), json!({})).await;
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("PENDING_VERSION"));
    assert_eq!(run["isQueued"], json!(true));
    assert!(run.get("version").is_none(), "no version yet: {run}");

    let version = server.deploy(tasks(&["t"])).await;
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("QUEUED"));
    assert_eq!(run["version"], json!(version));
    assert_eq!(
        server.status(&other).await,
        "PENDING_VERSION",
        "a deployment without the task leaves it waiting"
    );
    let got = server.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(id));
    assert_eq!(got[0]["payload"], json!({"early": true}));

    // Once a deployment is current, unknown tasks are 404 and create nothing.
    let (s, v) = server.try_trigger("other", json!({}), json!({})).await;
    assert_error(s, &v, &[404], &["other"], "unknown task after deployment");
    assert_eq!(server.list_all("").await.len(), 2);

    // A later deployment that has the task picks up the waiting run.
    let v2 = server.deploy(tasks(&["t", "other"])).await;
    let run = server.run(&other).await;
    assert_eq!(run["status"], json!("QUEUED"));
    assert_eq!(run["version"], json!(v2));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn dev_promotion_moves_unstarted_runs() {
    let server = TestServer::start_with_clock().await;
    let v1 = server.deploy(tasks(&["t"])).await;
    let queued = server.trigger("t", json!({}), json!({})).await;
    let delayed = server.trigger("t", json!({}), json!({"delay": "1m"})).await;
    let v2 = server.deploy(tasks(&["t"])).await;
    assert_eq!(server.run(&queued).await["version"], json!(v2));
    assert!(server.dequeue(&v1, 5, 0).await.is_empty());
    server.advance(61_000).await;
    assert_eq!(server.run(&delayed).await["version"], json!(v2));
    assert_eq!(server.dequeue(&v2, 5, 0).await.len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn terminal_statuses_never_change_when_timers_fire() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 3, "minTimeoutInMs": 1000, "maxTimeoutInMs": 1000, "factor": 1, "randomize": false}}]))
        .await;

    // A run waiting for its retry, canceled.
    let retrying = server.trigger("t", json!({}), json!({})).await;
    // A dequeued run whose lease would expire, canceled.
    let leased = server.trigger("t", json!({}), json!({})).await;
    // A run that completes before its ttl.
    let done = server.trigger("t", json!({}), json!({"ttl": "10s"})).await;
    // A run with a ttl canceled before it expires.
    let ttl = server.trigger("t", json!({}), json!({"ttl": "10s"})).await;
    // A delayed run canceled before its time.
    let delayed = server
        .trigger("t", json!({}), json!({"delay": "10s"}))
        .await;

    let got = server.dequeue(&version, 2, 0).await;
    assert_eq!(got.len(), 2);
    assert_eq!(got[0]["runId"], json!(retrying));
    assert_eq!(got[1]["runId"], json!(leased));
    assert_eq!(
        server.complete_err(&got[0], "x").await.1["willRetry"],
        json!(true)
    );
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(got[0]["runId"], json!(done));
    assert_eq!(server.complete_ok(&got[0], json!(1)).await.0, 200);
    assert_eq!(server.status(&ttl).await, "QUEUED");

    for id in [&delayed, &ttl, &retrying, &leased] {
        assert_eq!(server.cancel(id).await.0, 200);
    }
    let a = server.advance(60_000).await;
    eprintln!("fired after cancel: {a}");
    for id in [&delayed, &ttl, &retrying, &leased] {
        assert_eq!(
            server.status(id).await,
            "CANCELED",
            "timer changed canceled run {id}"
        );
    }
    assert_eq!(server.status(&done).await, "COMPLETED");
    assert!(
        server.dequeue(&version, 10, 0).await.is_empty(),
        "nothing canceled is handed out"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_poll_wakes_when_a_slot_frees() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([{"id": "t", "queue": {"name": "one", "concurrencyLimit": 1}}]))
        .await;
    let a = server.trigger("t", json!({}), json!({})).await;
    let b = server.trigger("t", json!({}), json!({})).await;
    let got = server.dequeue(&version, 5, 0).await;
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["runId"], json!(a));

    let http = server.http.clone();
    let base = server.base_url.clone();
    let v = version.clone();
    let start = std::time::Instant::now();
    let waiter = tokio::spawn(async move {
        let r = send_to(
            &http,
            &base,
            Req::new("POST", "/api/v1/worker/dequeue")
                .json(&json!({"version": v, "maxRuns": 5, "waitMs": 8000})),
        )
        .await;
        (r, std::time::Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(server.complete_ok(&got[0], json!(null)).await.0, 200);
    let (r, at) = waiter.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = r.json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{}", r.text);
    assert_eq!(runs[0]["runId"], json!(b));
    assert!(
        at - start < Duration::from_secs(4),
        "woken after {:?}",
        at - start
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn long_poll_wakes_when_the_clock_makes_a_run_due() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({"delay": "1m"})).await;
    let http = server.http.clone();
    let base = server.base_url.clone();
    let v = version.clone();
    let start = std::time::Instant::now();
    let waiter = tokio::spawn(async move {
        let r = send_to(
            &http,
            &base,
            Req::new("POST", "/api/v1/worker/dequeue")
                .json(&json!({"version": v, "maxRuns": 5, "waitMs": 8000})),
        )
        .await;
        (r, std::time::Instant::now())
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    server.advance(61_000).await;
    let (r, at) = waiter.await.unwrap();
    assert_eq!(r.status, 200, "{}", r.text);
    let runs = r.json["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{}", r.text);
    assert_eq!(runs[0]["runId"], json!(id));
    assert!(
        at - start < Duration::from_secs(4),
        "woken after {:?}",
        at - start
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn one_run_goes_to_exactly_one_of_several_waiters() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let mut waiters = Vec::new();
    for _ in 0..4 {
        let http = server.http.clone();
        let base = server.base_url.clone();
        let v = version.clone();
        waiters.push(tokio::spawn(async move {
            send_to(
                &http,
                &base,
                Req::new("POST", "/api/v1/worker/dequeue")
                    .json(&json!({"version": v, "maxRuns": 5, "waitMs": 2000})),
            )
            .await
        }));
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let mut handed = Vec::new();
    for w in waiters {
        let r = w.await.unwrap();
        assert_eq!(r.status, 200, "{}", r.text);
        for run in r.json["runs"].as_array().unwrap() {
            handed.push(run["runId"].as_str().unwrap().to_string());
        }
    }
    assert_eq!(handed, vec![id], "exactly one waiter gets the run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn racing_cancel_and_complete_agree() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    for _ in 0..30 {
        server.trigger("t", json!({}), json!({})).await;
    }
    let got = server.dequeue(&version, 30, 0).await;
    assert_eq!(got.len(), 30);
    let futs = got.iter().map(|r| {
        let server = &server;
        async move {
            let id = r["runId"].as_str().unwrap();
            let (c, d) = tokio::join!(server.cancel(id), server.complete_ok(r, json!("won")));
            (id.to_string(), c.0, d.0)
        }
    });
    for (id, cancel, complete) in futures::future::join_all(futs).await {
        assert_eq!(cancel, 200, "cancel always answers 200");
        let run = server.run(&id).await;
        match complete {
            200 => {
                assert_eq!(
                    run["status"],
                    json!("COMPLETED"),
                    "{id}: completion accepted but status {}",
                    run["status"]
                );
                assert_eq!(run["output"], json!("won"));
            }
            409 => assert_eq!(
                run["status"],
                json!("CANCELED"),
                "{id}: completion refused but status {}",
                run["status"]
            ),
            other => panic!("{id}: completion answered {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn environment_limits_are_per_environment() {
    let server = TestServer::start_with(Options {
        args: vec!["--env-concurrency-limit".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let dev = server.deploy(tasks(&["t"])).await;
    let prod = server.deploy_as(PROD_KEY, tasks(&["t"]), true).await;
    for _ in 0..3 {
        server.trigger("t", json!({}), json!({})).await;
        server.trigger_as(PROD_KEY, "t", json!({}), json!({})).await;
    }
    assert_eq!(server.dequeue(&dev, 10, 0).await.len(), 2);
    assert_eq!(
        server.dequeue_as(PROD_KEY, &prod, 10, 0).await.len(),
        2,
        "dev's full limit does not block prod"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn queue_with_limit_zero_starts_nothing() {
    let server = TestServer::start().await;
    let version = server
        .deploy(
            json!([{"id": "t", "queue": {"name": "closed", "concurrencyLimit": 0}}, {"id": "u"}]),
        )
        .await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let other = server.trigger("u", json!({}), json!({})).await;
    let got = server.dequeue(&version, 10, 0).await;
    assert_eq!(
        got.iter().map(|r| r["runId"].clone()).collect::<Vec<_>>(),
        vec![json!(other)]
    );
    assert_eq!(server.status(&id).await, "QUEUED");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn real_timer_loop_expires_leases() {
    // With a 1 s lease and the real clock, the timer loop requeues an abandoned run by itself.
    let server = TestServer::start_with(Options {
        args: vec!["--lease-timeout".into(), "1".into()],
        ..Default::default()
    })
    .await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 2, "minTimeoutInMs": 100, "maxTimeoutInMs": 100, "factor": 1, "randomize": false}}]))
        .await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let first = server.dequeue(&version, 1, 0).await;
    assert_eq!(first.len(), 1);
    let start = std::time::Instant::now();
    let second = server.dequeue(&version, 1, 8000).await;
    let took = start.elapsed();
    assert_eq!(
        second.len(),
        1,
        "the abandoned run came back within the long-poll"
    );
    assert_eq!(second[0]["runId"], json!(id));
    assert_eq!(second[0]["attempt"], json!(2));
    assert!(
        took < Duration::from_millis(4500),
        "requeued after {took:?} with a 1 s lease"
    );
    assert!(
        took >= Duration::from_millis(800),
        "requeued after only {took:?} with a 1 s lease"
    );
    let (s, v) = server.complete_ok(&first[0], json!(1)).await;
    assert_eq!((s, v["code"].clone()), (409, json!("lease_lost")));
    assert_eq!(server.complete_ok(&second[0], json!(2)).await.0, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn lease_expiry_racing_completions_fence_correctly() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "t", "retry": {"maxAttempts": 3, "minTimeoutInMs": 1000, "maxTimeoutInMs": 1000, "factor": 1, "randomize": false}}]))
        .await;
    for _ in 0..40 {
        server.trigger("t", json!({}), json!({})).await;
    }
    let got = server.dequeue(&version, 40, 0).await;
    assert_eq!(got.len(), 40);
    server.advance(29_000).await;
    // Expire every lease while the completions are in flight.
    let completions =
        futures::future::join_all(got.iter().map(|r| server.complete_ok(r, json!("first"))));
    let (answers, _) = tokio::join!(completions, server.advance(2_000));
    let mut accepted = 0;
    for (r, (s, v)) in got.iter().zip(answers.iter()) {
        let id = r["runId"].as_str().unwrap();
        let run = server.run(id).await;
        match s {
            200 => {
                accepted += 1;
                assert_eq!(
                    run["status"],
                    json!("COMPLETED"),
                    "{id}: accepted completion but {run}"
                );
                assert_eq!(run["output"], json!("first"));
            }
            409 => {
                assert_eq!(v["code"], json!("lease_lost"));
                assert_eq!(
                    run["status"],
                    json!("QUEUED"),
                    "{id}: refused completion but {}",
                    run["status"]
                );
            }
            other => panic!("{id}: completion answered {other}: {v}"),
        }
    }
    eprintln!("{accepted} of 40 completions beat the lease expiry");
    // Only the requeued runs come back, each once, as attempt 2.
    server.advance(1_000).await;
    let again = server.dequeue(&version, 100, 0).await;
    assert_eq!(again.len(), 40 - accepted);
    for r in &again {
        assert_eq!(r["attempt"], json!(2));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn limits_hold_while_runs_fail_and_retry() {
    let server = TestServer::start().await;
    let version = server
        .deploy(json!([{"id": "flaky", "queue": {"name": "q2", "concurrencyLimit": 2},
                         "retry": {"maxAttempts": 3, "minTimeoutInMs": 10, "maxTimeoutInMs": 10, "factor": 1, "randomize": false}}]))
        .await;
    let mut ids = Vec::new();
    for i in 0..40 {
        ids.push(server.trigger("flaky", json!({"i": i}), json!({})).await);
    }
    let inflight = Arc::new(Mutex::new(0i64));
    let max_seen = Arc::new(Mutex::new(0i64));
    let finished = Arc::new(AtomicUsize::new(0));
    let mut handles = Vec::new();
    for w in 0..6u64 {
        let server_url = server.base_url.clone();
        let http = server.http.clone();
        let version = version.clone();
        let (inflight, max_seen, finished) = (inflight.clone(), max_seen.clone(), finished.clone());
        handles.push(tokio::spawn(async move {
            let mut rng = Rng::new(w + 7);
            while finished.load(Ordering::SeqCst) < 40 {
                let r = send_to(&http, &server_url, Req::new("POST", "/api/v1/worker/dequeue")
                    .json(&json!({"version": version, "maxRuns": 2, "waitMs": 100}))).await;
                assert_eq!(r.status, 200, "{}", r.text);
                let runs = r.json["runs"].as_array().unwrap().clone();
                {
                    let mut n = inflight.lock().unwrap();
                    *n += runs.len() as i64;
                    let mut m = max_seen.lock().unwrap();
                    *m = (*m).max(*n);
                }
                tokio::time::sleep(Duration::from_millis(rng.range(0, 5))).await;
                for run in &runs {
                    *inflight.lock().unwrap() -= 1;
                    let id = run["runId"].as_str().unwrap();
                    let fail = rng.range(0, 1) == 0;
                    let body = if fail {
                        json!({"lease": run["lease"], "ok": false, "error": {"message": format!("attempt {}", run["attempt"])}})
                    } else {
                        json!({"lease": run["lease"], "ok": true, "output": run["attempt"]})
                    };
                    let r = send_to(&http, &server_url, Req::new("POST", &format!("/api/v1/worker/runs/{id}/complete")).json(&body)).await;
                    assert_eq!(r.status, 200, "{}", r.text);
                    if r.json["willRetry"] != json!(true) {
                        finished.fetch_add(1, Ordering::SeqCst);
                    }
                }
            }
        }));
    }
    let all = futures::future::join_all(handles);
    for h in tokio::time::timeout(Duration::from_secs(120), all)
        .await
        .expect("did not finish")
    {
        h.expect("worker panicked");
    }
    assert!(
        *max_seen.lock().unwrap() <= 2,
        "queue limit 2 exceeded: {}",
        max_seen.lock().unwrap()
    );
    for id in &ids {
        let run = server.run(id).await;
        let attempts = run["attemptCount"].as_i64().unwrap();
        match run["status"].as_str().unwrap() {
            "COMPLETED" => assert_eq!(run["output"], json!(attempts), "{run}"),
            "FAILED" => {
                assert_eq!(attempts, 3, "{run}");
                assert_eq!(run["error"]["message"], json!("attempt 3"));
            }
            other => panic!("run {id} ended {other}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn prod_pending_version_waits_for_promotion() {
    let server = TestServer::start_with_clock().await;
    let pending = server.trigger_as(PROD_KEY, "t", json!({}), json!({})).await;
    let delayed = server
        .trigger_as(PROD_KEY, "t", json!({}), json!({"delay": "1m"}))
        .await;
    let lapsed = server
        .trigger_as(PROD_KEY, "t", json!({}), json!({"delay": "10s"}))
        .await;
    assert_eq!(
        server.run_as(PROD_KEY, &pending).await["status"],
        json!("PENDING_VERSION")
    );
    assert_eq!(
        server.run_as(PROD_KEY, &delayed).await["status"],
        json!("DELAYED")
    );
    server.advance(11_000).await;
    let r = server.run_as(PROD_KEY, &lapsed).await;
    assert_eq!(
        r["status"],
        json!("PENDING_VERSION"),
        "a delay that passes without a version waits: {r}"
    );

    let v1 = server.deploy_as(PROD_KEY, tasks(&["t"]), false).await;
    assert_eq!(
        server.run_as(PROD_KEY, &pending).await["status"],
        json!("PENDING_VERSION"),
        "not promoted yet"
    );
    let (s, v) = server
        .call_as(
            PROD_KEY,
            "POST",
            &format!("/api/v1/deployments/{v1}/promote"),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    for id in [&pending, &lapsed] {
        let r = server.run_as(PROD_KEY, id).await;
        assert_eq!(r["status"], json!("QUEUED"), "{r}");
        assert_eq!(r["version"], json!(v1));
    }
    let r = server.run_as(PROD_KEY, &delayed).await;
    assert_eq!(r["status"], json!("DELAYED"));
    assert_eq!(
        r["version"],
        json!(v1),
        "a delayed run is locked at promotion"
    );
    server.advance(50_000).await;
    assert_eq!(
        server.run_as(PROD_KEY, &delayed).await["status"],
        json!("QUEUED")
    );
    assert_eq!(server.dequeue_as(PROD_KEY, &v1, 10, 0).await.len(), 3);
}
