//! Run traces and OpenTelemetry: a run's trace id (joined to the caller's by `traceparent`,
//! inherited by child runs), the spans a worker reports, OTLP/HTTP JSON intake keyed to runs,
//! and OTLP export of the server's and the runs' spans to a receiver the test runs.

mod common;

use std::time::Duration;

use common::*;
use serde_json::{json, Value};

const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

fn traceparent() -> String {
    format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01")
}

async fn trigger_with(server: &TestServer, task: &str, headers: &[(&str, &str)]) -> String {
    let mut req =
        Req::new("POST", &format!("/api/v1/tasks/{task}/trigger")).json(&json!({"payload": {}}));
    for (k, v) in headers {
        req = req.header(k, v);
    }
    let r = server.send(req).await;
    assert_eq!(r.status, 200, "{}", r.json);
    r.json["id"].as_str().unwrap().to_string()
}

fn is_hex(v: &Value, len: usize) -> bool {
    v.as_str().is_some_and(|s| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn span(id: &str, parent: Option<&str>, name: &str, kind: &str) -> Value {
    let mut s = json!({"spanId": id, "name": name, "kind": kind,
        "startTimeUnixNano": "1764190800000000000", "endTimeUnixNano": "1764190800250000000",
        "status": "ok", "attributes": {"step.position": 0}});
    if let Some(p) = parent {
        s["parentSpanId"] = json!(p);
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_carry_trace_ids_joined_by_traceparent_and_inherited_by_children() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;

    let joined = trigger_with(&server, "t", &[("traceparent", &traceparent())]).await;
    let run = server.run(&joined).await;
    assert_eq!(run["traceId"], json!(CALLER_TRACE), "{run}");
    let (s, trace) = server.get(&format!("/api/v1/runs/{joined}/spans")).await;
    assert_eq!(s, 200, "{trace}");
    assert_eq!(trace["traceId"], json!(CALLER_TRACE));
    assert_eq!(trace["parentSpanId"], json!(CALLER_SPAN));
    assert!(is_hex(&trace["spanId"], 16), "{trace}");
    assert_eq!(trace["data"], json!([]));

    // An invalid traceparent is ignored, not refused: the run starts a trace of its own.
    let invalid = trigger_with(&server, "t", &[("traceparent", "00-zz-not-a-trace-01")]).await;
    let own = trigger_with(&server, "t", &[]).await;
    for id in [&invalid, &own] {
        let (_, trace) = server.get(&format!("/api/v1/runs/{id}/spans")).await;
        assert!(is_hex(&trace["traceId"], 32), "{trace}");
        assert_ne!(trace["traceId"], json!(CALLER_TRACE));
        assert!(trace.get("parentSpanId").is_none(), "{trace}");
    }

    // A child run joins its parent's trace, under the parent's root span.
    let (_, parent_trace) = server.get(&format!("/api/v1/runs/{own}/spans")).await;
    let child = server
        .trigger("t", json!({}), json!({"parentRunId": own}))
        .await;
    let (_, child_trace) = server.get(&format!("/api/v1/runs/{child}/spans")).await;
    assert_eq!(child_trace["traceId"], parent_trace["traceId"]);
    assert_eq!(child_trace["parentSpanId"], parent_trace["spanId"]);
    assert_ne!(child_trace["spanId"], parent_trace["spanId"]);

    // The list carries it too.
    let listed = server.list_all("").await;
    let item = listed.iter().find(|r| r["id"] == json!(joined)).unwrap();
    assert_eq!(item["traceId"], json!(CALLER_TRACE));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn worker_spans_are_kept_with_the_run_and_checked() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let path = format!("/api/v1/worker/runs/{id}/spans");
    let spans = json!([
        span("a000000000000001", None, "attempt 1", "attempt"),
        span(
            "a000000000000002",
            Some("a000000000000001"),
            "charge-card",
            "step"
        ),
    ]);
    let (s, v) = server
        .post(&path, json!({"lease": run["lease"], "spans": spans}))
        .await;
    assert_eq!((s, v.clone()), (200, json!({"accepted": 2, "dropped": 0})));

    let (_, trace) = server.get(&format!("/api/v1/runs/{id}/spans")).await;
    let data = trace["data"].as_array().unwrap();
    assert_eq!(data.len(), 2, "{trace}");
    assert_eq!(data[0]["name"], json!("attempt 1"));
    assert_eq!(
        data[0]["parentSpanId"], trace["spanId"],
        "under the run's root span"
    );
    assert_eq!(data[1]["parentSpanId"], json!("a000000000000001"));
    assert_eq!(data[1]["kind"], json!("step"));
    assert_eq!(data[1]["durationMs"], json!(250.0));
    assert_eq!(data[1]["startTimeUnixNano"], json!("1764190800000000000"));
    assert_eq!(data[1]["attributes"], json!({"step.position": 0}));

    // Mistakes are 400s naming the span, and store nothing.
    let mut bad = span("a000000000000003", None, "x", "dance");
    let (s, v) = server
        .post(&path, json!({"lease": run["lease"], "spans": [span("a000000000000004", None, "ok", "step"), bad.clone()]}))
        .await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"].as_str().unwrap().contains("spans[1]"), "{v}");
    bad["kind"] = json!("step");
    bad["endTimeUnixNano"] = json!("1");
    let (s, _) = server
        .post(&path, json!({"lease": run["lease"], "spans": [bad]}))
        .await;
    assert_eq!(s, 400);
    let (s, _) = server
        .post(&path, json!({"lease": run["lease"], "spans": [span("a000000000000005", None, "x", "step")], "extra": null}))
        .await;
    assert_eq!(s, 200);
    let mut null_parent = span("a000000000000006", None, "x", "step");
    null_parent["parentSpanId"] = Value::Null;
    let (s, _) = server
        .post(
            &path,
            json!({"lease": run["lease"], "spans": [null_parent]}),
        )
        .await;
    assert_eq!(
        s, 400,
        "null is refused where the document says not nullable"
    );
    let (_, trace) = server.get(&format!("/api/v1/runs/{id}/spans")).await;
    assert_eq!(trace["data"].as_array().unwrap().len(), 3);

    // A lease that is not the run's is refused; other environments see no such run.
    let (s, v) = server
        .post(&path, json!({"lease": "lease_other", "spans": []}))
        .await;
    assert_eq!(s, 409, "{v}");
    let (s, _) = server
        .get_as(STAGING_KEY, &format!("/api/v1/runs/{id}/spans"))
        .await;
    assert_eq!(s, 404);
}

fn otlp_span(trace_id: &str, span_id: &str, name: &str, attrs: Value) -> Value {
    json!({"traceId": trace_id, "spanId": span_id, "name": name, "kind": 3,
        "startTimeUnixNano": "1764190800000000000", "endTimeUnixNano": "1764190800100000000",
        "attributes": attrs, "status": {"code": 2, "message": "boom"}})
}

async fn otlp(server: &TestServer, key: &str, path: &str, body: &Value) -> Resp {
    server
        .send(Req::new("POST", path).key(key).json(body))
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn otlp_intake_keys_spans_and_logs_to_runs() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let run_attr = |key: &str, id: &str| json!([{"key": key, "value": {"stringValue": id}}]);

    let traces = json!({"resourceSpans": [
        {"resource": {"attributes": run_attr("ctx.run.id", &id)}, "scopeSpans": [{"spans": [
            otlp_span(CALLER_TRACE, "b000000000000001", "fetch", json!([{"key": "http.request.method", "value": {"stringValue": "GET"}}])),
            otlp_span(CALLER_TRACE, "b000000000000002", "compute", json!([{"key": "n", "value": {"intValue": "3"}}])),
        ]}]},
        {"scopeSpans": [{"spans": [
            otlp_span(CALLER_TRACE, "b000000000000003", "own attribute", run_attr("trigr.run_id", &id)),
            otlp_span(CALLER_TRACE, "b000000000000004", "no run", json!([])),
            otlp_span(CALLER_TRACE, "b000000000000005", "unknown run", run_attr("trigr.run_id", "run_nope")),
        ]}]},
    ]});
    let r = otlp(&server, DEV_KEY, "/otel/v1/traces", &traces).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(
        r.json["partialSuccess"]["rejectedSpans"],
        json!("2"),
        "{}",
        r.json
    );
    let (_, trace) = server.get(&format!("/api/v1/runs/{id}/spans")).await;
    let data = trace["data"].as_array().unwrap();
    let names: Vec<&str> = data.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["fetch", "compute", "own attribute"]);
    assert_eq!(data[0]["kind"], json!("http"));
    assert_eq!(data[1]["attributes"], json!({"n": 3}));
    assert_eq!(data[1]["status"], json!("error"));
    assert_eq!(data[1]["message"], json!("boom"));
    assert_eq!(data[1]["parentSpanId"], trace["spanId"]);

    // Another environment's key cannot add to this run.
    let r = otlp(&server, STAGING_KEY, "/otel/v1/traces", &traces).await;
    assert_eq!(
        r.json["partialSuccess"]["rejectedSpans"],
        json!("5"),
        "{}",
        r.json
    );

    let logs = json!({"resourceLogs": [{"resource": {"attributes": run_attr("ctx.run.id", &id)}, "scopeLogs": [{"logRecords": [
        {"timeUnixNano": "1764190800000000000", "severityNumber": 13, "body": {"stringValue": "careful"}, "attributes": [{"key": "k", "value": {"boolValue": true}}]},
        {"severityNumber": 9, "body": {"stringValue": "hello"}},
    ]}]}, {"scopeLogs": [{"logRecords": [{"body": {"stringValue": "nobody's"}}]}]}]});
    let r = otlp(&server, DEV_KEY, "/otel/v1/logs", &logs).await;
    assert_eq!(r.status, 200, "{}", r.json);
    assert_eq!(r.json["partialSuccess"]["rejectedLogRecords"], json!("1"));
    let (_, lines) = server.get(&format!("/api/v1/runs/{id}/logs")).await;
    let lines = lines["data"].as_array().unwrap();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["level"], json!("warn"));
    assert_eq!(lines[0]["message"], json!("careful"));
    assert_eq!(lines[0]["fields"], json!({"k": true}));
    assert_eq!(lines[0]["time"], json!("2025-11-26T21:00:00.000Z"));
    assert_eq!(lines[1]["level"], json!("info"));

    let metrics = json!({"resourceMetrics": [{"scopeMetrics": [{"metrics": [{"name": "m", "sum": {"dataPoints": [{"asInt": "1"}]}}]}]}]});
    let r = otlp(&server, DEV_KEY, "/otel/v1/metrics", &metrics).await;
    assert_eq!((r.status, r.json.clone()), (200, json!({})));

    // Protobuf is refused naming JSON; broken JSON is a 400; no key is a 401.
    let r = server
        .send(
            Req::new("POST", "/otel/v1/traces")
                .key(DEV_KEY)
                .raw_body("application/x-protobuf", vec![0x0a, 0x00]),
        )
        .await;
    assert_eq!(r.status, 415);
    assert!(
        r.json["error"]
            .as_str()
            .unwrap()
            .contains("application/json"),
        "{}",
        r.json
    );
    let r = server
        .send(
            Req::new("POST", "/otel/v1/logs")
                .key(DEV_KEY)
                .raw_body("application/json", "{\"resourceLogs\": ["),
        )
        .await;
    assert_eq!(r.status, 400, "{}", r.json);
    assert!(r.json["error"].is_string());
    let r = server
        .send(Req::new("POST", "/otel/v1/traces").no_key().json(&traces))
        .await;
    assert_eq!(r.status, 401);
}

/// An OTLP/HTTP receiver: every JSON export it gets goes down the channel.
async fn receiver() -> (String, tokio::sync::mpsc::UnboundedReceiver<Value>) {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let tx = tx.clone();
            async move {
                let v: Value = serde_json::from_slice(&body).expect("OTLP JSON");
                let _ = tx.send(v);
                axum::Json(json!({}))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), rx)
}

/// Every span of an export with its service name.
fn spans_of(export: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for rs in export["resourceSpans"].as_array().into_iter().flatten() {
        let service = rs["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|kv| kv["key"] == json!("service.name"))
            .and_then(|kv| kv["value"]["stringValue"].as_str())
            .unwrap_or("")
            .to_string();
        for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
            for s in ss["spans"].as_array().into_iter().flatten() {
                out.push((service.clone(), s.clone()));
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exports_the_servers_spans_and_the_runs_spans_over_otlp() {
    let (endpoint, mut exports) = receiver().await;
    let env = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json"),
        ("OTEL_SERVICE_NAME", "trigr-under-test"),
        ("OTEL_BSP_SCHEDULE_DELAY", "50"),
    ];
    let server = TestServer::start_with(Options {
        env: env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..Default::default()
    })
    .await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = trigger_with(&server, "t", &[("traceparent", &traceparent())]).await;
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let (s, v) = server
        .post(
            &format!("/api/v1/worker/runs/{id}/spans"),
            json!({"lease": run["lease"], "spans": [span("c000000000000001", None, "attempt 1", "attempt"), span("c000000000000002", Some("c000000000000001"), "charge-card", "step")]}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let (s, v) = server.complete_ok(&run, json!({"ok": true})).await;
    assert_eq!(s, 200, "{v}");

    // Wait for every span the test expects, each export as it arrives.
    let wanted = [
        "POST /api/v1/tasks/{task_id}/trigger",
        "trigger",
        "dequeue",
        "complete",
        "store.write",
        "attempt 1",
        "charge-card",
        "run t",
    ];
    let mut seen: Vec<(String, Value)> = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !wanted
        .iter()
        .all(|w| seen.iter().any(|(_, s)| s["name"] == json!(w)))
    {
        let export = tokio::time::timeout_at(deadline, exports.recv())
            .await
            .unwrap_or_else(|_| {
                panic!(
                    "spans missing after 30 s; got {:?}",
                    seen.iter()
                        .map(|(_, s)| s["name"].clone())
                        .collect::<Vec<_>>()
                )
            })
            .expect("receiver open");
        seen.extend(spans_of(&export));
    }
    let named = |name: &str| {
        seen.iter()
            .find(|(_, s)| s["name"] == json!(name))
            .unwrap()
            .clone()
    };
    let (service, http) = named("POST /api/v1/tasks/{task_id}/trigger");
    assert_eq!(service, "trigr-under-test");
    assert_eq!(
        http["traceId"],
        json!(CALLER_TRACE),
        "the request joins the caller's trace"
    );
    assert_eq!(http["parentSpanId"], json!(CALLER_SPAN));
    let (_, trigger) = named("trigger");
    assert_eq!(trigger["traceId"], json!(CALLER_TRACE));
    assert_eq!(
        trigger["parentSpanId"], http["spanId"],
        "the engine's span is the request's child"
    );
    let (_, attempt) = named("attempt 1");
    let (_, step) = named("charge-card");
    assert_eq!(
        attempt["traceId"],
        json!(CALLER_TRACE),
        "run spans keep the run's trace"
    );
    assert_eq!(attempt["spanId"], json!("c000000000000001"));
    let (_, root) = server.get(&format!("/api/v1/runs/{id}/spans")).await;
    assert_eq!(attempt["parentSpanId"], root["spanId"]);
    assert_eq!(step["parentSpanId"], json!("c000000000000001"));
    assert_eq!(step["startTimeUnixNano"], json!("1764190800000000000"));
    let run_attr = step["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == json!("trigr.run_id"))
        .unwrap();
    assert_eq!(run_attr["value"]["stringValue"], json!(id));

    // The run's root span, once the run finished: the attempt's parent, under the caller's
    // span, from the trigger to the end, ok because the run completed.
    let (_, run_span) = named("run t");
    assert_eq!(run_span["traceId"], json!(CALLER_TRACE));
    assert_eq!(run_span["spanId"], root["spanId"]);
    assert_eq!(run_span["parentSpanId"], json!(CALLER_SPAN));
    let nanos = |v: &Value| {
        v.as_str()
            .and_then(|t| t.parse::<u64>().ok())
            .expect("time")
    };
    assert!(nanos(&run_span["startTimeUnixNano"]) <= nanos(&run_span["endTimeUnixNano"]));
    assert_eq!(run_span["status"]["code"], json!(1), "{run_span}");
    let status = run_span["attributes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|kv| kv["key"] == json!("trigr.run.status"))
        .unwrap();
    assert_eq!(status["value"]["stringValue"], json!("COMPLETED"));
}
