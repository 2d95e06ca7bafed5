//! The OpenAPI document at `GET /api/openapi.json`: served without a credential, the same
//! bytes on every call, listing the routes the server serves. (Its conformance to the
//! server's answers is what `.ci/schemathesis` checks.)

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn the_document_is_served_without_a_credential() {
    let server = TestServer::start().await;
    let first = server
        .send(Req::new("GET", "/api/openapi.json").no_key())
        .await;
    assert_eq!(first.status, 200, "{}", first.text);
    assert_eq!(
        first.header("content-type").as_deref(),
        Some("application/json")
    );
    let doc = &first.json;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");
    for (path, method) in [
        ("/healthz", "get"),
        ("/api/v1/tasks/{task_id}/trigger", "post"),
        ("/api/v1/worker/dequeue", "post"),
        ("/api/v1/worker/runs/{run_id}/complete", "post"),
        ("/api/v1/runs/{run_id}/events", "get"),
        ("/realtime/v1/streams/{run_id}/{target}/{key}", "head"),
        ("/api/v1/packets/{path}", "get"),
    ] {
        assert!(doc["paths"][path][method].is_object(), "{method} {path}");
    }
    let again = server
        .send(Req::new("GET", "/api/openapi.json").no_key())
        .await;
    assert_eq!(again.text, first.text);
}

#[tokio::test]
async fn a_documented_route_answers_as_documented() {
    let server = TestServer::start().await;
    let doc = server
        .send(Req::new("GET", "/api/openapi.json").no_key())
        .await
        .json;
    let trigger = &doc["paths"]["/api/v1/tasks/{task_id}/trigger"]["post"];
    assert_eq!(trigger["operationId"], "triggerTask");
    let (status, body) = server
        .post("/api/v1/tasks/send-email/trigger", json!({"payload": {}}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(trigger["responses"]["200"]["links"]["RetrieveRun"].is_object());
    let missing = server.send(Req::new("GET", "/api/v3/runs/run_nope")).await;
    assert_eq!(missing.status, 404);
    let documented = &doc["paths"]["/api/v3/runs/{run_id}"]["get"]["responses"];
    assert!(documented["404"].is_object(), "{documented}");
}
