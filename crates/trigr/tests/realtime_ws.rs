//! Realtime over WebSocket (`GET /api/v1/realtime/ws`): many subscriptions on one socket,
//! ping/pong and the silent-peer timeout, resuming from a cursor after the socket dropped
//! without loss or duplicates, authentication before the upgrade and scopes per
//! subscription, the limits (subscriptions, message and frame size, bad JSON, sockets per
//! server), a client that does not read; and the SDK's WebSocket transport: one socket for a
//! client's subscriptions, resuming after the socket drops, a refused subscription, a busy
//! server, `close()`.

mod common;

use std::time::Duration;

use common::*;
use futures::{SinkExt, StreamExt};
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;

/// Longest wait for one message before the test fails (a guard against hanging, not a
/// timing assumption).
const PATIENCE: Duration = Duration::from_secs(30);

/// A client's socket.
struct Ws {
    socket: WebSocketStream<TcpStream>,
    /// Server pings seen so far.
    pings: usize,
    /// The `note` messages skipped so far.
    notes: Vec<Value>,
}

/// The upgrade request for `server`, with `key` as the bearer token.
fn request(
    server: &TestServer,
    key: Option<&str>,
) -> tokio_tungstenite::tungstenite::handshake::client::Request {
    let url = server
        .url("/api/v1/realtime/ws")
        .replace("http://", "ws://");
    let mut req = url.into_client_request().unwrap();
    if let Some(key) = key {
        req.headers_mut()
            .insert("authorization", format!("Bearer {key}").parse().unwrap());
    }
    req
}

async fn tcp(server: &TestServer, recv_buffer: Option<u32>) -> TcpStream {
    let addr = server.base_url.strip_prefix("http://").unwrap();
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    if let Some(size) = recv_buffer {
        socket.set_recv_buffer_size(size).unwrap();
    }
    socket.connect(addr.parse().unwrap()).await.unwrap()
}

impl Ws {
    async fn open(server: &TestServer) -> Ws {
        Ws::open_with(server, DEV_KEY, None).await
    }

    /// A socket whose receive buffer is `recv_buffer` bytes when given.
    async fn open_with(server: &TestServer, key: &str, recv_buffer: Option<u32>) -> Ws {
        let stream = tcp(server, recv_buffer).await;
        let (socket, resp) = tokio_tungstenite::client_async(request(server, Some(key)), stream)
            .await
            .expect("upgrade");
        assert_eq!(resp.status().as_u16(), 101);
        Ws {
            socket,
            pings: 0,
            notes: Vec::new(),
        }
    }

    async fn send(&mut self, message: Value) {
        self.socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
    }

    async fn subscribe(&mut self, id: &str, topic: Value, cursor: Option<i64>) {
        let mut m = json!({ "type": "subscribe", "id": id, "topic": topic });
        if let Some(c) = cursor {
            m["cursor"] = json!(c);
        }
        self.send(m).await;
    }

    /// The next JSON message (pings counted and skipped); `None` when the socket closed.
    async fn next(&mut self) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + PATIENCE;
        loop {
            let m = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .expect("a message within the patience limit");
            match m {
                Some(Ok(Message::Text(text))) => {
                    let m: Value = serde_json::from_str(text.as_str()).expect("JSON");
                    if m["type"] == json!("note") {
                        self.notes.push(m);
                        continue;
                    }
                    return Some(m);
                }
                Some(Ok(Message::Ping(_))) => self.pings += 1,
                Some(Ok(Message::Pong(_))) => {}
                Some(Ok(Message::Close(_))) | None => return None,
                Some(Err(e)) => {
                    eprintln!("socket error: {e}");
                    return None;
                }
                Some(Ok(other)) => panic!("unexpected message {other:?}"),
            }
        }
    }

    /// The next message, which must be of `kind`.
    async fn expect(&mut self, kind: &str) -> Value {
        let m = self.next().await.expect("socket open");
        assert_eq!(m["type"], json!(kind), "{m}");
        m
    }

    /// The next `n` event messages (other messages fail the test).
    async fn events(&mut self, n: usize) -> Vec<Value> {
        let mut out = Vec::new();
        while out.len() < n {
            out.push(self.expect("event").await);
        }
        out
    }
}

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
    let path = format!("/api/v1/runs/{id}/metadata");
    let (s, v) = server
        .call("PUT", &path, Some(json!({ "metadata": metadata })))
        .await;
    assert_eq!(s, 200, "{v}");
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["event"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_socket_carries_runs_tags_and_batches() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let a = server.trigger("t", json!({}), json!({})).await;
    let r = server
        .create_batch(json!({"runCount": 3, "taskIdentifiers": ["t"]}))
        .await;
    let batch = r.json["id"].as_str().unwrap().to_string();
    let mut ws = Ws::open(&server).await;
    ws.send(
        json!({"type": "subscribe", "id": "run", "topic": {"run": a}, "stopOnCompletion": true}),
    )
    .await;
    assert_eq!(ws.expect("subscribed").await["id"], json!("run"));
    let snapshot = ws.expect("event").await;
    assert_eq!(snapshot["id"], json!("run"));
    assert_eq!(snapshot["event"], json!("snapshot"));
    assert_eq!(snapshot["data"]["status"], json!("QUEUED"));
    ws.subscribe("tag", json!({"tags": ["blue", "green"]}), None)
        .await;
    assert_eq!(ws.expect("subscribed").await["id"], json!("tag"));
    ws.send(json!({"type": "subscribe", "id": "batch", "topic": {"batch": batch}, "stopOnCompletion": true}))
        .await;
    assert_eq!(ws.expect("subscribed").await["id"], json!("batch"));

    let items: Vec<Value> = (0..3)
        .map(|i| json!({"index": i, "task": "t", "payload": "{}", "options": {"payloadType": "application/json", "tags": ["green"]}}))
        .collect();
    let r = server.send_items(&batch, &items).await;
    assert_eq!(r.status, 200, "{}", r.text);
    complete_all(&server, &version, 4).await;

    let mut by_id: std::collections::HashMap<String, Vec<Value>> = Default::default();
    let mut ended = 0;
    let tag_done = |by_id: &std::collections::HashMap<String, Vec<Value>>| {
        by_id.get("tag").map_or(0, |t| {
            t.iter()
                .filter(|e| e["data"]["status"] == json!("COMPLETED"))
                .count()
        }) == 3
    };
    while ended < 2 || !tag_done(&by_id) {
        let m = ws.next().await.expect("open");
        if m["type"] == json!("closed") {
            assert_eq!(m["reason"], json!("completed"), "{m}");
            ended += 1;
            continue;
        }
        assert_eq!(m["type"], json!("event"), "{m}");
        by_id
            .entry(m["id"].as_str().unwrap().to_string())
            .or_default()
            .push(m);
    }
    let run = &by_id["run"];
    assert_eq!(kinds(run), ["status", "status", "end"], "{run:?}");
    assert_eq!(run[1]["data"]["status"], json!("COMPLETED"));
    let batch_events = &by_id["batch"];
    let last = &batch_events[batch_events.len() - 2]["data"]["batch"];
    assert_eq!(last["id"], json!(batch));
    assert_eq!(last["total"], json!(3));
    assert_eq!(last["finished"], json!(3));
    assert_eq!(last["counts"], json!({"COMPLETED": 3}));
    // The tag feed saw the batch's green runs (created, dequeued, completed) and not run a.
    let tagged = &by_id["tag"];
    assert!(tagged.iter().all(|e| e["data"]["id"] != json!(a)));
    let completed = tagged
        .iter()
        .filter(|e| e["data"]["status"] == json!("COMPLETED"))
        .count();
    assert_eq!(completed, 3, "{tagged:?}");
    let cursors: Vec<i64> = tagged
        .iter()
        .map(|e| e["cursor"].as_i64().unwrap())
        .collect();
    assert!(cursors.windows(2).all(|w| w[0] < w[1]), "{cursors:?}");

    // Unsubscribing ends the tag feed: a new green run is not sent.
    ws.send(json!({"type": "unsubscribe", "id": "tag"})).await;
    let m = ws.expect("closed").await;
    assert_eq!(m["reason"], json!("unsubscribed"));
    server
        .trigger("t", json!({}), json!({"tags": ["green"]}))
        .await;
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ping_pong_and_a_silent_peer_is_disconnected() {
    let server = TestServer::start_with(Options {
        args: vec!["--realtime-ws-ping-ms".into(), "300".into()],
        ..Default::default()
    })
    .await;
    let mut ws = Ws::open(&server).await;
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
    // A client that reads answers the server's pings (tungstenite does) and stays connected
    // well past three intervals.
    while ws.pings < 4 {
        ws.send(json!({"type": "ping"})).await;
        ws.expect("pong").await;
    }
    // A peer that never answers: its bytes are read raw, so no pong goes back. The server
    // pings it, then closes the connection.
    let stream = tcp(&server, None).await;
    let (mut quiet, _) = tokio_tungstenite::client_async(request(&server, Some(DEV_KEY)), stream)
        .await
        .unwrap();
    let quiet = tokio::spawn(async move {
        let mut raw = Vec::new();
        let tcp = quiet.get_mut();
        let mut buf = [0u8; 1024];
        while let Ok(n @ 1..) = tcp.read(&mut buf).await {
            raw.extend_from_slice(&buf[..n]);
        }
        raw
    });
    // Meanwhile the other client keeps talking.
    let deadline = tokio::time::Instant::now() + PATIENCE;
    while !quiet.is_finished() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the silent peer was disconnected"
        );
        ws.send(json!({"type": "ping"})).await;
        ws.expect("pong").await;
    }
    let raw = quiet.await.unwrap();
    assert_eq!(raw.first(), Some(&0x89), "it was pinged first: {raw:?}");
    // The one that answered all along is still served.
    ws.send(json!({"type": "ping"})).await;
    ws.expect("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnecting_with_the_cursor_gets_exactly_the_missed_events() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    // A reference subscriber that stays connected throughout.
    let mut all = Ws::open(&server).await;
    all.subscribe("ref", json!({"tag": "resume"}), None).await;
    all.expect("subscribed").await;
    let mut ws = Ws::open(&server).await;
    ws.subscribe("s", json!({"tag": "resume"}), None).await;
    ws.expect("subscribed").await;
    let mut ids = Vec::new();
    for i in 0..3 {
        let id = server
            .trigger("t", json!({}), json!({"tags": ["resume"]}))
            .await;
        put_metadata(&server, &id, json!({ "i": i })).await;
        ids.push(id);
    }
    let before = ws.events(6).await;
    let cursor = before.last().unwrap()["cursor"].as_i64().unwrap();
    drop(ws); // the socket drops mid-run
    for id in &ids {
        put_metadata(&server, id, json!({ "later": true })).await;
    }
    complete_all(&server, &version, 3).await;
    let reference = all.events(6 + 3 + 6).await;
    let mut again = Ws::open(&server).await;
    again
        .subscribe("s", json!({"tag": "resume"}), Some(cursor))
        .await;
    again.expect("subscribed").await;
    let missed = again.events(9).await;
    let strip = |e: &Value| (e["cursor"].clone(), e["event"].clone(), e["data"].clone());
    let got: Vec<_> = before.iter().chain(missed.iter()).map(strip).collect();
    let want: Vec<_> = reference.iter().map(strip).collect();
    assert_eq!(got, want, "every event once, in order");
    // Nothing more: a ping's pong is the next message.
    again.send(json!({"type": "ping"})).await;
    again.expect("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_comes_before_the_upgrade_and_scopes_per_subscription() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let a = server.trigger("t", json!({}), json!({})).await;
    let b = server.trigger("t", json!({}), json!({})).await;
    for key in [None, Some("tr_dev_wrong")] {
        let err = tokio_tungstenite::client_async(request(&server, key), tcp(&server, None).await)
            .await
            .expect_err("refused");
        match err {
            tokio_tungstenite::tungstenite::Error::Http(resp) => {
                assert_eq!(resp.status().as_u16(), 401);
                let body: Value = serde_json::from_slice(resp.body().as_deref().unwrap()).unwrap();
                assert!(!body["error"].as_str().unwrap().is_empty(), "{body}");
            }
            other => panic!("expected 401, got {other:?}"),
        }
    }
    // A plain GET (no upgrade) is a JSON 4xx.
    let (s, v) = server.get("/api/v1/realtime/ws").await;
    assert!((400..500).contains(&s), "{s} {v}");
    assert!(v["error"].as_str().unwrap().contains("WebSocket"), "{v}");

    let token = public_token(&server, &[format!("read:runs:{a}")]).await;
    let mut ws = Ws::open_with(&server, &token, None).await;
    ws.subscribe("a", json!({"run": a}), None).await;
    ws.expect("subscribed").await;
    assert_eq!(ws.expect("event").await["data"]["id"], json!(a));
    ws.subscribe("b", json!({"run": b}), None).await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["id"].clone(), e["status"].clone()),
        (json!("b"), json!(403))
    );
    ws.subscribe("t", json!({"tag": "x"}), None).await;
    assert_eq!(ws.expect("error").await["status"], json!(403));
    ws.subscribe("n", json!({"run": "run_nope"}), None).await;
    let e = ws.expect("error").await;
    assert!(
        e["status"] == json!(403) || e["status"] == json!(404),
        "{e}"
    );
    let mut secret = Ws::open(&server).await;
    secret
        .subscribe("n", json!({"run": "run_nope"}), None)
        .await;
    assert_eq!(secret.expect("error").await["status"], json!(404));
    secret
        .subscribe("bn", json!({"batch": "batch_nope"}), None)
        .await;
    assert_eq!(secret.expect("error").await["status"], json!(404));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_and_bad_messages_are_errors_not_a_dropped_server() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let mut ws = Ws::open(&server).await;
    for (bad, names) in [
        ("{not json".to_string(), None),
        (json!({"type": "dance"}).to_string(), None),
        (json!({"type": "subscribe", "id": "x", "topic": {"moon": "y"}}).to_string(), Some("x")),
        (r#"{"type": "subscribe", "id": "c", "topic": {"tag": "t"}, "cursor": 99999999999999999999}"#.to_string(), Some("c")),
        (json!({"type": "subscribe", "id": "", "topic": {"tag": "t"}}).to_string(), None),
        (json!({"type": "subscribe", "id": "z", "topic": {"tag": "a\u{0}b"}}).to_string(), Some("z")),
        (json!({"type": "subscribe", "id": "n", "topic": {"tag": "t"}, "cursor": -1}).to_string(), Some("n")),
        (json!({"type": "subscribe", "id": "f", "topic": {"tag": "t"}, "cursor": 999999999}).to_string(), Some("f")),
        (json!({"type": "subscribe", "id": "m", "topic": {"tags": (0..11).map(|i| i.to_string()).collect::<Vec<_>>()}}).to_string(), Some("m")),
        (json!({"type": "unsubscribe", "id": "nobody"}).to_string(), Some("nobody")),
    ] {
        ws.socket.send(Message::Text(bad.clone().into())).await.unwrap();
        let e = ws.expect("error").await;
        assert_eq!(e["id"], json!(names), "{bad}: {e}");
        let status = e["status"].as_u64().unwrap();
        assert!((400..500).contains(&status), "{bad}: {e}");
        assert!(!e["error"].as_str().unwrap().is_empty());
    }
    ws.socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert!(ws.expect("error").await["error"]
        .as_str()
        .unwrap()
        .contains("text"));
    // Over the message limit: an error, and the connection goes on.
    let long = json!({"type": "subscribe", "id": "big", "topic": {"tag": "x".repeat(20_000)}});
    ws.send(long).await;
    assert!(ws.expect("error").await["error"]
        .as_str()
        .unwrap()
        .contains("at most"));
    // A duplicate id, then too many subscriptions.
    for i in 0..100 {
        ws.subscribe(&format!("s{i}"), json!({"tag": format!("t{i}")}), None)
            .await;
        ws.expect("subscribed").await;
    }
    ws.subscribe("s0", json!({"tag": "t"}), None).await;
    assert_eq!(ws.expect("error").await["status"], json!(409));
    ws.subscribe("s100", json!({"tag": "t"}), None).await;
    let e = ws.expect("error").await;
    assert_eq!(
        (e["id"].clone(), e["status"].clone()),
        (json!("s100"), json!(429))
    );
    // Room again after an unsubscribe.
    ws.send(json!({"type": "unsubscribe", "id": "s5"})).await;
    ws.expect("closed").await;
    ws.subscribe("s100", json!({"tag": "t"}), None).await;
    ws.expect("subscribed").await;
    // A frame over the socket's limit closes this connection (1009), not the server.
    let huge = "x".repeat(200_000);
    let _ = ws.socket.send(Message::Text(huge.into())).await;
    let mut code = None;
    while let Some(m) = tokio::time::timeout(PATIENCE, ws.socket.next())
        .await
        .unwrap()
    {
        match m {
            Ok(Message::Close(frame)) => code = frame.map(|f| u16::from(f.code)),
            Ok(_) => continue,
            Err(_) => break,
        }
    }
    assert_eq!(code, Some(1009));
    let mut fresh = Ws::open(&server).await;
    fresh.send(json!({"type": "ping"})).await;
    fresh.expect("pong").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_that_does_not_read_holds_nothing_back_and_catches_up() {
    // A live channel of 8 events and a socket with a small receive buffer that is not read:
    // the writes to it stop within a few events, the queue fills, the subscription falls
    // behind the channel and later catches up from the store.
    let server = TestServer::start_with(Options {
        args: vec!["--realtime-buffer".into(), "8".into()],
        ..Default::default()
    })
    .await;
    let version = server.deploy(tasks(&["t"])).await;
    let mut stalled = Ws::open_with(&server, DEV_KEY, Some(4096)).await;
    stalled.subscribe("s", json!({"tag": "slow"}), None).await;
    stalled.expect("subscribed").await;
    let mut reader = Ws::open(&server).await;
    reader.subscribe("s", json!({"tag": "slow"}), None).await;
    reader.expect("subscribed").await;
    let big = "x".repeat(8000);
    for i in 0..100 {
        let id = server
            .trigger("t", json!({}), json!({"tags": ["slow"]}))
            .await;
        put_metadata(&server, &id, json!({ "i": i, "pad": big })).await;
    }
    complete_all(&server, &version, 100).await;
    let want = 400;
    let got = reader.events(want).await;
    // Other subscribers were not held back: the reader has everything already.
    let late = stalled.events(want).await;
    assert_eq!(late, got, "every event once, in order");
    assert!(
        stalled.notes.iter().any(|n| n["message"]
            .as_str()
            .unwrap()
            .contains("catching up from the store")),
        "the subscription says it fell behind: {:?}",
        stalled.notes
    );
}

/// A TCP proxy to the server whose connections the test can cut, to drop a client's socket
/// mid-run; new connections keep working.
struct Proxy {
    url: String,
    cut: tokio::sync::watch::Sender<u64>,
    /// Connections accepted so far.
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Proxy {
    async fn start(server: &TestServer) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let target = server.base_url.strip_prefix("http://").unwrap().to_string();
        let (cut, cuts) = tokio::sync::watch::channel(0u64);
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counter = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let target = target.clone();
                let mut cuts = cuts.clone();
                cuts.mark_unchanged();
                tokio::spawn(async move {
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cuts.changed() => {}
                    }
                });
            }
        });
        Proxy { url, cut, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Drops every connection open now.
    fn cut(&self) {
        self.cut.send_modify(|n| *n += 1);
    }
}

fn ws_options() -> trigr_sdk::realtime::SubscribeOptions {
    trigr_sdk::realtime::SubscribeOptions {
        transport: trigr_sdk::realtime::Transport::WebSocket,
        ..Default::default()
    }
}

/// The next event of a subscription, within the patience limit.
async fn next_event(sub: &mut trigr_sdk::realtime::Subscription) -> trigr_sdk::realtime::RunEvent {
    tokio::time::timeout(PATIENCE, sub.next())
        .await
        .expect("an event within the patience limit")
        .expect("subscription open")
        .expect("an event, not an error")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_resumes_its_websocket_subscriptions_after_the_socket_drops() {
    use trigr_sdk::realtime::EventKind;
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let proxy = Proxy::start(&server).await;
    let client = trigr_sdk::Client::new(&proxy.url, DEV_KEY).unwrap();
    let a = server
        .trigger("t", json!({}), json!({"tags": ["sdk"]}))
        .await;
    let mut run = client.subscribe_to_run_with(&a, ws_options());
    let mut tagged = client.subscribe_to_runs_with_tags(&["sdk"], ws_options());
    let first = next_event(&mut run).await;
    assert_eq!(first.kind, EventKind::Snapshot);
    assert_eq!(first.run.as_ref().unwrap().id, a);
    assert_eq!(next_event(&mut tagged).await.kind, EventKind::Snapshot);
    put_metadata(&server, &a, json!({"step": 1})).await;
    let m1 = next_event(&mut run).await;
    assert_eq!(m1.kind, EventKind::Metadata);
    assert_eq!(next_event(&mut tagged).await, m1);
    assert_eq!(proxy.accepted(), 1, "both subscriptions share one socket");

    // The socket drops; meanwhile the run moves on.
    proxy.cut();
    put_metadata(&server, &a, json!({"step": 2})).await;
    complete_all(&server, &version, 1).await;
    let mut got = Vec::new();
    loop {
        let e = next_event(&mut run).await;
        let end = e.kind == EventKind::End;
        got.push(e);
        if end {
            break;
        }
    }
    let kinds: Vec<EventKind> = got.iter().map(|e| e.kind).collect();
    assert_eq!(
        kinds,
        [
            EventKind::Metadata,
            EventKind::Status,
            EventKind::Status,
            EventKind::End
        ],
        "exactly the missed events: {got:?}"
    );
    assert_eq!(got[0].run.as_ref().unwrap().metadata, json!({"step": 2}));
    assert_eq!(got[2].run.as_ref().unwrap().status, "COMPLETED");
    assert!(got.windows(2).all(|w| w[0].id <= w[1].id) && got[0].id > m1.id);
    let ended = tokio::time::timeout(PATIENCE, run.next()).await.unwrap();
    assert!(ended.is_none(), "the run subscription ends after `end`");
    // The tag subscription got the same run events, once each.
    for want in &got[..3] {
        assert_eq!(&next_event(&mut tagged).await, want);
    }
    assert_eq!(
        proxy.accepted(),
        2,
        "one new socket for both after the drop"
    );

    // close() ends the WebSocket subscriptions still open.
    client.close().await;
    let ended = tokio::time::timeout(PATIENCE, tagged.next()).await.unwrap();
    assert!(ended.is_none(), "close() ends the subscription");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reports_a_refused_websocket_subscription() {
    let server = TestServer::start().await;
    let client = trigr_sdk::Client::new(&server.base_url, DEV_KEY).unwrap();
    let mut sub = client.subscribe_to_run_with("run_nope", ws_options());
    let e = tokio::time::timeout(PATIENCE, sub.next())
        .await
        .unwrap()
        .expect("an error")
        .expect_err("refused");
    assert!(e.to_string().contains("404"), "{e}");
    assert!(tokio::time::timeout(PATIENCE, sub.next())
        .await
        .unwrap()
        .is_none());
    let wrong = trigr_sdk::Client::new(&server.base_url, "tr_dev_wrong").unwrap();
    let mut sub = wrong.subscribe_to_runs_with_tag("x");
    drop(sub);
    sub = wrong.subscribe_to_runs_with_tags(&["x"], ws_options());
    let e = tokio::time::timeout(PATIENCE, sub.next())
        .await
        .unwrap()
        .expect("an error")
        .expect_err("refused");
    assert!(e.to_string().contains("401"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_more_websockets_than_connections() {
    let server = TestServer::start_with(Options {
        args: vec!["--max-connections".into(), "2".into()],
        ..Default::default()
    })
    .await;
    let first = Ws::open(&server).await;
    let mut second = Ws::open(&server).await;
    let refused =
        tokio_tungstenite::client_async(request(&server, Some(DEV_KEY)), tcp(&server, None).await)
            .await
            .expect_err("a third WebSocket is refused");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // Closing one makes room.
    drop(first);
    let deadline = tokio::time::Instant::now() + PATIENCE;
    let mut third = loop {
        let stream = tcp(&server, None).await;
        match tokio_tungstenite::client_async(request(&server, Some(DEV_KEY)), stream).await {
            Ok((socket, _)) => {
                break Ws {
                    socket,
                    pings: 0,
                    notes: Vec::new(),
                }
            }
            Err(_) => assert!(tokio::time::Instant::now() < deadline, "room again"),
        }
    };
    for ws in [&mut second, &mut third] {
        ws.send(json!({"type": "ping"})).await;
        ws.expect("pong").await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_retries_a_busy_server_with_backoff() {
    let server = TestServer::start_with_clock().await;
    server.deploy(tasks(&["t"])).await;
    let a = server.trigger("t", json!({}), json!({})).await;
    // The next two upgrades are answered 503, as a busy server answers.
    let (s, v) = server
        .post(
            "/api/v1/test/faults",
            json!({"path": "/api/v1/realtime/ws", "status": 503, "count": 2}),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    // The rule applies to upgrades: a first one is refused.
    let refused =
        tokio_tungstenite::client_async(request(&server, Some(DEV_KEY)), tcp(&server, None).await)
            .await
            .expect_err("503");
    match refused {
        tokio_tungstenite::tungstenite::Error::Http(resp) => {
            assert_eq!(resp.status().as_u16(), 503)
        }
        other => panic!("expected 503, got {other:?}"),
    }
    // The client meets the second 503, waits and connects again.
    let client = trigr_sdk::Client::new(&server.base_url, DEV_KEY).unwrap();
    let mut run = client.subscribe_to_run_with(&a, ws_options());
    let first = next_event(&mut run).await;
    assert_eq!(first.kind, trigr_sdk::realtime::EventKind::Snapshot);
    assert_eq!(first.run.unwrap().id, a);
    client.close().await;
    assert!(tokio::time::timeout(PATIENCE, run.next())
        .await
        .unwrap()
        .is_none());
}

/// `trigr …` on the server's store (an admin command); its standard output.
fn admin(server: &TestServer, cmd: &[&str]) -> String {
    let out = std::process::Command::new(binary())
        .args(cmd)
        .args(store_args(server))
        .env_remove("TRIGR_DATA_DIR")
        .env_remove("TRIGR_DATABASE_URL")
        .output()
        .expect("run trigr");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8")
}

/// A key revoked while its socket is open stops working on that socket too: the next message
/// after the server reads the key again (within a second) is a 401 error, then the close.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_revoked_while_its_socket_is_open_ends_the_connection() {
    let server = TestServer::start().await;
    server.deploy(tasks(&["t"])).await;
    let run = server.trigger("t", json!({}), json!({})).await;
    let created = admin(&server, &["keys", "create", "--env", "dev"]);
    let key = created
        .lines()
        .find_map(|l| l.strip_prefix("TRIGGER_SECRET_KEY="))
        .expect("a new key")
        .to_string();
    let mut ws = Ws::open_with(&server, &key, None).await;
    ws.subscribe("a", json!({"run": run}), None).await;
    ws.expect("subscribed").await;
    assert_eq!(ws.expect("event").await["data"]["id"], json!(run));

    admin(&server, &["keys", "revoke", &key[..11]]);
    let since = std::time::Instant::now();
    let refusal = loop {
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "the key still works"
        );
        ws.send(json!({"type": "ping"})).await;
        let m = ws.next().await.expect("an answer before the close");
        if m["type"] == json!("error") {
            break m;
        }
        assert_eq!(m["type"], json!("pong"), "{m}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(refusal["status"], json!(401), "{refusal}");
    assert!(
        refusal["error"].as_str().unwrap().contains("connect again"),
        "{refusal}"
    );
    assert_eq!(ws.next().await, None, "the server closes the socket");
}
