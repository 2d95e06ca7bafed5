//! A run's log lines as a stream ([`Runs::log_stream`](crate::runs::Runs::log_stream)):
//! every line written so far, oldest first, and with `follow` the lines written later too,
//! until the run is final and its last line was read.
//!
//! Following long-polls `GET /api/v1/runs/{id}/logs` with `waitMs`: an empty page waits on
//! the server for a line while the run is not final, so an idle run costs one request per
//! [`FOLLOW_WAIT`]. Once a read comes back empty the run is read: when it is final, one last
//! read (without waiting) picks up the lines written just before it ended, and the stream
//! ends.

use std::collections::VecDeque;
use std::time::Duration;

use reqwest::Method;
use trigr_types::wire::runs::LogPage;

use crate::client::types::{query_string, LogEntry, Run};
use crate::error::Result;
use crate::http::{encode, Http, Tries};

/// How long one follow read waits on the server for a new line.
pub const FOLLOW_WAIT: Duration = Duration::from_secs(20);
/// Lines read per request.
const PAGE_SIZE: u32 = 500;

/// Where a stream is between reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Reading (and, following, waiting for) lines.
    Reading,
    /// The run is final: one more read, then the end.
    LastRead,
    /// Every line was handed out.
    Ended,
}

/// A run's log lines, read page by page as they are asked for.
#[derive(Debug)]
pub struct LogStream {
    http: Http,
    run_id: String,
    follow: bool,
    after: Option<String>,
    buffer: VecDeque<LogEntry>,
    phase: Phase,
}

impl LogStream {
    pub(crate) fn new(http: Http, run_id: &str, follow: bool) -> LogStream {
        LogStream {
            http,
            run_id: run_id.to_string(),
            follow,
            after: None,
            buffer: VecDeque::new(),
            phase: Phase::Reading,
        }
    }

    /// The next line; `None` once the stream has ended (without `follow`: every line written
    /// so far was read; with it: the run is final and every line was read).
    pub async fn next(&mut self) -> Result<Option<LogEntry>> {
        loop {
            if let Some(line) = self.buffer.pop_front() {
                return Ok(Some(line));
            }
            if self.phase == Phase::Ended {
                return Ok(None);
            }
            let wait = self.follow && self.phase == Phase::Reading;
            let page = self.read_page(wait).await?;
            let empty = page.data.is_empty();
            self.buffer
                .extend(page.data.into_iter().map(LogEntry::from));
            if let Some(cursor) = page.pagination.cursor {
                self.after = Some(cursor);
            }
            if page.pagination.next.is_some() {
                continue;
            }
            self.phase = match self.phase {
                Phase::Reading if !self.follow => Phase::Ended,
                Phase::Reading if empty && run_is_final(&self.http, &self.run_id).await? => {
                    Phase::LastRead
                }
                Phase::Reading => Phase::Reading,
                Phase::LastRead | Phase::Ended => Phase::Ended,
            };
        }
    }

    /// Every line left, until the stream ends.
    pub async fn collect(mut self) -> Result<Vec<LogEntry>> {
        let mut lines = Vec::new();
        while let Some(line) = self.next().await? {
            lines.push(line);
        }
        Ok(lines)
    }

    async fn read_page(&self, wait: bool) -> Result<LogPage> {
        let mut query = vec![("page[size]", PAGE_SIZE.to_string())];
        if let Some(after) = &self.after {
            query.push(("page[after]", after.clone()));
        }
        if wait {
            query.push(("waitMs", FOLLOW_WAIT.as_millis().to_string()));
        }
        let path = format!(
            "/api/v1/runs/{}/logs{}",
            encode(&self.run_id),
            query_string(&query)
        );
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }
}

/// Whether the run has reached a final status (`GET /api/v3/runs/{id}`): where a followed
/// stream of it may end.
pub(crate) async fn run_is_final(http: &Http, run_id: &str) -> Result<bool> {
    let path = format!("/api/v3/runs/{}", encode(run_id));
    let run: Run = http
        .call(Method::GET, &path, None, Tries::Transient)
        .await?;
    Ok(run.status.is_final())
}
