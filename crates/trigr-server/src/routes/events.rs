//! Realtime subscriptions over server-sent events (trigr's own protocol, `docs/api.md`):
//! `GET /api/v1/runs/{id}/events`, `GET /api/v1/runs/events?tag=…`,
//! `GET /api/v1/batches/{id}/events`.
//!
//! A stream first sends a `snapshot` event per run (or, with `Last-Event-ID`, the events
//! after that id from the store), then live events. It subscribes to the live feed before it
//! reads the store and skips live events it already sent (by `seq`), so nothing is lost or
//! sent twice. Each stream is a task that writes frames into a small channel the response body
//! reads; when the client does not read, that task stops taking live events, the feed moves on
//! without it, and it catches up from the store by `seq` when it can send again.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc};
use trigr_engine::events::snapshot;
use trigr_engine::realtime::PAGE;
use trigr_engine::Engine;
use trigr_store::{Page, Run, RunEvent, RunFilter};
use trigr_types::RunStatus;

use crate::error::{ApiError, ApiResult};
use crate::extract::{Auth, KeyOrToken};
use crate::AppState;

/// Comment lines sent on an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);
/// Frames waiting for the client before the stream stops taking live events.
const FRAMES: usize = 64;
/// Most runs in a tag subscription's snapshot (the newest).
const TAG_SNAPSHOT: usize = 1000;
/// Most bytes of waiting frames sent in one write.
const COALESCE_BYTES: usize = 64 * 1024;
/// Most tags in one subscription.
const MAX_TAGS: usize = 10;

/// Which runs a stream follows.
#[derive(Clone, Debug)]
enum Filter {
    Run(String),
    Tags(Vec<String>),
    Batch(String),
}

impl Filter {
    fn matches(&self, e: &RunEvent) -> bool {
        match self {
            Filter::Run(id) => &e.run_id == id,
            Filter::Tags(tags) => e.tags.iter().any(|t| tags.contains(t)),
            Filter::Batch(id) => e.batch_id.as_deref() == Some(id),
        }
    }
}

/// Options from the query string and headers.
struct Options {
    last_event_id: Option<i64>,
    stop_on_completion: bool,
    tags: Vec<String>,
}

fn options(params: &[(String, String)], headers: &HeaderMap) -> ApiResult<Options> {
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
                    "true" | "1" | "" => true,
                    "false" | "0" => false,
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
pub async fn run(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(run_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let opts = options(&params, &headers)?;
    let r = state.engine.retrieve_run(&auth.env_id, &run_id).await?;
    if !auth.may_read_run(&r.run) {
        return Err(auth.forbidden(&format!("read run {run_id}")));
    }
    subscribe(&state.engine, &auth, Filter::Run(run_id), opts).await
}

/// `GET /api/v1/runs/events?tag=a&tag=b`: runs carrying any of the tags.
pub async fn tagged(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let opts = options(&params, &headers)?;
    if opts.tags.is_empty() {
        return Err(ApiError::bad_request(
            "Name at least one tag: /api/v1/runs/events?tag=<tag>",
        ));
    }
    if opts.tags.len() > MAX_TAGS {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_TAGS} tags per subscription, got {}",
            opts.tags.len()
        )));
    }
    for tag in &opts.tags {
        if !auth.allows(&["read:runs".to_string(), format!("read:tags:{tag}")]) {
            return Err(auth.forbidden(&format!("read runs tagged {tag}")));
        }
    }
    let filter = Filter::Tags(opts.tags.clone());
    subscribe(&state.engine, &auth, filter, opts).await
}

/// `GET /api/v1/batches/{id}/events`: the batch's runs, each event with counts by status.
pub async fn batch(
    State(state): State<AppState>,
    KeyOrToken(auth): KeyOrToken,
    Path(batch_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> ApiResult<impl IntoResponse> {
    let opts = options(&params, &headers)?;
    if !auth.allows(&["read:runs".to_string(), format!("read:batch:{batch_id}")]) {
        return Err(auth.forbidden(&format!("read batch {batch_id}")));
    }
    subscribe(&state.engine, &auth, Filter::Batch(batch_id), opts).await
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

async fn start(engine: &Engine, env_id: &str, filter: &Filter) -> ApiResult<Start> {
    // Events committed before the snapshot get their numbers first, so the snapshot's
    // newest number covers them (PostgreSQL numbers events after their commit).
    trigr_engine::realtime::sequence(&engine.store)
        .await
        .map_err(ApiError::from)?;
    let (env, filter) = (env_id.to_string(), filter.clone());
    engine
        .read(move |tx| {
            let (runs, total) = match &filter {
                Filter::Run(id) => (tx.run(&env, id)?.into_iter().collect(), None),
                Filter::Tags(tags) => {
                    let f = RunFilter {
                        tags: tags.clone(),
                        ..Default::default()
                    };
                    let page = Page {
                        size: TAG_SNAPSHOT,
                        after_seq: None,
                        before_seq: None,
                    };
                    let mut runs = tx.list_runs(&env, &f, page)?;
                    runs.reverse(); // oldest first, like the events that follow
                    (runs, None)
                }
                Filter::Batch(id) => {
                    let b = tx.batch(&env, id)?.ok_or_else(|| {
                        trigr_engine::Error::NotFound(format!("Batch {id} not found"))
                    })?;
                    (tx.runs_of_batch(id)?, Some(b.run_count))
                }
            };
            Ok::<_, trigr_engine::Error>(Start {
                runs,
                seq: tx.last_run_event_seq(&env)?,
                pruned_through: tx.run_events_pruned_through()?,
                total,
            })
        })
        .await
        .map_err(ApiError::from)
}

async fn subscribe(
    engine: &Engine,
    auth: &Auth,
    filter: Filter,
    opts: Options,
) -> ApiResult<impl IntoResponse> {
    // Live first, then the store: an event committed in between is in both, and skipped once.
    let live = engine.realtime.subscribe(&auth.env_id).await?;
    let start = start(engine, &auth.env_id, &filter).await?;
    if let Some(last) = opts.last_event_id {
        if last > start.seq {
            return Err(ApiError::bad_request(format!(
                "Last-Event-ID {last} is not an event of this stream: the newest event is {}",
                start.seq
            )));
        }
    }
    let (frames, body) = mpsc::channel::<Bytes>(FRAMES);
    let stream = Stream {
        engine: engine.clone(),
        env_id: auth.env_id.clone(),
        filter,
        stop_on_completion: opts.stop_on_completion,
        frames,
        statuses: HashMap::new(),
        total: start.total,
        sent: 0,
    };
    tokio::spawn(stream.run(live, start, opts.last_event_id));
    // Frames waiting together go out in one write; a quiet stream gets a comment line.
    let body = futures::stream::unfold(body, |mut rx| async move {
        let first = match tokio::time::timeout(KEEP_ALIVE, rx.recv()).await {
            Err(_) => Bytes::from_static(b": keep-alive\n\n"),
            Ok(None) => return None,
            Ok(Some(frame)) => frame,
        };
        let mut out = Vec::with_capacity(first.len() * 2);
        out.extend_from_slice(&first);
        while out.len() < COALESCE_BYTES {
            match rx.try_recv() {
                Ok(more) => out.extend_from_slice(&more),
                Err(_) => break,
            }
        }
        Some((Ok::<_, Infallible>(Bytes::from(out)), rx))
    });
    let headers = [
        (header::CONTENT_TYPE, "text/event-stream"),
        (header::CACHE_CONTROL, "no-cache"),
    ];
    Ok((headers, Body::from_stream(body)))
}

/// One event on the wire. The data is JSON, which has no line breaks.
fn frame(id: i64, event: &str, data: &str) -> Bytes {
    Bytes::from(format!("id: {id}\nevent: {event}\ndata: {data}\n\n"))
}

/// Why a stream stopped sending.
enum Stop {
    /// The client went away or the server is closing.
    Gone,
    /// Everything followed is final and `stopOnCompletion` was asked.
    Done,
}

struct Stream {
    engine: Engine,
    env_id: String,
    filter: Filter,
    stop_on_completion: bool,
    frames: mpsc::Sender<Bytes>,
    /// Latest status of each run followed (for batch counts and completion).
    statuses: HashMap<String, RunStatus>,
    total: Option<i64>,
    /// The highest event number handled (sent or filtered out).
    sent: i64,
}

impl Stream {
    async fn run(
        mut self,
        mut live: broadcast::Receiver<Arc<RunEvent>>,
        start: Start,
        last: Option<i64>,
    ) {
        let closing = self.engine.notifier.env(CLOSING);
        let outcome = async {
            if self.engine.notifier.is_closing() {
                return Ok::<Stop, Stop>(Stop::Gone);
            }
            match last {
                Some(last) if last >= start.pruned_through => {
                    self.remember(&start.runs);
                    self.sent = last;
                    if self.catch_up().await? {
                        return Ok(Stop::Done);
                    }
                }
                Some(last) => {
                    let note = json!({
                        "reason": "expired",
                        "message": format!(
                            "Events after {last} are no longer kept (retention): this is a fresh snapshot"
                        ),
                    });
                    self.send(frame(start.seq, "reset", &note.to_string()))
                        .await?;
                    self.snapshot(&start).await?;
                }
                None => self.snapshot(&start).await?,
            }
            if self.complete() {
                return Ok(Stop::Done);
            }
            loop {
                match live.recv().await {
                    Ok(e) => {
                        if e.seq <= self.sent {
                            continue;
                        }
                        self.sent = e.seq;
                        if self.filter.matches(&e) && self.event(&e).await? {
                            return Ok(Stop::Done);
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Fell behind the feed: read what was missed from the store.
                        if self.catch_up().await? {
                            return Ok(Stop::Done);
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return Ok(Stop::Gone),
                }
            }
        };
        let notified = closing.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        let result = tokio::select! {
            r = outcome => r,
            _ = notified => Ok(Stop::Gone),
        };
        if let Ok(Stop::Done) = result {
            let end = json!({ "reason": "completed" });
            let _ = self
                .frames
                .send(frame(self.sent, "end", &end.to_string()))
                .await;
        }
    }

    fn remember(&mut self, runs: &[Run]) {
        for r in runs {
            self.statuses.insert(r.id.clone(), r.status);
        }
    }

    async fn send(&self, e: Bytes) -> Result<(), Stop> {
        self.frames.send(e).await.map_err(|_| Stop::Gone)
    }

    async fn snapshot(&mut self, start: &Start) -> Result<(), Stop> {
        self.remember(&start.runs);
        self.sent = self.sent.max(start.seq);
        for r in &start.runs {
            let mut data = snapshot(r);
            self.decorate(&mut data);
            self.send(frame(start.seq, "snapshot", &data.to_string()))
                .await?;
        }
        Ok(())
    }

    /// Sends the stored events after `self.sent`; true when the stream should end.
    async fn catch_up(&mut self) -> Result<bool, Stop> {
        loop {
            let (env, after) = (self.env_id.clone(), self.sent);
            let page = self
                .engine
                .read(move |tx| {
                    Ok::<_, trigr_engine::Error>(tx.run_events_after(&env, after, PAGE)?)
                })
                .await
                .map_err(|_| Stop::Gone)?;
            let full = page.len() == PAGE;
            for e in page {
                self.sent = e.seq;
                if self.filter.matches(&e) && self.event(&e).await? {
                    return Ok(true);
                }
            }
            if !full {
                return Ok(false);
            }
        }
    }

    /// Sends one event; true when the stream should end (`stopOnCompletion`).
    async fn event(&mut self, e: &RunEvent) -> Result<bool, Stop> {
        let data = match self.filter {
            Filter::Tags(_) => {
                return self
                    .send(frame(e.seq, e.kind.as_str(), &e.data))
                    .await
                    .map(|_| false)
            }
            Filter::Run(_) | Filter::Batch(_) => {
                let mut data: Value = serde_json::from_str(&e.data).unwrap_or(Value::Null);
                if let Some(status) = data
                    .get("status")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<RunStatus>().ok())
                {
                    self.statuses.insert(e.run_id.clone(), status);
                }
                self.decorate(&mut data);
                data.to_string()
            }
        };
        self.send(frame(e.seq, e.kind.as_str(), &data)).await?;
        Ok(self.complete())
    }

    /// Adds a batch's counts to an event's data.
    fn decorate(&self, data: &mut Value) {
        let (Filter::Batch(id), Value::Object(m)) = (&self.filter, data) else {
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
        match &self.filter {
            Filter::Run(_) => all_final,
            Filter::Batch(_) => all_final && self.statuses.len() as i64 >= self.total.unwrap_or(0),
            Filter::Tags(_) => false,
        }
    }
}

/// The notifier signal streams wait on to end when the server closes (every signal is woken
/// then).
const CLOSING: &str = "trigr:realtime-closing";
