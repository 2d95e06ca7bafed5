//! Run traces from the SDK: a task's attempt and its step reach the server as spans of the
//! run's trace, the step under the attempt and the attempt under the run's root span; child
//! triggers and HTTP calls made through the context are spans too, an HTTP call's
//! `traceparent` names its span, and an attempt that suspends still has its span.

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use trigr_sdk::testkit::{TestServer, KEY};
use trigr_sdk::{task, RunStatus, TaskError};

/// `GET` of the server's JSON at `path`.
async fn get_json(server: &TestServer, path: &str) -> Value {
    reqwest::Client::new()
        .get(format!("{}{path}", server.url()))
        .bearer_auth(KEY)
        .send()
        .await
        .expect("request")
        .json()
        .await
        .expect("JSON")
}

/// An HTTP server answering `200 ok` to each request, and the head of each request it got.
async fn echo_server() -> (String, mpsc::Receiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let address = listener.local_addr().expect("address");
    let (heads, received) = mpsc::channel(8);
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.ends_with(b"\r\n\r\n") && head.len() < 16 * 1024 {
                match socket.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok";
            let _ = socket.write_all(answer).await;
            let _ = heads
                .send(String::from_utf8_lossy(&head).into_owned())
                .await;
        }
    });
    (format!("http://{address}"), received)
}

/// The value of header `name` in a request head.
fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.trim().eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

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

#[tokio::test]
async fn child_triggers_http_calls_and_a_suspending_attempt_are_spans_of_the_run() {
    let server = TestServer::start().await;
    let (base, mut heads) = echo_server().await;
    let add_one = task("add-one").run(|n: u32, _ctx| async move { Ok(n + 1) });
    let child = add_one.clone();
    let parent = task("parent").run(move |url: String, ctx| {
        let child = child.clone();
        async move {
            let spawned = ctx.trigger(&child, &1).await?;
            let http = ctx.clone();
            let status: u16 = ctx
                .step("call", || async move {
                    let answer = http.http().get(&url).send().await;
                    let answer = answer.map_err(|e| TaskError::msg(e.to_string()))?;
                    Ok(answer.status().as_u16())
                })
                .await?;
            let waited = ctx.trigger_and_wait(&child, &2).await?;
            let waited_id = waited.id().to_string();
            Ok(json!({
                "spawned": spawned.id,
                "status": status,
                "waited": waited.into_result()?,
                "waitedId": waited_id,
            }))
        }
    });
    let worker = server
        .worker()
        .task(add_one)
        .task(parent.clone())
        .start()
        .await
        .expect("worker");
    let secret_url = base.replace("http://", "http://bob:hunter2@") + "/charges?key=sk_1";
    let handle = server
        .client()
        .trigger(&parent, &secret_url)
        .await
        .expect("trigger");
    let run = server.wait_for_run(&handle.id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let output = run.output.expect("output");
    assert_eq!(output["status"], 200);
    assert_eq!(output["waited"], 3);

    let trace = get_json(&server, &format!("/api/v1/runs/{}/spans", handle.id)).await;
    let trace_id = trace["traceId"].as_str().expect("traceId").to_string();
    let spans = trace["data"].as_array().expect("data").clone();
    let of_kind = |k: &str| spans.iter().filter(|s| s["kind"] == k).collect::<Vec<_>>();

    // The child triggered without waiting: its task and run id, and it is in the same trace.
    let spawned = output["spawned"].as_str().expect("spawned");
    let triggers = of_kind("trigger");
    assert_eq!(triggers.len(), 2, "{trace}");
    let first = triggers[0];
    assert_eq!(first["name"], "trigger add-one");
    assert_eq!(first["status"], "ok");
    assert_eq!(first["attributes"]["trigr.child.task"], "add-one");
    assert_eq!(first["attributes"]["trigr.child.run_id"], spawned);
    let child_run = get_json(&server, &format!("/api/v3/runs/{spawned}")).await;
    assert_eq!(child_run["traceId"], trace_id.as_str());
    // The waited child: its task (the run suspends at the same call, before its id is back),
    // and the child's own trace hangs its root span under this trigger span.
    assert_eq!(triggers[1]["attributes"]["trigr.child.task"], "add-one");
    let waited_id = output["waitedId"].as_str().expect("waitedId");
    let waited_trace = get_json(&server, &format!("/api/v1/runs/{waited_id}/spans")).await;
    assert_eq!(waited_trace["traceId"], trace_id.as_str());
    assert_eq!(
        waited_trace["parentSpanId"], triggers[1]["spanId"],
        "{waited_trace}"
    );
    // The child triggered without waiting hangs under the parent's root span.
    let spawned_trace = get_json(&server, &format!("/api/v1/runs/{spawned}/spans")).await;
    assert_eq!(spawned_trace["parentSpanId"], trace["spanId"]);

    // The HTTP call: the URL without credentials or query, the status, and the traceparent
    // the called server received names the span.
    let http = of_kind("http");
    assert_eq!(http.len(), 1, "{trace}");
    let call = http[0];
    let shown = format!("{base}/charges");
    assert_eq!(call["name"], format!("GET {shown}"));
    assert_eq!(call["status"], "ok");
    assert_eq!(call["attributes"]["url.full"], shown.as_str());
    assert_eq!(call["attributes"]["http.request.method"], "GET");
    assert_eq!(call["attributes"]["http.response.status_code"], 200);
    assert!(!call.to_string().contains("hunter2") && !call.to_string().contains("sk_1"));
    let head = heads.recv().await.expect("the request reached the server");
    assert!(head.starts_with("GET /charges?key=sk_1 "), "{head}");
    let span_id = call["spanId"].as_str().expect("spanId");
    assert_eq!(
        header(&head, "traceparent"),
        Some(format!("00-{trace_id}-{span_id}-01").as_str())
    );

    // The attempt suspended at the wait: its span is there, unset, and says so; the resumed
    // execution has its own, ok.
    let attempts = of_kind("attempt");
    assert_eq!(attempts.len(), 2, "{trace}");
    let suspended = attempts[0];
    assert_eq!(suspended["status"], "unset");
    assert_eq!(suspended["attributes"]["trigr.suspended"], true);
    assert_eq!(
        suspended["attributes"]["trigr.wait"],
        "triggerAndWait/add-one"
    );
    assert_eq!(suspended["parentSpanId"], trace["spanId"]);
    assert_eq!(call["parentSpanId"], suspended["spanId"]);
    assert_eq!(attempts[1]["status"], "ok");
    assert!(attempts[1]["attributes"].get("trigr.suspended").is_none());
    worker.shutdown().await.expect("shutdown");
    server.stop().await;
}
