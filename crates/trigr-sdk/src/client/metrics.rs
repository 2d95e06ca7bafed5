//! What a [`Client`](crate::Client) records of its requests: one [`RequestRecord`] per call
//! (its retries included), kept in a bounded history ([`ClientBuilder::metrics_history`]) and
//! summed up by [`Client::performance_stats`] as [`PerformanceStats`]. Records are also given
//! to the telemetry hook ([`ClientBuilder::on_request`]) and, for failed calls, to the error
//! hooks ([`ClientBuilder::on_error`]).
//!
//! Endpoints are compared with their ids replaced ([`normalize_endpoint`]): the reads of
//! a thousand runs are one endpoint, `GET /api/v3/runs/{id}`.
//!
//! [`ClientBuilder::metrics_history`]: crate::ClientBuilder::metrics_history
//! [`ClientBuilder::on_request`]: crate::ClientBuilder::on_request
//! [`ClientBuilder::on_error`]: crate::ClientBuilder::on_error
//! [`Client::performance_stats`]: crate::Client::performance_stats

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use crate::error::Error;

/// The default number of requests kept in a client's history.
pub const DEFAULT_HISTORY: usize = 1000;
/// The most requests a history may keep.
pub const MAX_HISTORY: usize = 100_000;
/// The longest path (and endpoint) a record keeps, in bytes; a longer one is cut and ends
/// with `…`.
pub const MAX_RECORDED_PATH: usize = 512;

/// One call of a client, as it ended.
#[derive(Clone, Debug, PartialEq)]
pub struct RequestRecord {
    /// `GET`, `POST`, …
    pub method: String,
    /// The path, without the query.
    pub path: String,
    /// Method and path with ids replaced, e.g. `GET /api/v3/runs/{id}`.
    pub endpoint: String,
    /// The status of the last answer; `None` when none came.
    pub status: Option<u16>,
    /// Whether the call succeeded.
    pub success: bool,
    /// From the first send to the end, retry waits included.
    pub duration: Duration,
    /// How many times the request was sent.
    pub attempts: u32,
    /// The `x-request-id` of the last answer.
    pub request_id: Option<String>,
    /// When the call started.
    pub started_at: SystemTime,
}

/// A hook given each [`RequestRecord`] as its call ends.
pub type RequestHook = Arc<dyn Fn(&RequestRecord) + Send + Sync>;
/// A hook given each failed call's error and record.
pub type ErrorHook = Arc<dyn Fn(&Error, &RequestRecord) + Send + Sync>;

/// The calls of one endpoint in a [`PerformanceStats`].
#[derive(Clone, Debug, PartialEq)]
pub struct EndpointStats {
    /// Method and normalised path.
    pub endpoint: String,
    /// Calls recorded.
    pub count: usize,
    /// Calls that failed.
    pub failures: usize,
    /// Mean duration.
    pub mean: Duration,
}

/// A summary of the calls in a client's history ([`Client::performance_stats`](crate::Client::performance_stats)).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct PerformanceStats {
    /// Calls recorded (at most the history size).
    pub count: usize,
    /// Calls that succeeded.
    pub successes: usize,
    /// Calls that failed.
    pub failures: usize,
    /// `successes / count`, 0 with no calls.
    pub success_rate: f64,
    /// `failures / count`, 0 with no calls.
    pub failure_rate: f64,
    /// Mean duration.
    pub mean: Duration,
    /// Median duration.
    pub p50: Duration,
    /// 90th percentile duration (nearest rank).
    pub p90: Duration,
    /// 95th percentile duration.
    pub p95: Duration,
    /// 99th percentile duration.
    pub p99: Duration,
    /// The endpoint with the longest mean duration.
    pub slowest_endpoint: Option<EndpointStats>,
    /// The endpoint with the most failures (the higher failure rate on a tie); `None` when
    /// nothing failed.
    pub most_error_prone_endpoint: Option<EndpointStats>,
}

/// The last calls of a client, oldest first, at most `limit` of them.
#[derive(Debug)]
pub(crate) struct History {
    limit: usize,
    records: Mutex<VecDeque<RequestRecord>>,
}

impl History {
    pub(crate) fn new(limit: usize) -> History {
        let limit = limit.min(MAX_HISTORY);
        History {
            limit,
            records: Mutex::new(VecDeque::with_capacity(limit.min(DEFAULT_HISTORY))),
        }
    }

    /// Keeps `record`, dropping the oldest when full.
    pub(crate) fn push(&self, record: RequestRecord) {
        if self.limit == 0 {
            return;
        }
        let mut records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        while records.len() >= self.limit {
            records.pop_front();
        }
        records.push_back(record);
    }

    /// The summary of the records, computed while they are held (no copy of them is made).
    pub(crate) fn stats(&self) -> PerformanceStats {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        stats(records.iter())
    }

    /// A copy of the records, oldest first.
    pub(crate) fn records(&self) -> Vec<RequestRecord> {
        let records = self.records.lock().unwrap_or_else(|e| e.into_inner());
        records.iter().cloned().collect()
    }

    /// Forgets every record.
    pub(crate) fn clear(&self) {
        self.records
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }
}

/// Sums up `records`.
pub(crate) fn stats<'a, I>(records: I) -> PerformanceStats
where
    I: Iterator<Item = &'a RequestRecord> + Clone,
{
    let count = records.clone().count();
    if count == 0 {
        return PerformanceStats::default();
    }
    let successes = records.clone().filter(|r| r.success).count();
    let failures = count - successes;
    let mut durations: Vec<Duration> = records.clone().map(|r| r.duration).collect();
    durations.sort();
    let endpoints = by_endpoint(records);
    PerformanceStats {
        count,
        successes,
        failures,
        success_rate: successes as f64 / count as f64,
        failure_rate: failures as f64 / count as f64,
        mean: mean(&durations),
        p50: percentile(&durations, 50),
        p90: percentile(&durations, 90),
        p95: percentile(&durations, 95),
        p99: percentile(&durations, 99),
        slowest_endpoint: endpoints.iter().max_by_key(|e| e.mean).cloned(),
        most_error_prone_endpoint: endpoints
            .iter()
            .filter(|e| e.failures > 0)
            .max_by(|a, b| {
                let rate = |e: &EndpointStats| e.failures as f64 / e.count as f64;
                a.failures
                    .cmp(&b.failures)
                    .then(rate(a).total_cmp(&rate(b)))
            })
            .cloned(),
    }
}

/// The calls grouped by endpoint.
fn by_endpoint<'a>(records: impl Iterator<Item = &'a RequestRecord>) -> Vec<EndpointStats> {
    let mut groups: BTreeMap<&str, Vec<&RequestRecord>> = BTreeMap::new();
    for r in records {
        groups.entry(&r.endpoint).or_default().push(r);
    }
    groups
        .into_iter()
        .map(|(endpoint, calls)| {
            let durations: Vec<Duration> = calls.iter().map(|r| r.duration).collect();
            EndpointStats {
                endpoint: endpoint.to_string(),
                count: calls.len(),
                failures: calls.iter().filter(|r| !r.success).count(),
                mean: mean(&durations),
            }
        })
        .collect()
}

fn mean(durations: &[Duration]) -> Duration {
    let total: Duration = durations.iter().sum();
    u32::try_from(durations.len())
        .ok()
        .filter(|n| *n > 0)
        .map_or(Duration::ZERO, |n| total / n)
}

/// The nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// `text` cut to at most [`MAX_RECORDED_PATH`] bytes (at a character boundary, ending with
/// `…` when cut).
pub(crate) fn clip(text: &str) -> String {
    if text.len() <= MAX_RECORDED_PATH {
        return text.to_string();
    }
    let mut end = MAX_RECORDED_PATH - '…'.len_utf8();
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// `METHOD /path` with the query dropped and every id segment replaced by `{id}`.
///
/// A segment is an id when it is all digits, a UUID or a long hex string, or a prefixed id
/// like `run_cm3k2…` (lower-case letters, `_`, then at least 8 letters and digits with a
/// digit among them). Names (`/api/v1/tasks/send-email/trigger`) stay.
///
/// ```
/// use trigr_sdk::client::normalize_endpoint;
/// assert_eq!(
///     normalize_endpoint("GET", "/api/v3/runs/run_cm3k2x9a0001?x=1"),
///     "GET /api/v3/runs/{id}"
/// );
/// assert_eq!(
///     normalize_endpoint("POST", "/api/v1/tasks/send-email/trigger"),
///     "POST /api/v1/tasks/send-email/trigger"
/// );
/// ```
pub fn normalize_endpoint(method: &str, path: &str) -> String {
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path
        .split('/')
        .map(|s| if is_id(s) { "{id}" } else { s })
        .collect();
    format!("{method} {}", segments.join("/"))
}

fn is_id(segment: &str) -> bool {
    let all_digits = !segment.is_empty() && segment.bytes().all(|b| b.is_ascii_digit());
    let hexish = segment.len() >= 16
        && segment.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
        && segment.bytes().any(|b| b.is_ascii_digit());
    all_digits || hexish || is_prefixed_id(segment)
}

/// `prefix_body`: a lower-case prefix, then a body of 8+ letters and digits with a digit.
fn is_prefixed_id(segment: &str) -> bool {
    let Some((prefix, body)) = segment.rsplit_once('_') else {
        return false;
    };
    let prefix_ok =
        !prefix.is_empty() && prefix.bytes().all(|b| b.is_ascii_lowercase() || b == b'_');
    let body_ok = body.len() >= 8
        && body.bytes().all(|b| b.is_ascii_alphanumeric())
        && body.bytes().any(|b| b.is_ascii_digit());
    prefix_ok && body_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(endpoint: &str, ms: u64, success: bool) -> RequestRecord {
        RequestRecord {
            method: "GET".into(),
            path: "/x".into(),
            endpoint: endpoint.into(),
            status: Some(if success { 200 } else { 500 }),
            success,
            duration: Duration::from_millis(ms),
            attempts: 1,
            request_id: None,
            started_at: SystemTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn ids_are_replaced() {
        let n = |p: &str| normalize_endpoint("GET", p);
        assert_eq!(n("/api/v1/runs/123"), "GET /api/v1/runs/{id}");
        assert_eq!(
            n("/api/v1/batches/batch_abc12345xyz/events"),
            "GET /api/v1/batches/{id}/events"
        );
        assert_eq!(
            n("/api/v1/x/550e8400-e29b-41d4-a716-446655440000"),
            "GET /api/v1/x/{id}"
        );
        assert_eq!(n("/api/v1/queues/my_queue"), "GET /api/v1/queues/my_queue");
        assert_eq!(n("/api/v1/runs"), "GET /api/v1/runs");
    }

    #[test]
    fn stats_sum_up_the_history() {
        let history = History::new(10);
        for ms in 1..=8 {
            history.push(record("GET /a", ms, true));
        }
        history.push(record("GET /b", 100, false));
        history.push(record("GET /c", 5, false));
        history.push(record("GET /c", 5, false));
        let records = history.records();
        assert_eq!(records.len(), 10, "the oldest went");
        let s = stats(records.iter());
        assert_eq!(history.stats(), s);
        assert_eq!((s.count, s.successes, s.failures), (10, 7, 3));
        assert!((s.failure_rate - 0.3).abs() < 1e-9);
        assert_eq!(s.p50, Duration::from_millis(5));
        assert_eq!(s.p99, Duration::from_millis(100));
        assert_eq!(s.slowest_endpoint.unwrap().endpoint, "GET /b");
        let worst = s.most_error_prone_endpoint.unwrap();
        assert_eq!((worst.endpoint.as_str(), worst.failures), ("GET /c", 2));
        assert_eq!(stats([].iter()), PerformanceStats::default());
        assert_eq!(clip("/short"), "/short");
        let long = format!("/{}", "é".repeat(1000));
        let cut = clip(&long);
        assert!(
            cut.len() <= MAX_RECORDED_PATH && cut.ends_with('…'),
            "{cut}"
        );
        let none = History::new(0);
        none.push(record("GET /a", 1, true));
        assert!(none.records().is_empty());
    }
}
