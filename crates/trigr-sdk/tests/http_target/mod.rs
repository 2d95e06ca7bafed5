//! A real HTTP server for plan actions to call, started by the test on a random port. It
//! records every request (idempotency key, path, when it arrived and when it was answered) and
//! the most requests it held at the same time.
//!
//! Paths: `/ok/<name>` answers `200 {"name", "body"}`; `/status/<code>` answers that status;
//! `/text` answers plain text. Query: `delay_ms=N` holds the answer N ms; `fail=N` answers the
//! first N requests of each idempotency key with `fail_status` (default 503) and
//! `retry_after` (seconds) when given.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One request the target answered (or was answering).
#[derive(Clone, Debug)]
pub struct Seen {
    pub key: String,
    pub path: String,
    pub arrived: Instant,
    pub answered: Option<Instant>,
}

#[derive(Default)]
struct Shared {
    seen: Mutex<Vec<Seen>>,
    failures: Mutex<HashMap<String, u32>>,
    in_flight: AtomicUsize,
    most_in_flight: AtomicUsize,
    /// Each arrival is appended as `recv <key>` (one write on an `O_APPEND` file).
    lines: Option<PathBuf>,
}

/// The running target.
pub struct Target {
    pub url: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Target {
    pub async fn start() -> Target {
        Target::start_with(None).await
    }

    /// A target that also appends `recv <key>` to `lines` as each request arrives.
    pub async fn start_with(lines: Option<PathBuf>) -> Target {
        let shared = Arc::new(Shared {
            lines,
            ..Shared::default()
        });
        let app = axum::Router::new()
            .fallback(answer)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the target");
        let url = format!("http://{}", listener.local_addr().expect("its address"));
        let server = tokio::spawn(async move {
            axum::serve(listener, app).await.expect("the target serves");
        });
        Target {
            url,
            shared,
            server,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().expect("seen").clone()
    }

    /// Requests per idempotency key.
    pub fn per_key(&self) -> HashMap<String, usize> {
        let mut counts = HashMap::new();
        for s in self.seen() {
            *counts.entry(s.key).or_insert(0) += 1;
        }
        counts
    }

    pub fn most_in_flight(&self) -> usize {
        self.shared.most_in_flight.load(Ordering::SeqCst)
    }

    pub fn in_flight(&self) -> usize {
        self.shared.in_flight.load(Ordering::SeqCst)
    }
}

impl Drop for Target {
    fn drop(&mut self) {
        self.server.abort();
    }
}

async fn answer(
    State(shared): State<Arc<Shared>>,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let key = headers
        .get("idempotency-key")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let path = uri.path().to_string();
    if let Some(lines) = &shared.lines {
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(lines)
            .expect("the lines file");
        file.write_all(format!("recv {key}\n").as_bytes())
            .expect("a line");
    }
    let index = {
        let mut seen = shared.seen.lock().expect("seen");
        seen.push(Seen {
            key: key.clone(),
            path: path.clone(),
            arrived: Instant::now(),
            answered: None,
        });
        seen.len() - 1
    };
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.most_in_flight.fetch_max(now, Ordering::SeqCst);
    let number = |name: &str| query.get(name).and_then(|v| v.parse::<u64>().ok());
    if let Some(ms) = number("delay_ms") {
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    let response = respond(&shared, &key, &path, &query, &body, number("fail"));
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    shared.seen.lock().expect("seen")[index].answered = Some(Instant::now());
    response
}

fn respond(
    shared: &Shared,
    key: &str,
    path: &str,
    query: &HashMap<String, String>,
    body: &Bytes,
    fail: Option<u64>,
) -> Response {
    if let Some(fail) = fail {
        let mut failures = shared.failures.lock().expect("failures");
        let n = failures.entry(key.to_string()).or_insert(0);
        if u64::from(*n) < fail {
            *n += 1;
            let status = query
                .get("fail_status")
                .and_then(|s| s.parse().ok())
                .and_then(|s| StatusCode::from_u16(s).ok())
                .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
            let mut response = (status, "try again").into_response();
            if let Some(after) = query.get("retry_after") {
                response
                    .headers_mut()
                    .insert("retry-after", after.parse().expect("a header value"));
            }
            return response;
        }
    }
    if let Some(code) = path.strip_prefix("/status/") {
        let status = code
            .parse()
            .ok()
            .and_then(|c| StatusCode::from_u16(c).ok())
            .unwrap_or(StatusCode::BAD_REQUEST);
        return (status, axum::Json(json!({"status": status.as_u16()}))).into_response();
    }
    if path == "/text" {
        return (StatusCode::OK, "plain words").into_response();
    }
    let name = path.strip_prefix("/ok/").unwrap_or(path);
    let sent: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    axum::Json(json!({"name": name, "body": sent})).into_response()
}
