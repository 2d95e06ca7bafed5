//! A task declaring a cron schedule: the worker registers it, and each tick runs the task with
//! the schedule's payload.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use trigr_sdk::task;
use trigr_sdk::testkit::TestServer;

#[tokio::test]
async fn a_declared_cron_runs_the_task_on_each_tick() {
    let server = TestServer::builder().test_clock(true).start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let tick = task("every-minute")
        .cron("* * * * *")
        .timezone("Europe/Paris")
        .run(move |payload: Value, _ctx| {
            let tx = tx.clone();
            async move {
                let _ = tx.send(payload);
                Ok(())
            }
        });
    let _worker = server.worker().task(tick).start().await.expect("worker");
    server.advance_clock(Duration::from_secs(60)).await;
    let payload = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a run within 30 s")
        .expect("payload");
    assert_eq!(payload["type"], "DECLARATIVE", "{payload}");
    assert_eq!(payload["timezone"], "Europe/Paris");
    assert!(payload["scheduleId"]
        .as_str()
        .unwrap()
        .starts_with("sched_"));
    assert_eq!(payload["upcoming"].as_array().unwrap().len(), 5);
    assert!(payload.get("lastTimestamp").is_none(), "{payload}");
    let first = payload["timestamp"].as_str().unwrap().to_string();

    server.advance_clock(Duration::from_secs(60)).await;
    let payload = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a second run within 30 s")
        .expect("payload");
    assert_eq!(payload["lastTimestamp"], first.as_str(), "{payload}");
}
