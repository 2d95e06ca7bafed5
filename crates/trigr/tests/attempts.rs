//! Attempt history: every attempt of a run, when it started, how it ended (failed with its
//! error, lost its lease, ran past `maxDuration`, canceled, completed) and when the next one
//! starts, as the run view (`attempts`, `lastHeartbeatAt`), the logs and the CLI tell it.
//! Protocol-level workers and the SDK's worker fail and retry against a real server; time
//! moves through the test clock.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

fn attempts(run: &Value) -> Vec<Value> {
    run["attempts"].as_array().expect("attempts").clone()
}

/// Runs `trigr` against the server; (success, stdout, stderr).
async fn cli(server: &TestServer, args: &[&str]) -> (bool, String, String) {
    let out = tokio::process::Command::new(binary())
        .args(args)
        .env_remove("TRIGGER_ACCESS_TOKEN")
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run trigr");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn log(server: &TestServer, run: &Value, message: &str) {
    let id = run["runId"].as_str().unwrap();
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/logs"),
            json!({"lease": run["lease"], "entries": [{"level": "info", "message": message}]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_lost_leases_and_success_each_leave_their_attempt() {
    let server = TestServer::start_with_clock().await;
    let retry = json!({"maxAttempts": 4, "factor": 1, "minTimeoutInMs": 10_000,
                       "maxTimeoutInMs": 10_000, "randomize": false});
    let version = server
        .deploy(json!([{"id": "flaky", "retry": retry}]))
        .await;
    let id = server.trigger("flaky", json!({}), json!({})).await;
    let t0 = server.now_ms().await;

    // Attempt 1: taken, alive, then failed.
    let first = server.dequeue(&version, 1, 0).await.remove(0);
    server.advance(2_000).await;
    assert_eq!(server.heartbeat(&first).await.0, 200);
    log(&server, &first, "charging").await;
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("EXECUTING"));
    assert_eq!(parse_ms(&run["lastHeartbeatAt"]), t0 + 2_000, "{run}");
    let a = &attempts(&run)[0];
    assert_eq!(
        (&a["number"], &a["status"], &a["id"]),
        (
            &json!(1),
            &json!("EXECUTING"),
            &json!(format!("attempt_{}_1", &id[4..]))
        ),
        "{a}"
    );
    assert_eq!(parse_ms(&a["startedAt"]), t0);
    assert_eq!(parse_ms(&a["lastHeartbeatAt"]), t0 + 2_000);
    assert!(
        a.get("outcome").is_none() && a.get("completedAt").is_none(),
        "{a}"
    );

    server.advance(1_000).await;
    let (s, v) = server.complete_err(&first, "card declined").await;
    assert_eq!(s, 200, "{v}");
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("QUEUED"));
    assert!(
        run.get("error").is_none(),
        "a retried error is the attempt's: {run}"
    );
    assert!(run.get("lastHeartbeatAt").is_none(), "{run}");
    let a = &attempts(&run)[0];
    assert_eq!(
        (&a["status"], &a["outcome"], &a["error"]["message"]),
        (&json!("FAILED"), &json!("FAILED"), &json!("card declined")),
        "{a}"
    );
    assert_eq!(parse_ms(&a["startedAt"]), t0);
    assert_eq!(parse_ms(&a["completedAt"]), t0 + 3_000);
    assert_eq!(parse_ms(&a["retryAt"]), t0 + 13_000);
    assert!(a.get("lastHeartbeatAt").is_none(), "{a}");
    let why = &run["waitingFor"];
    assert_eq!(why["reason"], json!("DELAYED"), "{why}");
    let message = why["message"].as_str().unwrap();
    assert!(
        message.contains("Attempt 1 failed: card declined") && message.contains(&iso(t0 + 13_000)),
        "{message}"
    );

    // Attempt 2: its worker goes silent and the lease expires.
    server.advance(10_000).await;
    let second = server.dequeue(&version, 1, 0).await.remove(0);
    assert_eq!(second["attempt"], json!(2));
    let started = server.now_ms().await;
    let fired = server.advance(31_000).await;
    assert_eq!(fired["fired"]["leasesExpired"], json!(1), "{fired}");
    let run = server.run(&id).await;
    let a = &attempts(&run)[1];
    assert_eq!(
        (&a["number"], &a["status"], &a["outcome"]),
        (&json!(2), &json!("FAILED"), &json!("LEASE_LOST")),
        "{a}"
    );
    assert_eq!(a["error"]["name"], json!("LeaseExpired"), "{a}");
    assert_eq!(parse_ms(&a["startedAt"]), started);
    assert_eq!(parse_ms(&a["retryAt"]), started + 31_000 + 10_000);
    let (s, _) = server.complete_ok(&second, json!("late")).await;
    assert_eq!(s, 409, "the lost lease completes nothing");

    // Attempt 3 completes the run; the earlier errors stay with their attempts.
    server.advance(10_000).await;
    let third = server.dequeue(&version, 1, 0).await.remove(0);
    assert_eq!(third["attempt"], json!(3));
    log(&server, &third, "charged").await;
    let (s, v) = server.complete_ok(&third, json!({"ok": true})).await;
    assert_eq!(s, 200, "{v}");
    let run = server.run(&id).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert!(run.get("error").is_none(), "{run}");
    assert_eq!(run["attemptCount"], json!(3));
    let all = attempts(&run);
    let outcomes: Vec<&Value> = all.iter().map(|a| &a["outcome"]).collect();
    assert_eq!(
        outcomes,
        [&json!("FAILED"), &json!("LEASE_LOST"), &json!("COMPLETED")]
    );
    let last = &all[2];
    assert_eq!(last["status"], json!("COMPLETED"));
    assert!(
        last.get("error").is_none() && last.get("retryAt").is_none(),
        "{last}"
    );
    assert_eq!(last["completedAt"], run["finishedAt"]);

    // The logs: each line says its attempt, and the CLI frames them.
    let (s, page) = server.get(&format!("/api/v1/runs/{id}/logs")).await;
    assert_eq!(s, 200, "{page}");
    let by_attempt: Vec<(&Value, &Value)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (&l["attempt"], &l["message"]))
        .collect();
    assert_eq!(
        by_attempt,
        [
            (&json!(1), &json!("charging")),
            (&json!(3), &json!("charged"))
        ]
    );
    let (ok, out, err) = cli(&server, &["runs", "logs", &id]).await;
    assert!(ok, "{err}");
    let framed: Vec<&str> = out
        .lines()
        .map(|l| l.split(" at ").next().unwrap_or(l))
        .map(|l| l.split(", started").next().unwrap_or(l))
        .collect();
    assert_eq!(
        framed,
        [
            "── attempt 1",
            &format!("{} INFO  charging", iso(t0 + 2_000)),
            "── attempt 1 failed",
            "   next attempt",
            "── attempt 2",
            "── attempt 2 lost its worker (lease expired)",
            "   next attempt",
            "── attempt 3",
            &format!("{} INFO  charged", iso(started + 41_000)),
            "── attempt 3 completed",
        ],
        "{out}"
    );
    assert!(out.contains(": card declined\n"), "{out}");

    let (ok, out, err) = cli(&server, &["runs", "get", &id]).await;
    assert!(ok, "{err}");
    assert!(out.contains("status: COMPLETED\n"), "{out}");
    assert!(
        !out.contains("\nerror:"),
        "a completed run shows no error: {out}"
    );
    let failed = format!(
        "attempt 1: started {}, failed at {}: card declined, retry at {}\n",
        iso(t0),
        iso(t0 + 3_000),
        iso(t0 + 13_000)
    );
    assert!(out.contains(&failed), "{out}");
    assert!(out.contains("attempt 2: started "), "{out}");
    assert!(out.contains("lost its worker (lease expired)"), "{out}");
    assert!(
        out.contains(&format!("attempt 3: started {}", iso(started + 41_000))),
        "{out}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeouts_and_cancels_end_attempts_and_a_finished_run_is_not_canceled() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "slow", "maxDuration": 10}, {"id": "t"}]))
        .await;

    // Past maxDuration: the attempt timed out, and so did the run.
    let slow = server.trigger("slow", json!({}), json!({})).await;
    server.dequeue(&version, 1, 0).await.remove(0);
    let fired = server.advance(11_000).await;
    assert_eq!(fired["fired"]["timedOut"], json!(1), "{fired}");
    let run = server.run(&slow).await;
    assert_eq!(run["status"], json!("TIMED_OUT"));
    let a = &attempts(&run)[0];
    assert_eq!(
        (&a["status"], &a["outcome"], &a["error"]["name"]),
        (
            &json!("FAILED"),
            &json!("TIMED_OUT"),
            &json!("MaxDurationExceeded")
        ),
        "{a}"
    );
    assert_eq!(
        run["error"]["name"],
        json!("MaxDurationExceeded"),
        "the run's own error"
    );

    // Canceled while a worker holds it: the attempt ends canceled.
    let held = server.trigger("t", json!({}), json!({})).await;
    let lease = server.dequeue(&version, 1, 0).await.remove(0);
    let (s, v) = server.cancel(&held).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"id": held, "status": "CANCELED", "alreadyFinished": false})
    );
    let a = &attempts(&server.run(&held).await)[0];
    assert_eq!(
        (&a["status"], &a["outcome"]),
        (&json!("CANCELED"), &json!("CANCELED")),
        "{a}"
    );
    assert_eq!(server.complete_ok(&lease, json!(1)).await.0, 409);
    // Once finished, a cancel cancels nothing and says so.
    let (s, v) = server.cancel(&held).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["alreadyFinished"], json!(true), "{v}");
    let (s, v) = server.cancel(&slow).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        v,
        json!({"id": slow, "status": "TIMED_OUT", "alreadyFinished": true})
    );
    assert_eq!(server.status(&slow).await, "TIMED_OUT");

    // Suspended on a wait, the attempt is paused; a cancel ends it.
    let waiting = server.trigger("t", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{waiting}/waits"),
            json!({"lease": run["lease"], "position": 0, "name": "nap", "suspend": true,
                   "wait": {"type": "duration", "ms": 3_600_000}}),
        )
        .await;
    assert_eq!((s, &v["suspended"]), (200, &json!(true)), "{v}");
    let a = &attempts(&server.run(&waiting).await)[0];
    assert_eq!(a["status"], json!("PAUSED"), "{a}");
    assert!(a.get("outcome").is_none(), "{a}");
    assert_eq!(server.cancel(&waiting).await.0, 200);
    let all = attempts(&server.run(&waiting).await);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["outcome"], json!("CANCELED"));

    // Never started: no attempt.
    let queued = server.trigger("t", json!({}), json!({})).await;
    assert_eq!(server.cancel(&queued).await.0, 200);
    assert!(attempts(&server.run(&queued).await).is_empty());

    // The CLI: a finished run is an error, unless --quiet.
    let (ok, out, err) = cli(&server, &["runs", "cancel", &slow]).await;
    assert!(!ok, "{out}");
    assert_eq!(
        err.trim(),
        format!("error: Run {slow} had already finished (TIMED_OUT): nothing was canceled.")
    );
    let (ok, out, err) = cli(&server, &["runs", "cancel", &slow, "--quiet"]).await;
    assert!(ok && out.is_empty() && err.is_empty(), "{out}{err}");
}

/// The SDK's worker: a task that fails twice and then succeeds leaves three attempts, and its
/// log line written before its journaled step is shipped once, not again by each retry that
/// replays the step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_worker_failing_and_retrying_leaves_its_attempts() {
    use trigr_sdk::{task, Client, RetryPolicy, TaskError, Worker};

    let server = TestServer::start().await;
    let flaky = task("flaky-sdk")
        .retry(RetryPolicy {
            max_attempts: 3,
            factor: 1.0,
            min_timeout_in_ms: 0,
            max_timeout_in_ms: 0,
            randomize: false,
        })
        .run(|_: Value, ctx| async move {
            ctx.logger.info("starting");
            let charge: String = ctx
                .step("charge", || async { Ok("ch_1".to_string()) })
                .await?;
            ctx.logger.info(format!("after {charge}"));
            if ctx.run.attempt < 3 {
                return Err(TaskError::msg(format!("flake {}", ctx.run.attempt)));
            }
            Ok(charge)
        });
    let client = Client::new(&server.base_url, DEV_KEY).expect("client");
    let worker = Worker::new(client.clone())
        .poll_wait(Duration::from_millis(200))
        .shutdown_timeout(Duration::from_secs(10))
        .task(flaky.clone())
        .start()
        .await
        .expect("worker");
    let handle = client.trigger(&flaky, &json!({})).await.expect("trigger");
    let done = client
        .poll_run(&handle.id, Duration::from_secs(30))
        .await
        .expect("the run ends");
    assert_eq!(done.attempt_count, 3, "{done:?}");
    worker.shutdown().await.expect("shutdown");

    let run = server.run(&handle.id).await;
    assert_eq!(run["status"], json!("COMPLETED"));
    assert!(run.get("error").is_none(), "{run}");
    let all = attempts(&run);
    let told: Vec<(&Value, &Value)> = all
        .iter()
        .map(|a| (&a["outcome"], &a["error"]["message"]))
        .collect();
    assert_eq!(
        told,
        [
            (&json!("FAILED"), &json!("flake 1")),
            (&json!("FAILED"), &json!("flake 2")),
            (&json!("COMPLETED"), &Value::Null),
        ]
    );
    for a in &all {
        assert!(
            a["startedAt"].is_string() && a["completedAt"].is_string(),
            "{a}"
        );
    }
    let (s, page) = server
        .get(&format!("/api/v1/runs/{}/logs", handle.id))
        .await;
    assert_eq!(s, 200, "{page}");
    let lines: Vec<(i64, &str)> = page["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            (
                l["attempt"].as_i64().unwrap(),
                l["message"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (1, "starting"),
            (1, "after ch_1"),
            (2, "after ch_1"),
            (3, "after ch_1")
        ],
        "the line before the replayed step is not shipped again"
    );
}

/// `trigr runs watch` tells why the run waits and how each attempt ended, as it happens.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_tells_why_a_run_waits_and_how_its_attempts_ended() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let server = TestServer::start_with_clock().await;
    let retry = json!({"maxAttempts": 2, "factor": 1, "minTimeoutInMs": 10_000,
                       "maxTimeoutInMs": 10_000, "randomize": false});
    let version = server
        .deploy(json!([{"id": "flaky", "retry": retry}]))
        .await;
    let id = server.trigger("flaky", json!({}), json!({})).await;
    let mut child = tokio::process::Command::new(binary())
        .args(["runs", "watch", &id])
        .env_remove("TRIGGER_ACCESS_TOKEN")
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("trigr runs watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut next = async || {
        tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("a line within 30 s")
            .expect("read stdout")
    };
    let line = next().await.expect("the snapshot");
    assert!(line.contains("QUEUED") && line.contains("(now"), "{line}");
    let line = next().await.expect("why it waits");
    assert!(
        line.starts_with("    waiting: The run is ready") && line.ends_with("(QUEUED)"),
        "{line}"
    );

    let first = server.dequeue(&version, 1, 0).await.remove(0);
    let line = next().await.expect("dequeued");
    assert!(
        line.contains("DEQUEUED") && line.contains("attempt 1"),
        "{line}"
    );
    let (s, v) = server.complete_err(&first, "boom").await;
    assert_eq!(s, 200, "{v}");
    let retry_at = iso(server.now_ms().await + 10_000);
    // The status line, how attempt 1 ended and why the run waits now. The watch reads the run
    // after each status event, so when the read of the DEQUEUED event already sees the
    // failure, the attempt's end and the reason come before the status line.
    let mut lines = Vec::new();
    for _ in 0..3 {
        lines.push(next().await.expect("a line about the failed attempt"));
    }
    let status = lines
        .iter()
        .filter(|l| !l.starts_with(' '))
        .collect::<Vec<_>>();
    assert!(
        status.len() == 1 && status[0].contains("QUEUED") && !status[0].contains("DEQUEUED"),
        "{lines:?}"
    );
    let ended = format!(": boom, retry at {retry_at}");
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("    attempt 1: started ") && l.ends_with(&ended)),
        "{lines:?}"
    );
    let waiting = format!(
        "    waiting: Attempt 1 failed: boom; the next one starts at {retry_at} at the earliest. (DELAYED)"
    );
    assert!(lines.contains(&waiting), "{lines:?}");

    server.advance(10_000).await;
    let second = server.dequeue(&version, 1, 0).await.remove(0);
    let line = next().await.expect("dequeued again");
    assert!(
        line.contains("DEQUEUED") && line.contains("attempt 2"),
        "{line}"
    );
    assert_eq!(server.complete_ok(&second, json!(7)).await.0, 200);
    let line = next().await.expect("completed");
    assert!(
        line.contains("COMPLETED") && line.contains("output 7"),
        "{line}"
    );
    assert_eq!(next().await, None, "nothing after the end");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status}");
}
