//! Batches from the Rust client: trigger from outside a task, retrieve with counts, cancel
//! the pending or running runs, statistics (mean duration, success rate, errors grouped); and
//! cancelling many runs by id with an outcome each; on both stores, with bad input.

mod common;

use common::*;
use serde_json::json;
use trigr_sdk::batches::{BatchCancel, BatchItem};
use trigr_sdk::{Client, TriggerOptions};

fn client(server: &TestServer) -> Client {
    Client::new(&server.base_url, DEV_KEY).expect("client")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn trigger_retrieve_and_cancel_a_batch() {
    let server = TestServer::start().await;
    let version = server.deploy(json!([{"id": "a"}])).await;
    let batches = client(&server).batches();
    let items = (0..3)
        .map(|n| BatchItem::new("a", &json!({ "n": n }), TriggerOptions::new()))
        .collect::<trigr_sdk::Result<Vec<_>>>()
        .expect("items");
    let made = batches.trigger(items).await.expect("trigger");
    assert!(made.sealed);
    assert_eq!(made.items_accepted, 3);
    let b = batches.retrieve(&made.id).await.expect("retrieve");
    assert_eq!(
        (
            b.total_runs,
            b.completed_runs,
            b.failed_runs,
            b.running_runs
        ),
        (3, 0, 0, 0)
    );
    assert_eq!(b.status, "PROCESSING");

    // One run finishes, one runs, one waits.
    let got = server.dequeue(&version, 1, 0).await;
    assert_eq!(server.complete_ok(&got[0], json!(1)).await.0, 200);
    let running = server.dequeue(&version, 1, 0).await;
    assert_eq!(running.len(), 1);
    let b = batches.retrieve(&made.id).await.expect("retrieve");
    assert_eq!(
        (
            b.total_runs,
            b.completed_runs,
            b.failed_runs,
            b.running_runs
        ),
        (3, 1, 0, 1)
    );

    // Only the pending one is cancelled; the running one goes on.
    let c = batches
        .cancel(&made.id, BatchCancel::pending_only())
        .await
        .expect("cancel pending");
    assert_eq!((c.canceled.len(), c.skipped), (1, 1), "{c:?}");
    let b = batches.retrieve(&made.id).await.expect("retrieve");
    assert_eq!((b.failed_runs, b.running_runs), (1, 1));
    // Then the running one.
    let c = batches
        .cancel(&made.id, BatchCancel::all())
        .await
        .expect("cancel all");
    assert_eq!(c.canceled, [running[0]["runId"].as_str().unwrap()]);
    let b = batches.retrieve(&made.id).await.expect("retrieve");
    assert_eq!(
        (
            b.total_runs,
            b.completed_runs,
            b.failed_runs,
            b.running_runs
        ),
        (3, 1, 2, 0)
    );
    assert_ne!(b.status, "PROCESSING");
    // Nothing is left to cancel.
    let c = batches
        .cancel(&made.id, BatchCancel::all())
        .await
        .expect("again");
    assert_eq!((c.canceled.len(), c.skipped), (0, 0));

    // Bad input.
    let (s, v) = server
        .post("/api/v1/batches/batch_missing/cancel", json!({}))
        .await;
    assert_error(s, &v, &[404], &["not found"], "unknown batch");
    let (s, v) = server
        .post(
            &format!("/api/v1/batches/{}/cancel", made.id),
            json!({"cancelPending": "yes"}),
        )
        .await;
    assert_error(s, &v, &[400], &["cancelPending"], "not a boolean");
    let r = server
        .send(
            Req::new("POST", &format!("/api/v1/batches/{}/cancel", made.id))
                .no_key()
                .json(&json!({})),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
    let empty = batches.trigger(Vec::new()).await;
    assert!(empty.is_err(), "an empty batch is refused before sending");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancel_many_runs_with_an_outcome_each() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "a"}])).await;
    let r1 = server.trigger("a", json!({}), json!({})).await;
    let r2 = server.trigger("a", json!({}), json!({})).await;
    let outcomes = client(&server)
        .cancel_runs(&[&r1, &r2, "run_missing", &r1])
        .await
        .expect("cancel");
    assert_eq!(outcomes.len(), 4);
    assert_eq!(outcomes[0].status.as_deref(), Some("CANCELED"));
    assert!(!outcomes[0].already_finished);
    assert_eq!(outcomes[1].status.as_deref(), Some("CANCELED"));
    assert_eq!(outcomes[2].id, "run_missing");
    assert!(outcomes[2].error.as_deref().unwrap().contains("not found"));
    assert!(outcomes[3].already_finished, "{:?}", outcomes[3]);
    assert_eq!(server.status(&r2).await, "CANCELED");

    let too_many: Vec<String> = (0..101).map(|i| format!("run_{i}")).collect();
    for (body, what) in [
        (json!({"runIds": []}), "no ids"),
        (json!({"runIds": too_many}), "101 ids"),
        (json!({"runIds": ["run_\u{0}"]}), "NUL"),
        (json!({"runIds": "run_x"}), "not a list"),
        (json!({}), "missing"),
    ] {
        let (s, v) = server.post("/api/v1/runs/cancel", body).await;
        assert_error(s, &v, &[400], &[], what);
    }
}

/// Statistics: counts by outcome, the mean duration of finished runs (on the test clock), the
/// success rate over finished runs, and the failures grouped by error name, largest first; a
/// batch of another environment is not found, and a token scoped to another batch refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn statistics_group_errors_and_rate_success() {
    let server = TestServer::start_with_clock().await;
    let version = server
        .deploy(json!([{"id": "a", "retry": {"maxAttempts": 1}}]))
        .await;
    let batches = client(&server).batches();
    let items = (0..7)
        .map(|n| BatchItem::new("a", &json!({ "n": n }), TriggerOptions::new()))
        .collect::<trigr_sdk::Result<Vec<_>>>()
        .expect("items");
    let made = batches.trigger(items).await.expect("trigger");

    let s = batches.statistics(&made.id).await.expect("statistics");
    assert_eq!((s.total_runs, s.pending_runs, s.running_runs), (7, 7, 0));
    assert_eq!((s.success_rate, s.average_duration), (None, None));
    assert!(s.error_breakdown.is_empty());

    // Six start; each takes 1 s, 2 s, … on the test clock before it ends.
    let got = server.dequeue(&version, 6, 0).await;
    assert_eq!(got.len(), 6);
    let outcomes = [
        None,
        None,
        Some("CardDeclined"),
        Some("CardDeclined"),
        Some("Timeout"),
        None,
    ];
    for (run, outcome) in got.iter().zip(outcomes).take(5) {
        server.advance(1000).await;
        let (status, v) = match outcome {
            None => server.complete_ok(run, json!({})).await,
            Some(name) => {
                let error = json!({"error": {"message": "no", "name": name}});
                server.complete_err_with(run, "no", error).await
            }
        };
        assert_eq!(status, 200, "{v}");
    }
    // The sixth is cancelled while it runs; the seventh never started.
    let sixth = got[5]["runId"].as_str().unwrap();
    assert_eq!(server.cancel(sixth).await.0, 200);

    let s = batches.statistics(&made.id).await.expect("statistics");
    assert_eq!(s.status, "PROCESSING");
    assert_eq!(
        (
            s.completed_runs,
            s.failed_runs,
            s.canceled_runs,
            s.running_runs,
            s.pending_runs
        ),
        (2, 3, 1, 0, 1)
    );
    // Finished runs that started ran 1, 2, 3, 4, 5 and 5 seconds.
    assert_eq!(s.average_duration, Some(20_000.0 / 6.0));
    assert_eq!(s.success_rate, Some(2.0 / 6.0));
    let groups: Vec<(&str, u64)> = s
        .error_breakdown
        .iter()
        .map(|g| (g.name.as_str(), g.count))
        .collect();
    assert_eq!(groups, [("CardDeclined", 2), ("Timeout", 1)]);

    let (status, v) = server
        .get(&format!("/api/v1/batches/{}/statistics", made.id))
        .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["errorBreakdown"][0],
        json!({"name": "CardDeclined", "count": 2})
    );
    assert_eq!(v["successRate"], json!(2.0 / 6.0));

    let (status, v) = server
        .get_as(PROD_KEY, &format!("/api/v1/batches/{}/statistics", made.id))
        .await;
    assert_error(
        status,
        &v,
        &[404],
        &["not found"],
        "another environment's batch",
    );
    let (status, v) = server.get("/api/v1/batches/batch_nope/statistics").await;
    assert_error(status, &v, &[404], &["not found"], "an unknown batch");
}

/// A cancel may say why: every run it cancels keeps the reason as its error; a bad reason is a
/// 400 that cancels nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cancel_reason_is_kept_on_the_runs_it_cancels() {
    let server = TestServer::start().await;
    server.deploy(json!([{"id": "a"}])).await;
    let c = client(&server);
    let items = (0..2)
        .map(|n| BatchItem::new("a", &json!({ "n": n }), TriggerOptions::new()))
        .collect::<trigr_sdk::Result<Vec<_>>>()
        .expect("items");
    let made = c.batches().trigger(items).await.expect("trigger");
    let path = format!("/api/v1/batches/{}/cancel", made.id);
    let long = "x".repeat(1001);
    for (body, needle) in [
        (json!({"reason": ""}), "reason"),
        (json!({"reason": "   "}), "reason"),
        (json!({"reason": long}), "1000"),
        (json!({"reason": "a\u{0}b"}), "NUL"),
        (json!({"reason": "a\u{1b}b"}), "control"),
        (json!({"reason": 7}), "reason"),
    ] {
        let (status, v) = server.post(&path, body.clone()).await;
        assert_error(status, &v, &[400, 422], &[needle], &format!("{body}"));
    }
    let b = c.batches().retrieve(&made.id).await.expect("retrieve");
    assert_eq!(b.failed_runs, 0, "a refused cancel cancels nothing");

    let done = c
        .batches()
        .cancel(
            &made.id,
            BatchCancel::all().reason("Superseded by the 9:00 import"),
        )
        .await
        .expect("cancel");
    assert_eq!(done.canceled.len(), 2);
    for id in &done.canceled {
        let run = server.run(id).await;
        assert_eq!(run["status"], json!("CANCELED"), "{run}");
        assert_eq!(
            run["error"],
            json!({"message": "Superseded by the 9:00 import", "name": "CancelledError"}),
            "{run}"
        );
    }

    let lone = server.trigger("a", json!({}), json!({})).await;
    let outcomes = c
        .cancel_runs_with(&[&lone], Some("Duplicate of run_x"))
        .await
        .expect("cancel runs");
    assert_eq!(outcomes.len(), 1);
    let run = server.run(&lone).await;
    assert_eq!(
        run["error"]["message"],
        json!("Duplicate of run_x"),
        "{run}"
    );
    let (status, v) = server
        .post(
            "/api/v1/runs/cancel",
            json!({"runIds": [lone], "reason": ""}),
        )
        .await;
    assert_error(status, &v, &[400], &["reason"], "an empty reason");
}
