//! Durable execution (worker protocol §7) against a real in-process server: steps journaled and
//! skipped on re-execution, non-determinism, waits held and suspended, tokens, child runs, and
//! a run that survives its worker being killed.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::sync::mpsc;
use trigr_sdk::testkit::{Options, TestServer};
use trigr_sdk::tokens::{CreateToken, TokenStatus};
use trigr_sdk::{task, RetryPolicy, RunStatus, TaskError, TaskRunResult, WaitResult};

fn quick_retry(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        factor: 1.0,
        min_timeout_in_ms: 0,
        max_timeout_in_ms: 0,
        randomize: false,
    }
}

fn counter() -> Arc<AtomicU32> {
    Arc::new(AtomicU32::new(0))
}

fn count(c: &AtomicU32) -> u32 {
    c.load(Ordering::SeqCst)
}

/// Awaits `future`, failing the test after 30 s instead of hanging (a signal that never comes
/// means the code under test failed earlier).
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after 30 s"))
}

#[tokio::test]
async fn steps_are_journaled_and_skipped_on_retry() {
    let server = TestServer::start().await;
    let runs_of_step = counter();
    let c = runs_of_step.clone();
    let charge = task("charge")
        .retry(quick_retry(3))
        .run(move |amount: u32, ctx| {
            let c = c.clone();
            async move {
                let receipt: u32 = ctx
                    .step("charge-card", || async move {
                        c.fetch_add(1, Ordering::SeqCst);
                        Ok(amount * 100)
                    })
                    .await?;
                if ctx.run.attempt == 1 {
                    return Err(TaskError::msg("fails after the step"));
                }
                Ok(receipt + 1)
            }
        });
    let worker = server
        .worker()
        .task(charge.clone())
        .start()
        .await
        .expect("worker");
    let handle = server.client().trigger(&charge, &5).await.expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(501)));
    assert_eq!(run.attempt_count, 2);
    assert_eq!(count(&runs_of_step), 1, "the step ran again on the retry");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_different_step_at_a_journaled_position_fails_without_retry() {
    let server = TestServer::start().await;
    let shifty = task("shifty")
        .retry(quick_retry(5))
        .run(|_: Value, ctx| async move {
            let name = format!("step-{}", ctx.run.attempt);
            ctx.step(&name, || async { Ok(1) }).await?;
            Err::<(), _>(TaskError::msg("retry me"))
        });
    let worker = server
        .worker()
        .task(shifty.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&shifty, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(run.attempt_count, 2);
    let error = run.error.expect("error");
    assert_eq!(error.name.as_deref(), Some("NonDeterminismError"));
    assert_eq!(
        error.message,
        "position 0: the journal has step \"step-1\" but the code reached step \"step-2\""
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_long_wait_suspends_the_run_and_it_resumes_after_its_steps() {
    let server = TestServer::start().await;
    let before = counter();
    let c = before.clone();
    let sleeper = task("sleeper").run(move |_: Value, ctx| {
        let c = c.clone();
        async move {
            ctx.step("before", || async move {
                c.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await?;
            ctx.wait_for(Duration::from_millis(300)).await?;
            Ok(json!({ "resumed": ctx.run.resumed, "attempt": ctx.run.attempt }))
        }
    });
    // Every wait counts as long: it suspends.
    let worker = server
        .worker()
        .short_wait_threshold(Duration::ZERO)
        .task(sleeper.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&sleeper, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"resumed": true, "attempt": 1})));
    assert_eq!(count(&before), 1);
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_short_wait_is_held_in_the_worker() {
    let server = TestServer::start().await;
    let napper = task("napper").run(|_: Value, ctx| async move {
        ctx.wait_for(Duration::from_millis(100)).await?;
        Ok(ctx.run.resumed)
    });
    let worker = server
        .worker()
        .task(napper.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&napper, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(false)), "the run was suspended");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_token_wait_resumes_with_the_completion_data() {
    let server = TestServer::start().await;
    let (token_tx, mut tokens) = mpsc::unbounded_channel::<String>();
    let approval = task("approval").run(move |_: Value, ctx| {
        let token_tx = token_tx.clone();
        async move {
            let token = ctx
                .create_token(
                    CreateToken::new()
                        .timeout(Duration::from_secs(3600))
                        .tag("t1"),
                )
                .await?;
            let _ = token_tx.send(token.id.clone());
            let result: WaitResult<Value> = ctx.wait_for_token(&token.id).await?;
            Ok(result.into_result()?)
        }
    });
    let worker = server
        .worker()
        .task(approval.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client
        .trigger(&approval, &json!({}))
        .await
        .expect("trigger");
    let token_id = within("token id", tokens.recv()).await.expect("token id");
    let done = client
        .tokens()
        .complete(&token_id, json!({"approved": true}))
        .await
        .expect("complete");
    assert!(done.success);
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"approved": true})));
    // Re-executions got the journaled token back, not a new one.
    while let Ok(again) = tokens.try_recv() {
        assert_eq!(again, token_id);
    }
    let token = client.tokens().retrieve(&token_id).await.expect("retrieve");
    assert_eq!(token.status, TokenStatus::Completed);
    assert_eq!(token.output(), Some(json!({"approved": true})));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_token_that_times_out_gives_a_timed_out_result() {
    let server = TestServer::start().await;
    let impatient = task("impatient").run(|_: Value, ctx| async move {
        let token = ctx
            .create_token(CreateToken::new().timeout(Duration::from_secs(1)))
            .await?;
        let result: WaitResult<Value> = ctx.wait_for_token(&token.id).await?;
        Ok(result.is_ok())
    });
    let worker = server
        .worker()
        .task(impatient.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&impatient, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(false)));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn trigger_and_wait_returns_the_child_result() {
    let server = TestServer::start().await;
    let square = task("square")
        .max_attempts(1)
        .run(|n: i64, _ctx| async move {
            if n < 0 {
                return Err(TaskError::msg("negative"));
            }
            Ok(n * n)
        });
    let sq = square.clone();
    let parent = task("parent").run(move |n: i64, ctx| {
        let sq = sq.clone();
        async move {
            let ok = ctx.trigger_and_wait(&sq, &n).await?;
            let bad = ctx.trigger_and_wait(&sq, &-1).await?;
            assert!(ok.id().starts_with("run_"), "{ok:?}");
            Ok(json!({
                "square": ok.into_result()?,
                "failed": bad.error().map(|e| e.message.clone()),
            }))
        }
    });
    let worker = server
        .worker()
        .task(square)
        .task(parent.clone())
        .start()
        .await
        .expect("worker");
    let handle = server.client().trigger(&parent, &7).await.expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({"square": 49, "failed": "negative"}))
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn batch_trigger_and_wait_returns_results_in_order() {
    let server = TestServer::start().await;
    let double = task("double").run(|n: u32, _ctx| async move { Ok(n * 2) });
    let d = double.clone();
    let fan_out = task("fan-out").run(move |n: u32, ctx| {
        let d = d.clone();
        async move {
            let results = ctx.batch_trigger_and_wait(&d, 1..=n).await?;
            let outputs: Vec<u32> = results
                .into_iter()
                .map(TaskRunResult::into_result)
                .collect::<Result<_, _>>()?;
            Ok(outputs)
        }
    });
    let worker = server
        .worker()
        .task(double)
        .task(fan_out.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&fan_out, &4)
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!([2, 4, 6, 8])));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_child_triggered_without_waiting_is_triggered_once() {
    let server = TestServer::start().await;
    let child = task("child").run(|n: u32, _ctx| async move { Ok(n) });
    let ch = child.clone();
    let parent = task("spawner")
        .retry(quick_retry(2))
        .run(move |_: Value, ctx| {
            let ch = ch.clone();
            async move {
                let handle = ctx.trigger(&ch, &3).await?;
                if ctx.run.attempt == 1 {
                    return Err(TaskError::msg("retry after triggering"));
                }
                Ok(handle.id)
            }
        });
    let worker = server
        .worker()
        .task(child)
        .task(parent.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client.trigger(&parent, &json!({})).await.expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let child_id: String = run.output_as().expect("decode").expect("output");
    let children = client
        .list_runs(trigr_sdk::ListRuns::new().task("child"))
        .await
        .expect("list");
    assert_eq!(children.data.len(), 1, "the child was triggered twice");
    assert_eq!(children.data[0].id, child_id);
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_run_survives_its_worker_being_killed() {
    let server = TestServer::start_with(Options {
        lease_timeout: Duration::from_secs(1),
    })
    .await;
    let step_runs = counter();
    let (started_tx, mut started) = mpsc::unbounded_channel::<()>();
    let define = |c: Arc<AtomicU32>, started_tx: mpsc::UnboundedSender<()>| {
        task("pipeline")
            .retry(quick_retry(3))
            .run(move |_: Value, ctx| {
                let (c, started_tx) = (c.clone(), started_tx.clone());
                async move {
                    let fetched: u32 = ctx
                        .step("fetch", || async move {
                            c.fetch_add(1, Ordering::SeqCst);
                            Ok(41)
                        })
                        .await?;
                    if ctx.run.attempt == 1 {
                        let _ = started_tx.send(());
                        std::future::pending::<()>().await;
                    }
                    Ok(fetched + 1)
                }
            })
    };
    let first = server
        .worker()
        .task(define(step_runs.clone(), started_tx.clone()))
        .start()
        .await
        .expect("worker");
    let version = first.version().to_string();
    let handle = server
        .client()
        .trigger_id("pipeline", &json!({}), Default::default())
        .await
        .expect("trigger");
    within("first attempt", started.recv())
        .await
        .expect("first attempt reached its hang");
    first.kill();

    // A second worker process of the same version picks the run up when the lease expires.
    let second = server
        .worker()
        .serve_version(&version)
        .task(define(step_runs.clone(), started_tx))
        .start()
        .await
        .expect("worker");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(42)));
    assert_eq!(run.attempt_count, 2);
    assert_eq!(count(&step_runs), 1, "the journaled step ran again");
    second.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn waits_with_one_idempotency_key_share_one_timer() {
    let server = TestServer::start().await;
    let keyed = task("keyed-wait").run(|_: Value, ctx| async move {
        let options = trigr_sdk::WaitOptions::new()
            .idempotency_key("nightly-cooldown")
            .idempotency_key_ttl(Duration::from_secs(3600));
        ctx.wait_for_with(Duration::from_millis(300), options)
            .await?;
        Ok(ctx.run.resumed)
    });
    let worker = server
        .worker()
        .short_wait_threshold(Duration::ZERO)
        .task(keyed.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let first = client.trigger(&keyed, &json!({})).await.expect("trigger");
    let run = server.wait_for_run(&first.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(true)), "the first wait suspended");

    // The key's timer already ran out: the second run's wait returns at once.
    let second = client.trigger(&keyed, &json!({})).await.expect("trigger");
    let run = server.wait_for_run(&second.id).await;
    assert_eq!(run.output, Some(json!(false)), "the second wait suspended");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn an_empty_batch_returns_no_results() {
    let server = TestServer::start().await;
    let child = task("noop").run(|_: u32, _ctx| async move { Ok(()) });
    let c = child.clone();
    let parent = task("empty-batch").run(move |_: Value, ctx| {
        let c = c.clone();
        async move { Ok(ctx.batch_trigger_and_wait(&c, Vec::new()).await?.len()) }
    });
    let worker = server
        .worker()
        .task(child)
        .task(parent.clone())
        .start()
        .await
        .expect("worker");
    let handle = server
        .client()
        .trigger(&parent, &json!({}))
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.output, Some(json!(0)), "{run:?}");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn logs_before_a_suspension_and_after_the_resume_all_arrive() {
    let server = TestServer::start().await;
    let chatty = task("chatty").run(|_: Value, ctx| async move {
        if !ctx.run.resumed {
            for i in 0..250 {
                ctx.logger.debug_with("burst", json!({ "i": i }));
            }
            ctx.logger.warn("before the wait");
        }
        ctx.wait_for(Duration::from_millis(200)).await?;
        ctx.logger
            .error_with("after the wait", json!({ "resumed": ctx.run.resumed }));
        Ok(())
    });
    let worker = server
        .worker()
        .short_wait_threshold(Duration::ZERO)
        .task(chatty.clone())
        .start()
        .await
        .expect("worker");
    let client = server.client();
    let handle = client.trigger(&chatty, &json!({})).await.expect("trigger");
    assert_eq!(
        server.wait_for_run(&handle.id).await.status,
        RunStatus::Completed
    );
    let mut entries = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let page = client
            .run_logs(&handle.id, cursor.as_deref())
            .await
            .expect("logs");
        entries.extend(page.data);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    let count = |level: &str, message: &str| {
        entries
            .iter()
            .filter(|e| e.level == level && e.message == message)
            .count()
    };
    assert_eq!(count("debug", "burst"), 250);
    assert_eq!(count("warn", "before the wait"), 1);
    assert_eq!(count("error", "after the wait"), 1);
    let last = entries.iter().find(|e| e.message == "after the wait");
    assert_eq!(
        last.and_then(|e| e.fields.clone()),
        Some(json!({"resumed": true}))
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}
