//! Realtime subscriptions over server-sent events: a run's statuses and metadata in order,
//! resuming with `Last-Event-ID` without loss or duplicates, a batch's counts, tag feeds,
//! public-token scopes, bad input, a subscriber that does not read, `stopOnCompletion`,
//! resuming below the events pruned after the retention period.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

/// One event of a stream.
#[derive(Clone, Debug, PartialEq)]
struct Frame {
    id: i64,
    event: String,
    data: Value,
}

/// A server-sent event stream read frame by frame.
struct Sse {
    body: futures::stream::BoxStream<'static, Result<Vec<u8>, String>>,
    buf: String,
    /// The comment lines skipped so far (without the leading colon).
    comments: Vec<String>,
}

/// Longest wait for one frame before the test fails (a guard against hanging, not a timing
/// assumption).
const FRAME_PATIENCE: Duration = Duration::from_secs(30);

impl Sse {
    async fn open(server: &TestServer, key: &str, path: &str, last: Option<i64>) -> Sse {
        let (status, sse) = Sse::try_open(server, key, path, last).await;
        assert_eq!(status, 200, "subscribe {path}");
        sse.unwrap()
    }

    async fn try_open(
        server: &TestServer,
        key: &str,
        path: &str,
        last: Option<i64>,
    ) -> (u16, Option<Sse>) {
        let mut req = server.http.get(server.url(path)).bearer_auth(key);
        if let Some(last) = last {
            req = req.header("Last-Event-ID", last.to_string());
        }
        let resp = req.send().await.expect("subscribe");
        let status = resp.status().as_u16();
        if status != 200 {
            return (status, None);
        }
        let ct = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        assert!(ct.starts_with("text/event-stream"), "content type {ct}");
        let body = resp
            .bytes_stream()
            .map(|r| r.map(|b| b.to_vec()).map_err(|e| e.to_string()))
            .boxed();
        (status, Some(Sse::over(body, Vec::new())))
    }

    fn over(
        body: futures::stream::BoxStream<'static, Result<Vec<u8>, String>>,
        start: Vec<u8>,
    ) -> Sse {
        Sse {
            body,
            buf: String::from_utf8_lossy(&start).into_owned(),
            comments: Vec::new(),
        }
    }

    /// A subscription whose socket has a small receive buffer and is read only when the test
    /// reads it: the server cannot write much to it ahead. HTTP/1.0, so that the body is the
    /// bare event stream.
    async fn open_unread(server: &TestServer, path: &str) -> Sse {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = server.base_url.strip_prefix("http://").unwrap().to_string();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mut tcp = socket.connect(addr.parse().unwrap()).await.unwrap();
        let request = format!(
            "GET {path} HTTP/1.0\r\nHost: {addr}\r\nAuthorization: Bearer {DEV_KEY}\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        let head_end = loop {
            if let Some(end) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
                break end;
            }
            assert!(
                tcp.read_buf(&mut raw).await.unwrap() > 0,
                "closed before answering"
            );
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_string();
        assert!(
            head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"),
            "{head}"
        );
        assert!(!head.to_ascii_lowercase().contains("chunked"), "{head}");
        let body = futures::stream::unfold(tcp, |mut tcp| async move {
            let mut chunk = vec![0u8; 16 * 1024];
            match tcp.read(&mut chunk).await {
                Ok(0) => None,
                Ok(n) => {
                    chunk.truncate(n);
                    Some((Ok(chunk), tcp))
                }
                Err(e) => Some((Err(e.to_string()), tcp)),
            }
        })
        .boxed();
        Sse::over(body, raw[head_end + 4..].to_vec())
    }

    /// The next event (comments skipped); `None` when the stream ended.
    async fn next(&mut self) -> Option<Frame> {
        // Comments (keep-alives) do not count as progress.
        let deadline = tokio::time::Instant::now() + FRAME_PATIENCE;
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let block: String = self.buf.drain(..end + 2).collect();
                let (mut id, mut event, mut data) = (None, String::new(), String::new());
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id:") {
                        id = v.trim().parse().ok();
                    } else if let Some(v) = line.strip_prefix("event:") {
                        event = v.trim().to_string();
                    } else if let Some(v) = line.strip_prefix("data:") {
                        data.push_str(v.strip_prefix(' ').unwrap_or(v));
                    }
                }
                if event.is_empty() && data.is_empty() {
                    // A comment (keep-alive, or a note of the server).
                    self.comments.extend(
                        block
                            .lines()
                            .filter_map(|l| l.strip_prefix(':'))
                            .map(|l| l.trim().to_string()),
                    );
                    continue;
                }
                return Some(Frame {
                    id: id.expect("every event has an id"),
                    event,
                    data: serde_json::from_str(&data).expect("JSON data"),
                });
            }
            let chunk = tokio::time::timeout_at(deadline, self.body.next())
                .await
                .expect("an event within the patience limit");
            match chunk {
                Some(Ok(bytes)) => self.buf.push_str(&String::from_utf8_lossy(&bytes)),
                _ => return None,
            }
        }
    }

    /// Frames until `end` (included) or the stream closes.
    async fn until_end(&mut self) -> Vec<Frame> {
        let mut out = Vec::new();
        while let Some(f) = self.next().await {
            let end = f.event == "end";
            out.push(f);
            if end {
                break;
            }
        }
        out
    }

    /// The next `n` frames.
    async fn take(&mut self, n: usize) -> Vec<Frame> {
        let mut out = Vec::new();
        for _ in 0..n {
            out.push(self.next().await.expect("stream still open"));
        }
        out
    }
}

fn statuses(frames: &[Frame]) -> Vec<String> {
    frames
        .iter()
        .filter(|f| f.event == "status")
        .map(|f| f.data["status"].as_str().unwrap().to_string())
        .collect()
}

/// Dequeues everything of `version` and completes it.
async fn complete_all(server: &TestServer, version: &str, n: usize) {
    let mut done = 0;
    while done < n {
        let runs = server.dequeue(version, 100, 1000).await;
        for r in &runs {
            let (s, v) = server.complete_ok(r, json!({"ok": true})).await;
            assert_eq!(s, 200, "{v}");
        }
        done += runs.len();
    }
}

async fn put_metadata(server: &TestServer, id: &str, metadata: Value) {
    let (s, v) = server
        .call(
            "PUT",
            &format!("/api/v1/runs/{id}/metadata"),
            Some(json!({ "metadata": metadata })),
        )
        .await;
    assert_eq!(s, 200, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_subscriber_sees_statuses_in_order_and_metadata() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let path = format!("/api/v1/runs/{id}/events?stopOnCompletion=true");
    let mut sse = Sse::open(&server, DEV_KEY, &path, None).await;
    let first = sse.next().await.unwrap();
    assert_eq!(first.event, "snapshot");
    assert_eq!(first.data["id"], json!(id));
    assert_eq!(first.data["status"], json!("QUEUED"));
    assert_eq!(first.data["taskIdentifier"], json!("t"));

    let run = server.dequeue(&version, 1, 0).await.remove(0);
    put_metadata(&server, &id, json!({"progress": 1})).await;
    put_metadata(&server, &id, json!({"progress": 2})).await;
    let (s, v) = server.complete_ok(&run, json!({"answer": 42})).await;
    assert_eq!(s, 200, "{v}");

    let frames = sse.until_end().await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(
        kinds,
        ["status", "metadata", "metadata", "status", "end"],
        "{frames:?}"
    );
    assert_eq!(statuses(&frames), ["DEQUEUED", "COMPLETED"]);
    assert_eq!(frames[1].data["metadata"], json!({"progress": 1}));
    assert_eq!(frames[2].data["metadata"], json!({"progress": 2}));
    let done = &frames[3].data;
    assert_eq!(done["output"], json!({"answer": 42}), "{done}");
    assert_eq!(done["isFinal"], json!(true));
    assert_eq!(done["metadata"], json!({"progress": 2}));
    let ids: Vec<i64> = frames[..4].iter().map(|f| f.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "ids grow: {ids:?}");
    assert!(ids[0] > first.id, "live events come after the snapshot");
    assert!(sse.next().await.is_none(), "the stream ends after `end`");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_last_event_id_sees_every_event_once() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let path = format!("/api/v1/runs/{id}/events?stopOnCompletion=true");
    let mut full = Sse::open(&server, DEV_KEY, &path, None).await;
    let mut part = Sse::open(&server, DEV_KEY, &path, None).await;
    assert_eq!(full.next().await.unwrap().event, "snapshot");
    assert_eq!(part.next().await.unwrap().event, "snapshot");

    let run = server.dequeue(&version, 1, 0).await.remove(0);
    for i in 0..10 {
        put_metadata(&server, &id, json!({ "i": i })).await;
    }
    let seen = part.take(6).await;
    drop(part);
    // While it is away, more happens.
    for i in 10..25 {
        put_metadata(&server, &id, json!({ "i": i })).await;
    }
    let last = seen.last().unwrap().id;
    let mut again = Sse::open(&server, DEV_KEY, &path, Some(last)).await;
    for i in 25..30 {
        put_metadata(&server, &id, json!({ "i": i })).await;
    }
    let (s, v) = server.complete_ok(&run, json!(null)).await;
    assert_eq!(s, 200, "{v}");

    let reference = full.until_end().await;
    let mut resumed = seen.clone();
    resumed.extend(again.until_end().await);
    assert_eq!(resumed, reference, "every event exactly once, in order");
    assert_eq!(reference.len(), 1 + 30 + 1 + 1, "{reference:?}");

    // The query parameter works like the header; resuming at the end gets only `end`.
    let end_id = reference[reference.len() - 2].id;
    let q = format!("{path}&lastEventId={}", reference[5].id);
    let mut by_query = Sse::open(&server, DEV_KEY, &q, None).await;
    assert_eq!(by_query.until_end().await, reference[6..].to_vec());
    let mut at_end = Sse::open(&server, DEV_KEY, &path, Some(end_id)).await;
    let tail = at_end.until_end().await;
    assert_eq!(tail.len(), 1, "{tail:?}");
    assert_eq!(tail[0].event, "end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resuming_below_pruned_events_gets_a_reset_and_a_fresh_snapshot() {
    let server = TestServer::start_with_clock().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let path = format!("/api/v1/runs/{id}/events");
    let mut sse = Sse::open(&server, DEV_KEY, &path, None).await;
    let seen = sse.next().await.unwrap();
    assert_eq!(seen.event, "snapshot");
    put_metadata(&server, &id, json!({ "step": 1 })).await;
    put_metadata(&server, &id, json!({ "step": 1.5 })).await;
    assert_eq!(sse.take(2).await.len(), 2);
    drop(sse);

    // A day and an hour later those events are past retention and pruned (a store may keep
    // its newest event to number the next ones above it).
    let moved = server.advance(25 * 3600 * 1000).await;
    assert!(moved["runEventsPruned"].as_u64().unwrap() >= 2, "{moved}");
    put_metadata(&server, &id, json!({ "step": 2 })).await;

    // Resuming after the snapshot cannot be exact: the stream says so, then starts over.
    let mut resumed = Sse::open(&server, DEV_KEY, &path, Some(seen.id)).await;
    let reset = resumed.next().await.unwrap();
    assert_eq!(reset.event, "reset", "{reset:?}");
    assert_eq!(reset.data["reason"], json!("expired"));
    let snapshot = resumed.next().await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    assert_eq!(snapshot.data["metadata"], json!({ "step": 2 }));
    // Then live events as usual.
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let live = resumed.next().await.unwrap();
    assert_eq!(live.data["status"], json!("DEQUEUED"), "{live:?}");
    assert!(live.id > snapshot.id);
    drop(run);

    // A client that saw everything kept (the newest event) resumes exactly.
    let kept = {
        let mut fresh = Sse::open(&server, DEV_KEY, &path, None).await;
        fresh.next().await.unwrap().id
    };
    let mut exact = Sse::open(&server, DEV_KEY, &path, Some(kept)).await;
    put_metadata(&server, &id, json!({ "step": 3 })).await;
    let next = exact.next().await.unwrap();
    assert_eq!(next.event, "metadata", "{next:?}");
    assert_eq!(next.data["metadata"], json!({ "step": 3 }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn batch_subscriber_sees_counts_reach_the_total() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let r = server
        .create_batch(json!({"runCount": 100, "taskIdentifiers": ["t"]}))
        .await;
    assert_eq!(r.status, 202, "{}", r.text);
    let batch = r.json["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/batches/{batch}/events?stopOnCompletion=true");
    // Subscribed before its items arrive: the runs appear as they are created.
    let mut sse = Sse::open(&server, DEV_KEY, &path, None).await;
    let items: Vec<Value> = (0..100)
        .map(|i| json!({"index": i, "task": "t", "payload": "{}", "options": {"payloadType": "application/json"}}))
        .collect();
    let r = server.send_items(&batch, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    complete_all(&server, &version, 100).await;

    let frames = sse.until_end().await;
    assert_eq!(frames.last().unwrap().event, "end");
    let last = &frames[frames.len() - 2];
    assert_eq!(last.data["batch"]["id"], json!(batch));
    assert_eq!(last.data["batch"]["total"], json!(100));
    assert_eq!(
        last.data["batch"]["counts"],
        json!({"COMPLETED": 100}),
        "{last:?}"
    );
    assert_eq!(last.data["batch"]["finished"], json!(100));
    let completed: Vec<i64> = frames
        .iter()
        .filter_map(|f| f.data["batch"]["counts"]["COMPLETED"].as_i64())
        .collect();
    assert!(
        completed.windows(2).all(|w| w[0] <= w[1]),
        "counts only grow"
    );
    let finals = frames
        .iter()
        .filter(|f| f.data["status"] == json!("COMPLETED"))
        .count();
    assert_eq!(finals, 100, "one COMPLETED event per run");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_feed_carries_only_runs_with_the_tags() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let before = server
        .trigger("t", json!({}), json!({"tags": ["blue"]}))
        .await;
    let mut sse = Sse::open(
        &server,
        DEV_KEY,
        "/api/v1/runs/events?tag=blue&tag=green",
        None,
    )
    .await;
    let snap = sse.next().await.unwrap();
    assert_eq!(
        (snap.event.as_str(), &snap.data["id"]),
        ("snapshot", &json!(before))
    );

    let green = server
        .trigger("t", json!({}), json!({"tags": ["green", "x"]}))
        .await;
    let _red = server
        .trigger("t", json!({}), json!({"tags": ["red"]}))
        .await;
    complete_all(&server, &version, 3).await;
    // 2 runs followed: created (green only), dequeued, completed.
    let frames = sse.take(5).await;
    let mut seen: Vec<(String, String)> = frames
        .iter()
        .map(|f| {
            (
                f.data["id"].as_str().unwrap().to_string(),
                f.data["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        seen[0],
        (green.clone(), "QUEUED".into()),
        "a new run appears"
    );
    seen.sort();
    let mut want = vec![
        (before.clone(), "COMPLETED".to_string()),
        (before.clone(), "DEQUEUED".to_string()),
        (green.clone(), "COMPLETED".to_string()),
        (green.clone(), "DEQUEUED".to_string()),
        (green.clone(), "QUEUED".to_string()),
    ];
    want.sort();
    assert_eq!(seen, want);
    assert!(frames.iter().all(|f| f.event == "status"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_tokens_need_the_matching_read_scope() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let a = server
        .trigger("t", json!({}), json!({"tags": ["ta"]}))
        .await;
    let b = server
        .trigger("t", json!({}), json!({"tags": ["tb"]}))
        .await;
    let r = server
        .create_batch(json!({"runCount": 1, "taskIdentifiers": ["t"]}))
        .await;
    let batch = r.json["id"].as_str().unwrap().to_string();

    let run_token = public_token(&server, &[format!("read:runs:{a}")]).await;
    let status = |path: String, key: String| {
        let server = &server;
        async move { Sse::try_open(server, &key, &path, None).await.0 }
    };
    assert_eq!(
        status(format!("/api/v1/runs/{a}/events"), run_token.clone()).await,
        200
    );
    assert_eq!(
        status(format!("/api/v1/runs/{b}/events"), run_token.clone()).await,
        403
    );
    assert_eq!(
        status("/api/v1/runs/events?tag=ta".into(), run_token.clone()).await,
        403
    );
    assert_eq!(
        status(format!("/api/v1/batches/{batch}/events"), run_token.clone()).await,
        403
    );

    let tag_token = public_token(&server, &["read:tags:ta".to_string()]).await;
    assert_eq!(
        status("/api/v1/runs/events?tag=ta".into(), tag_token.clone()).await,
        200
    );
    assert_eq!(
        status(
            "/api/v1/runs/events?tag=ta&tag=tb".into(),
            tag_token.clone()
        )
        .await,
        403
    );
    assert_eq!(
        status(format!("/api/v1/runs/{a}/events"), tag_token.clone()).await,
        200,
        "a run carrying the tag"
    );
    assert_eq!(
        status(format!("/api/v1/runs/{b}/events"), tag_token).await,
        403
    );

    let batch_token = public_token(&server, &[format!("read:batch:{batch}")]).await;
    assert_eq!(
        status(
            format!("/api/v1/batches/{batch}/events"),
            batch_token.clone()
        )
        .await,
        200
    );
    assert_eq!(
        status(format!("/api/v1/runs/{a}/events"), batch_token).await,
        403
    );
    // The batch's own token, handed out when it was created.
    let own = r.header("x-trigger-jwt").unwrap();
    assert_eq!(
        status(format!("/api/v1/batches/{batch}/events"), own).await,
        200
    );

    assert_eq!(
        status(format!("/api/v1/runs/{a}/events"), "tr_dev_nope".into()).await,
        401
    );
    assert_eq!(
        status(format!("/api/v1/runs/{a}/events"), PROD_KEY.into()).await,
        404,
        "another environment's run"
    );

    // A browser's EventSource cannot set headers: the public token may come in the URL, with
    // the same scope checks; a secret key never does.
    let by_url = |path: String| {
        let server = &server;
        async move {
            let resp = reqwest::get(server.url(&path)).await.expect("subscribe");
            let status = resp.status().as_u16();
            if status == 200 {
                return (status, String::new());
            }
            (status, resp.text().await.unwrap_or_default())
        }
    };
    let token = public_token(&server, &[format!("read:runs:{a}")]).await;
    let (s, _) = by_url(format!("/api/v1/runs/{a}/events?access_token={token}")).await;
    assert_eq!(s, 200);
    let (s, e) = by_url(format!("/api/v1/runs/{b}/events?access_token={token}")).await;
    assert_eq!(s, 403, "{e}");
    let (s, e) = by_url(format!("/api/v1/runs/{a}/events?access_token={DEV_KEY}")).await;
    assert_eq!(s, 401, "{e}");
    assert!(
        e.contains("secret keys go in the Authorization header"),
        "{e}"
    );
    let (s, e) = by_url(format!("/api/v1/runs/{a}/events")).await;
    assert_eq!(s, 401, "{e}");
    let (s, e) = by_url(format!("/api/v1/runs/{a}/events?access_token=a.b.c")).await;
    assert_eq!(s, 401, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_a_clear_4xx() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let get = |path: String, last: Option<&'static str>| {
        let server = &server;
        async move {
            let mut req = server.http.get(server.url(&path)).bearer_auth(DEV_KEY);
            if let Some(l) = last {
                req = req.header("Last-Event-ID", l);
            }
            let resp = req.send().await.unwrap();
            let status = resp.status().as_u16();
            let body: Value = resp.json().await.unwrap_or(Value::Null);
            (
                status,
                body["error"].as_str().unwrap_or_default().to_string(),
            )
        }
    };
    let (s, e) = get("/api/v1/runs/run_nope/events".into(), None).await;
    assert_eq!(s, 404, "{e}");
    assert!(e.contains("run_nope"), "{e}");
    let (s, e) = get(format!("/api/v1/runs/{id}/events"), Some("abc")).await;
    assert_eq!(s, 400, "{e}");
    assert!(e.contains("Last-Event-ID") && e.contains("abc"), "{e}");
    let (s, e) = get(format!("/api/v1/runs/{id}/events?lastEventId=-3"), None).await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = get(format!("/api/v1/runs/{id}/events"), Some("999999999")).await;
    assert_eq!(s, 400, "{e}");
    assert!(e.contains("999999999"), "{e}");
    let (s, e) = get(
        format!("/api/v1/runs/{id}/events?stopOnCompletion=maybe"),
        None,
    )
    .await;
    assert_eq!(s, 400, "{e}");
    assert!(e.contains("stopOnCompletion"), "{e}");
    let (s, e) = get("/api/v1/runs/events".into(), None).await;
    assert_eq!(s, 400, "{e}");
    assert!(e.contains("tag"), "{e}");
    let many: String = (0..11).map(|i| format!("tag=t{i}&")).collect();
    let (s, e) = get(format!("/api/v1/runs/events?{many}"), None).await;
    assert_eq!(s, 400, "{e}");
    let (s, e) = get("/api/v1/batches/batch_nope/events".into(), None).await;
    assert_eq!(s, 404, "{e}");
}

/// Triggers `runs` runs of task `t` tagged `tag`, gives each `pad` bytes of metadata and
/// completes them all; the number of events that makes (created, metadata, dequeued,
/// completed for each run).
async fn tagged_runs_with_large_metadata(
    server: &TestServer,
    version: &str,
    tag: &str,
    runs: usize,
    pad: usize,
) -> usize {
    let big = "x".repeat(pad);
    for i in 0..runs {
        let id = server
            .trigger("t", json!({}), json!({ "tags": [tag] }))
            .await;
        put_metadata(server, &id, json!({ "i": i, "pad": big })).await;
    }
    complete_all(server, version, runs).await;
    runs * 4
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_does_not_read_slows_nothing_and_catches_up() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let path = "/api/v1/runs/events?tag=slow";
    let mut idle = Sse::open(&server, DEV_KEY, path, None).await;
    let mut reader = Sse::open(&server, DEV_KEY, path, None).await;
    // More events than the live channel holds (1,024); the loopback socket buffers may take
    // them all, so whether this stream falls behind the channel is up to the kernel (the next
    // test makes sure it does).
    let want = tagged_runs_with_large_metadata(&server, &version, "slow", 400, 4000).await;
    let got = reader.take(want).await;
    let ids: Vec<i64> = got.iter().map(|f| f.id).collect();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    // The idle one now reads everything it was sent or missed, once each, in order.
    let late = idle.take(want).await;
    assert_eq!(late, got);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_subscriber_that_falls_behind_the_live_feed_catches_up_from_the_store() {
    // A live channel of 8 events, and a subscriber whose small socket is not read: the
    // server's writes to it stop within a few events, so the stream stops taking from the
    // channel and loses its place there.
    let server = TestServer::start_with(Options {
        args: vec!["--realtime-buffer".into(), "8".into()],
        ..Default::default()
    })
    .await;
    let version = server.deploy(tasks(&["t"])).await;
    let path = "/api/v1/runs/events?tag=behind";
    let mut stalled = Sse::open_unread(&server, path).await;
    let mut reader = Sse::open(&server, DEV_KEY, path, None).await;
    let want = tagged_runs_with_large_metadata(&server, &version, "behind", 100, 8000).await;
    let got = reader.take(want).await;
    let late = stalled.take(want).await;
    assert_eq!(late, got, "every event once, in order");
    assert!(
        stalled
            .comments
            .iter()
            .any(|c| c.contains("events behind the live feed; catching up from the store")),
        "the stream says it fell behind: {:?}",
        stalled.comments
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_on_completion_ends_at_once_for_a_finished_run() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    complete_all(&server, &version, 1).await;
    let path = format!("/api/v1/runs/{id}/events?stopOnCompletion=true");
    let mut sse = Sse::open(&server, DEV_KEY, &path, None).await;
    let frames = sse.until_end().await;
    let kinds: Vec<&str> = frames.iter().map(|f| f.event.as_str()).collect();
    assert_eq!(kinds, ["snapshot", "end"]);
    assert_eq!(frames[0].data["status"], json!("COMPLETED"));
    // Without it, the stream goes on past the final status.
    let other = server.trigger("t", json!({}), json!({})).await;
    let mut open = Sse::open(
        &server,
        DEV_KEY,
        &format!("/api/v1/runs/{other}/events"),
        None,
    )
    .await;
    assert_eq!(open.next().await.unwrap().event, "snapshot");
    complete_all(&server, &version, 1).await;
    let frames = open.take(2).await;
    assert_eq!(statuses(&frames), ["DEQUEUED", "COMPLETED"]);
}

type Lines = tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>;

async fn next_line(lines: &mut Lines) -> Option<String> {
    tokio::time::timeout(FRAME_PATIENCE, lines.next_line())
        .await
        .expect("a line within the patience limit")
        .expect("read stdout")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_watch_prints_changes_as_they_happen_and_exits_when_the_run_ends() {
    use tokio::io::{AsyncBufReadExt, BufReader};
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let id = server.trigger("t", json!({}), json!({})).await;
    let mut child = tokio::process::Command::new(binary())
        .args(["runs", "watch", &id])
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("trigr runs watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = next_line(&mut lines).await.expect("the snapshot line");
    assert!(
        first.contains("QUEUED") && first.contains("(now"),
        "{first}"
    );
    // Why it is queued: it is ready for a worker of its version.
    let why = next_line(&mut lines).await.expect("why the run waits");
    assert!(
        why.starts_with("    waiting: The run is ready") && why.ends_with("(QUEUED)"),
        "{why}"
    );
    // Printed as it happens: each change shows before the next one is made.
    let run = server.dequeue(&version, 1, 0).await.remove(0);
    let line = next_line(&mut lines).await.unwrap();
    assert!(line.contains("DEQUEUED"), "{line}");
    put_metadata(&server, &id, json!({"step": 3})).await;
    let line = next_line(&mut lines).await.unwrap();
    assert!(
        line.contains("metadata") && line.contains("{\"step\":3}"),
        "{line}"
    );
    let (s, v) = server.complete_ok(&run, json!({"fine": 1})).await;
    assert_eq!(s, 200, "{v}");
    let line = next_line(&mut lines).await.unwrap();
    assert!(
        line.contains("COMPLETED") && line.contains("{\"fine\":1}"),
        "{line}"
    );
    assert_eq!(next_line(&mut lines).await, None, "nothing after the end");
    let status = tokio::time::timeout(FRAME_PATIENCE, child.wait())
        .await
        .expect("exits")
        .unwrap();
    assert!(status.success(), "{status}");

    // An unknown run is a clear error.
    let out = tokio::process::Command::new(binary())
        .args(["runs", "watch", "run_nope"])
        .env("TRIGGER_API_URL", &server.base_url)
        .env("TRIGGER_SECRET_KEY", DEV_KEY)
        .output()
        .await
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("run_nope"), "{err}");
}

/// Runs SQL on a plain thread (the sync client must not run on the async runtime's threads).
fn run_sql(url: &str, sql: &str) {
    let (url, sql) = (url.to_string(), sql.to_string());
    std::thread::spawn(move || {
        let mut client = postgres::Client::connect(&url, postgres::NoTls).expect("connect");
        client.batch_execute(&sql).expect("sql");
    })
    .join()
    .expect("the SQL thread");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_cross_servers_on_postgres() {
    // With `TRIGR_TEST_BACKEND=postgres` only: two servers on one schema.
    let Some(base) = postgres_url() else { return };
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let schema = format!(
        "rt_{}_{}_{}",
        std::process::id(),
        chrono::Utc::now().timestamp_micros(),
        NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    run_sql(&base, &format!("CREATE SCHEMA {schema}"));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options=-c%20search_path%3D{schema}");
    let a = TestServer::start_on(&url, &[]).await;
    let b = TestServer::start_on(&url, &[]).await;
    let version = b.deploy(tasks(&["t"])).await;
    let mut on_a = Sse::open(&a, DEV_KEY, "/api/v1/runs/events?tag=x", None).await;
    let id = b.trigger("t", json!({}), json!({"tags": ["x"]})).await;
    let run = b.dequeue(&version, 1, 0).await.remove(0);
    let (s, v) = b.complete_ok(&run, json!(1)).await;
    assert_eq!(s, 200, "{v}");
    let frames = on_a.take(3).await;
    assert_eq!(statuses(&frames), ["QUEUED", "DEQUEUED", "COMPLETED"]);
    assert!(frames.iter().all(|f| f.data["id"] == json!(id)));
    // Resuming on the other server continues from the same numbers.
    let path = format!("/api/v1/runs/{id}/events?stopOnCompletion=true");
    let mut on_b = Sse::open(&b, DEV_KEY, &path, Some(frames[0].id)).await;
    let rest = on_b.until_end().await;
    assert_eq!(rest[..2].to_vec(), frames[1..].to_vec());
    drop((on_a, on_b, a, b));
    run_sql(&base, &format!("DROP SCHEMA IF EXISTS {schema} CASCADE"));
}
