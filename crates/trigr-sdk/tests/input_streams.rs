//! Input streams and version-aware delivery against a real in-process server: messages kept
//! until the task reads them, `once`/`wait`/`on` each reading every message once across
//! re-executions, and `ifVersion` guards (exact, expression, predicate) while a newer version
//! is deployed.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use trigr_sdk::streams::{self, SendOptions};
use trigr_sdk::testkit::TestServer;
use trigr_sdk::tokens::{CompleteOptions, CreateToken};
use trigr_sdk::{task, Client, Error, IfVersion, RetryPolicy, Run, RunStatus, TaskError};

fn no_retry_delay(attempts: u32) -> RetryPolicy {
    RetryPolicy {
        max_attempts: attempts,
        factor: 1.0,
        min_timeout_in_ms: 0,
        max_timeout_in_ms: 0,
        randomize: false,
    }
}

/// Awaits `future`, failing the test after 30 s instead of hanging.
async fn within<T>(what: &str, future: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), future)
        .await
        .unwrap_or_else(|_| panic!("{what}: nothing after 30 s"))
}

/// Waits until `check` holds, re-checking whenever `seen` may have changed.
async fn until(what: &str, seen: &Arc<Mutex<Vec<Value>>>, check: impl Fn(&[Value]) -> bool) {
    within(what, async {
        loop {
            if check(&seen.lock().unwrap()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

/// Reads the run until `check` holds.
async fn run_where(client: &Client, id: &str, what: &str, check: impl Fn(&Run) -> bool) {
    within(what, async {
        loop {
            let r = client.retrieve_run(id).await.expect("retrieve");
            if check(&r) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
}

fn mismatch(e: Error) -> trigr_sdk::VersionMismatchError {
    match e {
        Error::VersionMismatch(m) => m,
        other => panic!("expected a version mismatch, got {other}"),
    }
}

#[tokio::test]
async fn a_newer_deploy_does_not_take_waiting_runs_and_guards_hold_back_mismatched_messages() {
    let server = TestServer::start().await;
    let client = server.client();
    let approvals = streams::input::<Value>("approval");
    let old = {
        let approvals = approvals.clone();
        task("review").run(move |_: Value, ctx| {
            let approvals = approvals.clone();
            async move {
                let got = approvals.wait(&ctx, None).await?;
                Ok(json!({ "code": "old", "version": ctx.deployment.version, "got": got.ok() }))
            }
        })
    };
    let worker_n = server
        .worker()
        .task(old.clone())
        .build_id(Some("build-n".into()))
        .start()
        .await
        .expect("worker N");
    let n = worker_n.version().to_string();
    let mut waiting = Vec::new();
    for _ in 0..3 {
        let run = client.trigger(&old, &json!({})).await.expect("trigger");
        waiting.push(run.id);
    }
    for id in &waiting {
        server.wait_for_status(id, RunStatus::Waiting).await;
    }

    // Version N+1 of the same task is deployed and becomes current.
    let new = task("review").run(|_: Value, ctx| async move {
        Ok(json!({ "code": "new", "version": ctx.deployment.version }))
    });
    let worker_n1 = server
        .worker()
        .task(new.clone())
        .build_id(Some("build-n1".into()))
        .start()
        .await
        .expect("worker N+1");
    let n1 = worker_n1.version().to_string();
    assert_ne!(n, n1);

    // Guarded sends for N+1 to runs of N: refused, in all three forms.
    let guards = [
        IfVersion::exact(n1.clone()),
        IfVersion::matching(format!(">={n1}")),
        IfVersion::predicate({
            let n1 = n1.clone();
            move |v| v == n1
        }),
    ];
    for (id, guard) in waiting.iter().zip(guards) {
        let described = match &guard {
            IfVersion::Expression(e) => e.clone(),
            IfVersion::Predicate(_) => "<predicate>".to_string(),
        };
        let options = SendOptions::new().if_version(guard);
        let refused = approvals
            .send(&client, id, &json!({ "shape": "new" }), options)
            .await
            .expect_err("a guarded send for N+1 to a run of N");
        let m = mismatch(refused);
        assert_eq!(m.run_id.as_deref(), Some(id.as_str()));
        assert_eq!(m.expected_version, described);
        assert_eq!(m.actual_version.as_deref(), Some(n.as_str()));
        let run = client.retrieve_run(id).await.expect("retrieve");
        assert_eq!(
            run.status,
            RunStatus::Waiting,
            "a refused message woke {id}"
        );
    }

    // A guard that holds, and no guard at all: delivered, to N's code on N's worker.
    let sent = approvals
        .send(
            &client,
            &waiting[0],
            &json!({ "shape": "old", "i": 0 }),
            SendOptions::new().if_version(IfVersion::predicate({
                let n = n.clone();
                move |v| v == n
            })),
        )
        .await
        .expect("a guard that holds");
    assert_eq!(sent.seq, 1, "the refused message was stored");
    assert_eq!(sent.run_version.as_deref(), Some(n.as_str()));
    for (i, id) in waiting.iter().enumerate().skip(1) {
        let sent = approvals
            .send(
                &client,
                id,
                &json!({ "shape": "old", "i": i }),
                SendOptions::new(),
            )
            .await
            .expect("an unguarded send");
        assert_eq!(sent.seq, 1);
        assert_eq!(sent.run_version.as_deref(), Some(n.as_str()));
    }
    for (i, id) in waiting.iter().enumerate() {
        let run = server.wait_for_run(id).await;
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(
            run.output,
            Some(json!({ "code": "old", "version": n, "got": { "shape": "old", "i": i } })),
            "the task saw a message it should not have"
        );
        assert_eq!(run.version.as_deref(), Some(n.as_str()));
    }

    // New runs go to N+1.
    let fresh = client.trigger(&new, &json!({})).await.expect("trigger");
    let run = server.wait_for_run(&fresh.id).await;
    assert_eq!(run.output, Some(json!({ "code": "new", "version": n1 })));

    // A finished run takes no more messages.
    let late = approvals
        .send(&client, &waiting[0], &json!({}), SendOptions::new())
        .await
        .expect_err("a send to a finished run");
    assert_eq!(late.status(), Some(400), "{late}");
    assert!(late.to_string().contains("completed run"), "{late}");

    worker_n.shutdown().await.expect("shutdown");
    worker_n1.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn messages_sent_before_the_task_listens_are_read_in_order() {
    let server = TestServer::start().await;
    let client = server.client();
    let lines = streams::input::<String>("lines");
    let reader = {
        let lines = lines.clone();
        task("reader").run(move |_: Value, ctx| {
            let lines = lines.clone();
            async move {
                let mut got = Vec::new();
                for _ in 0..3 {
                    got.push(lines.once(&ctx, Duration::from_secs(20)).await?.ok());
                }
                Ok(got)
            }
        })
    };
    // Registered but not running yet: the run is queued while the messages arrive.
    let idle = server
        .worker()
        .task(reader.clone())
        .build_id(Some("reader".into()))
        .start()
        .await
        .expect("worker");
    idle.shutdown().await.expect("shutdown");
    let run = client.trigger(&reader, &json!({})).await.expect("trigger");
    for (i, text) in ["one", "two", "three"].iter().enumerate() {
        let sent = lines
            .send(&client, &run.id, &text.to_string(), SendOptions::new())
            .await
            .expect("send");
        assert_eq!(sent.seq, i as i64 + 1);
    }
    let worker = server
        .worker()
        .task(reader.clone())
        .build_id(Some("reader".into()))
        .start()
        .await
        .expect("worker");
    let done = server.wait_for_run(&run.id).await;
    assert_eq!(
        done.output,
        Some(json!(["one", "two", "three"])),
        "{done:?}"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn a_timed_out_wait_consumes_nothing_and_replays_keep_each_message_at_its_call() {
    let server = TestServer::builder().test_clock(true).start().await;
    let client = server.client();
    let answers = streams::input::<u32>("answers");
    let quiz = {
        let answers = answers.clone();
        task("quiz")
            .retry(no_retry_delay(2))
            .run(move |_: Value, ctx| {
                let answers = answers.clone();
                async move {
                    // Times out: nothing was sent yet.
                    let first = answers.wait(&ctx, Duration::from_secs(60)).await?;
                    let second = answers.wait(&ctx, None).await?;
                    if ctx.run.attempt == 1 {
                        return Err(TaskError::msg("fail once after reading"));
                    }
                    let third = answers.wait(&ctx, None).await?;
                    Ok(json!([first.is_ok(), second.ok(), third.ok()]))
                }
            })
    };
    let worker = server
        .worker()
        .task(quiz.clone())
        .start()
        .await
        .expect("worker");
    let run = client.trigger(&quiz, &json!({})).await.expect("trigger");
    server.wait_for_status(&run.id, RunStatus::Waiting).await;
    server.advance_clock(Duration::from_secs(61)).await;
    // The first wait timed out; the run waits again, at its second call.
    run_where(&client, &run.id, "the second wait", |r| {
        r.status == RunStatus::Waiting && r.attempt_count == 1
    })
    .await;
    answers
        .send(&client, &run.id, &7, SendOptions::new())
        .await
        .expect("send");
    // Attempt 1 fails after reading 7; attempt 2 replays both waits (7 again, not a new
    // message) and waits for the next one at its third call.
    run_where(&client, &run.id, "attempt 2 waits", |r| {
        r.status == RunStatus::Waiting && r.attempt_count == 2
    })
    .await;
    answers
        .send(&client, &run.id, &8, SendOptions::new())
        .await
        .expect("send");
    let done = server.wait_for_run(&run.id).await;
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    assert_eq!(done.output, Some(json!([false, 7, 8])));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn an_on_handler_sees_every_message_once_across_a_retry() {
    let server = TestServer::start().await;
    let client = server.client();
    let events = streams::input::<u32>("events");
    let control = streams::input::<String>("control");
    let seen: Arc<Mutex<Vec<Value>>> = Arc::new(Mutex::new(Vec::new()));
    let watcher = {
        let (events, control, seen) = (events.clone(), control.clone(), seen.clone());
        task("watcher")
            .retry(no_retry_delay(2))
            .run(move |_: Value, ctx| {
                let (events, control, seen) = (events.clone(), control.clone(), seen.clone());
                async move {
                    let attempt = ctx.run.attempt;
                    events.on(&ctx, move |n| {
                        let seen = seen.clone();
                        async move { seen.lock().unwrap().push(json!([attempt, n])) }
                    });
                    control.once(&ctx, None).await?;
                    if attempt == 1 {
                        return Err(TaskError::msg("fail after two events"));
                    }
                    control.once(&ctx, None).await?;
                    Ok(())
                }
            })
    };
    let worker = server
        .worker()
        .task(watcher.clone())
        .start()
        .await
        .expect("worker");
    let run = client.trigger(&watcher, &json!({})).await.expect("trigger");
    for n in [1, 2] {
        events
            .send(&client, &run.id, &n, SendOptions::new())
            .await
            .expect("send");
    }
    until("two events handled", &seen, |s| s.len() == 2).await;
    control
        .send(&client, &run.id, &"fail".to_string(), SendOptions::new())
        .await
        .expect("send");
    run_where(&client, &run.id, "attempt 2", |r| r.attempt_count == 2).await;
    events
        .send(&client, &run.id, &3, SendOptions::new())
        .await
        .expect("send");
    until("the third event handled", &seen, |s| s.len() >= 3).await;
    control
        .send(&client, &run.id, &"finish".to_string(), SendOptions::new())
        .await
        .expect("send");
    let done = server.wait_for_run(&run.id).await;
    assert_eq!(done.status, RunStatus::Completed, "{done:?}");
    assert_eq!(
        *seen.lock().unwrap(),
        vec![json!([1, 1]), json!([1, 2]), json!([2, 3])],
        "each event once, in order; attempt 2 starts after the events attempt 1 finished"
    );
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test]
async fn token_completion_guards_in_the_sdk() {
    let server = TestServer::start().await;
    let client = server.client();
    let gate = task("gate").run(|token: String, ctx| async move {
        let got = ctx.wait_for_token::<Value>(&token).await?;
        Ok(got.ok())
    });
    let worker = server
        .worker()
        .task(gate.clone())
        .start()
        .await
        .expect("worker");
    let version = worker.version().to_string();
    let token = client
        .tokens()
        .create(CreateToken::new())
        .await
        .expect("token");
    let run = client.trigger(&gate, &token.id).await.expect("trigger");
    server.wait_for_status(&run.id, RunStatus::Waiting).await;

    let refused = client
        .tokens()
        .complete_with(
            &token.id,
            json!({ "v": 2 }),
            CompleteOptions::new().if_version(IfVersion::predicate(|_| false)),
        )
        .await
        .expect_err("a predicate that says no");
    let m = mismatch(refused);
    assert_eq!(m.actual_version.as_deref(), Some(version.as_str()));
    let refused = client
        .tokens()
        .complete_with(
            &token.id,
            json!({ "v": 2 }),
            CompleteOptions::new().if_version(format!("<{version}")),
        )
        .await
        .expect_err("an expression that does not hold");
    let m = mismatch(refused);
    assert_eq!(m.run_id.as_deref(), Some(run.id.as_str()));
    assert_eq!(m.expected_version, format!("<{version}"));

    let done = client
        .tokens()
        .complete_with(
            &token.id,
            json!({ "v": 1 }),
            CompleteOptions::new().if_version(IfVersion::exact(version.clone())),
        )
        .await
        .expect("a guard that holds");
    assert!(!done.already_completed);
    assert_eq!(done.run_version.as_deref(), Some(version.as_str()));
    let finished = server.wait_for_run(&run.id).await;
    assert_eq!(finished.output, Some(json!({ "v": 1 })));
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}
