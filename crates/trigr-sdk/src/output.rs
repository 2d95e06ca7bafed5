//! Output streams: a task writes chunks under a stream key ([`Context::stream`]); anyone with
//! the key reads them, live or after the run ended ([`Client::read_stream`]).
//!
//! Chunks are numbered 0, 1, 2, … per stream in the order the task's code writes them, and
//! sent in batches in the background (one request carries every chunk written while the
//! previous one was in flight). The server stores an index once, so a task executed again
//! (a retry, a resume after a wait) that writes the same chunks in the same order duplicates
//! nothing: its chunks are numbered from 0 again and the ones already stored are skipped.
//! Write from the task's own code, not from inside a [`step`](Context::step): a replayed step
//! does not run, so its chunks would not be numbered again and the ones after it would shift.
//!
//! Before the attempt completes or suspends, the worker waits for every chunk to be sent.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::{Stream, StreamExt};
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;

use crate::client::Client;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::http::{encode, Http};

/// Most chunks per request.
const MAX_BATCH: usize = 1000;
/// Sends of one batch before its error is kept.
const MAX_TRIES: u32 = 5;
/// How long one read request lasts before the client reconnects (below the HTTP timeout).
const READ_TIMEOUT_SECS: u64 = 60;

/// The output streams of one attempt, by key.
#[derive(Default)]
pub(crate) struct Outputs {
    writers: Mutex<HashMap<String, Arc<Writer>>>,
}

impl Outputs {
    fn writer(&self, http: &Http, run_id: &str, lease: &str, key: &str) -> Arc<Writer> {
        let mut writers = self.writers.lock().unwrap_or_else(|p| p.into_inner());
        writers
            .entry(key.to_string())
            .or_insert_with(|| {
                Arc::new(Writer {
                    http: http.clone(),
                    path: format!(
                        "/realtime/v1/streams/{}/self/{}",
                        encode(run_id),
                        encode(key)
                    ),
                    lease: lease.to_string(),
                    state: Mutex::new(State::default()),
                    sending: tokio::sync::Mutex::new(()),
                })
            })
            .clone()
    }

    /// Sends what every stream of the attempt still buffers. Failures are reported through
    /// `tracing`: they were the writer's to see.
    pub(crate) async fn flush(&self) {
        let writers: Vec<Arc<Writer>> = self
            .writers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        for w in writers {
            if let Err(e) = w.send_buffered().await {
                tracing::warn!("output stream {} was not fully sent: {e}", w.path);
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// The index of the next chunk written.
    next: i64,
    /// Written, not sent yet: (index, JSON text).
    buffer: Vec<(i64, String)>,
    /// Why a send failed; every later write and flush reports it.
    failed: Option<Error>,
}

/// One stream of one attempt.
struct Writer {
    http: Http,
    path: String,
    lease: String,
    state: Mutex<State>,
    /// Held while a batch is sent, so batches go in index order.
    sending: tokio::sync::Mutex<()>,
}

impl Writer {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Numbers and buffers chunks; the caller starts a send.
    fn push(&self, bodies: Vec<String>) -> Result<()> {
        let mut state = self.state();
        if let Some(e) = &state.failed {
            return Err(copy(e));
        }
        for body in bodies {
            let index = state.next;
            state.next += 1;
            state.buffer.push((index, body));
        }
        Ok(())
    }

    /// Sends everything buffered, in batches, after the batches already being sent.
    async fn send_buffered(&self) -> Result<()> {
        let _turn = self.sending.lock().await;
        loop {
            let batch: Vec<(i64, String)> = {
                let mut state = self.state();
                if let Some(e) = &state.failed {
                    return Err(copy(e));
                }
                let n = state.buffer.len().min(MAX_BATCH);
                state.buffer.drain(..n).collect()
            };
            let Some(first) = batch.first().map(|c| c.0) else {
                return Ok(());
            };
            let mut body = String::new();
            for (_, chunk) in &batch {
                body.push_str(chunk);
                body.push('\n');
            }
            if let Err(e) = self.send_batch(first, body).await {
                self.state().failed = Some(copy(&e));
                return Err(e);
            }
        }
    }

    async fn send_batch(&self, first: i64, body: String) -> Result<()> {
        let headers = [
            ("x-trigr-lease", self.lease.clone()),
            ("x-resume-from-chunk", first.to_string()),
        ];
        let mut delay = Duration::from_millis(100);
        let mut tries = 1;
        loop {
            let sent = self
                .http
                .send_text(
                    Method::POST,
                    &self.path,
                    "application/x-ndjson",
                    body.clone(),
                    &headers,
                )
                .await;
            match sent {
                Err(e) if e.is_transient() && tries < MAX_TRIES => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                    tries += 1;
                }
                other => return other.map(drop),
            }
        }
    }
}

/// The same failure again, for every later write and flush.
fn copy(e: &Error) -> Error {
    match e {
        Error::Api {
            request,
            status,
            code,
            message,
            request_id,
            kind,
            no_retry,
        } => Error::Api {
            request: request.clone(),
            status: *status,
            code: code.clone(),
            message: message.clone(),
            request_id: request_id.clone(),
            kind: kind.clone(),
            no_retry: *no_retry,
        },
        Error::Unreachable { base, reason } => Error::Unreachable {
            base: base.clone(),
            reason: reason.clone(),
        },
        Error::NoAnswer { base, seconds } => Error::NoAnswer {
            base: base.clone(),
            seconds: *seconds,
        },
        other => Error::BadAnswer {
            request: "an output stream write".into(),
            reason: other.to_string(),
        },
    }
}

/// A stream the running task writes chunks to: [`Context::stream`].
///
/// Cheap to clone; every handle on the same key of one attempt is the same stream.
#[derive(Clone)]
pub struct OutputStream {
    writer: Arc<Writer>,
}

impl OutputStream {
    /// Writes one chunk (any serializable value, sent as JSON). The chunk is sent in the
    /// background; an error says the value is not JSON, or an earlier send failed.
    pub fn write<T: Serialize + ?Sized>(&self, chunk: &T) -> Result<()> {
        self.write_all(std::iter::once(chunk))
    }

    /// Writes several chunks, in order.
    pub fn write_all<'a, T, I>(&self, chunks: I) -> Result<()>
    where
        T: Serialize + ?Sized + 'a,
        I: IntoIterator<Item = &'a T>,
    {
        let bodies = chunks
            .into_iter()
            .map(|c| serde_json::to_string(c).map_err(|e| Error::json("an output stream chunk", e)))
            .collect::<Result<Vec<_>>>()?;
        self.writer.push(bodies)?;
        let writer = self.writer.clone();
        tokio::spawn(async move {
            // A failure is kept in the writer and reported by the next write or flush.
            let _ = writer.send_buffered().await;
        });
        Ok(())
    }

    /// Waits until every chunk written so far is stored on the server.
    pub async fn flush(&self) -> Result<()> {
        self.writer.send_buffered().await
    }
}

impl Context {
    /// The output stream `key` of this run (1–128 characters): chunks written to it are
    /// readable at once by [`Client::read_stream`], the official SDK's `streams.read`, or
    /// `GET /realtime/v1/streams/{runId}/{key}`, and after the run ended.
    ///
    /// ```no_run
    /// # async fn demo(ctx: trigr_sdk::Context) -> Result<(), trigr_sdk::TaskError> {
    /// let tokens = ctx.stream("tokens");
    /// for word in ["Hello", " ", "world"] {
    ///     tokens.write(word)?;
    /// }
    /// tokens.flush().await?;
    /// # Ok(()) }
    /// ```
    pub fn stream(&self, key: &str) -> OutputStream {
        let a = &self.attempt;
        OutputStream {
            writer: a.outputs.writer(&a.http, &a.run_id, &a.lease, key),
        }
    }
}

/// One chunk read from an output stream.
#[derive(Clone, Debug, PartialEq)]
pub struct StreamChunk {
    /// 0, 1, 2, … in the order the task wrote them.
    pub index: u64,
    /// The chunk as the task wrote it.
    pub data: Value,
    /// When the server stored it.
    pub written_at: DateTime<Utc>,
}

/// A read in progress.
struct Reading {
    http: Http,
    path: String,
    /// The next index wanted.
    next: u64,
    body: Option<futures::stream::BoxStream<'static, reqwest::Result<Vec<u8>>>>,
    buffer: String,
    done: bool,
}

impl Reading {
    async fn next_chunk(&mut self) -> Option<Result<StreamChunk>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                match parse_block(&block) {
                    Block::End => {
                        self.done = true;
                        return None;
                    }
                    Block::Nothing => continue,
                    Block::Chunk(c) => {
                        self.next = c.index + 1;
                        return Some(Ok(c));
                    }
                    Block::Bad(reason) => {
                        self.done = true;
                        return Some(Err(Error::BadAnswer {
                            request: format!("GET {}", self.path),
                            reason,
                        }));
                    }
                }
            }
            let Some(body) = self.body.as_mut() else {
                let mut headers = vec![("timeout-seconds", READ_TIMEOUT_SECS.to_string())];
                if self.next > 0 {
                    headers.push(("last-event-id", (self.next - 1).to_string()));
                }
                match self.http.open_stream(&self.path, &headers).await {
                    Ok(resp) => {
                        self.buffer.clear();
                        self.body =
                            Some(resp.bytes_stream().map(|r| r.map(|b| b.to_vec())).boxed());
                    }
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            match body.next().await {
                Some(Ok(bytes)) => self.buffer.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Err(e)) => {
                    self.done = true;
                    return Some(Err(self.http.unreachable(&e)));
                }
                // The server's timeout: read on from the last chunk.
                None => self.body = None,
            }
        }
    }
}

enum Block {
    Chunk(StreamChunk),
    End,
    Nothing,
    Bad(String),
}

fn parse_block(block: &str) -> Block {
    let (mut id, mut data) = (None, None);
    for line in block.lines() {
        if line == ": end" {
            return Block::End;
        } else if let Some(v) = line.strip_prefix("id:") {
            id = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("data:") {
            data = Some(v.trim_start().to_string());
        }
    }
    let (Some(id), Some(data)) = (id, data) else {
        return Block::Nothing;
    };
    let (ms, index) = id.split_once('-').unwrap_or(("0", id.as_str()));
    let (Ok(ms), Ok(index)) = (ms.parse::<i64>(), index.parse::<u64>()) else {
        return Block::Bad(format!("the event id {id:?} is not <ms>-<index>"));
    };
    match serde_json::from_str(&data) {
        Ok(data) => Block::Chunk(StreamChunk {
            index,
            data,
            written_at: Utc.timestamp_millis_opt(ms).single().unwrap_or_default(),
        }),
        Err(e) => Block::Bad(format!("an event's data is not JSON ({e})")),
    }
}

impl Client {
    /// The chunks of a run's output stream `key` from index `from` (0: the start), as they
    /// come: the stream ends once the run is final and every chunk was read. Reconnects by
    /// itself when a request times out.
    pub fn read_stream(
        &self,
        run_id: &str,
        key: &str,
        from: u64,
    ) -> impl Stream<Item = Result<StreamChunk>> + Send + 'static {
        let reading = Reading {
            http: self.http.clone(),
            path: format!("/realtime/v1/streams/{}/{}", encode(run_id), encode(key)),
            next: from,
            body: None,
            buffer: String::new(),
            done: false,
        };
        futures::stream::unfold(reading, |mut r| async move {
            let item = r.next_chunk().await?;
            Some((item, r))
        })
    }
}
