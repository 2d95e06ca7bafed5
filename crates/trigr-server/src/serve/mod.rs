//! Serving HTTP/1 connections: the accept loop, the connection cap, the per-connection
//! timeouts and the graceful shutdown with a deadline.
//!
//! * At most [`Connections::max_connections`] connections are served at once; the next one
//!   is accepted when one closes (until then it waits in the listen backlog).
//! * An accept error that is not about the one connection (such as running out of file
//!   descriptors) is retried when a connection closes, or after [`ACCEPT_RETRY`]: never in a
//!   busy loop.
//! * Request heads are timed by [`head_timer`] (header and keep-alive timeouts); request
//!   bodies by the body idle timeout of `crate::middleware`. Nothing times the answers, so
//!   long-polls and server-sent events last as long as they need.
//! * On shutdown the listener closes, kept-alive connections close, requests in flight may
//!   finish until [`Connections::shutdown_timeout`], then every connection still open is
//!   closed.
//!
//! What hyper itself refuses before a request reaches the routes is answered by hyper with an
//! empty body: a malformed request line or header (`400`), a request head larger than
//! hyper's read buffer (~400 KiB) or with more than [`MAX_HEADER_FIELDS`] fields (`431`), a
//! request target over 65,534 bytes (`414`). Smaller limits of `crate::middleware` answer
//! in JSON well before those.

mod head_timer;

use std::io;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;

use crate::config::Connections;
use head_timer::{Activity, Counted, HeadTimer};

/// Pause before accepting again after an accept error, unless a connection closes sooner.
const ACCEPT_RETRY: Duration = Duration::from_secs(1);
/// Most header fields hyper parses in one request (its default): more are refused with an
/// empty `431`. Raising it costs every request: hyper prepares room for that many fields.
const MAX_HEADER_FIELDS: usize = 100;

/// Serves `app` on `listener` until `stop` turns true, then shuts down gracefully within
/// the shutdown deadline.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    limits: Connections,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let closed = Arc::new(Notify::new());
    let (drain, draining) = watch::channel(false);
    let mut connections = JoinSet::new();
    loop {
        let (tcp, permit) = tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            accepted = accept(&listener, &slots, &closed) => accepted,
        };
        while connections.try_join_next().is_some() {}
        let slot = Slot {
            _permit: permit,
            closed: closed.clone(),
        };
        connections.spawn(serve_connection(
            tcp,
            app.clone(),
            limits,
            draining.clone(),
            slot,
        ));
    }
    drop(listener);
    shut_down(connections, &drain, limits.shutdown_timeout).await;
}

/// Waits for a free connection slot, then for a connection.
async fn accept(
    listener: &TcpListener,
    slots: &Arc<Semaphore>,
    closed: &Notify,
) -> (TcpStream, OwnedSemaphorePermit) {
    let permit = slots
        .clone()
        .acquire_owned()
        .await
        .expect("the connection semaphore is never closed");
    loop {
        match listener.accept().await {
            Ok((tcp, _)) => return (tcp, permit),
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::warn!("could not accept a connection: {e}");
                tokio::select! {
                    _ = closed.notified() => {}
                    _ = tokio::time::sleep(ACCEPT_RETRY) => {}
                }
            }
        }
    }
}

/// Errors about the one connection being accepted, not about the listener.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// A connection's place among the ones served: freed, and announced, when it closes.
struct Slot {
    _permit: OwnedSemaphorePermit,
    closed: Arc<Notify>,
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.closed.notify_one();
    }
}

/// Serves one connection until it closes, closing it gracefully when `draining` turns true.
async fn serve_connection(
    tcp: TcpStream,
    app: Router,
    limits: Connections,
    mut draining: watch::Receiver<bool>,
    _slot: Slot,
) {
    // Small frames (server-sent events, long-poll answers) go out at once, not after the
    // client's delayed ACK.
    let _ = tcp.set_nodelay(true);
    let activity = Arc::new(Activity::default());
    let timer = HeadTimer::new(
        activity.clone(),
        limits.header_timeout,
        limits.keep_alive_timeout,
    );
    let io = TokioIo::new(Counted::new(tcp, activity));
    let conn = http1::Builder::new()
        .timer(timer)
        .header_read_timeout(limits.header_timeout)
        .max_headers(MAX_HEADER_FIELDS)
        .serve_connection(io, TowerToHyperService::new(app))
        // A realtime WebSocket (`GET /api/v1/realtime/ws`) takes the connection over.
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let finished = tokio::select! {
        result = conn.as_mut() => Some(result),
        _ = async { let _ = draining.wait_for(|d| *d).await; } => None,
    };
    let result = match finished {
        Some(result) => result,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = result {
        tracing::debug!("connection ended: {e}");
    }
}

/// Closes kept-alive connections, lets requests in flight finish until `deadline`, then
/// closes whatever is still open.
async fn shut_down(mut connections: JoinSet<()>, drain: &watch::Sender<bool>, deadline: Duration) {
    drain.send_replace(true);
    let finished = async { while connections.join_next().await.is_some() {} };
    if tokio::time::timeout(deadline, finished).await.is_err() {
        tracing::warn!(
            "{} connections still busy after the {} s shutdown deadline: closing them",
            connections.len(),
            deadline.as_secs_f64()
        );
        connections.abort_all();
        while connections.join_next().await.is_some() {}
    }
}
