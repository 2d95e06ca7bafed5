//! Connections over raw TCP: slow or stalled clients are cut by the header, body and
//! keep-alive timeouts and cannot starve the server of sockets, the connection cap makes new
//! connections wait, SIGTERM closes held connections by the shutdown deadline without losing
//! what was acknowledged, every error answer is JSON, and long-polls, event streams and
//! streamed output writes still last as long as they need.

mod common;

use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::time::timeout;

/// How long anything the server must do by itself may take before a test gives up.
const BOUND: Duration = Duration::from_secs(15);

async fn start(args: &[&str]) -> TestServer {
    TestServer::start_with(Options {
        args: args.iter().map(|a| a.to_string()).collect(),
        ..Default::default()
    })
    .await
}

fn host(server: &TestServer) -> String {
    server.base_url.trim_start_matches("http://").to_string()
}

/// A request head with the dev key, `Host` and `extra` headers.
fn head(method: &str, path: &str, extra: &[(&str, &str)]) -> String {
    let mut head =
        format!("{method} {path} HTTP/1.1\r\nHost: trigr\r\nAuthorization: Bearer {DEV_KEY}\r\n");
    for (name, value) in extra {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    head
}

/// One chunk of a chunked request body.
fn chunk(data: &str) -> String {
    format!("{:x}\r\n{data}\r\n", data.len())
}

/// A parsed HTTP answer.
#[derive(Debug)]
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// Asserts a JSON error answer `{"error": "<text naming the problem>", …}`.
    fn assert_json_error(&self, status: u16, needle: &str, what: &str) {
        assert_eq!(self.status, status, "{what}: {self:?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/json"),
            "{what}: {self:?}"
        );
        let message = self.json()["error"].as_str().unwrap_or("").to_lowercase();
        assert!(
            message.contains(&needle.to_lowercase()),
            "{what}: the error should name {needle:?}: {self:?}"
        );
    }
}

/// A raw HTTP/1.1 connection, for requests sent piece by piece.
struct Raw {
    writer: OwnedWriteHalf,
    reader: Reader,
}

impl Raw {
    async fn connect(server: &TestServer) -> Raw {
        let tcp = TcpStream::connect(host(server)).await.expect("connect");
        let (reader, writer) = tcp.into_split();
        Raw {
            writer,
            reader: Reader {
                half: reader,
                buffer: Vec::new(),
            },
        }
    }

    async fn send(&mut self, data: &str) -> std::io::Result<()> {
        self.writer.write_all(data.as_bytes()).await
    }

    /// Reads one answer (its body by `Content-Length`).
    async fn answer(&mut self) -> Answer {
        self.reader.answer().await
    }

    /// Whether the server closed the connection within `within`.
    async fn closed_within(&mut self, within: Duration) -> bool {
        self.reader.closed_within(within).await
    }
}

/// The reading side of a [`Raw`] connection.
struct Reader {
    half: OwnedReadHalf,
    buffer: Vec<u8>,
}

impl Reader {
    async fn answer(&mut self) -> Answer {
        timeout(BOUND, self.read_answer())
            .await
            .expect("no answer within the bound")
    }

    async fn read_answer(&mut self) -> Answer {
        let end = loop {
            if let Some(i) = self.buffer.windows(4).position(|w| w == b"\r\n\r\n") {
                break i;
            }
            self.fill().await;
        };
        let head = String::from_utf8_lossy(&self.buffer[..end]).to_string();
        self.buffer.drain(..end + 4);
        let mut lines = head.split("\r\n");
        let status = lines.next().unwrap_or("").split(' ').nth(1).unwrap_or("");
        let status: u16 = status.parse().expect("a status code");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_lowercase(), v.trim().to_string()))
            .collect();
        let length: usize = headers
            .iter()
            .find(|(n, _)| n == "content-length")
            .map_or(0, |(_, v)| v.parse().expect("a length"));
        while self.buffer.len() < length {
            self.fill().await;
        }
        let body = String::from_utf8_lossy(&self.buffer[..length]).to_string();
        self.buffer.drain(..length);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.half.read(&mut chunk).await.expect("read");
        assert!(n > 0, "the connection closed before a whole answer");
        self.buffer.extend_from_slice(&chunk[..n]);
    }

    /// Waits until the server closes the connection, reading and dropping what it sends.
    async fn closed(&mut self) {
        let mut chunk = [0u8; 1024];
        while matches!(self.half.read(&mut chunk).await, Ok(n) if n > 0) {}
    }

    async fn closed_within(&mut self, within: Duration) -> bool {
        timeout(within, self.closed()).await.is_ok()
    }
}

/// `GET /healthz` on a new connection.
async fn health(server: &TestServer) -> Answer {
    let mut raw = Raw::connect(server).await;
    raw.send(&head("GET", "/healthz", &[])).await.expect("send");
    raw.answer().await
}

/// Lowers the server's open-file limit, as on a host with a small `ulimit -n`.
fn limit_open_files(server: &TestServer, files: u32) {
    let status = Command::new("prlimit")
        .arg("--pid")
        .arg(server.child.id().to_string())
        .arg(format!("--nofile={files}:{files}"))
        .status()
        .expect("run prlimit");
    assert!(status.success(), "prlimit failed");
}

/// A client that sends a request line, then one header line every 100 ms, never ending the
/// head; returns once the server closed the connection.
async fn drip_header_lines(server_host: String) {
    let mut tcp = TcpStream::connect(server_host).await.expect("connect");
    if tcp.write_all(b"GET /healthz HTTP/1.1\r\n").await.is_err() {
        return;
    }
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut chunk = [0u8; 1024];
    for n in 0u64.. {
        tokio::select! {
            read = tcp.read(&mut chunk) => {
                if !matches!(read, Ok(n) if n > 0) {
                    return;
                }
            }
            _ = tick.tick() => {
                if tcp.write_all(format!("X-Drip-{n}: a\r\n").as_bytes()).await.is_err() {
                    return;
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_header_senders_are_cut_and_the_server_stays_reachable() {
    let server = start(&["--header-timeout", "1"]).await;
    // Fewer descriptors than dripping clients: without the header timeout they would hold
    // every one of them and the accept loop could take no new connection.
    limit_open_files(&server, 200);
    let drippers: Vec<_> = (0..300)
        .map(|_| tokio::spawn(timeout(BOUND, drip_header_lines(host(&server)))))
        .collect();
    let h = health(&server).await;
    assert_eq!(h.status, 200, "{h:?}");
    for dripper in drippers {
        let cut = dripper.await.expect("dripper task");
        assert!(
            cut.is_ok(),
            "a client dripping header lines was not cut within {BOUND:?}"
        );
    }
    let h = health(&server).await;
    assert_eq!(h.status, 200, "healthy after the drippers: {h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_are_cut_with_408_but_a_moving_upload_is_not() {
    let server = start(&["--body-timeout", "1"]).await;
    server.deploy(tasks(&["t"])).await;
    let body = json!({"payload": "{}", "options": {"payloadType": "application/json"}});
    let body = body.to_string();
    let (sent, _) = body.split_at(body.len() / 2);
    let length = body.len().to_string();
    let trigger_head = head(
        "POST",
        "/api/v1/tasks/t/trigger",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &length),
        ],
    );
    // A hundred clients send half a body and stop.
    let mut stalled = Vec::new();
    for _ in 0..100 {
        let mut raw = Raw::connect(&server).await;
        raw.send(&format!("{trigger_head}{sent}"))
            .await
            .expect("send");
        stalled.push(raw);
    }
    for raw in &mut stalled {
        let a = raw.answer().await;
        a.assert_json_error(408, "stalled", "a stalled body");
        assert_eq!(a.header("connection"), Some("close"), "{a:?}");
        assert!(raw.closed_within(BOUND).await, "closed after the 408");
    }
    assert_eq!(
        server.list_ids("").await,
        Vec::<String>::new(),
        "no run from a cut body"
    );

    // A larger body that keeps moving takes longer than the idle timeout in all, and is
    // taken whole.
    let payload = json!({"data": "x".repeat(200_000)}).to_string();
    let body =
        json!({"payload": payload, "options": {"payloadType": "application/json"}}).to_string();
    let length = body.len().to_string();
    let mut raw = Raw::connect(&server).await;
    raw.send(&head(
        "POST",
        "/api/v1/tasks/t/trigger",
        &[
            ("Content-Type", "application/json"),
            ("Content-Length", &length),
        ],
    ))
    .await
    .expect("send");
    let started = Instant::now();
    let pieces: Vec<&[u8]> = body.as_bytes().chunks(body.len() / 8 + 1).collect();
    // The client is slow on purpose: pieces 300 ms apart, well within the idle timeout.
    for piece in pieces {
        tokio::time::sleep(Duration::from_millis(300)).await;
        raw.writer.write_all(piece).await.expect("send a piece");
    }
    assert!(started.elapsed() > Duration::from_secs(2));
    let a = raw.answer().await;
    assert_eq!(a.status, 200, "a moving upload is taken: {a:?}");
    assert!(a.json()["id"].is_string(), "{a:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_kept_alive_connections_close_after_the_keep_alive_timeout() {
    let server = start(&["--header-timeout", "1", "--keep-alive-timeout", "5"]).await;
    let get = head("GET", "/healthz", &[]);
    let mut raw = Raw::connect(&server).await;
    raw.send(&get).await.expect("send");
    assert_eq!(raw.answer().await.status, 200);
    // Idle for longer than the header timeout: the connection is still there.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    raw.send(&get).await.expect("send after an idle pause");
    assert_eq!(raw.answer().await.status, 200);
    // Idle for good: closed by the keep-alive timeout.
    let idle = Instant::now();
    assert!(
        raw.closed_within(BOUND).await,
        "an idle connection is closed"
    );
    assert!(
        idle.elapsed() >= Duration::from_secs(4),
        "closed by the keep-alive timeout, not the header timeout: {:?}",
        idle.elapsed()
    );

    // A later request whose head stalls is cut by the header timeout.
    let mut raw = Raw::connect(&server).await;
    raw.send(&get).await.expect("send");
    assert_eq!(raw.answer().await.status, 200);
    let started = Instant::now();
    raw.send("GET /healthz HTTP/1.1\r\nHost: trigr\r\n")
        .await
        .expect("send part of a head");
    assert!(raw.closed_within(BOUND).await, "a stalled head is cut");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "cut by the header timeout: {:?}",
        started.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_wait_for_a_free_slot() {
    let server = start(&["--max-connections", "2"]).await;
    let first = Raw::connect(&server).await;
    let _second = Raw::connect(&server).await;
    let mut third = Raw::connect(&server).await;
    third
        .send(&head("GET", "/healthz", &[]))
        .await
        .expect("send");
    assert!(
        timeout(Duration::from_millis(500), third.reader.read_answer())
            .await
            .is_err(),
        "a third connection is not served while two are open"
    );
    drop(first);
    assert_eq!(
        third.answer().await.status,
        200,
        "served once a slot is free"
    );
}

/// A started run with its lease, and the path of its output stream `key`.
async fn running_with_stream(server: &TestServer, task: &str, key: &str) -> (Value, String) {
    let version = server.deploy(tasks(&[task])).await;
    server.trigger(task, json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 5000).await.remove(0);
    let id = run["runId"].as_str().unwrap();
    let path = format!("/realtime/v1/streams/{id}/self/{key}");
    let open = server
        .send(Req::new("PUT", &path).header("x-trigr-lease", run["lease"].as_str().unwrap()))
        .await;
    assert_eq!(open.status, 200, "open the stream: {}", open.text);
    (run, path)
}

/// The head of a chunked output stream write.
fn stream_write_head(run: &Value, path: &str, from: i64) -> String {
    head(
        "POST",
        path,
        &[
            ("Content-Type", "application/x-ndjson"),
            ("Transfer-Encoding", "chunked"),
            ("X-Trigr-Lease", run["lease"].as_str().unwrap()),
            ("X-Resume-From-Chunk", &from.to_string()),
        ],
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_writes_may_pause_up_to_the_stream_idle_timeout() {
    let server = start(&["--body-timeout", "1", "--stream-idle-timeout", "3"]).await;
    let (run, path) = running_with_stream(&server, "writer", "tokens").await;

    // A pause longer than the body timeout, shorter than the stream idle timeout.
    let mut raw = Raw::connect(&server).await;
    raw.send(&format!(
        "{}{}",
        stream_write_head(&run, &path, 0),
        chunk("{\"n\":0}\n")
    ))
    .await
    .expect("send");
    tokio::time::sleep(Duration::from_secs(2)).await;
    raw.send(&format!("{}0\r\n\r\n", chunk("{\"n\":1}\n")))
        .await
        .expect("send the rest");
    let a = raw.answer().await;
    assert_eq!(a.status, 200, "{a:?}");
    assert_eq!(a.json()["accepted"], json!(2), "{a:?}");

    // A write that stalls for longer is cut; what arrived before is stored.
    let mut raw = Raw::connect(&server).await;
    raw.send(&format!(
        "{}{}",
        stream_write_head(&run, &path, 2),
        chunk("{\"n\":2}\n")
    ))
    .await
    .expect("send");
    let started = Instant::now();
    let a = raw.answer().await;
    a.assert_json_error(408, "stalled", "a stalled stream write");
    assert!(started.elapsed() >= Duration::from_secs(2), "{a:?}");
    let last = server
        .send(Req::new("HEAD", &path).header("x-trigr-lease", run["lease"].as_str().unwrap()))
        .await;
    assert_eq!(last.header("x-last-chunk-index").as_deref(), Some("2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_polls_and_event_streams_outlast_every_timeout() {
    let server = start(&[
        "--header-timeout",
        "1",
        "--body-timeout",
        "1",
        "--keep-alive-timeout",
        "1",
    ])
    .await;
    let version = server.deploy(tasks(&["t"])).await;
    let started = Instant::now();
    let runs = server.dequeue(&version, 1, 2500).await;
    assert!(runs.is_empty());
    assert!(started.elapsed() >= Duration::from_millis(2400));

    let id = server.trigger("t", json!({}), json!({})).await;
    let mut events = server
        .http
        .get(server.url(&format!("/api/v1/runs/{id}/events")))
        .bearer_auth(DEV_KEY)
        .send()
        .await
        .expect("subscribe");
    assert_eq!(events.status(), 200);
    let first = timeout(BOUND, events.chunk()).await.expect("a first event");
    assert!(first.expect("read").is_some(), "the stream is open");
    // Quiet for longer than every timeout: nothing may cut the subscription meanwhile.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(server.cancel(&id).await.0, 200);
    let mut seen = String::new();
    while !seen.contains("CANCELED") {
        let next = timeout(BOUND, events.chunk())
            .await
            .expect("an event within the bound")
            .expect("read");
        let Some(bytes) = next else {
            panic!("the event stream ended before the cancel: {seen}");
        };
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_answer_is_json() {
    let server = start(&[]).await;
    let long_path = format!("/api/v1/runs?tag={}", "a".repeat(20_000));
    let big_header = "b".repeat(70_000);
    let many_headers: Vec<(String, String)> = (0..150)
        .map(|i| (format!("X-Many-{i}"), "v".to_string()))
        .collect();
    let many: Vec<(&str, &str)> = many_headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    let cases: Vec<(String, u16, &str, &str)> = vec![
        (
            head("GET", "/api/v3/runs/%FF", &[]),
            400,
            "utf-8",
            "invalid UTF-8 in a path",
        ),
        (
            head("GET", "/api/v1/timezones?excludeUtc=maybe", &[]),
            400,
            "excludeUtc",
            "a query value of the wrong type",
        ),
        (
            head("DELETE", "/api/v1/runs", &[]),
            405,
            "DELETE",
            "an unknown method",
        ),
        (
            head("GET", "/nope", &[]),
            404,
            "endpoint",
            "an unknown path",
        ),
        (
            head("GET", &long_path, &[]),
            414,
            "target",
            "a long request target",
        ),
        (
            head("GET", "/healthz", &[("X-Big", &big_header)]),
            431,
            "headers",
            "large headers",
        ),
    ];
    for (request, status, needle, what) in cases {
        let mut raw = Raw::connect(&server).await;
        raw.send(&request).await.expect("send");
        let a = raw.answer().await;
        a.assert_json_error(status, needle, what);
        if status == 405 {
            assert!(
                a.header("allow").is_some_and(|v| v.contains("GET")),
                "{a:?}"
            );
        }
    }

    // More than 100 header fields: refused by the HTTP layer itself, before any route (and
    // any JSON) — the one 431 that has an empty body.
    let mut raw = Raw::connect(&server).await;
    raw.send(&head("GET", "/healthz", &many))
        .await
        .expect("send");
    let a = raw.answer().await;
    assert_eq!(a.status, 431, "{a:?}");

    // A body over the limit, answered before it is all read.
    let blob = "x".repeat(5 * 1024 * 1024);
    let length = blob.len().to_string();
    let mut raw = Raw::connect(&server).await;
    raw.send(&head(
        "PUT",
        "/api/v1/blobs/token",
        &[("Content-Length", &length)],
    ))
    .await
    .expect("send");
    let (_, a) = tokio::join!(raw.writer.write_all(blob.as_bytes()), raw.reader.answer());
    a.assert_json_error(413, "body", "a body over the limit");

    // Error answers the routes write themselves keep every field.
    let version = server.deploy(tasks(&["t"])).await;
    server.trigger("t", json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 5000).await.remove(0);
    assert_eq!(server.complete_ok(&run, json!(1)).await.0, 200);
    let (status, body) = server.complete_ok(&run, json!(2)).await;
    assert_eq!(status, 409);
    assert_eq!(body["code"], json!("lease_lost"), "{body}");
    assert_eq!(body["status"], json!("COMPLETED"), "{body}");
}

/// Sends SIGTERM and waits up to `within` for the process to exit; kills it and returns
/// `None` if it did not.
fn terminate_within(server: &mut TestServer, within: Duration) -> Option<ExitStatus> {
    let pid = server.child.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let child = &mut server.child;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        scope.spawn(move || {
            let _ = tx.send(child.wait());
        });
        match rx.recv_timeout(within) {
            Ok(status) => status.ok(),
            Err(_) => {
                let _ = Command::new("kill").args(["-KILL", &pid]).status();
                None
            }
        }
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_held_connections_by_the_shutdown_deadline() {
    let mut server = start(&["--shutdown-timeout", "2"]).await;
    server.deploy(tasks(&["t"])).await;
    let acknowledged = server.trigger("t", json!({"kept": true}), json!({})).await;

    // A request whose body never finishes.
    let mut half = Raw::connect(&server).await;
    half.send(&format!(
        "{}{{\"payl",
        head(
            "POST",
            "/api/v1/tasks/t/trigger",
            &[
                ("Content-Type", "application/json"),
                ("Content-Length", "1000"),
            ],
        )
    ))
    .await
    .expect("send half a request");
    // An output stream write held open after its first chunk, which is stored.
    let (run, path) = running_with_stream(&server, "writer", "tokens").await;
    let mut writer = Raw::connect(&server).await;
    writer
        .send(&format!(
            "{}{}",
            stream_write_head(&run, &path, 0),
            chunk("{\"n\":0}\n")
        ))
        .await
        .expect("send");
    let mut reader = server
        .http
        .get(server.url(&path.replace("/self/tokens", "/tokens")))
        .bearer_auth(DEV_KEY)
        .send()
        .await
        .expect("read the stream");
    let mut seen = String::new();
    while !seen.contains("data:") {
        let bytes = timeout(BOUND, reader.chunk())
            .await
            .expect("the first chunk within the bound")
            .expect("read")
            .expect("the stream is open");
        seen.push_str(&String::from_utf8_lossy(&bytes));
    }

    let signalled = Instant::now();
    let exit = terminate_within(&mut server, Duration::from_secs(12));
    let exit = exit.expect("the server did not exit after SIGTERM");
    assert!(exit.success(), "a clean exit: {exit:?}");
    assert!(signalled.elapsed() < Duration::from_secs(12));
    assert!(half.closed_within(BOUND).await);
    assert!(writer.closed_within(BOUND).await);

    let restarted = TestServer::start_with(Options {
        data_dir: Some(server.data_dir.clone()),
        ..Default::default()
    })
    .await;
    assert_eq!(restarted.status(&acknowledged).await, "QUEUED");
    let last = restarted
        .send(Req::new("HEAD", &path).header("x-trigr-lease", run["lease"].as_str().unwrap()))
        .await;
    assert_eq!(last.header("x-last-chunk-index").as_deref(), Some("0"));
}
