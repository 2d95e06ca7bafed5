//! A run's output stream as a stream of chunks
//! ([`Runs::output_stream`](crate::runs::Runs::output_stream)): every chunk written so far
//! under a key, oldest first, and with `follow` the chunks written later too, until the run is
//! final and its last chunk was read.
//!
//! Chunks are read from `GET /realtime/v1/streams/{runId}/{key}` (server-sent events, one event
//! a chunk, in index order). The reader counts the chunks it handed out, so when an answer ends
//! — the server's time limit, a broken connection — it opens the next one after the last chunk
//! read (`Last-Event-ID: <index>`): no chunk is lost or repeated. Without `follow` it first asks
//! for the stream's highest index (`HEAD …/self/{key}`) and stops there.

use std::time::Duration;

use serde_json::Value;

use crate::client::log_stream::run_is_final;
use crate::error::{Error, Result};
use crate::http::{encode, EventStream, Http};

/// How long one answer of a followed stream lasts on the server before the reader opens the
/// next (`Timeout-Seconds`).
pub const FOLLOW_SECONDS: u64 = 60;
/// The most answers that may end without a chunk while the run is final and chunks are still
/// missing (chunks that cannot be read): then the read fails instead of trying for ever.
const MAX_EMPTY_ANSWERS: u32 = 3;

/// A run's output stream, read as the chunks are asked for.
#[derive(Debug)]
pub struct OutputStream {
    http: Http,
    run_id: String,
    key: String,
    follow: bool,
    /// The index of the next chunk to hand out.
    next: i64,
    /// Without `follow`: the highest index when the read began (`-1`: none).
    last: Option<i64>,
    events: Option<EventStream>,
    /// Answers in a row that ended without a chunk once the run was final.
    empty_answers: u32,
    ended: bool,
}

impl OutputStream {
    pub(crate) fn new(http: Http, run_id: &str, key: &str, follow: bool) -> OutputStream {
        OutputStream {
            http,
            run_id: run_id.to_string(),
            key: key.to_string(),
            follow,
            next: 0,
            last: None,
            events: None,
            empty_answers: 0,
            ended: false,
        }
    }

    /// The next chunk (its JSON); `None` once the stream has ended (without `follow`: every
    /// chunk written when the read began was read; with it: the run is final and every chunk
    /// was read).
    pub async fn next(&mut self) -> Result<Option<Value>> {
        loop {
            if self.ended {
                return Ok(None);
            }
            if !self.follow {
                let last = match self.last {
                    Some(last) => last,
                    None => *self.last.insert(self.highest_index().await?),
                };
                if self.next > last {
                    self.finish();
                    return Ok(None);
                }
            }
            if self.events.is_none() {
                self.events = Some(self.open().await?);
            }
            let events = self.events.as_mut().expect("opened above");
            match events.next_event().await {
                Some(Ok(event)) if event.data.is_empty() => continue,
                Some(Ok(event)) => {
                    self.next += 1;
                    self.empty_answers = 0;
                    return serde_json::from_str(&event.data)
                        .map(Some)
                        .map_err(|e| Error::json("an output stream chunk", e));
                }
                Some(Err(e)) => {
                    self.events = None;
                    return Err(e);
                }
                None => {
                    self.events = None;
                    if self.follow {
                        self.after_answer().await?;
                    }
                }
            }
        }
    }

    /// Every chunk left, until the stream ends.
    pub async fn collect(mut self) -> Result<Vec<Value>> {
        let mut chunks = Vec::new();
        while let Some(chunk) = self.next().await? {
            chunks.push(chunk);
        }
        Ok(chunks)
    }

    /// A followed answer ended: the stream is over once the run is final and every chunk it
    /// holds was read; else the next answer continues it.
    async fn after_answer(&mut self) -> Result<()> {
        if !run_is_final(&self.http, &self.run_id).await? {
            self.empty_answers = 0;
            return Ok(());
        }
        if self.next > self.highest_index().await? {
            self.finish();
            return Ok(());
        }
        self.empty_answers += 1;
        if self.empty_answers > MAX_EMPTY_ANSWERS {
            return Err(Error::BadAnswer {
                request: format!("GET {}", self.path()),
                reason: format!(
                    "chunk {} of a finished run's stream was announced but never sent",
                    self.next
                ),
            });
        }
        Ok(())
    }

    fn finish(&mut self) {
        self.ended = true;
        self.events = None;
    }

    fn path(&self) -> String {
        format!(
            "/realtime/v1/streams/{}/{}",
            encode(&self.run_id),
            encode(&self.key)
        )
    }

    async fn open(&self) -> Result<EventStream> {
        let timeout = if self.follow { FOLLOW_SECONDS } else { 10 };
        let resume = (self.next > 0).then(|| self.next - 1);
        self.http
            .open_events_with(
                &self.path(),
                resume,
                &[("timeout-seconds", timeout.to_string())],
                Duration::from_secs(timeout + 30),
            )
            .await
    }

    /// The stream's highest index now, `-1` when it has no chunk.
    async fn highest_index(&self) -> Result<i64> {
        let path = format!(
            "/realtime/v1/streams/{}/self/{}",
            encode(&self.run_id),
            encode(&self.key)
        );
        let headers = self.http.head(&path).await?;
        headers
            .get("x-last-chunk-index")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<i64>().ok())
            .ok_or_else(|| Error::BadAnswer {
                request: format!("HEAD {path}"),
                reason: "the answer has no X-Last-Chunk-Index".into(),
            })
    }
}
