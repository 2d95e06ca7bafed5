//! `sse_fanout_events_per_s`, `sse_event_p50_ms`, `sse_event_p99_ms`: realtime fan-out.
//!
//! [`SUBSCRIBERS`] clients (or `--sse-subscribers`) each hold `GET /api/v1/runs/events?tag=sse` open (server-sent
//! events; the answer's headers arriving means the subscription is live). Each run carrying
//! the tag makes three events (created `QUEUED`, `DEQUEUED`, `COMPLETED`): one worker dequeues
//! and completes the runs in lots. Every subscriber must receive every event, in order.
//!
//! * **Fan-out** (burst): `--runs` / 20 runs are triggered as fast as 4 clients can (4
//!   triggers in flight); figure = events received by all subscribers together / time from the
//!   first trigger to the arrival of the last of them at the last subscriber.
//! * **Delay** (steady load): then, for `--latency` seconds (3 s with `--quick`), one run every
//!   [`INTERVAL`] (tagged `paced` too). The delay of one event at one subscriber is its arrival
//!   (wall clock, this process) minus the event's `updatedAt` (the engine's clock, the same
//!   wall clock, set when the change was made, before its commit); millisecond resolution,
//!   nearest-rank percentiles over every delivery of the paced runs' events.
//!
//! The `loopback` scenario sends messages of the same size at the same rate to as many plain
//! loopback sockets with no server in between: the floor this delay sits on, on this machine.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::{Outcome, Settings};
use crate::api::{Api, TASK};
use crate::report::{SSE_EVENT_P50_MS, SSE_EVENT_P99_MS, SSE_FANOUT_EVENTS_PER_S};
use crate::server::KEY;
use crate::stats::percentile;

/// Concurrent subscribers of the tag.
pub const SUBSCRIBERS: usize = 1000;
/// The tag every run carries.
const TAG: &str = "sse";
/// The extra tag of the runs whose events are timed.
const PACED: &str = "paced";
/// Events each run makes: created, dequeued, completed.
const EVENTS_PER_RUN: usize = 3;
/// Triggers in flight at once in the burst.
const TRIGGERS: usize = 4;
/// Time between two runs of the steady load (20 runs/s: 60 events/s to each subscriber).
pub const INTERVAL: Duration = Duration::from_millis(50);
/// How long the subscribers may take to receive the last events after the last completion.
const DRAIN: Duration = Duration::from_secs(60);

/// What the subscribers report and wait for.
struct Shared {
    /// Events of the burst each subscriber must receive.
    burst: usize,
    /// Subscribers that received the whole burst.
    burst_done: AtomicUsize,
    burst_signal: Notify,
}

pub async fn run(apis: &[Api], settings: &Settings) -> Result<Outcome> {
    let api = &apis[0];
    let version = api.register_deployment(&[TASK]).await?;
    let burst_runs = (settings.runs / 20).max(10);
    let paced_runs =
        ((settings.latency_duration.as_secs_f64() / INTERVAL.as_secs_f64()).ceil() as usize).max(1);
    let expected = (burst_runs + paced_runs) * EVENTS_PER_RUN;
    let shared = Arc::new(Shared {
        burst: burst_runs * EVENTS_PER_RUN,
        burst_done: AtomicUsize::new(0),
        burst_signal: Notify::new(),
    });

    let addr = api
        .base_url()
        .strip_prefix("http://")
        .ok_or_else(|| anyhow!("the server is not on plain HTTP: {}", api.base_url()))?
        .to_string();
    let mut opening = JoinSet::new();
    for _ in 0..settings.sse_subscribers {
        let addr = addr.clone();
        opening.spawn(async move {
            Subscription::open(&addr, &format!("/api/v1/runs/events?tag={TAG}")).await
        });
    }
    let mut opened = Vec::with_capacity(settings.sse_subscribers);
    while let Some(joined) = opening.join_next().await {
        opened.push(joined??);
    }
    let mut subscribers = JoinSet::new();
    for subscription in opened {
        let shared = shared.clone();
        subscribers.spawn(async move { subscriber(subscription, expected, &shared).await });
    }
    let worker = {
        let (api, version) = (api.clone(), version.clone());
        let runs = burst_runs + paced_runs;
        tokio::spawn(async move {
            let mut done = 0;
            while done < runs {
                let (lot, _) = api.dequeue(&version, 200, 1000).await?;
                if !lot.is_empty() {
                    let results = api.complete_ok(&lot).await?;
                    ensure!(
                        results.len() == lot.len(),
                        "complete answered {} results for {} runs",
                        results.len(),
                        lot.len()
                    );
                }
                done += lot.len();
            }
            anyhow::Ok(())
        })
    };

    // The burst.
    let started = Instant::now();
    let next = Arc::new(AtomicUsize::new(0));
    let mut triggers = JoinSet::new();
    for _ in 0..TRIGGERS {
        let (api, next) = (api.clone(), next.clone());
        triggers.spawn(async move {
            let body = trigger_body(&[TAG]);
            while next.fetch_add(1, Ordering::Relaxed) < burst_runs {
                api.trigger(TASK, &body).await?;
            }
            anyhow::Ok(())
        });
    }
    while let Some(joined) = triggers.join_next().await {
        joined??;
    }
    let burst = async {
        loop {
            let signal = shared.burst_signal.notified();
            tokio::pin!(signal);
            signal.as_mut().enable();
            if shared.burst_done.load(Ordering::SeqCst) == settings.sse_subscribers {
                return;
            }
            signal.await;
        }
    };
    if tokio::time::timeout(DRAIN, burst).await.is_err() {
        bail!(
            "{} of {} subscribers received the burst's {} events within {} s",
            shared.burst_done.load(Ordering::SeqCst),
            settings.sse_subscribers,
            shared.burst,
            DRAIN.as_secs()
        );
    }
    let burst_seconds = started.elapsed().as_secs_f64();
    let fanout = (shared.burst * settings.sse_subscribers) as f64 / burst_seconds;

    // The steady load.
    let body = trigger_body(&[TAG, PACED]);
    let mut tick = tokio::time::interval(INTERVAL);
    for _ in 0..paced_runs {
        tick.tick().await;
        let (api, body) = (api.clone(), body.clone());
        triggers.spawn(async move { api.trigger(TASK, &body).await.map(drop) });
    }
    while let Some(joined) = triggers.join_next().await {
        joined??;
    }
    worker.await??;
    let all = async {
        let mut delays = Vec::new();
        while let Some(joined) = subscribers.join_next().await {
            delays.extend(joined??);
        }
        anyhow::Ok(delays)
    };
    let mut delays = match tokio::time::timeout(DRAIN, all).await {
        Ok(r) => r?,
        Err(_) => bail!(
            "the subscribers did not receive all {expected} events within {} s",
            DRAIN.as_secs()
        ),
    };
    delays.sort_by(f64::total_cmp);
    let p50 = percentile(&delays, 50.0);
    let p99 = percentile(&delays, 99.0);
    Ok(Outcome {
        figures: vec![
            (&SSE_FANOUT_EVENTS_PER_S, fanout),
            (&SSE_EVENT_P50_MS, p50),
            (&SSE_EVENT_P99_MS, p99),
        ],
        detail: format!(
            "{} subscribers; burst of {burst_runs} runs ({} events each) delivered in {burst_seconds:.2} s; then {paced_runs} runs at {}/s, {} timed deliveries, max delay {:.0} ms",
            settings.sse_subscribers,
            shared.burst,
            1000 / INTERVAL.as_millis().max(1),
            delays.len(),
            delays.last().copied().unwrap_or(f64::NAN)
        ),
    })
}

fn trigger_body(tags: &[&str]) -> String {
    let tags: Vec<String> = tags.iter().map(|t| format!("\"{t}\"")).collect();
    format!(
        r#"{{"payload":"{{}}","options":{{"payloadType":"application/json","tags":[{}]}}}}"#,
        tags.join(",")
    )
}

/// One subscription read straight off its socket: the request is written by hand and the
/// chunked body taken apart in place, one task and one read per wake-up. This client shares
/// the machine with the server it measures, so it is kept as light as a client can be.
struct Subscription {
    tcp: TcpStream,
    /// Bytes read and not yet taken apart.
    raw: Vec<u8>,
    /// Bytes of the current chunk still to come, with its closing CRLF (0: a size line next).
    left: usize,
    /// The body so far, not yet parsed into events.
    body: Vec<u8>,
}

impl Subscription {
    /// Sends the request and reads the answer's head (the subscription is then live).
    async fn open(addr: &str, path: &str) -> Result<Subscription> {
        let mut tcp = TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        tcp.set_nodelay(true)?;
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {KEY}\r\nAccept: text/event-stream\r\n\r\n"
        );
        tcp.write_all(request.as_bytes()).await?;
        let mut raw = Vec::with_capacity(16 * 1024);
        let head_end = loop {
            if let Some(end) = find(&raw, b"\r\n\r\n") {
                break end;
            }
            ensure!(
                tcp.read_buf(&mut raw).await? > 0,
                "the server closed before answering"
            );
        };
        let head = String::from_utf8_lossy(&raw[..head_end]).to_ascii_lowercase();
        ensure!(
            head.starts_with("http/1.1 200"),
            "subscribe answered: {head}"
        );
        ensure!(
            head.contains("transfer-encoding: chunked"),
            "the event stream is not chunked: {head}"
        );
        raw.drain(..head_end + 4);
        Ok(Subscription {
            tcp,
            raw,
            left: 0,
            body: Vec::new(),
        })
    }

    /// Waits for more of the body (appended to `self.body`).
    async fn read(&mut self) -> Result<()> {
        loop {
            if !self.raw.is_empty() {
                let before = self.body.len();
                self.dechunk()?;
                if self.body.len() > before {
                    return Ok(());
                }
            }
            ensure!(
                self.tcp.read_buf(&mut self.raw).await? > 0,
                "the server closed the stream"
            );
        }
    }

    /// Moves the chunk data in `raw` to `body`.
    fn dechunk(&mut self) -> Result<()> {
        let mut at = 0;
        while at < self.raw.len() {
            if self.left == 0 {
                let Some(end) = find(&self.raw[at..], b"\r\n") else {
                    break;
                };
                let line = std::str::from_utf8(&self.raw[at..at + end])?;
                let size = usize::from_str_radix(line.split(';').next().unwrap_or("").trim(), 16)
                    .with_context(|| format!("a chunk size line '{line}'"))?;
                ensure!(size > 0, "the server ended the stream");
                at += end + 2;
                self.left = size + 2;
                continue;
            }
            let take = self.left.min(self.raw.len() - at);
            let data = take.min(self.left.saturating_sub(2));
            self.body.extend_from_slice(&self.raw[at..at + data]);
            at += take;
            self.left -= take;
        }
        self.raw.drain(..at);
        Ok(())
    }
}

/// Reads one subscription until it has `expected` events; the delays (ms) of the paced runs'
/// events. Says when it has received the burst.
async fn subscriber(mut sub: Subscription, expected: usize, shared: &Shared) -> Result<Vec<f64>> {
    let paced = format!("\"{PACED}\"");
    let mut delays = Vec::new();
    let mut received = 0;
    let mut last_id = 0i64;
    while received < expected {
        sub.read()
            .await
            .with_context(|| format!("after {received} events"))?;
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs_f64() * 1000.0)
            .unwrap_or_default();
        let mut consumed = 0;
        while let Some(end) = find(&sub.body[consumed..], b"\n\n") {
            let block = std::str::from_utf8(&sub.body[consumed..consumed + end])
                .context("an event that is not UTF-8")?;
            consumed += end + 2;
            let Some((id, data)) = id_and_data(block) else {
                continue; // keep-alive
            };
            ensure!(id > last_id, "event {id} after {last_id}: out of order");
            last_id = id;
            received += 1;
            if received == shared.burst {
                shared.burst_done.fetch_add(1, Ordering::SeqCst);
                shared.burst_signal.notify_waiters();
            }
            if data.contains(paced.as_str()) {
                let at = updated_at(data)
                    .ok_or_else(|| anyhow!("event {id} without a readable updatedAt: {data}"))?;
                delays.push((now_ms - at).max(0.0));
            }
        }
        sub.body.drain(..consumed);
    }
    Ok(delays)
}

/// The first position of `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The `id:` and `data:` lines of one event block; `None` for a comment (keep-alive).
fn id_and_data(block: &str) -> Option<(i64, &str)> {
    let (mut id, mut data) = (None, None);
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse::<i64>().ok();
        } else if let Some(v) = line.strip_prefix("data:") {
            data = Some(v.trim());
        }
    }
    Some((id?, data?))
}

/// The `updatedAt` of an event's data, in epoch milliseconds, without parsing the whole JSON.
fn updated_at(data: &str) -> Option<f64> {
    let key = "\"updatedAt\":\"";
    let start = data.find(key)? + key.len();
    parse_ms(data.get(start..start + 24)?)
}

/// Epoch milliseconds of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn parse_ms(s: &str) -> Option<f64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss, ms) = (num(11..13)?, num(14..16)?, num(17..19)?, num(20..23)?);
    // Days from 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + hh) * 60 + mm) * 60 + ss) as f64 * 1000.0 + ms as f64)
}

#[cfg(test)]
mod tests {
    use super::{parse_ms, updated_at};

    #[test]
    fn parses_iso_milliseconds() {
        assert_eq!(parse_ms("1970-01-01T00:00:00.000Z"), Some(0.0));
        assert_eq!(
            parse_ms("2024-02-29T12:34:56.789Z"),
            Some(1_709_210_096_789.0)
        );
        assert_eq!(parse_ms("nope"), None);
        assert_eq!(
            updated_at(r#"{"a":1,"updatedAt":"1970-01-01T00:00:01.500Z"}"#),
            Some(1500.0)
        );
    }
}
