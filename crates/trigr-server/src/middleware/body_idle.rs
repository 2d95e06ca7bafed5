//! The request body idle timeout: the time between two pieces of a body, not the time the
//! whole body takes, so a large upload that keeps moving is never cut, and a stalled one is.
//!
//! The clock runs only while the handler waits for the next piece: time the handler spends
//! on what it already read (storing a streamed chunk, say) does not count. A body that stalls
//! ends in an error for the handler, and the answer becomes `408` with `Connection: close`
//! (the client may not read it if it is still busy sending).
//!
//! Output stream writes (`POST /realtime/v1/streams/{run}/{target}/{key}`) are bodies a task
//! writes for as long as it runs, pausing while it works between chunks: they get the longer
//! stream idle timeout. Every line that arrived before a stall is stored, and the writer
//! resumes after the last stored chunk (`HEAD` on the same URL).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{MatchedPath, Request};
use axum::http::header::CONNECTION;
use axum::http::{HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use http_body::{Frame, SizeHint};

use crate::error::ApiError;

/// The route of output stream writes, as in `crate::routes`.
const STREAM_WRITE_ROUTE: &str = "/realtime/v1/streams/{run_id}/{target}/{key}";

/// The longest pause allowed within a request body.
#[derive(Clone, Copy, Debug)]
pub(super) struct IdleLimits {
    /// Any request body.
    pub(super) body: Duration,
    /// An output stream write's body.
    pub(super) stream_write: Duration,
}

impl IdleLimits {
    fn of(&self, request: &Request) -> Duration {
        let route = request.extensions().get::<MatchedPath>();
        let stream_write = request.method() == Method::POST
            && route.is_some_and(|r| r.as_str() == STREAM_WRITE_ROUTE);
        if stream_write {
            self.stream_write
        } else {
            self.body
        }
    }
}

/// A request body's idle timeout, and whether it ran out.
pub(super) struct Watch {
    idle: Duration,
    stalled: Arc<AtomicBool>,
}

impl Watch {
    /// `408` if the body stalled, in place of whatever the route answered.
    pub(super) fn answer(&self, response: Response) -> Response {
        if self.stalled.load(Ordering::Acquire) {
            stalled_answer(self.idle)
        } else {
            response
        }
    }
}

/// Gives the request body an idle timeout; `None` when it has no body to wait for.
pub(super) fn watch(request: Request, limits: &IdleLimits) -> (Request, Option<Watch>) {
    if http_body::Body::is_end_stream(request.body()) {
        return (request, None);
    }
    let idle = limits.of(&request);
    let stalled = Arc::new(AtomicBool::new(false));
    let flag = stalled.clone();
    let request = request.map(|body| Body::new(IdleBody::new(body, idle, flag)));
    (request, Some(Watch { idle, stalled }))
}

/// `408`: the body stalled. No `x-should-retry: false`: sending it again may well work.
fn stalled_answer(idle: Duration) -> Response {
    let mut response = ApiError::new(
        StatusCode::REQUEST_TIMEOUT,
        format!(
            "The request body stalled: nothing of it arrived for {} s",
            idle.as_secs_f64()
        ),
    )
    .into_response();
    let headers = response.headers_mut();
    headers.remove("x-should-retry");
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    response
}

/// The error a stalled body ends with.
#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: nothing arrived for {0:?}")]
struct Stalled(Duration);

/// A body that fails with [`Stalled`] when its next piece takes longer than `idle`, and
/// raises `stalled` when it does.
struct IdleBody {
    inner: Body,
    idle: Duration,
    /// Made on the first wait, then moved on for each later one.
    timer: Option<Pin<Box<tokio::time::Sleep>>>,
    /// Whether `timer` counts the current wait.
    armed: bool,
    stalled: Arc<AtomicBool>,
}

impl IdleBody {
    fn new(inner: Body, idle: Duration, stalled: Arc<AtomicBool>) -> IdleBody {
        IdleBody {
            inner,
            idle,
            timer: None,
            armed: false,
            stalled,
        }
    }

    /// The timer of the current wait, started now if this wait just began.
    fn wait_timer(&mut self) -> Pin<&mut tokio::time::Sleep> {
        let deadline = tokio::time::Instant::now() + self.idle;
        let timer = self
            .timer
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
        if !self.armed {
            timer.as_mut().reset(deadline);
            self.armed = true;
        }
        timer.as_mut()
    }
}

impl http_body::Body for IdleBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
            this.armed = false;
            return Poll::Ready(frame);
        }
        let timer = this.wait_timer();
        match timer.poll(cx) {
            Poll::Ready(()) => {
                this.stalled.store(true, Ordering::Release);
                Poll::Ready(Some(Err(axum::Error::new(Stalled(this.idle)))))
            }
            Poll::Pending => Poll::Pending,
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
