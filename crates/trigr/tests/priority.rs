//! A fractional priority (seconds of head start in the queue) is kept exactly: shown as given,
//! and still ordering the run when a retry or a reschedule queues it again.

mod common;

use common::{tasks, TestServer};
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn priority_is_shown_as_given() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    for p in [json!(0.5), json!(5), json!(0), json!(1.25), json!(-2)] {
        let id = server
            .trigger("t", json!({}), json!({"priority": p.clone()}))
            .await;
        assert_eq!(server.run(&id).await["priority"], p, "priority {p}");
    }
    let id = server.trigger("t", json!({}), json!({})).await;
    assert_eq!(server.run(&id).await["priority"], json!(0));
    // A replay's priority too.
    let (s, v) = server
        .post(
            &format!("/api/v1/runs/{id}/replay"),
            json!({"priority": 0.5}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let replayed = v["id"].as_str().unwrap();
    assert_eq!(server.run(replayed).await["priority"], json!(0.5));
}

/// Dequeues one run and returns it.
async fn next(server: &TestServer, version: &str) -> Value {
    let got = server.dequeue(version, 1, 0).await;
    assert_eq!(got.len(), 1, "one run ready: {got:?}");
    got[0].clone()
}

/// Which of two runs a worker gets first, when `a` (priority `priority`) is queued again
/// 1000 ms after the start and `b` (no priority) was triggered 700 ms after it: `a` is ahead
/// only if it kept at least 300 ms of head start. `requeue` queues `a` again at start + 1000.
async fn first_of_two(
    server: &TestServer,
    version: &str,
    priority: f64,
    requeue: Requeue,
) -> (String, String, String) {
    let a = match requeue {
        Requeue::Retry => {
            let a = server
                .trigger(
                    "p",
                    json!({"run": "a"}),
                    json!({"priority": priority, "maxAttempts": 2}),
                )
                .await;
            let attempt = next(server, version).await;
            assert_eq!(attempt["runId"], json!(a));
            let (s, v) = server
                .complete_err_with(&attempt, "again", json!({"retryAfterMs": 1000}))
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["willRetry"], json!(true), "{v}");
            a
        }
        Requeue::Reschedule => {
            let a = server
                .trigger(
                    "p",
                    json!({"run": "a"}),
                    json!({"priority": priority, "delay": "1h"}),
                )
                .await;
            let (s, v) = server
                .post(
                    &format!("/api/v1/runs/{a}/reschedule"),
                    json!({"delay": "1s"}),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            assert_eq!(v["status"], json!("DELAYED"), "{v}");
            a
        }
    };
    server.advance(700).await;
    let b = server.trigger("p", json!({"run": "b"}), json!({})).await;
    server.advance(300).await;
    let first = next(server, version).await;
    let second = next(server, version).await;
    for r in [&first, &second] {
        assert_eq!(server.complete_ok(r, json!(null)).await.0, 200);
    }
    assert_eq!(server.run(&a).await["priority"].as_f64(), Some(priority));
    (a, b, first["runId"].as_str().unwrap().to_string())
}

#[derive(Clone, Copy, Debug)]
enum Requeue {
    Retry,
    Reschedule,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fractional_priority_survives_a_retry() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["p"])).await;
    // Without a priority the later trigger is ahead of the retry ...
    let (_, b, first) = first_of_two(&server, &version, 0.0, Requeue::Retry).await;
    assert_eq!(first, b, "no priority: the run queued first goes first");
    // ... and half a second of priority puts the retry ahead of it.
    let (a, _, first) = first_of_two(&server, &version, 0.5, Requeue::Retry).await;
    assert_eq!(first, a, "the retried run keeps its 500 ms head start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fractional_priority_survives_a_reschedule() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["p"])).await;
    let (_, b, first) = first_of_two(&server, &version, 0.0, Requeue::Reschedule).await;
    assert_eq!(first, b, "no priority: the run queued first goes first");
    let (a, _, first) = first_of_two(&server, &version, 0.5, Requeue::Reschedule).await;
    assert_eq!(first, a, "the rescheduled run keeps its 500 ms head start");
}
