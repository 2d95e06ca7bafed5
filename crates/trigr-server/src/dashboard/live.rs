//! Live pages over server-sent events: `GET /dashboard/env/{env_id}/…/live`.
//!
//! A stream renders the live parts of its page (the elements marked `data-live`) again
//! whenever a run of the environment changes (the engine's realtime feed, which other
//! servers of a cluster reach too) and at least every tick (logs, steps and queue counts have
//! no run event), and sends each part whose HTML changed as an event `part`:
//! `{"name": …, "html": …}`; `assets/live.js` puts it in place. Each render is one page
//! read, as bounded as the page itself; renders are at least [`MIN_GAP`] apart however many
//! runs change.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio::sync::broadcast::error::RecvError;

use super::auth::Viewer;
use super::layout::PageError;
use super::{mollifier, overview, queues, run, runs};
use crate::AppState;

/// Shortest time between two renders of one stream.
pub const MIN_GAP: Duration = Duration::from_millis(150);

/// The live parts of a page, rendered: `(name, html)`.
pub type Parts = Vec<(&'static str, String)>;
type Render =
    Box<dyn Fn() -> Pin<Box<dyn Future<Output = Result<Parts, PageError>> + Send>> + Send + Sync>;

/// A stream of the parts `render` makes, for the environment's changes and every `tick`.
async fn stream(
    state: AppState,
    env_id: String,
    tick: Duration,
    render: Render,
) -> Result<Response, PageError> {
    let events = state.engine.subscribe_events(&env_id).await?;
    let first = render().await?;
    let start = Loop {
        state,
        events,
        tick,
        render,
        sent: first,
        pending: Vec::new(),
    };
    let body = futures::stream::unfold(start, |mut l| async move {
        let event = l.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), l))
    });
    Ok(Sse::new(body)
        .keep_alive(KeepAlive::default())
        .into_response())
}

struct Loop {
    state: AppState,
    events: tokio::sync::broadcast::Receiver<std::sync::Arc<trigr_engine::realtime::LiveEvent>>,
    tick: Duration,
    render: Render,
    /// What the browser shows now, by part.
    sent: Parts,
    /// Changed parts not sent yet.
    pending: Parts,
}

impl Loop {
    /// The next changed part; `None` ends the stream (the server is closing).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some((name, html)) = self.pending.pop() {
                let data = serde_json::json!({ "name": name, "html": html }).to_string();
                return Some(Event::default().event("part").data(data));
            }
            if self.state.engine.is_closing() {
                return None;
            }
            tokio::select! {
                got = self.events.recv() => {
                    if matches!(got, Err(RecvError::Closed)) {
                        return None;
                    }
                }
                _ = tokio::time::sleep(self.tick) => {}
            }
            tokio::time::sleep(MIN_GAP).await;
            // Whatever else arrived meanwhile is covered by this render.
            while self.events.try_recv().is_ok() {}
            let Ok(parts) = (self.render)().await else {
                continue;
            };
            for (name, html) in parts {
                let old = self.sent.iter_mut().find(|(n, _)| *n == name);
                match old {
                    Some((_, old)) if *old == html => {}
                    Some((_, old)) => {
                        *old = html.clone();
                        self.pending.push((name, html));
                    }
                    None => {
                        self.sent.push((name, html.clone()));
                        self.pending.push((name, html));
                    }
                }
            }
        }
    }
}

/// `GET /dashboard/env/{env_id}/runs/live`: the runs table of the same filters.
pub async fn runs(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?.id.clone();
    let filters = runs::parse(&params)?;
    let (s, e) = (state.clone(), env.clone());
    let render: Render = Box::new(move || {
        let (s, e, f) = (s.clone(), e.clone(), filters.clone());
        Box::pin(async move { Ok(vec![("runs", runs::table(&s, &e, &f).await?.into_string())]) })
    });
    stream(state, env, Duration::from_secs(2), render).await
}

/// `GET /dashboard/env/{env_id}/runs/{run_id}/live`: the run's live part.
pub async fn run(
    State(state): State<AppState>,
    viewer: Viewer,
    Path((env_id, run_id)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?.id.clone();
    run::read(&state, &env, &run_id).await?;
    let (s, e) = (state.clone(), env.clone());
    let render: Render = Box::new(move || {
        let (s, e, r) = (s.clone(), e.clone(), run_id.clone());
        Box::pin(async move {
            let v = run::read(&s, &e, &r).await?;
            Ok(vec![("run", run::live_part(&e, &v).into_string())])
        })
    });
    stream(state, env, Duration::from_millis(400), render).await
}

/// `GET /dashboard/env/{env_id}/queues/live`.
pub async fn queues(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?.id.clone();
    let (s, e) = (state.clone(), env.clone());
    let render: Render = Box::new(move || {
        let (s, e) = (s.clone(), e.clone());
        Box::pin(async move { Ok(vec![("queues", queues::table(&s, &e).await?.into_string())]) })
    });
    stream(state, env, Duration::from_secs(1), render).await
}

/// `GET /dashboard/env/{env_id}/overview/live`.
pub async fn overview(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?.id.clone();
    let (s, e) = (state.clone(), env.clone());
    let render: Render = Box::new(move || {
        let (s, e) = (s.clone(), e.clone());
        Box::pin(async move {
            Ok(vec![(
                "overview",
                overview::figures(&s, &e).await?.into_string(),
            )])
        })
    });
    stream(state, env, Duration::from_secs(5), render).await
}

/// `GET /dashboard/env/{env_id}/mollifier/live`: the state and the oldest buffered runs (the
/// buffer has no run event of its own: the tick covers it).
pub async fn mollifier(
    State(state): State<AppState>,
    viewer: Viewer,
    Path(env_id): Path<String>,
) -> Result<Response, PageError> {
    let env = viewer.env(&env_id)?.id.clone();
    let (s, e) = (state.clone(), env.clone());
    let render: Render = Box::new(move || {
        let (s, e) = (s.clone(), e.clone());
        Box::pin(async move {
            Ok(vec![(
                "mollifier",
                mollifier::live_part(&s, &e).await?.into_string(),
            )])
        })
    });
    stream(state, env, Duration::from_secs(1), render).await
}
