//! Output streams over HTTP: a worker writes chunks under its lease (`PUT`/`POST`/`HEAD`/
//! `append`), readers get them as server-sent events, live and after the run ended, from the
//! start or from an offset; a resent chunk is not duplicated; bad input is a clear 4xx.

mod common;

use common::*;
use futures::StreamExt;
use serde_json::{json, Value};

fn stream_path(run_id: &str, target: &str, key: &str) -> String {
    format!("/realtime/v1/streams/{run_id}/{target}/{key}")
}

/// A started run with its lease.
async fn running(server: &TestServer, task: &str) -> (String, Value) {
    let version = server.deploy(tasks(&[task])).await;
    let id = server.trigger(task, json!({}), json!({})).await;
    let run = server.dequeue(&version, 1, 5000).await.remove(0);
    assert_eq!(server.heartbeat(&run).await.0, 200);
    (id, run)
}

fn lease(run: &Value) -> String {
    run["lease"].as_str().unwrap().to_string()
}

async fn write_lines(
    server: &TestServer,
    run: &Value,
    key: &str,
    from: Option<i64>,
    lines: &str,
) -> Resp {
    let id = run["runId"].as_str().unwrap();
    let mut req = Req::new("POST", &stream_path(id, "self", key))
        .raw_body("application/x-ndjson", lines.as_bytes().to_vec())
        .header("x-trigr-lease", &lease(run));
    if let Some(f) = from {
        req = req.header("x-resume-from-chunk", &f.to_string());
    }
    server.send(req).await
}

/// One server-sent event or comment.
#[derive(Debug, Clone, PartialEq)]
enum Sse {
    Event { id: String, data: Value },
    Comment(String),
}

/// An open SSE response, read event by event.
struct SseReader {
    body: futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>,
    buffer: String,
}

impl SseReader {
    async fn open(
        server: &TestServer,
        path: &str,
        key: &str,
        headers: &[(&str, &str)],
    ) -> SseReader {
        let mut req = server
            .http
            .get(server.url(path))
            .bearer_auth(key)
            .header("accept", "text/event-stream");
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.send().await.expect("read request");
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        assert_eq!(
            resp.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        SseReader {
            body: resp.bytes_stream().map(|r| r.map(|b| b.to_vec())).boxed(),
            buffer: String::new(),
        }
    }

    /// The next event or comment; `None` when the response ended.
    async fn next(&mut self) -> Option<Sse> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                return Some(parse_block(block.trim_end()));
            }
            match tokio::time::timeout(std::time::Duration::from_secs(30), self.body.next())
                .await
                .expect("no event within 30 s")
            {
                Some(Ok(bytes)) => self.buffer.push_str(std::str::from_utf8(&bytes).unwrap()),
                Some(Err(e)) => panic!("reading the stream: {e}"),
                None => {
                    assert!(
                        self.buffer.trim().is_empty(),
                        "left over: {:?}",
                        self.buffer
                    );
                    return None;
                }
            }
        }
    }

    /// The next event, skipping `: ping` comments.
    async fn next_event(&mut self) -> Option<Sse> {
        loop {
            match self.next().await? {
                Sse::Comment(c) if c == "ping" => continue,
                other => return Some(other),
            }
        }
    }

    /// Every event up to the end of the response (without pings), and the last comment.
    async fn rest(&mut self) -> Vec<Sse> {
        let mut all = Vec::new();
        while let Some(e) = self.next_event().await {
            all.push(e);
        }
        all
    }
}

fn parse_block(block: &str) -> Sse {
    if let Some(c) = block.strip_prefix(": ") {
        return Sse::Comment(c.to_string());
    }
    let mut id = String::new();
    let mut data = String::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_string();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = v.to_string();
        } else {
            panic!("unexpected line {line:?} in {block:?}");
        }
    }
    Sse::Event {
        id,
        data: serde_json::from_str(&data).expect("data is one JSON value"),
    }
}

fn datas(events: &[Sse]) -> Vec<Value> {
    events
        .iter()
        .filter_map(|e| match e {
            Sse::Event { data, .. } => Some(data.clone()),
            Sse::Comment(_) => None,
        })
        .collect()
}

fn index_of(e: &Sse) -> i64 {
    match e {
        Sse::Event { id, .. } => id.rsplit('-').next().unwrap().parse().unwrap(),
        Sse::Comment(c) => panic!("a comment {c:?}, not an event"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streamed_chunks_read_back_in_order_without_duplicates() {
    let server = TestServer::start_with_clock().await;
    let (id, run) = running(&server, "writer").await;
    let l = lease(&run);

    // PUT opens the stream: the run lists it.
    let r = server
        .send(Req::new("PUT", &stream_path(&id, "self", "tokens")).header("x-trigr-lease", &l))
        .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"version": "v1"})),
        "{}",
        r.text
    );
    assert_eq!(server.run(&id).await["realtimeStreams"], json!(["tokens"]));

    // One chunk a line; empty lines are skipped; a line that is not JSON is a string.
    let r = write_lines(
        &server,
        &run,
        "tokens",
        Some(0),
        "{\"t\":\"a\"}\n\"b\"\n\nplain text\n[1,2]\n",
    )
    .await;
    assert_eq!(
        (r.status, r.json.clone()),
        (200, json!({"ok": true, "accepted": 4, "lastChunkIndex": 3})),
        "{}",
        r.text
    );
    // A resumed writer sends chunks 2 and 3 again, then a new one: only that one is stored.
    let r = write_lines(
        &server,
        &run,
        "tokens",
        Some(2),
        "plain text\n[1,2]\n{\"t\":\"e\"}",
    )
    .await;
    assert_eq!(
        r.json,
        json!({"ok": true, "accepted": 1, "lastChunkIndex": 4}),
        "{}",
        r.text
    );
    // Resending everything changes nothing.
    let r = write_lines(&server, &run, "tokens", Some(0), "1\n2\n3\n4\n5\n").await;
    assert_eq!(r.json["accepted"], json!(0), "{}", r.text);
    // HEAD says where to resume.
    let r = server
        .send(Req::new("HEAD", &stream_path(&id, "self", "tokens")))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("x-last-chunk-index").as_deref(), Some("4"));
    let r = server
        .send(Req::new("HEAD", &stream_path(&id, &id, "none-yet")))
        .await;
    assert_eq!(r.header("x-last-chunk-index").as_deref(), Some("-1"));
    // append: the whole body is one chunk at the end; without X-Resume-From-Chunk a POST
    // appends too.
    let r = server
        .send(
            Req::new(
                "POST",
                &format!("{}/append", stream_path(&id, &id, "tokens")),
            )
            .raw_body("text/plain", "line one\nline two")
            .header("x-trigr-lease", &l),
        )
        .await;
    assert_eq!(r.json, json!({"ok": true, "index": 5}), "{}", r.text);
    let r = write_lines(&server, &run, "tokens", None, "{\"last\":true}\n").await;
    assert_eq!(r.json["lastChunkIndex"], json!(6), "{}", r.text);
    // A second stream, written without PUT.
    let r = write_lines(&server, &run, "progress", None, "10\n20\n").await;
    assert_eq!(r.json["accepted"], json!(2), "{}", r.text);
    // Ordered by when each was opened, then by key (the clock stood still).
    assert_eq!(
        server.run(&id).await["realtimeStreams"],
        json!(["progress", "tokens"])
    );

    let now = server.now_ms().await;
    assert_eq!(server.complete_ok(&run, json!("done")).await.0, 200);
    let expected = vec![
        json!({"t": "a"}),
        json!("b"),
        json!("plain text"),
        json!([1, 2]),
        json!({"t": "e"}),
        json!("line one\nline two"),
        json!({"last": true}),
    ];
    // After the run ended: everything, in order, then the end.
    let path = format!("/realtime/v1/streams/{id}/tokens");
    let mut reader = SseReader::open(&server, &path, DEV_KEY, &[]).await;
    let events = reader.rest().await;
    assert_eq!(
        events.last(),
        Some(&Sse::Comment("end".into())),
        "{events:?}"
    );
    assert_eq!(datas(&events), expected);
    for (i, e) in events
        .iter()
        .filter(|e| matches!(e, Sse::Event { .. }))
        .enumerate()
    {
        let Sse::Event { id: event_id, .. } = e else {
            unreachable!()
        };
        assert_eq!(*event_id, format!("{now}-{i}"), "the id is <ms>-<index>");
    }
    // From an offset: after the event id a client saw last.
    let mut reader = SseReader::open(
        &server,
        &path,
        DEV_KEY,
        &[("last-event-id", &format!("{now}-3"))],
    )
    .await;
    assert_eq!(datas(&reader.rest().await), expected[4..].to_vec());
    let mut reader = SseReader::open(&server, &path, DEV_KEY, &[("last-event-id", "6")]).await;
    assert_eq!(reader.rest().await, vec![Sse::Comment("end".into())]);
    // The other stream, and a stream no one wrote (empty, ends at once).
    let mut reader = SseReader::open(
        &server,
        &format!("/realtime/v1/streams/{id}/progress"),
        DEV_KEY,
        &[],
    )
    .await;
    assert_eq!(datas(&reader.rest().await), vec![json!(10), json!(20)]);
    let mut reader = SseReader::open(
        &server,
        &format!("/realtime/v1/streams/{id}/nothing"),
        DEV_KEY,
        &[],
    )
    .await;
    assert_eq!(reader.rest().await, vec![Sse::Comment("end".into())]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn live_read_sees_chunks_as_they_come() {
    let server = TestServer::start().await;
    let (id, run) = running(&server, "live").await;
    let path = format!("/realtime/v1/streams/{id}/tokens");
    let mut reader = SseReader::open(&server, &path, DEV_KEY, &[]).await;
    // The first ping says the reader is connected.
    assert_eq!(reader.next().await, Some(Sse::Comment("ping".into())));
    let mut latest = SseReader::open(
        &server,
        &path,
        DEV_KEY,
        &[("x-trigger-stream-start", "latest")],
    )
    .await;
    assert_eq!(latest.next().await, Some(Sse::Comment("ping".into())));
    for i in 0..3 {
        let r = write_lines(
            &server,
            &run,
            "tokens",
            Some(i),
            &format!("{{\"n\":{i}}}\n"),
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.text);
        let e = reader.next_event().await.expect("an event");
        assert_eq!(index_of(&e), i);
        assert_eq!(datas(&[e]), vec![json!({"n": i})]);
        let e = latest.next_event().await.expect("an event");
        assert_eq!(index_of(&e), i);
    }
    // A reader that joins late with `latest` sees only what comes after it joined.
    let mut late = SseReader::open(
        &server,
        &path,
        DEV_KEY,
        &[("x-trigger-stream-start", "latest")],
    )
    .await;
    assert_eq!(late.next().await, Some(Sse::Comment("ping".into())));
    write_lines(&server, &run, "tokens", None, "\"tail\"\n").await;
    assert_eq!(server.complete_ok(&run, json!(null)).await.0, 200);
    assert_eq!(
        datas(&late.rest().await),
        vec![json!("tail")],
        "only the chunk after it joined"
    );
    let rest = reader.rest().await;
    assert_eq!(datas(&rest), vec![json!("tail")]);
    assert_eq!(
        rest.last(),
        Some(&Sse::Comment("end".into())),
        "the run ended"
    );

    // A reader of a run that is still going ends at its timeout, without `: end`.
    let (id2, _run2) = running(&server, "live-2").await;
    let mut reader = SseReader::open(
        &server,
        &format!("/realtime/v1/streams/{id2}/tokens"),
        DEV_KEY,
        &[("timeout-seconds", "1")],
    )
    .await;
    assert_eq!(reader.rest().await, Vec::<Sse>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_tokens_read_their_run_only() {
    let server = TestServer::start().await;
    let version = server.deploy(tasks(&["t"])).await;
    let mut jwts = Vec::new();
    for _ in 0..2 {
        let r = server
            .trigger_raw(
                "t",
                json!({"payload": "{}", "options": {"payloadType": "application/json"}}),
            )
            .await;
        assert_eq!(r.status, 200, "{}", r.text);
        jwts.push((
            r.json["id"].as_str().unwrap().to_string(),
            r.header("x-trigger-jwt").expect("a public token"),
        ));
    }
    let runs = server.dequeue(&version, 2, 5000).await;
    for run in &runs {
        write_lines(&server, run, "k", None, "1\n").await;
        server.complete_ok(run, json!(null)).await;
    }
    let (id0, jwt0) = &jwts[0];
    let (id1, _) = &jwts[1];
    let mut reader =
        SseReader::open(&server, &format!("/realtime/v1/streams/{id0}/k"), jwt0, &[]).await;
    assert_eq!(datas(&reader.rest().await), vec![json!(1)]);
    let r = server
        .send(Req::new("GET", &format!("/realtime/v1/streams/{id1}/k")).key(jwt0))
        .await;
    assert_eq!(r.status, 403, "{}", r.text);
    // Without headers (a browser's EventSource) the token may come in the URL.
    let by_url = |id: &str| {
        let url = server.url(&format!("/realtime/v1/streams/{id}/k?access_token={jwt0}"));
        async move {
            let resp = reqwest::get(url).await.expect("read");
            (
                resp.status().as_u16(),
                resp.text().await.unwrap_or_default(),
            )
        }
    };
    let (status, text) = by_url(id0).await;
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("data: 1\n"), "{text}");
    let (status, text) = by_url(id1).await;
    assert_eq!(status, 403, "{text}");
    // Writing needs a secret key.
    let r = server
        .send(
            Req::new("POST", &stream_path(id0, "self", "k"))
                .key(jwt0)
                .raw_body("application/x-ndjson", "1\n")
                .header("x-trigr-lease", "lease_x"),
        )
        .await;
    assert_eq!(r.status, 401, "{}", r.text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_input_is_refused_and_writes_nothing() {
    let server = TestServer::start().await;
    let (id, run) = running(&server, "bad").await;
    let l = lease(&run);
    let post = |target: &str, key: &str| {
        Req::new("POST", &stream_path(&id, target, key))
            .raw_body("application/x-ndjson", "1\n")
            .header("x-trigr-lease", &l)
    };
    let cases: Vec<(Req, u16, &str)> = vec![
        (
            Req::new("POST", &stream_path(&id, "self", "k"))
                .raw_body("application/x-ndjson", "1\n"),
            400,
            "lease",
        ),
        (
            Req::new("PUT", &stream_path(&id, "self", "k")).header("x-trigr-lease", "lease_wrong"),
            409,
            "lease",
        ),
        (post("self", &"k".repeat(129)), 400, "stream key"),
        (post("parent", "k"), 400, "no parent"),
        (
            post("root", "k").header("x-resume-from-chunk", "3"),
            400,
            "gap",
        ),
        (
            post("self", "k").header("x-resume-from-chunk", "-1"),
            400,
            "X-Resume-From-Chunk",
        ),
        (
            post("self", "k").header("x-resume-from-chunk", "one"),
            400,
            "X-Resume-From-Chunk",
        ),
        (
            post("run_other", "k"),
            400,
            "itself, its parent or its root",
        ),
        (
            Req::new("POST", &stream_path("run_missing", "self", "k"))
                .raw_body("application/x-ndjson", "1\n")
                .header("x-trigr-lease", &l),
            404,
            "run_missing",
        ),
        (
            Req::new("POST", &format!("{}/append", stream_path(&id, "self", "k")))
                .raw_body("text/plain", "  ")
                .header("x-trigr-lease", &l),
            400,
            "empty",
        ),
        (
            Req::new("GET", &format!("/realtime/v1/streams/{id}/k")).header("timeout-seconds", "0"),
            400,
            "Timeout-Seconds",
        ),
        (
            Req::new("GET", &format!("/realtime/v1/streams/{id}/k"))
                .header("timeout-seconds", "601"),
            400,
            "Timeout-Seconds",
        ),
        (
            Req::new("GET", &format!("/realtime/v1/streams/{id}/k")).header("last-event-id", "abc"),
            400,
            "Last-Event-ID",
        ),
        (
            Req::new("GET", &format!("/realtime/v1/streams/{id}/k"))
                .header("x-trigger-stream-start", "middle"),
            400,
            "X-Trigger-Stream-Start",
        ),
        (
            Req::new("GET", "/realtime/v1/streams/run_missing/k"),
            404,
            "run_missing",
        ),
        (
            Req::new("GET", &format!("/realtime/v1/streams/{id}/k")).no_key(),
            401,
            "key",
        ),
    ];
    for (req, status, needle) in cases {
        let what = format!("{} {} {:?}", req.method, req.path, req.headers);
        let r = server.send(req).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        let message = r.json["error"].as_str().unwrap_or_default();
        assert!(
            message.contains(needle),
            "{what}: {message:?} should name {needle:?}"
        );
    }
    // Nothing was written.
    let r = server
        .send(Req::new("HEAD", &stream_path(&id, "self", "k")))
        .await;
    assert_eq!(r.header("x-last-chunk-index").as_deref(), Some("-1"));
    assert_eq!(server.run(&id).await["realtimeStreams"], json!([]));
    // After the run ended its lease writes nothing.
    assert_eq!(server.complete_ok(&run, json!(null)).await.0, 200);
    let r = server.send(post("self", "k")).await;
    assert_eq!(r.status, 409, "{}", r.text);
    assert_eq!(r.json["code"], json!("lease_lost"));
}
