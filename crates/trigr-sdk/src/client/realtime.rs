//! Realtime subscriptions: a run, the runs carrying a tag, or a batch's runs, as a
//! [`futures::Stream`] of typed events read from the server's server-sent events
//! (`GET /api/v1/runs/{id}/events`, `…/runs/events?tag=`, `…/batches/{id}/events`).
//!
//! The stream starts with a [`EventKind::Snapshot`] per run, then a
//! [`EventKind::Status`] or [`EventKind::Metadata`] per change. When the connection drops
//! it reconnects by itself, with backoff, sending the id of the last event it received
//! (`Last-Event-ID`): the server replays what was missed, so no event is lost or repeated.
//! With [`SubscribeOptions::stop_on_completion`] it ends after an [`EventKind::End`] once the
//! run (every run of the batch) is final. Every subscription of a client ends when the client
//! is closed ([`Client::close`]).
//!
//! With [`SubscribeOptions::transport`] set to [`Transport::WebSocket`] the same events come
//! over the server's realtime WebSocket instead (`GET /api/v1/realtime/ws`): one socket per
//! client carries all of its WebSocket subscriptions, reconnects with backoff and resumes
//! each from its last event id. The [`Subscription`] is the same either way.
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use futures::StreamExt;
//! let mut events = client.subscribe_to_run("run_…");
//! while let Some(event) = events.next().await {
//!     let event = event?;
//!     if let Some(run) = &event.run {
//!         println!("{:?} {} {}", event.kind, run.status, run.metadata);
//!     }
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::time::Duration;

use futures::stream::BoxStream;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::Value;

use super::Client;
use crate::error::{Error, Result};
use crate::http::{encode, Http, SseParser};

/// What an event says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// The run's state when the subscription started.
    Snapshot,
    /// The run's status changed (or the run was created).
    Status,
    /// The run's metadata changed.
    Metadata,
    /// Events after the id the subscription resumed from are no longer kept: snapshots follow.
    Reset,
    /// Everything followed is final (`stop_on_completion`); the stream ends.
    End,
}

impl EventKind {
    fn parse(s: &str) -> Option<EventKind> {
        Some(match s {
            "snapshot" => EventKind::Snapshot,
            "status" => EventKind::Status,
            "metadata" => EventKind::Metadata,
            "reset" => EventKind::Reset,
            "end" => EventKind::End,
            _ => return None,
        })
    }
}

/// A run as an event shows it.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunState {
    pub id: String,
    pub task_identifier: String,
    /// `QUEUED`, `EXECUTING`, `COMPLETED`, …
    pub status: String,
    pub attempt: i64,
    pub version: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub metadata: Value,
    /// The status is final: the run will not change status again.
    pub is_final: bool,
    pub batch_id: Option<String>,
    /// The output, once the run completed.
    pub output: Option<Value>,
    /// The error, once the run failed.
    pub error: Option<Value>,
    pub created_at: String,
    pub updated_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// A batch subscription's counts, on each of its events.
    pub batch: Option<BatchCounts>,
}

/// How a batch's runs stand, on every event of a batch subscription.
#[derive(Clone, Debug, PartialEq, Deserialize)]
pub struct BatchCounts {
    pub id: String,
    /// Runs the batch will have.
    pub total: i64,
    /// Runs whose status is final.
    pub finished: i64,
    /// Runs by status.
    pub counts: std::collections::BTreeMap<String, i64>,
}

/// One event of a subscription.
#[derive(Clone, Debug, PartialEq)]
pub struct RunEvent {
    /// The event's id (its number in the environment): what a resume sends back.
    pub id: i64,
    pub kind: EventKind,
    /// The run (for snapshot, status and metadata events).
    pub run: Option<RunState>,
    /// The event's whole `data`.
    pub data: Value,
}

/// How a subscription's events travel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Transport {
    /// A server-sent event stream per subscription.
    #[default]
    Sse,
    /// The client's one realtime WebSocket, shared by its WebSocket subscriptions.
    WebSocket,
}

/// Options of a subscription.
#[derive(Clone, Debug)]
pub struct SubscribeOptions {
    /// Server-sent events (the default) or the shared WebSocket.
    pub transport: Transport,
    /// End the stream once the run (every run of the batch) is final. Ignored for tags.
    pub stop_on_completion: bool,
    /// Resume after this event id instead of starting with snapshots.
    pub last_event_id: Option<i64>,
    /// First pause before reconnecting; doubles up to [`SubscribeOptions::max_backoff`].
    pub min_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for SubscribeOptions {
    fn default() -> Self {
        SubscribeOptions {
            transport: Transport::Sse,
            stop_on_completion: true,
            last_event_id: None,
            min_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// A subscription's events; reconnects by itself.
pub type Subscription = BoxStream<'static, Result<RunEvent>>;

impl Client {
    /// A run's events, ending when the run is final.
    pub fn subscribe_to_run(&self, run_id: &str) -> Subscription {
        self.subscribe_to_run_with(run_id, SubscribeOptions::default())
    }

    pub fn subscribe_to_run_with(&self, run_id: &str, options: SubscribeOptions) -> Subscription {
        if options.transport == Transport::WebSocket {
            let topic = serde_json::json!({ "run": run_id });
            return super::realtime_ws::subscribe(self.http.clone(), topic, options);
        }
        let path = format!("/api/v1/runs/{}/events", encode(run_id));
        subscribe(self.http.clone(), path, options)
    }

    /// Events of the runs carrying the tag (new runs included); never ends by itself.
    pub fn subscribe_to_runs_with_tag(&self, tag: &str) -> Subscription {
        self.subscribe_to_runs_with_tags(&[tag], SubscribeOptions::default())
    }

    /// Events of the runs carrying any of the tags.
    pub fn subscribe_to_runs_with_tags(
        &self,
        tags: &[&str],
        options: SubscribeOptions,
    ) -> Subscription {
        if options.transport == Transport::WebSocket {
            let topic = serde_json::json!({ "tags": tags });
            return super::realtime_ws::subscribe(self.http.clone(), topic, options);
        }
        let query: Vec<String> = tags.iter().map(|t| format!("tag={}", encode(t))).collect();
        let path = format!("/api/v1/runs/events?{}", query.join("&"));
        subscribe(self.http.clone(), path, options)
    }

    /// Events of a batch's runs, each with the batch's counts; ends when every run is final.
    pub fn subscribe_to_batch(&self, batch_id: &str) -> Subscription {
        self.subscribe_to_batch_with(batch_id, SubscribeOptions::default())
    }

    pub fn subscribe_to_batch_with(
        &self,
        batch_id: &str,
        options: SubscribeOptions,
    ) -> Subscription {
        if options.transport == Transport::WebSocket {
            let topic = serde_json::json!({ "batch": batch_id });
            return super::realtime_ws::subscribe(self.http.clone(), topic, options);
        }
        let path = format!("/api/v1/batches/{}/events", encode(batch_id));
        subscribe(self.http.clone(), path, options)
    }
}

struct State {
    http: Http,
    path: String,
    options: SubscribeOptions,
    last: Option<i64>,
    body: Option<BoxStream<'static, reqwest::Result<Vec<u8>>>>,
    parser: SseParser,
    ready: VecDeque<RunEvent>,
    backoff: Duration,
    /// Failed connection attempts in a row.
    failures: u32,
    done: bool,
}

fn subscribe(http: Http, path: String, options: SubscribeOptions) -> Subscription {
    let state = State {
        http,
        path,
        last: options.last_event_id,
        backoff: options.min_backoff,
        options,
        body: None,
        parser: SseParser::default(),
        ready: VecDeque::new(),
        failures: 0,
        done: false,
    };
    futures::stream::unfold(state, |mut s| async move {
        let item = s.next().await?;
        Some((item, s))
    })
    .boxed()
}

/// Opens the event stream, resuming after `last`.
async fn connect(
    http: Http,
    mut path: String,
    last: Option<i64>,
    stop_on_completion: bool,
) -> Result<BoxStream<'static, reqwest::Result<Vec<u8>>>> {
    if stop_on_completion {
        path.push(if path.contains('?') { '&' } else { '?' });
        path.push_str("stopOnCompletion=true");
    }
    let headers: Vec<(&str, String)> = last
        .map(|id| ("last-event-id", id.to_string()))
        .into_iter()
        .collect();
    let response = http.open_stream(&path, &headers).await?;
    Ok(response
        .bytes_stream()
        .map(|r| r.map(|b| b.to_vec()))
        .boxed())
}

impl State {
    async fn next(&mut self) -> Option<Result<RunEvent>> {
        loop {
            if let Some(e) = self.ready.pop_front() {
                self.last = Some(e.id);
                if e.kind == EventKind::End {
                    self.done = true;
                    self.body = None;
                }
                return Some(Ok(e));
            }
            if self.done || self.http.is_closed() {
                return None;
            }
            let Some(body) = self.body.as_mut() else {
                if self.failures > 0 {
                    tokio::time::sleep(self.backoff).await;
                    self.backoff = (self.backoff * 2).min(self.options.max_backoff);
                }
                let opening = connect(
                    self.http.clone(),
                    self.path.clone(),
                    self.last,
                    self.options.stop_on_completion,
                );
                match opening.await {
                    Ok(body) => {
                        self.body = Some(body);
                        self.parser.clear();
                    }
                    Err(e) if e.is_transient() => self.failures += 1,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                continue;
            };
            let chunk = tokio::select! {
                chunk = body.next() => chunk,
                // The client was closed: the subscription ends.
                () = self.http.stopped() => return None,
            };
            match chunk {
                Some(Ok(bytes)) => {
                    self.failures = 0;
                    self.backoff = self.options.min_backoff;
                    self.parser.push(&bytes);
                    if let Err(e) = self.parse() {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                // The connection dropped (or the server closed it): resume from `last`.
                Some(Err(_)) | None => {
                    self.body = None;
                    self.failures += 1;
                }
            }
        }
    }

    /// Moves the complete events of the parser to `ready`.
    fn parse(&mut self) -> Result<()> {
        while let Some(frame) = self.parser.next_event() {
            if EventKind::parse(&frame.name).is_none() {
                continue; // a keep-alive comment, or an event this SDK does not know
            }
            let request = format!("GET {}", self.path.split('?').next().unwrap_or(""));
            let bad = |reason: String| Error::BadAnswer {
                request: request.clone(),
                reason,
            };
            let id = frame
                .id
                .ok_or_else(|| bad(format!("a {} event without an id", frame.name)))?;
            let data: Value = serde_json::from_str(&frame.data)
                .map_err(|e| bad(format!("the data of event {id} is not JSON ({e})")))?;
            if let Some(event) = to_event(&request, id, &frame.name, data)? {
                self.ready.push_back(event);
            }
        }
        Ok(())
    }
}

/// The event `name` with id `id` and its JSON `data`; `None` for an event this SDK does not
/// know. `request` names the stream in errors.
pub(crate) fn to_event(
    request: &str,
    id: i64,
    name: &str,
    data: Value,
) -> Result<Option<RunEvent>> {
    let Some(kind) = EventKind::parse(name) else {
        return Ok(None);
    };
    let run = match kind {
        EventKind::Snapshot | EventKind::Status | EventKind::Metadata => Some(
            serde_json::from_value(data.clone()).map_err(|e| Error::BadAnswer {
                request: request.into(),
                reason: format!("event {id}: {e}"),
            })?,
        ),
        EventKind::Reset | EventKind::End => None,
    };
    Ok(Some(RunEvent {
        id,
        kind,
        run,
        data,
    }))
}
