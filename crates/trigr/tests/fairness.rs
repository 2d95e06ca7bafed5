//! No environment can starve another: while one environment has a deep backlog and busy
//! workers, another environment's run is still handed out at once.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{TestServer, DEV_KEY, PROD_KEY};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_busy_environment_does_not_starve_another() {
    let server = Arc::new(TestServer::start().await);
    let dev = server
        .deploy_as(DEV_KEY, json!([{"id": "bulk"}]), true)
        .await;
    let prod = server
        .deploy_as(PROD_KEY, json!([{"id": "urgent"}]), true)
        .await;

    // A deep dev backlog: 1,000 runs in two batches.
    for _ in 0..2 {
        let (s, v) = server
            .post(
                "/api/v3/batches",
                json!({"runCount": 500, "taskIdentifiers": ["bulk"]}),
            )
            .await;
        assert_eq!(s, 202, "{v}");
        let id = v["id"].as_str().unwrap().to_string();
        let lines: String = (0..500)
            .map(|i| format!("{}\n", json!({"index": i, "task": "bulk", "payload": "{}", "options": {"payloadType": "application/json"}})))
            .collect();
        let resp = server
            .http
            .post(server.url(&format!("/api/v3/batches/{id}/items")))
            .bearer_auth(DEV_KEY)
            .header("content-type", "application/x-ndjson")
            .body(lines)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 200);
    }

    // Four dev workers drain the backlog as fast as they can.
    let stop = Arc::new(AtomicBool::new(false));
    let drained = Arc::new(AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..4 {
        let (server, dev, stop, drained) =
            (server.clone(), dev.clone(), stop.clone(), drained.clone());
        workers.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                let runs = server.dequeue(&dev, 20, 100).await;
                if runs.is_empty() {
                    continue;
                }
                let completions: Vec<_> = runs
                    .iter()
                    .map(|r| json!({"runId": r["runId"], "lease": r["lease"], "ok": true}))
                    .collect();
                let (s, _) = server
                    .post(
                        "/api/v1/worker/complete",
                        json!({"completions": completions}),
                    )
                    .await;
                assert_eq!(s, 200);
                drained.fetch_add(runs.len(), Ordering::Relaxed);
            }
        }));
    }

    // Meanwhile a prod worker long-polls, and one prod run is triggered.
    let waiting = {
        let (server, prod) = (server.clone(), prod.clone());
        tokio::spawn(async move {
            let (s, v) = server
                .call_as(
                    PROD_KEY,
                    "POST",
                    "/api/v1/worker/dequeue",
                    Some(json!({"version": prod, "maxRuns": 1, "waitMs": 10000})),
                )
                .await;
            assert_eq!(s, 200, "{v}");
            (
                Instant::now(),
                v["runs"].as_array().cloned().unwrap_or_default(),
            )
        })
    };
    // Let the dev workers get going first.
    while drained.load(Ordering::Relaxed) < 40 {
        tokio::task::yield_now().await;
    }
    let sent = Instant::now();
    let (s, v) = server
        .call_as(
            PROD_KEY,
            "POST",
            "/api/v1/tasks/urgent/trigger",
            Some(json!({"payload": "{}", "options": {"payloadType": "application/json"}})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (arrived, runs) = waiting.await.unwrap();
    assert_eq!(runs.len(), 1, "the prod worker got its run");
    assert_eq!(runs[0]["runId"], v["id"]);
    let waited = arrived.saturating_duration_since(sent);
    let left = 1000 - drained.load(Ordering::Relaxed);
    assert!(
        waited < Duration::from_secs(2),
        "the prod run waited {waited:?} behind the dev backlog ({left} dev runs left)"
    );
    assert!(
        left > 0,
        "the dev backlog was still being worked on while prod was served"
    );
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        w.await.unwrap();
    }
}
