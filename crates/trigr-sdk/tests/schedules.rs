//! A task declaring a cron schedule: the worker registers it, and each tick runs the task with
//! the schedule's payload. Schedules made through the client, with their jitter window.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use trigr_sdk::schedules::{ScheduleFilter, ScheduleOptions};
use trigr_sdk::testkit::TestServer;
use trigr_sdk::{task, Error};

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

#[tokio::test]
async fn the_client_manages_schedules_and_their_window() {
    let server = TestServer::builder().test_clock(true).start().await;
    let schedules = server.client().schedules();

    let a = schedules
        .create(
            "hourly-report",
            ScheduleOptions::new("report", "0 * * * *")
                .timezone("Europe/Paris")
                .external_id("u1")
                .window("30m"),
        )
        .await
        .expect("create");
    assert!(a.id.starts_with("sched_"), "{a:?}");
    assert_eq!(a.kind, "IMPERATIVE");
    assert_eq!(a.deduplication_key.as_deref(), Some("hourly-report"));
    assert_eq!(a.external_id.as_deref(), Some("u1"));
    assert_eq!(a.generator.expression, "0 * * * *");
    assert_eq!(a.window.as_deref(), Some("30m"));
    let (nominal, effective) = (a.next_run.unwrap(), a.next_run_effective_at.unwrap());
    assert!(
        effective >= nominal && effective - nominal < chrono::Duration::minutes(30),
        "{a:?}"
    );

    assert_eq!(schedules.retrieve(&a.id).await.expect("retrieve"), a);
    assert_eq!(
        schedules.retrieve("hourly-report").await.expect("by key"),
        a
    );
    let page = schedules.list(1, 10).await.expect("list");
    assert_eq!((page.count, page.total_pages, page.current_page), (1, 1, 1));
    assert_eq!(page.data, vec![a.clone()]);

    let b = schedules
        .update(
            &a.id,
            ScheduleOptions::new("report", "0 * * * *").window("50%"),
        )
        .await
        .expect("update");
    assert_eq!(b.window.as_deref(), Some("50%"));
    assert_eq!(b.timezone, "Europe/Paris", "kept: not given");
    assert_eq!(b.external_id.as_deref(), Some("u1"), "kept: not given");
    // An update without a window keeps it; `no_window` removes it and the tick fires at its
    // cron time.
    let kept = schedules
        .update(&a.id, ScheduleOptions::new("report", "0 * * * *"))
        .await
        .expect("update");
    assert_eq!(kept.window.as_deref(), Some("50%"));
    let c = schedules
        .update(
            &a.id,
            ScheduleOptions::new("report", "0 * * * *")
                .no_window()
                .no_external_id(),
        )
        .await
        .expect("update");
    assert_eq!(c.window, None);
    assert_eq!(c.external_id, None);
    assert_eq!(c.next_run_effective_at, c.next_run);

    let err = schedules
        .update(
            &a.id,
            ScheduleOptions::new("report", "0 * * * *").window("25h"),
        )
        .await
        .expect_err("a window longer than 24h");
    match &err {
        Error::Api {
            status, message, ..
        } => {
            assert_eq!(*status, 422, "{err}");
            assert!(
                message.contains("window") && message.contains("25h"),
                "{err}"
            );
        }
        other => panic!("unexpected error: {other}"),
    }
    assert_eq!(schedules.retrieve(&a.id).await.unwrap().window, None);

    let off = schedules.deactivate(&a.id).await.expect("deactivate");
    assert!(!off.active);
    assert_eq!((off.next_run, off.next_run_effective_at), (None, None));
    let on = schedules.activate(&a.id).await.expect("activate");
    assert!(on.active && on.next_run.is_some());
    assert_eq!(schedules.delete(&a.id).await.expect("delete"), a.id);
    assert!(schedules.retrieve(&a.id).await.is_err());
}

#[tokio::test]
async fn a_windowed_schedule_runs_the_task_with_the_nominal_time() {
    let server = TestServer::builder().test_clock(true).start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<Value>();
    let tick = task("jittered").run(move |payload: Value, _ctx| {
        let tx = tx.clone();
        async move {
            let _ = tx.send(payload);
            Ok(())
        }
    });
    let _worker = server.worker().task(tick).start().await.expect("worker");
    let s = server
        .client()
        .schedules()
        .create(
            "jittered",
            ScheduleOptions::new("jittered", "* * * * *").window("50%"),
        )
        .await
        .expect("create");
    // The first tick fires within half a minute after its cron time; a second past that
    // moment the next tick (a minute after the first) is still ahead.
    let fires_at = s
        .next_run_effective_at
        .expect("the effective time of the first tick");
    let nominal = s.next_run.expect("the first tick");
    assert!(fires_at >= nominal && fires_at < nominal + chrono::Duration::seconds(30));
    server
        .set_clock(fires_at + chrono::Duration::seconds(1))
        .await;
    let payload = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a run within 30 s")
        .expect("payload");
    assert_eq!(payload["type"], "IMPERATIVE", "{payload}");
    assert_eq!(payload["scheduleId"], s.id.as_str());
    let stamp: chrono::DateTime<chrono::Utc> =
        payload["timestamp"].as_str().unwrap().parse().unwrap();
    assert_eq!(Some(stamp), s.next_run, "the payload has the nominal time");
}

#[tokio::test]
async fn a_schedule_made_by_the_client_gives_its_runs_payload_metadata_machine_and_tags() {
    let server = TestServer::builder().test_clock(true).start().await;
    let (tx, mut rx) = mpsc::unbounded_channel::<(Value, Value)>();
    let report = task("report").run(move |payload: Value, ctx| {
        let tx = tx.clone();
        async move {
            let _ = tx.send((payload, serde_json::to_value(ctx.run.tags.clone()).unwrap()));
            Ok(())
        }
    });
    let _worker = server.worker().task(report).start().await.expect("worker");
    let schedules = server.client().schedules();
    let a = schedules
        .create(
            "finance",
            ScheduleOptions::new("report", "* * * * *")
                .payload(serde_json::json!({"reportType": "daily"}))
                .metadata(serde_json::json!({"owner": "finance"}))
                .machine("medium-1x")
                .tags(["finance", "scheduled"]),
        )
        .await
        .expect("create");
    assert_eq!(a.payload, Some(serde_json::json!({"reportType": "daily"})));
    assert_eq!(a.metadata, Some(serde_json::json!({"owner": "finance"})));
    assert_eq!(a.machine.as_deref(), Some("medium-1x"));
    assert_eq!(a.tags, ["finance", "scheduled"]);
    schedules
        .create("other", ScheduleOptions::new("report", "0 0 1 1 *"))
        .await
        .expect("create other");
    schedules.deactivate("other").await.expect("deactivate");

    let tagged = schedules
        .list_filtered(&ScheduleFilter::new().tag("finance"), 1, 10)
        .await
        .expect("list by tag");
    assert_eq!(tagged.count, 1);
    assert_eq!(tagged.data[0].id, a.id);
    let inactive = schedules
        .list_filtered(&ScheduleFilter::new().active(false), 1, 10)
        .await
        .expect("list inactive");
    assert_eq!(inactive.count, 1);
    assert_eq!(inactive.data[0].deduplication_key.as_deref(), Some("other"));
    assert_eq!(schedules.list(1, 10).await.expect("list").count, 2);

    let err = schedules
        .update(
            &a.id,
            ScheduleOptions::new("report", "* * * * *").machine("huge"),
        )
        .await
        .expect_err("an unknown machine");
    assert!(err.to_string().contains("machine"), "{err}");
    let u = schedules
        .update(
            &a.id,
            ScheduleOptions::new("report", "* * * * *")
                .no_metadata()
                .tags(Vec::<String>::new()),
        )
        .await
        .expect("update");
    assert_eq!(u.metadata, None);
    assert!(u.tags.is_empty());
    assert_eq!(u.machine.as_deref(), Some("medium-1x"));
    let u = schedules
        .update(
            &a.id,
            ScheduleOptions::new("report", "* * * * *").tags(["again"]),
        )
        .await
        .expect("update tags");
    assert_eq!(u.tags, ["again"]);

    server.advance_clock(Duration::from_secs(60)).await;
    let (payload, tags) = tokio::time::timeout(Duration::from_secs(30), rx.recv())
        .await
        .expect("a run within 30 s")
        .expect("payload");
    assert_eq!(payload["reportType"], "daily", "{payload}");
    assert_eq!(payload["scheduleId"], a.id.as_str());
    assert!(payload["timestamp"].is_string());
    assert!(
        tags.as_array().unwrap().iter().any(|t| t == "again"),
        "{tags}"
    );
}
