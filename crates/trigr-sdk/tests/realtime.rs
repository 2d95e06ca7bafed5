//! Realtime subscriptions from the Rust client against a real in-process server: a run's
//! statuses and metadata as they happen, resuming after an event id, tag feeds.

use std::time::Duration;

use futures::StreamExt;
use serde_json::{json, Value};
use trigr_sdk::realtime::{EventKind, RunEvent, SubscribeOptions, Subscription};
use trigr_sdk::testkit::TestServer;
use trigr_sdk::{task, TriggerOptions};

/// The next event, failing the test after 30 s instead of hanging.
async fn next(events: &mut Subscription) -> Option<RunEvent> {
    tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("an event within 30 s")
        .map(|e| e.expect("a good event"))
}

async fn all(mut events: Subscription) -> Vec<RunEvent> {
    let mut out = Vec::new();
    while let Some(e) = next(&mut events).await {
        out.push(e);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_run_follows_statuses_and_metadata_until_it_ends() {
    let server = TestServer::start().await;
    let work = task("progress").run(|_: Value, ctx| async move {
        ctx.metadata.set("step", 1).await?;
        ctx.metadata.set("step", 2).await?;
        Ok(json!({"done": true}))
    });
    let client = server.client();
    let handle = client.trigger(&work, &json!({})).await.expect("trigger");
    // No worker yet, so the snapshot comes before anything happens.
    let mut events = client.subscribe_to_run(&handle.id);
    let first = next(&mut events).await.unwrap();
    assert_eq!(first.kind, EventKind::Snapshot);
    assert_eq!(first.run.as_ref().unwrap().status, "PENDING_VERSION");
    let worker = server
        .worker()
        .task(work.clone())
        .start()
        .await
        .expect("worker");
    let rest = all(events).await;
    let kinds: Vec<EventKind> = rest.iter().map(|e| e.kind).collect();
    assert_eq!(kinds.last(), Some(&EventKind::End), "{rest:?}");
    let statuses: Vec<&str> = rest
        .iter()
        .filter(|e| e.kind == EventKind::Status)
        .map(|e| e.run.as_ref().unwrap().status.as_str())
        .collect();
    // Queued when the worker registers its version, then handed to it.
    assert_eq!(statuses.first(), Some(&"QUEUED"));
    assert_eq!(statuses.last(), Some(&"COMPLETED"));
    let steps: Vec<Value> = rest
        .iter()
        .filter(|e| e.kind == EventKind::Metadata)
        .map(|e| e.run.as_ref().unwrap().metadata["step"].clone())
        .collect();
    assert_eq!(steps, [json!(1), json!(2)]);
    let done = rest
        .iter()
        .rev()
        .find(|e| e.kind == EventKind::Status)
        .unwrap();
    let run = done.run.as_ref().unwrap();
    assert_eq!(run.output, Some(json!({"done": true})));
    assert!(run.is_final);
    let ids: Vec<i64> = rest.iter().map(|e| e.id).collect();
    assert!(
        ids[..ids.len() - 1].windows(2).all(|w| w[0] < w[1]),
        "{ids:?}"
    );

    // Resuming after any event gives exactly the events after it.
    let middle = rest[1].id;
    let resumed = all(client.subscribe_to_run_with(
        &handle.id,
        SubscribeOptions {
            last_event_id: Some(middle),
            ..Default::default()
        },
    ))
    .await;
    assert_eq!(resumed, rest[2..].to_vec());
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subscribe_to_runs_with_tag_sees_new_runs() {
    let server = TestServer::start().await;
    let client = server.client();
    let mut events = client.subscribe_to_runs_with_tag("vip");
    let noop = task("noop").run(|_: Value, _ctx| async move { Ok(json!(null)) });
    let a = client
        .trigger_with(&noop, &json!({}), TriggerOptions::new().tag("vip"))
        .await
        .unwrap();
    client
        .trigger_with(&noop, &json!({}), TriggerOptions::new().tag("other"))
        .await
        .unwrap();
    let b = client
        .trigger_with(&noop, &json!({}), TriggerOptions::new().tag("vip"))
        .await
        .unwrap();
    let first = next(&mut events).await.unwrap();
    let second = next(&mut events).await.unwrap();
    let ids: Vec<&str> = [&first, &second]
        .iter()
        .map(|e| e.run.as_ref().unwrap().id.as_str())
        .collect();
    assert_eq!(ids, [a.id.as_str(), b.id.as_str()]);
    // The stream opens on first use: the runs come as snapshots (oldest first) or as
    // creations, whichever happened first.
    assert!(first
        .run
        .as_ref()
        .unwrap()
        .tags
        .contains(&"vip".to_string()));
    assert!(matches!(
        first.kind,
        EventKind::Status | EventKind::Snapshot
    ));
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_run_is_an_error_not_a_retry_loop() {
    let server = TestServer::start().await;
    let mut events = server.client().subscribe_to_run("run_nope");
    let err = tokio::time::timeout(Duration::from_secs(30), events.next())
        .await
        .expect("an answer")
        .expect("one item")
        .expect_err("an error");
    assert!(err.to_string().contains("404"), "{err}");
    assert!(events.next().await.is_none());
    server.stop().await;
}
