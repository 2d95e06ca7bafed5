//! Run traces from the SDK: a task's attempt and its step reach the server as spans of the
//! run's trace, the step under the attempt and the attempt under the run's root span.

use serde_json::Value;
use trigr_sdk::testkit::{TestServer, KEY};
use trigr_sdk::{task, RunStatus, TaskError};

#[tokio::test]
async fn an_attempt_and_its_steps_are_spans_of_the_run() {
    let server = TestServer::start().await;
    let charge = task("charge").run(|amount: u32, ctx| async move {
        let failed: Result<u32, TaskError> = ctx
            .step("declined", || async {
                Err(TaskError::fatal("card declined"))
            })
            .await;
        assert!(failed.is_err());
        let receipt: u32 = ctx
            .step("charge-card", || async move { Ok(amount * 100) })
            .await?;
        Ok(receipt)
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

    let trace: Value = reqwest::Client::new()
        .get(format!("{}/api/v1/runs/{}/spans", server.url(), handle.id))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("spans")
        .json()
        .await
        .expect("JSON");
    let spans = trace["data"].as_array().expect("data");
    let named = |n: &str| {
        spans
            .iter()
            .find(|s| s["name"] == n)
            .unwrap_or_else(|| panic!("no span {n}: {trace}"))
    };
    let attempt = named("attempt 1");
    assert_eq!(attempt["kind"], "attempt");
    assert_eq!(attempt["status"], "ok");
    assert_eq!(attempt["parentSpanId"], trace["spanId"]);
    let step = named("charge-card");
    assert_eq!(step["kind"], "step");
    assert_eq!(step["parentSpanId"], attempt["spanId"]);
    assert_eq!(step["attributes"]["trigr.position"], 1);
    let declined = named("declined");
    assert_eq!(declined["status"], "error");
    assert_eq!(declined["message"], "card declined");
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}
