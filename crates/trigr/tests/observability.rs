//! Metrics and logs of a real server: `/metrics` on its own listener and behind a token,
//! the label cap on task ids, JSON log lines and the access log.

mod common;

use std::collections::BTreeMap;

use common::{Options, Req, TestServer};
use serde_json::{json, Value};

/// One sample of an exposition: its metric name, labels and value.
#[derive(Debug)]
struct Sample {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// The samples of an OpenMetrics text (comments skipped).
fn samples(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|line| {
            let (head, value) = line.rsplit_once(' ').expect("a value");
            let (name, labels) = match head.split_once('{') {
                Some((name, rest)) => (name, labels(rest.strip_suffix('}').expect("}"))),
                None => (head, BTreeMap::new()),
            };
            Sample {
                name: name.to_string(),
                labels,
                value: value.parse().expect("a number"),
            }
        })
        .collect()
}

/// `k="v",k2="v2"` (values without quotes or backslashes, as trigr's are).
fn labels(mut text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while let Some((key, rest)) = text.split_once("=\"") {
        let (value, rest) = rest.split_once('"').expect("closing quote");
        out.insert(key.to_string(), value.to_string());
        text = rest.strip_prefix(',').unwrap_or(rest);
    }
    out
}

/// The value of the sample `name` whose labels include `with`.
fn value(all: &[Sample], name: &str, with: &[(&str, &str)]) -> Option<f64> {
    let mut found = all.iter().filter(|s| {
        s.name == name
            && with
                .iter()
                .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
    });
    let first = found.next()?;
    assert!(found.next().is_none(), "{name} {with:?} is not one sample");
    Some(first.value)
}

async fn scrape(server: &TestServer) -> Vec<Sample> {
    let url = server.metrics_url.as_ref().expect("a metrics listener");
    let resp = server.http.get(url).send().await.expect("scrape");
    assert_eq!(resp.status(), 200);
    let ty = resp.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ty.starts_with("application/openmetrics-text"), "{ty}");
    let text = resp.text().await.unwrap();
    assert!(text.ends_with("# EOF\n"), "{text}");
    samples(&text)
}

/// After runs are triggered, dequeued and finished over HTTP, the counters, histograms and
/// gauges say exactly that; request durations are labelled by route template.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_what_runs_did() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        metrics: true,
        ..Default::default()
    })
    .await;
    let version = server
        .deploy(json!([{"id": "metered", "retry": {"maxAttempts": 1}}]))
        .await;
    for i in 0..4 {
        server.trigger("metered", json!({"i": i}), json!({})).await;
    }
    server.advance(2_000).await;
    let runs = server.dequeue(&version, 4, 0).await;
    assert_eq!(runs.len(), 4);
    server.advance(500).await;
    assert_eq!(server.complete_ok(&runs[0], json!(1)).await.0, 200);
    assert_eq!(server.complete_ok(&runs[1], json!(2)).await.0, 200);
    assert_eq!(server.complete_err(&runs[2], "boom").await.0, 200);
    // Nothing is queued now. Two more workers of the version, told apart by the ids their dequeues name; a second
    // dequeue of one of them is the same worker.
    for worker in ["host-a:1", "host-b:2", "host-a:1"] {
        let body = json!({"version": version, "maxRuns": 1, "workerId": worker});
        let (s, v) = server.post("/api/v1/worker/dequeue", body).await;
        assert_eq!(s, 200, "{v}");
    }

    for i in 0..2 {
        server
            .trigger("metered", json!({"later": i}), json!({}))
            .await;
    }

    let all = scrape(&server).await;
    let task = [("task", "metered")];
    assert_eq!(value(&all, "trigr_runs_created_total", &task), Some(6.0));
    assert_eq!(value(&all, "trigr_runs_started_total", &task), Some(4.0));
    let finished = |status| {
        value(
            &all,
            "trigr_runs_finished_total",
            &[("task", "metered"), ("status", status)],
        )
    };
    assert_eq!(finished("COMPLETED"), Some(2.0));
    assert_eq!(finished("FAILED"), Some(1.0));
    // The manual clock moved 2 s between the triggers and the dequeue, 0.5 s to the ends.
    let waited = "trigr_run_trigger_to_start_seconds";
    assert_eq!(value(&all, &format!("{waited}_count"), &[]), Some(4.0));
    assert_eq!(value(&all, &format!("{waited}_sum"), &[]), Some(8.0));
    let ran = "trigr_run_duration_seconds";
    assert_eq!(value(&all, &format!("{ran}_count"), &[]), Some(3.0));
    assert_eq!(value(&all, &format!("{ran}_sum"), &[]), Some(1.5));
    assert_eq!(
        value(&all, &format!("{ran}_bucket"), &[("le", "0.64")]),
        Some(3.0)
    );

    // Gauges read from the store: two queued, one still running.
    let queue = [("queue", "task/metered")];
    assert_eq!(value(&all, "trigr_queue_depth", &queue), Some(2.0));
    assert_eq!(value(&all, "trigr_queue_running", &queue), Some(1.0));
    let live = [("version", version.as_str())];
    // The harness's worker names none: it counts as one, beside the two named.
    assert_eq!(value(&all, "trigr_workers", &live), Some(3.0));
    assert_eq!(value(&all, "trigr_realtime_subscribers", &[]), Some(0.0));

    // Request durations by route template and status class, never by raw path.
    let http = "trigr_http_request_duration_seconds_count";
    let trigger = [
        ("method", "POST"),
        ("route", "/api/v1/tasks/{task_id}/trigger"),
        ("status", "2xx"),
    ];
    assert_eq!(value(&all, http, &trigger), Some(6.0));
    let complete = [
        ("method", "POST"),
        ("route", "/api/v1/worker/runs/{run_id}/complete"),
        ("status", "2xx"),
    ];
    assert_eq!(value(&all, http, &complete), Some(3.0));
    for run in &runs {
        let id = run["runId"].as_str().unwrap();
        assert!(
            all.iter()
                .all(|s| s.labels.values().all(|v| !v.contains(id))),
            "a label names run {id}"
        );
    }
    // Store commits were observed, each of at least one write.
    let commits = value(&all, "trigr_store_commit_writes_count", &[]).unwrap();
    let writes = value(&all, "trigr_store_commit_writes_sum", &[]).unwrap();
    assert!(commits >= 1.0 && writes >= commits, "{commits} {writes}");
    let took = value(&all, "trigr_store_commit_duration_seconds_count", &[]).unwrap();
    assert!(took >= commits, "{took} {commits}");

    // The API's listener does not serve metrics without a token configured.
    let (status, _) = server.get("/metrics").await;
    assert_eq!(status, 404);
}

/// A 404 and a timer firing show up too: the unmatched route and the timers by kind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_timers_and_unmatched_requests() {
    let server = TestServer::start_with(Options {
        test_clock: true,
        metrics: true,
        ..Default::default()
    })
    .await;
    server.deploy(json!([{"id": "later"}])).await;
    server
        .trigger("later", json!({}), json!({"delay": "10s"}))
        .await;
    server
        .trigger("later", json!({}), json!({"ttl": "5s"}))
        .await;
    let fired = server.advance(20_000).await;
    assert_eq!(fired["fired"]["delayed"], json!(1), "{fired}");
    assert_eq!(server.get("/no/such/route").await.0, 404);

    let all = scrape(&server).await;
    assert_eq!(
        value(&all, "trigr_timers_fired_total", &[("kind", "delay")]),
        Some(1.0)
    );
    assert_eq!(
        value(&all, "trigr_timers_fired_total", &[("kind", "ttl")]),
        Some(fired["fired"]["expired"].as_f64().unwrap())
    );
    assert_eq!(
        value(&all, "trigr_timers_fired_total", &[("kind", "schedule")]),
        Some(0.0)
    );
    let unmatched = [("route", "unmatched"), ("status", "4xx"), ("method", "GET")];
    assert_eq!(
        value(
            &all,
            "trigr_http_request_duration_seconds_count",
            &unmatched
        ),
        Some(1.0)
    );
}

/// With a metrics token, the API's listener serves `/metrics` to that bearer only.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_token_opens_the_api_listener() {
    let token = "metrics-token-0123456789";
    let server = TestServer::start_with(Options {
        args: vec!["--metrics-token".into(), token.into()],
        ..Default::default()
    })
    .await;
    assert!(server.metrics_url.is_none());
    server.trigger("t", json!({}), json!({})).await;
    let r = server.send(Req::new("GET", "/metrics").no_key()).await;
    assert_eq!(r.status, 401, "{}", r.text);
    assert!(r.json["error"].is_string(), "{}", r.text);
    let r = server
        .send(Req::new("GET", "/metrics").key("metrics-token-012345678X"))
        .await;
    assert_eq!(r.status, 401);
    // A secret key is not the metrics token.
    let r = server.send(Req::new("GET", "/metrics")).await;
    assert_eq!(r.status, 401);
    let r = server.send(Req::new("GET", "/metrics").key(token)).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let all = samples(&r.text);
    assert_eq!(
        value(&all, "trigr_runs_created_total", &[("task", "t")]),
        Some(1.0)
    );
}

/// Task ids are user input: 2,000 of them make at most 1,000 label sets, the rest counted
/// as `task="_other"`, and nothing is lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn task_labels_are_capped() {
    // 2,000 items in a second: above the mollifier's default threshold, which would buffer
    // half of them for the drainer.
    let server = TestServer::start_with(Options {
        metrics: true,
        args: vec!["--mollifier-threshold".into(), "100000".into()],
        ..Default::default()
    })
    .await;
    for part in 0..2 {
        let names: Vec<String> = (0..1000).map(|i| format!("task-{part}-{i}")).collect();
        let r = server
            .create_batch(json!({"runCount": 1000, "taskIdentifiers": names}))
            .await;
        assert_eq!(r.status, 202, "{}", r.text);
        let id = r.json["id"].as_str().unwrap().to_string();
        let items: Vec<Value> = names
            .iter()
            .enumerate()
            .map(|(i, task)| json!({"index": i, "task": task, "payload": "{}", "options": {"payloadType": "application/json"}}))
            .collect();
        let r = server.send_items(&id, &items).await;
        assert_eq!(r.status, 200, "{}", r.text);
        assert_eq!(r.json["itemsAccepted"], json!(1000));
    }
    let all = scrape(&server).await;
    let created: Vec<&Sample> = all
        .iter()
        .filter(|s| s.name == "trigr_runs_created_total")
        .collect();
    assert_eq!(created.len(), 1001, "1,000 tasks and _other");
    assert_eq!(created.iter().map(|s| s.value).sum::<f64>(), 2000.0);
    assert_eq!(
        value(&all, "trigr_runs_created_total", &[("task", "_other")]),
        Some(1000.0)
    );
}

/// The JSON lines of one server's stderr.
fn json_lines(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect()
}

/// Whether `line` is the access log line of `route` with `status`.
fn is_access(line: &Value, route: &str, status: u16) -> bool {
    line["target"] == "trigr::access" && line["route"] == route && line["status"] == status
}

/// `--log-format json`: every line is a JSON object; each request has its access line with
/// route, status and duration, and the lines of a run's requests name the run, its
/// environment and the caller's trace.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_logs_name_routes_runs_and_traces() {
    let server = TestServer::start_with(Options {
        args: vec!["--log-format".into(), "json".into()],
        logs: true,
        ..Default::default()
    })
    .await;
    let logs = server.logs.clone().unwrap();
    let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let r = server
        .send(
            Req::new("POST", "/api/v1/tasks/logged/trigger")
                .json(&json!({"payload": "{}", "options": {"payloadType": "application/json"}}))
                .header("traceparent", &format!("00-{trace}-00f067aa0ba902b7-01")),
        )
        .await;
    assert_eq!(r.status, 200, "{}", r.text);
    let run_id = r.json["id"].as_str().unwrap().to_string();
    let route = "/api/v1/tasks/{task_id}/trigger";
    let line = logs
        .wait_for(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| is_access(&v, route, 200)))
        .await
        .expect("the trigger's access line");
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["method"], "POST");
    assert!(line["duration_ms"].as_f64().unwrap() >= 0.0, "{line}");
    assert_eq!(line["span"]["run_id"], json!(run_id), "{line}");
    assert_eq!(line["span"]["trace_id"], trace, "{line}");
    assert!(line["span"]["env_id"].as_str().unwrap().starts_with("env_"));

    // Reading the run: its id comes from the path.
    server.run(&run_id).await;
    let route = "/api/v3/runs/{run_id}";
    let line = logs
        .wait_for(|l| serde_json::from_str::<Value>(l).is_ok_and(|v| is_access(&v, route, 200)))
        .await
        .expect("the retrieve's access line");
    let line: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(line["span"]["run_id"], json!(run_id), "{line}");
    assert!(line["bytes"].as_u64().unwrap() > 0, "{line}");
    // Every line on stderr is one JSON object.
    json_lines(&logs.all());
}

/// Text logs written to a pipe (a file, the journal) are plain: no terminal colour codes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_logs_off_a_terminal_are_plain() {
    let server = TestServer::start_with(Options {
        logs: true,
        ..Default::default()
    })
    .await;
    let logs = server.logs.clone().unwrap();
    server.get("/api/v1/runs").await;
    let line = logs
        .wait_for(|l| l.contains("trigr::access") && l.contains("/api/v1/runs"))
        .await
        .expect("the list's access line");
    assert!(line.contains("route=\"/api/v1/runs\" status=200"), "{line}");
    assert!(
        logs.all().iter().all(|l| !l.contains('\u{1b}')),
        "{:#?}",
        logs.all()
    );
}

/// `--no-access-log` writes no access line; the server's other lines still come.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_access_log_turns_it_off() {
    let mut server = TestServer::start_with(Options {
        args: vec![
            "--log-format".into(),
            "json".into(),
            "--no-access-log".into(),
        ],
        logs: true,
        ..Default::default()
    })
    .await;
    let logs = server.logs.clone().unwrap();
    server.trigger("quiet", json!({}), json!({})).await;
    assert!(server.terminate());
    // The shutdown note is written after every request was answered.
    logs.wait_for(|l| l.contains("shutting down"))
        .await
        .expect("the shutdown line");
    let lines = logs.all();
    assert!(
        lines.iter().all(|l| !l.contains("trigr::access")),
        "{lines:#?}"
    );
}
