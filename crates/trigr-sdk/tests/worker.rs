//! The worker runtime against a real in-process server: completion, panics, retries, hooks,
//! graceful shutdown, lost leases, metadata.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot, Notify};
use trigr_sdk::testkit::TestServer;
use trigr_sdk::{task, ListRuns, RetryPolicy, RunStatus, TaskError, TriggerOptions};

#[derive(Serialize, Deserialize)]
struct Greeting {
    name: String,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Greeted {
    message: String,
    version: String,
    env: String,
    attempt: u32,
}

/// A retry policy that retries at once, so tests do not wait for backoff.
fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        factor: 1.0,
        min_timeout_in_ms: 0,
        max_timeout_in_ms: 0,
        randomize: false,
    }
}

/// Awaits `future`, failing the test after 30 s instead of hanging (a signal that never comes
/// means the code under test failed earlier).
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after 30 s"))
}

#[tokio::test]
async fn hello_world_completes_with_its_context() {
    let server = TestServer::start().await;
    let hello = task("hello-world").run(|p: Greeting, ctx| async move {
        ctx.logger.info_with("greeting", json!({ "name": p.name }));
        Ok(Greeted {
            message: format!("Hello, {}!", p.name),
            version: ctx.deployment.version.clone(),
            env: ctx.environment.slug.clone(),
            attempt: ctx.run.attempt,
        })
    });
    let worker = server
        .worker()
        .task(hello.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client
        .trigger_with(
            &hello,
            &Greeting { name: "Ada".into() },
            TriggerOptions::new().tag("user_1"),
        )
        .await
        .expect("trigger");
    assert_eq!(handle.version.as_deref(), Some(worker.version()));

    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let out: Greeted = run.output_as().expect("decode").expect("output");
    assert_eq!(
        out,
        Greeted {
            message: "Hello, Ada!".into(),
            version: worker.version().into(),
            env: "dev".into(),
            attempt: 1,
        }
    );
    assert_eq!(run.tags, ["user_1"]);

    let page = client
        .list_runs(
            ListRuns::new()
                .task("hello-world")
                .status(RunStatus::Completed),
        )
        .await
        .expect("list");
    assert_eq!(page.data.len(), 1);
    assert_eq!(page.data[0].id, handle.id);

    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_panic_fails_the_attempt_and_the_retry_succeeds() {
    let server = TestServer::start().await;
    let flaky = task("flaky")
        .retry(quick_retry(3))
        .run(|n: u32, ctx| async move {
            if ctx.run.attempt == 1 {
                panic!("first attempt blows up");
            }
            Ok(n * 2)
        });
    let worker = server
        .worker()
        .task(flaky.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let first = client.trigger(&flaky, &21).await.expect("trigger");
    let run = server.wait_for_run(&first.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(42)));
    assert_eq!(run.attempt_count, 2);

    // The worker survived the panic and keeps serving.
    let second = client.trigger(&flaky, &1).await.expect("trigger");
    assert_eq!(server.wait_for_run(&second.id).await.attempt_count, 2);
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_panic_on_the_last_attempt_fails_the_run_with_its_message() {
    let server = TestServer::start().await;
    let doomed = task("doomed")
        .max_attempts(1)
        .run(|_: Value, _ctx| async move {
            if true {
                panic!("always");
            }
            Ok(())
        });
    let worker = server
        .worker()
        .task(doomed.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&doomed, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.expect("error");
    assert_eq!(error.name.as_deref(), Some("Panic"));
    assert_eq!(error.message, "the task panicked: always");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn fatal_errors_are_not_retried() {
    let server = TestServer::start().await;
    let picky = task("picky")
        .retry(quick_retry(5))
        .run(|_: Value, _ctx| async move {
            Err::<(), _>(TaskError::fatal("bad input").named("ValidationError"))
        });
    let worker = server
        .worker()
        .task(picky.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&picky, &json!(1))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.attempt_count, 1);
    assert_eq!(
        run.error.and_then(|e| e.name).as_deref(),
        Some("ValidationError")
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

/// Counts hook calls: `start`, `success`, `failure` for the task and the worker.
#[derive(Default)]
struct Calls {
    task_start: AtomicU32,
    task_success: AtomicU32,
    task_failure: AtomicU32,
    global_start: AtomicU32,
    global_success: AtomicU32,
    global_failure: AtomicU32,
}

fn get(counter: &AtomicU32) -> u32 {
    counter.load(Ordering::SeqCst)
}

#[tokio::test]
async fn hooks_fire_once_per_run_and_failure_only_when_final() {
    let server = TestServer::start().await;
    let calls = Arc::new(Calls::default());
    let c = calls.clone();
    let (c1, c2, c3) = (c.clone(), c.clone(), c.clone());
    let hooked = task("hooked")
        .retry(quick_retry(2))
        .on_start(move |_: bool, _ctx| {
            let c = c1.clone();
            async move {
                c.task_start.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_success(move |_, out: String, _ctx| {
            let c = c2.clone();
            async move {
                assert_eq!(out, "fine");
                c.task_success.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_failure(move |_, error, _ctx| {
            let c = c3.clone();
            async move {
                assert_eq!(error.message(), "still failing");
                c.task_failure.fetch_add(1, Ordering::SeqCst);
            }
        })
        .run(|succeed: bool, ctx| async move {
            if succeed && ctx.run.attempt == 2 {
                return Ok("fine".to_string());
            }
            Err(TaskError::msg("still failing"))
        });
    let (g1, g2, g3) = (c.clone(), c.clone(), c.clone());
    let worker = server
        .worker()
        .task(hooked.clone())
        .on_start(move |_, _| {
            let c = g1.clone();
            async move {
                c.global_start.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_success(move |_, out, _| {
            let c = g2.clone();
            async move {
                assert_eq!(out, json!("fine"));
                c.global_success.fetch_add(1, Ordering::SeqCst);
            }
        })
        .on_failure(move |_, _, _| {
            let c = g3.clone();
            async move {
                c.global_failure.fetch_add(1, Ordering::SeqCst);
            }
        })
        .start()
        .await
        .expect("worker");
    let client = server.client();

    // Fails once, then succeeds: start once, success once, no failure.
    let ok = client.trigger(&hooked, &true).await.expect("trigger");
    assert_eq!(
        server.wait_for_run(&ok.id).await.status,
        RunStatus::Completed
    );
    assert_eq!(get(&calls.task_start), 1);
    assert_eq!(get(&calls.global_start), 1);
    assert_eq!(get(&calls.task_success), 1);
    assert_eq!(get(&calls.global_success), 1);
    assert_eq!(get(&calls.task_failure), 0);

    // Fails twice: failure hooks once, on the last attempt.
    let bad = client.trigger(&hooked, &false).await.expect("trigger");
    assert_eq!(server.wait_for_run(&bad.id).await.status, RunStatus::Failed);
    assert_eq!(get(&calls.task_start), 2);
    assert_eq!(get(&calls.task_failure), 1);
    assert_eq!(get(&calls.global_failure), 1);
    assert_eq!(get(&calls.task_success), 1);

    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn shutdown_waits_for_runs_in_flight_and_stops_pulling() {
    let server = TestServer::start().await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let release = Arc::new(Notify::new());
    let r = release.clone();
    let slow = task("slow").run(move |n: u32, _ctx| {
        let started_tx = started_tx.clone();
        let release = r.clone();
        async move {
            let _ = started_tx.send(());
            release.notified().await;
            Ok(n)
        }
    });
    // One slot: while the first run holds it the worker does not poll.
    let worker = server
        .worker()
        .concurrency(1)
        .task(slow.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let first = client.trigger(&slow, &7).await.expect("trigger");
    within("start", started.recv())
        .await
        .expect("the run started");

    let handle = worker.shutdown_handle();
    handle.shutdown();
    let (done_tx, mut done) = oneshot::channel();
    tokio::spawn(async move {
        let _ = done_tx.send(worker.stopped().await);
    });
    // The run in flight holds the shutdown until it is released.
    let second = client.trigger(&slow, &8).await.expect("trigger");
    tokio::task::yield_now().await;
    assert!(
        done.try_recv().is_err(),
        "shut down before its run finished"
    );
    release.notify_one();
    within("shutdown", done)
        .await
        .expect("worker ended")
        .expect("clean shutdown");

    let run = client.retrieve_run(&first.id).await.expect("run");
    assert_eq!(run.status, RunStatus::Completed);
    // Nothing was pulled after the shutdown began.
    let queued = client.retrieve_run(&second.id).await.expect("run");
    assert_eq!(queued.status, RunStatus::Queued);
    server.stop().await;
}

#[tokio::test]
async fn runs_past_the_shutdown_timeout_fail_retryably() {
    let server = TestServer::start().await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let stuck = task("stuck")
        .retry(quick_retry(3))
        .run(move |_: Value, _ctx| {
            let started_tx = started_tx.clone();
            async move {
                let _ = started_tx.send(());
                std::future::pending::<()>().await;
                Ok(())
            }
        });
    let worker = server
        .worker()
        .shutdown_timeout(Duration::from_millis(100))
        .task(stuck.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client.trigger(&stuck, &json!({})).await.expect("trigger");
    within("start", started.recv()).await.expect("started");
    worker.shutdown().await.expect("shutdown");

    let run = client.retrieve_run(&handle.id).await.expect("run");
    assert_eq!(run.status, RunStatus::Queued, "{run:?}");
    assert_eq!(run.attempt_count, 1);
    // The error is the attempt's: the run goes on.
    assert!(run.error.is_none(), "{run:?}");
    let attempt = &run.attempts[0];
    assert_eq!(
        (attempt.number, attempt.outcome.as_deref()),
        (1, Some("FAILED"))
    );
    assert_eq!(
        attempt.error.as_ref().and_then(|e| e.name.as_deref()),
        Some("WorkerShutdownError")
    );
    assert!(attempt.retry_at.is_some(), "{attempt:?}");
    server.stop().await;
}

/// Sends on drop: proves that the task's future was dropped.
struct DropSignal(Option<oneshot::Sender<()>>);

impl Drop for DropSignal {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

#[tokio::test]
async fn a_canceled_run_loses_its_lease_and_the_attempt_is_dropped() {
    let server = TestServer::start().await;
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let (dropped_tx, dropped) = oneshot::channel::<()>();
    let dropped_tx = Arc::new(std::sync::Mutex::new(Some(dropped_tx)));
    let endless = task("endless").run(move |_: Value, _ctx| {
        let started_tx = started_tx.clone();
        let guard = DropSignal(dropped_tx.lock().expect("lock").take());
        async move {
            let _guard = guard;
            let _ = started_tx.send(());
            std::future::pending::<()>().await;
            Ok(())
        }
    });
    let worker = server
        .worker()
        .heartbeat_interval(Duration::from_millis(50))
        .task(endless.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client.trigger(&endless, &json!({})).await.expect("trigger");
    within("start", started.recv()).await.expect("started");
    client.cancel_run(&handle.id).await.expect("cancel");
    within("drop", dropped)
        .await
        .expect("the attempt's future was dropped");
    let run = client.retrieve_run(&handle.id).await.expect("run");
    assert_eq!(run.status, RunStatus::Canceled);
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn metadata_changes_from_inside_the_task() {
    let server = TestServer::start().await;
    let progress = task("progress").run(|_: Value, ctx| async move {
        ctx.metadata.set("progress", 0.5).await?;
        ctx.metadata.increment("count", 2.0).await?;
        ctx.metadata.append("steps", "a").await?;
        let now = ctx.metadata.current();
        Ok(now)
    });
    let worker = server
        .worker()
        .task(progress.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client
        .trigger_with(
            &progress,
            &json!({}),
            TriggerOptions::new().metadata(json!({"user": "u1"})),
        )
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    let expected = json!({"user": "u1", "progress": 0.5, "count": 2, "steps": ["a"]});
    assert_eq!(run.output, Some(expected.clone()), "{run:?}");
    assert_eq!(run.metadata, Some(expected));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn metadata_batches_apply_together_and_reach_the_parent() {
    let server = TestServer::start().await;
    let child = task("meta-child").run(|n: u32, ctx| async move {
        let mut parent = ctx.metadata.parent().batch();
        parent.increment("childrenDone", 1.0).append("children", n);
        parent.flush().await?;
        Ok(n)
    });
    let c = child.clone();
    let progress = task("meta-batch").run(move |_: Value, ctx| {
        let c = c.clone();
        async move {
            // First: a resume replays the task from the top, and metadata changes are not
            // journaled.
            ctx.trigger_and_wait(&c, &7).await?;
            let mut batch = ctx.metadata.batch();
            batch
                .set("progress", 0.25)
                .increment("count", 3.0)
                .decrement("count", 1.0)
                .append("steps", "a")
                .append("steps", "b")
                .remove("steps", "a")
                .set("gone", true)
                .delete("gone");
            assert_eq!(batch.len(), 8);
            let after = batch.flush().await?;
            assert!(batch.is_empty());
            // Too large: refused as a whole, nothing changes.
            batch.set("ok", 1).set("big", "x".repeat(300 * 1024));
            let refused = batch.flush().await.expect_err("over the size limit");
            assert_eq!(refused.status(), Some(413), "{refused}");
            assert!(refused.to_string().contains("over the limit"), "{refused}");
            Ok(after)
        }
    });
    let worker = server
        .worker()
        .task(child)
        .task(progress.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client
        .trigger(&progress, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    let expected = json!({
        "childrenDone": 1, "children": [7], "progress": 0.25, "count": 2, "steps": ["b"]
    });
    assert_eq!(run.output, Some(expected.clone()), "{run:?}");
    assert_eq!(
        run.metadata,
        Some(expected),
        "the refused batch changed something"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn concurrency_limit_of_the_worker_bounds_runs_in_flight() {
    let server = TestServer::start().await;
    let in_flight = Arc::new(AtomicU32::new(0));
    let peak = Arc::new(AtomicU32::new(0));
    let (f, p) = (in_flight.clone(), peak.clone());
    let busy = task("busy").run(move |_: u32, _ctx| {
        let (f, p) = (f.clone(), p.clone());
        async move {
            let now = f.fetch_add(1, Ordering::SeqCst) + 1;
            p.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            f.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
    });
    let worker = server
        .worker()
        .concurrency(2)
        .task(busy.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let mut ids = Vec::new();
    for i in 0..8 {
        ids.push(client.trigger(&busy, &i).await.expect("trigger").id);
    }
    for id in ids {
        assert_eq!(server.wait_for_run(&id).await.status, RunStatus::Completed);
    }
    assert!(get(&peak) <= 2, "peak {}", get(&peak));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_bad_manifest_is_refused_before_registering() {
    let server = TestServer::start().await;
    let bad = task("bad id!").run(|_: Value, _ctx| async move { Ok(()) });
    let err = server
        .worker()
        .task(bad)
        .start()
        .await
        .err()
        .expect("refused");
    assert!(err.to_string().contains("bad id!"), "{err}");
    server.stop().await;
}

#[tokio::test]
async fn a_worker_with_a_rejected_key_does_not_start() {
    let server = TestServer::start().await;
    let client =
        trigr_sdk::Client::new(server.url(), "tr_dev_wrongwrongwrongwrong0001").expect("client");
    let t = task("t").run(|_: Value, _ctx| async move { Ok(()) });
    let err = trigr_sdk::Worker::new(client)
        .task(t)
        .start()
        .await
        .err()
        .expect("refused");
    assert_eq!(err.status(), Some(401), "{err}");
    server.stop().await;
}
