//! Realtime subscriptions over server-sent events (trigr's own protocol, `docs/api.md`):
//! `GET /api/v1/runs/{id}/events`, `GET /api/v1/runs/events?tag=…`,
//! `GET /api/v1/batches/{id}/events`.
//!
//! A stream first sends a `snapshot` event per run (or, with `Last-Event-ID`, the events
//! after that id from the store), then live events. It subscribes to the live feed before it
//! reads the store and skips live events it already sent (by `seq`), so nothing is lost or
//! sent twice. Each stream is its response body: polled when the socket can take more, it
//! takes every live event ready and writes their frames at once. When the client does not
//! read, the body is not polled, the feed moves on without it, and it catches up from the
//! store by `seq` when it can send again.
//!
//! The same streams carry the WebSocket transport ([`super::realtime_ws`]): a [`Wire`] says
//! how a stream's events look on the wire.

use std::collections::HashMap;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use tokio::sync::broadcast::{self, error::RecvError, error::TryRecvError};
use tokio::sync::futures::OwnedNotified;
use trigr_engine::events::snapshot;
use trigr_engine::realtime::{LiveEvent, PAGE};
use trigr_engine::selection::Selection;
use trigr_engine::trigger::MAX_TAGS;
use trigr_engine::Engine;
use trigr_store::{Run, RunEvent};
use trigr_types::RunStatus;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, StreamAuth};
use crate::AppState;

/// Comment lines sent on an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Most runs in a tag subscription's snapshot (the newest).
const TAG_SNAPSHOT: usize = 1000;
/// Most bytes of waiting frames sent in one write.
const COALESCE_BYTES: usize = 64 * 1024;

/// Options from the query string and headers.
pub struct Options {
    pub last_event_id: Option<i64>,
    pub stop_on_completion: bool,
    pub tags: Vec<String>,
}

pub fn options(params: &[(String, String)], headers: &HeaderMap) -> ApiResult<Options> {
    let mut last = None;
    let mut stop = false;
    let mut tags = Vec::new();
    for (key, value) in params {
        match key.as_str() {
            "tag" | "tags" => tags.extend(
                value
                    .split(',')
                    .map(str::trim)
                    .filter(|t| !t.is_empty())
                    .map(String::from),
            ),
            "lastEventId" => last = Some(value.clone()),
            "stopOnCompletion" => {
                stop = match value.as_str() {
                    "true" => true,
                    "false" => false,
                    other => {
                        return Err(ApiError::bad_request(format!(
                            "stopOnCompletion must be true or false, got '{other}'"
                        )))
                    }
                }
            }
            _ => {}
        }
    }
    if let Some(h) = headers.get("last-event-id") {
        let text = h.to_str().map_err(|_| {
            ApiError::bad_request("The Last-Event-ID header must be a whole number")
        })?;
        last = Some(text.to_string());
    }
    let last_event_id = match last {
        None => None,
        Some(text) => Some(text.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(
            || {
                ApiError::bad_request(format!(
                    "Last-Event-ID must be the id of an event this stream sent (a whole number), got '{text}'"
                ))
            },
        )?),
    };
    Ok(Options {
        last_event_id,
        stop_on_completion: stop,
        tags,
    })
}

/// `GET /api/v1/runs/{id}/events`.
#[utoipa::path(
    get,
    path = "/api/v1/runs/{run_id}/events",
    tag = "realtime",
    operation_id = "subscribeToRunEvents",
    security(("secretKey" = []), ("publicAccessToken" = []), ("accessTokenQuery" = [])),
    params(
        ("run_id" = String, Path, description = "The run id (`run_…`)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (a whole number): no snapshot, the missed events first"),
        ("lastEventId" = Option<u64>, Query, description = "Like Last-Event-ID, for clients that cannot set headers"),
        ("stopOnCompletion" = Option<bool>, Query, description = "End the stream once the run (every run of the batch) is final"),
    ),
    responses(
        (status = 200, description = "Server-sent events, open until the client leaves (or stopOnCompletion ends it); each event as an event-stream parser reads it", content_type = "text/event-stream", body = crate::openapi::schemas::RunEvent),
        (status = 404, description = "No such run", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn run(
    State(state): State<AppState>,
    StreamAuth(auth): StreamAuth,
    Path(run_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let opts = options(&params, &headers)?;
    let selection = run_selection(&state.engine, &auth, run_id).await?;
    subscribe(&state.engine, &auth, selection, opts).await
}

/// A run's subscription, when the caller may read the run.
pub(crate) async fn run_selection(
    engine: &Engine,
    auth: &Auth,
    run_id: String,
) -> ApiResult<Selection> {
    let r = engine.retrieve_run(&auth.env_id, &run_id).await?;
    if !auth.may_read_run(&r.run) {
        return Err(auth.forbidden(&format!("read run {run_id}")));
    }
    Ok(Selection::Run(run_id))
}

/// `GET /api/v1/runs/events?tag=a&tag=b`: runs carrying any of the tags.
#[utoipa::path(
    get,
    path = "/api/v1/runs/events",
    tag = "realtime",
    operation_id = "subscribeToTaggedRunEvents",
    security(("secretKey" = []), ("publicAccessToken" = []), ("accessTokenQuery" = [])),
    params(
        ("tag" = Vec<String>, Query, description = "1-10 tags (repeated, or comma-separated); runs carrying any of them"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (a whole number): no snapshot, the missed events first"),
        ("lastEventId" = Option<u64>, Query, description = "Like Last-Event-ID, for clients that cannot set headers"),
        ("stopOnCompletion" = Option<bool>, Query, description = "End the stream once the run (every run of the batch) is final"),
    ),
    responses(
        (status = 200, description = "Server-sent events, open until the client leaves (or stopOnCompletion ends it); each event as an event-stream parser reads it", content_type = "text/event-stream", body = crate::openapi::schemas::RunEvent),
    ),
)]
pub async fn tagged(
    State(state): State<AppState>,
    StreamAuth(auth): StreamAuth,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let opts = options(&params, &headers)?;
    if opts.tags.is_empty() {
        return Err(ApiError::bad_request(
            "Name at least one tag: /api/v1/runs/events?tag=<tag>",
        ));
    }
    let selection = tags_selection(&auth, opts.tags.clone())?;
    subscribe(&state.engine, &auth, selection, opts).await
}

/// The subscription to runs carrying any of `tags` (1 to [`MAX_TAGS`]), when the caller may
/// read each.
pub(crate) fn tags_selection(auth: &Auth, tags: Vec<String>) -> ApiResult<Selection> {
    if tags.is_empty() {
        return Err(ApiError::bad_request("Name at least one tag"));
    }
    if tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_TAGS} tags per subscription, got {}",
            tags.len()
        )));
    }
    for tag in &tags {
        if !auth.allows(&["read:runs".to_string(), format!("read:tags:{tag}")]) {
            return Err(auth.forbidden(&format!("read runs tagged {tag}")));
        }
    }
    Ok(Selection::Tags {
        tags,
        all: false,
        since: None,
        limit: TAG_SNAPSHOT,
    })
}

/// `GET /api/v1/batches/{id}/events`: the batch's runs, each event with counts by status.
#[utoipa::path(
    get,
    path = "/api/v1/batches/{batch_id}/events",
    tag = "realtime",
    operation_id = "subscribeToBatchEvents",
    security(("secretKey" = []), ("publicAccessToken" = []), ("accessTokenQuery" = [])),
    params(
        ("batch_id" = String, Path, description = "The batch id (`batch_…`)"),
        ("Last-Event-ID" = Option<String>, Header, description = "Resume after this event id (a whole number): no snapshot, the missed events first"),
        ("lastEventId" = Option<u64>, Query, description = "Like Last-Event-ID, for clients that cannot set headers"),
        ("stopOnCompletion" = Option<bool>, Query, description = "End the stream once the run (every run of the batch) is final"),
    ),
    responses(
        (status = 200, description = "Server-sent events, open until the client leaves (or stopOnCompletion ends it); each event as an event-stream parser reads it", content_type = "text/event-stream", body = crate::openapi::schemas::RunEvent),
        (status = 404, description = "No such batch", body = crate::openapi::schemas::ErrorBody),
    ),
)]
pub async fn batch(
    State(state): State<AppState>,
    StreamAuth(auth): StreamAuth,
    Path(batch_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let opts = options(&params, &headers)?;
    let selection = batch_selection(&auth, batch_id)?;
    subscribe(&state.engine, &auth, selection, opts).await
}

/// A batch's subscription, when the caller may read the batch.
pub(crate) fn batch_selection(auth: &Auth, batch_id: String) -> ApiResult<Selection> {
    if !auth.allows(&["read:runs".to_string(), format!("read:batch:{batch_id}")]) {
        return Err(auth.forbidden(&format!("read batch {batch_id}")));
    }
    Ok(Selection::Batch(batch_id))
}

/// What a stream knows when it starts.
struct Start {
    runs: Vec<Run>,
    /// The newest event number when `runs` were read.
    seq: i64,
    pruned_through: i64,
    /// A batch's expected number of runs.
    total: Option<i64>,
}

async fn start(engine: &Engine, env_id: &str, selection: &Selection) -> ApiResult<Start> {
    let start = engine.stream_start(env_id, selection).await?;
    let (runs, total) = match (start.selected, selection) {
        (Some(selected), Selection::Tags { .. }) => {
            let mut runs = selected.runs;
            runs.reverse(); // oldest first, like the events that follow
            (runs, None)
        }
        (Some(selected), _) => (selected.runs, selected.batch_size),
        (None, Selection::Batch(id)) => {
            return Err(ApiError::from(trigr_engine::Error::NotFound(format!(
                "Batch {id} not found"
            ))))
        }
        (None, _) => (Vec::new(), None),
    };
    Ok(Start {
        runs,
        seq: start.seq,
        pruned_through: start.pruned_through,
        total,
    })
}

async fn subscribe(
    engine: &Engine,
    auth: &Auth,
    selection: Selection,
    opts: Options,
) -> ApiResult<impl IntoResponse> {
    let stream = open(engine, auth, selection, opts, Sse).await?;
    let body = futures::stream::unfold(stream, |mut s| async move {
        let chunk = s.next_chunk().await?;
        Some((Ok::<_, Infallible>(chunk), s))
    });
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    Ok((headers, Body::from_stream(body)))
}

/// How a stream's events look on the wire.
pub(crate) trait Wire: Send + 'static {
    /// One event: its id (the resume cursor), its name and its JSON data.
    fn event(&self, id: i64, event: &str, data: &str) -> Bytes;
    /// A live event, as [`Wire::event`] writes it.
    fn live(&self, live: &LiveEvent) -> Bytes {
        let e = &live.event;
        self.event(e.seq, e.kind.as_str(), &e.data)
    }
    /// A note for a person reading the stream, when the wire has a place for it.
    fn note(&self, text: &str) -> Option<Bytes>;
    /// What keeps a quiet stream's connection open, when the wire needs it.
    fn keep_alive(&self) -> Option<Bytes>;
}

/// Server-sent events.
struct Sse;

impl Wire for Sse {
    fn event(&self, id: i64, event: &str, data: &str) -> Bytes {
        frame(id, event, data)
    }

    /// Encoded once for every SSE subscriber of the event.
    fn live(&self, live: &LiveEvent) -> Bytes {
        live.encoded(plain_frame)
    }

    fn note(&self, text: &str) -> Option<Bytes> {
        Some(Bytes::from(format!(": {text}\n\n")))
    }

    fn keep_alive(&self) -> Option<Bytes> {
        Some(Bytes::from_static(b": keep-alive\n\n"))
    }
}

/// Opens a stream of `selection` for the caller: subscribed to the live feed, its start read.
pub(crate) async fn open<W: Wire>(
    engine: &Engine,
    auth: &Auth,
    selection: Selection,
    opts: Options,
    wire: W,
) -> ApiResult<Stream<W>> {
    // Live first, then the store: an event committed in between is in both, and skipped once.
    let live = engine.subscribe_events(&auth.env_id).await?;
    let start = start(engine, &auth.env_id, &selection).await?;
    if let Some(last) = opts.last_event_id {
        if last > start.seq {
            return Err(ApiError::bad_request(format!(
                "Last-Event-ID {last} is not an event of this stream: the newest event is {}",
                start.seq
            )));
        }
    }
    let mut closing = Box::pin(engine.signal(CLOSING).notified_owned());
    closing.as_mut().enable();
    let mut keep_alive =
        tokio::time::interval_at(tokio::time::Instant::now() + KEEP_ALIVE, KEEP_ALIVE);
    keep_alive.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    Ok(Stream {
        wire,
        engine: engine.clone(),
        env_id: auth.env_id.clone(),
        selection,
        stop_on_completion: opts.stop_on_completion,
        statuses: HashMap::new(),
        total: start.total,
        sent: 0,
        live,
        phase: Phase::Start(start, opts.last_event_id),
        out: Vec::new(),
        out_len: 0,
        keep_alive,
        closing,
        completed: false,
    })
}

/// One event on the wire. The data is JSON, which has no line breaks.
fn frame(id: i64, event: &str, data: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {event}\ndata: {data}\n\n"))
}

/// A stored event on the wire as it is.
fn plain_frame(e: &RunEvent) -> Bytes {
    frame(e.seq, e.kind.as_str(), &e.data)
}

/// The run status an event's data carries.
fn status_of(data: &str) -> Option<RunStatus> {
    #[derive(serde::Deserialize)]
    struct Status<'a> {
        #[serde(borrow)]
        status: Option<&'a str>,
    }
    serde_json::from_str::<Status>(data)
        .ok()?
        .status?
        .parse()
        .ok()
}

/// Where a stream is.
enum Phase {
    /// Nothing sent yet: a snapshot, or a resume from this `Last-Event-ID`, comes first.
    Start(Start, Option<i64>),
    /// Reading the events after `sent` from the store, a page per step.
    CatchUp,
    /// Taking events from the live feed.
    Live,
    /// Everything followed is final and `stopOnCompletion` was asked: `end` goes next.
    End,
    /// The response is over.
    Over,
}

/// One subscription: the response body itself, so a live event costs one task wake-up per
/// subscriber. When the client does not read, the body is not polled, the stream takes nothing
/// from the feed and, once the feed has moved on without it, catches up from the store.
pub(crate) struct Stream<W> {
    wire: W,
    engine: Engine,
    env_id: String,
    selection: Selection,
    stop_on_completion: bool,
    /// Latest status of each run followed (for batch counts and completion).
    statuses: HashMap<String, RunStatus>,
    total: Option<i64>,
    /// The highest event number handled (sent or filtered out).
    sent: i64,
    live: broadcast::Receiver<Arc<LiveEvent>>,
    phase: Phase,
    /// Frames for the next write.
    out: Vec<Bytes>,
    out_len: usize,
    keep_alive: tokio::time::Interval,
    closing: Pin<Box<OwnedNotified>>,
    /// The `end` event went out (`stopOnCompletion`).
    completed: bool,
}

impl<W: Wire> Stream<W> {
    /// The next bytes for the client (every frame ready, up to [`COALESCE_BYTES`]); `None`
    /// ends the response.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        let out = self.next_frames().await?;
        if out.len() == 1 {
            return out.into_iter().next();
        }
        Some(Bytes::from(out.concat()))
    }

    /// The highest event id handled: where a new stream resumes without loss.
    pub(crate) fn cursor(&self) -> i64 {
        self.sent
    }

    /// Whether the stream ended with its `end` event.
    pub(crate) fn completed(&self) -> bool {
        self.completed
    }

    /// The next frames for the client (every frame ready, up to [`COALESCE_BYTES`]); `None`
    /// when the stream is over.
    pub(crate) async fn next_frames(&mut self) -> Option<Vec<Bytes>> {
        while self.out.is_empty() {
            if self.engine.is_closing() {
                return None;
            }
            self.phase = match std::mem::replace(&mut self.phase, Phase::Over) {
                Phase::Over => return None,
                Phase::Start(start, last) => self.begin(start, last),
                Phase::CatchUp => self.catch_up_page().await,
                Phase::Live => self.take_live().await,
                Phase::End => {
                    let end = self
                        .wire
                        .event(self.sent, "end", r#"{"reason":"completed"}"#);
                    self.push(end);
                    self.completed = true;
                    Phase::Over
                }
            };
        }
        self.out_len = 0;
        Some(std::mem::take(&mut self.out))
    }

    fn push(&mut self, frame: Bytes) {
        self.out_len += frame.len();
        self.out.push(frame);
    }

    /// The first frames: a snapshot (after a `reset` when the events after `last` were
    /// pruned), or nothing when resuming exactly.
    fn begin(&mut self, start: Start, last: Option<i64>) -> Phase {
        match last {
            Some(last) if last >= start.pruned_through => {
                self.remember(&start.runs);
                self.sent = last;
                return Phase::CatchUp;
            }
            Some(last) => {
                let note = json!({
                    "reason": "expired",
                    "message": format!(
                        "Events after {last} are no longer kept (retention): this is a fresh snapshot"
                    ),
                });
                let reset = self.wire.event(start.seq, "reset", &note.to_string());
                self.push(reset);
            }
            None => {}
        }
        self.snapshot(&start);
        self.after_events()
    }

    /// Live from here, or the end when everything followed is final.
    fn after_events(&self) -> Phase {
        if self.complete() {
            Phase::End
        } else {
            Phase::Live
        }
    }

    fn remember(&mut self, runs: &[Run]) {
        for r in runs {
            self.statuses.insert(r.id.clone(), r.status);
        }
    }

    fn snapshot(&mut self, start: &Start) {
        self.remember(&start.runs);
        self.sent = self.sent.max(start.seq);
        for r in &start.runs {
            let mut data = snapshot(r);
            self.decorate(&mut data);
            let snapshot = self.wire.event(start.seq, "snapshot", &data.to_string());
            self.push(snapshot);
        }
    }

    /// Waits for live events and takes every one ready, up to [`COALESCE_BYTES`] of frames;
    /// a keep-alive comment when the stream is quiet.
    async fn take_live(&mut self) -> Phase {
        let mut next = tokio::select! {
            biased;
            _ = &mut self.closing => return Phase::Over,
            r = self.live.recv() => r,
            _ = self.keep_alive.tick() => {
                if let Some(keep_alive) = self.wire.keep_alive() {
                    self.push(keep_alive);
                }
                return Phase::Live;
            }
        };
        loop {
            match next {
                Ok(live) => {
                    let e = &live.event;
                    if e.seq > self.sent {
                        self.sent = e.seq;
                        if self.selection.matches(e) && self.event(e, Some(&live)) {
                            return Phase::End;
                        }
                    }
                }
                // Fell behind the feed: read what was missed from the store.
                Err(RecvError::Lagged(missed)) => {
                    tracing::debug!(
                        missed,
                        after = self.sent,
                        "a realtime subscriber fell behind the live feed; it catches up from the store"
                    );
                    // A comment: clients ignore it, a person reading the stream sees why it paused.
                    let text = format!(
                        "fell {missed} events behind the live feed; catching up from the store"
                    );
                    if let Some(note) = self.wire.note(&text) {
                        self.push(note);
                    }
                    return Phase::CatchUp;
                }
                Err(RecvError::Closed) => return Phase::Over,
            }
            if self.out_len >= COALESCE_BYTES {
                return Phase::Live;
            }
            next = match self.live.try_recv() {
                Ok(live) => Ok(live),
                Err(TryRecvError::Empty) => return Phase::Live,
                Err(TryRecvError::Lagged(n)) => Err(RecvError::Lagged(n)),
                Err(TryRecvError::Closed) => Err(RecvError::Closed),
            };
        }
    }

    /// One page of the stored events after `self.sent`.
    async fn catch_up_page(&mut self) -> Phase {
        let page = self.engine.events_after(&self.env_id, self.sent).await;
        let Ok(page) = page else {
            // The store is unavailable: end the response; the client resumes from its last id.
            return Phase::Over;
        };
        let full = page.len() == PAGE;
        for e in page {
            self.sent = e.seq;
            if self.selection.matches(&e) && self.event(&e, None) {
                return Phase::End;
            }
        }
        if full {
            Phase::CatchUp
        } else {
            self.after_events()
        }
    }

    /// Adds one event's frame; true when the stream should end (`stopOnCompletion`). A live
    /// event of a run or tag stream is sent as every other subscriber sends it, encoded once.
    fn event(&mut self, e: &RunEvent, live: Option<&LiveEvent>) -> bool {
        let encoded = match self.selection {
            Selection::Tags { .. } | Selection::Run(_) => {
                if let Selection::Run(_) = self.selection {
                    if let Some(status) = status_of(&e.data) {
                        self.statuses.insert(e.run_id.clone(), status);
                    }
                }
                match live {
                    Some(live) => self.wire.live(live),
                    None => self.wire.event(e.seq, e.kind.as_str(), &e.data),
                }
            }
            Selection::Batch(_) => {
                let mut data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                if let Some(status) = status_of(&e.data) {
                    self.statuses.insert(e.run_id.clone(), status);
                }
                self.decorate(&mut data);
                self.wire.event(e.seq, e.kind.as_str(), &data.to_string())
            }
        };
        self.push(encoded);
        self.complete()
    }

    /// Adds a batch's counts to an event's data.
    fn decorate(&self, data: &mut Value) {
        let (Selection::Batch(id), Value::Object(m)) = (&self.selection, data) else {
            return;
        };
        let mut counts = serde_json::Map::new();
        let mut finished = 0;
        for s in self.statuses.values() {
            let n = counts.entry(s.as_str()).or_insert(json!(0));
            *n = json!(n.as_i64().unwrap_or(0) + 1);
            if s.is_final() {
                finished += 1;
            }
        }
        let total = self.total.unwrap_or(self.statuses.len() as i64);
        m.insert(
            "batch".into(),
            json!({ "id": id, "total": total, "finished": finished, "counts": counts }),
        );
    }

    /// Whether `stopOnCompletion` ends the stream now.
    fn complete(&self) -> bool {
        if !self.stop_on_completion {
            return false;
        }
        let all_final = !self.statuses.is_empty() && self.statuses.values().all(|s| s.is_final());
        match &self.selection {
            Selection::Run(_) => all_final,
            Selection::Batch(_) => {
                all_final && self.statuses.len() as i64 >= self.total.unwrap_or(0)
            }
            Selection::Tags { .. } => false,
        }
    }
}

/// The notifier signal streams wait on to end when the server closes (every signal is woken
/// then).
pub(crate) const CLOSING: &str = "trigr:realtime-closing";
