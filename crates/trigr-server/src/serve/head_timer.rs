//! How long a connection may take to send a request head, and to wait for its next request.
//!
//! hyper's HTTP/1 header read timeout starts as soon as a connection waits for a request head,
//! including while a kept-alive connection sits idle between requests: alone it would close
//! idle connections after the header timeout. [`HeadTimer`] is the timer hyper uses for that
//! timeout (the only one hyper's HTTP/1 server sets), and it tells the two phases apart:
//!
//! * the connection's first request head must be complete within the header timeout of the
//!   connection's start;
//! * a later head may be awaited for the keep-alive timeout while nothing arrives, and once
//!   its first byte does, must be complete within the header timeout of that byte.
//!
//! [`Counted`] wraps the socket and counts the bytes read, which is how a timer knows that a
//! request began.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use hyper::rt::{Sleep, Timer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

/// Bytes read so far from one connection.
#[derive(Debug, Default)]
pub(super) struct Activity {
    bytes_read: AtomicU64,
}

impl Activity {
    fn bytes_read(&self) -> u64 {
        self.bytes_read.load(Ordering::Acquire)
    }
}

/// A TCP stream that counts the bytes read from it into an [`Activity`].
pub(super) struct Counted {
    tcp: TcpStream,
    activity: Arc<Activity>,
}

impl Counted {
    pub(super) fn new(tcp: TcpStream, activity: Arc<Activity>) -> Counted {
        Counted { tcp, activity }
    }
}

impl AsyncRead for Counted {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let polled = Pin::new(&mut this.tcp).poll_read(cx, buf);
        let read = buf.filled().len().saturating_sub(before) as u64;
        if read > 0 {
            this.activity.bytes_read.fetch_add(read, Ordering::Release);
        }
        polled
    }
}

impl AsyncWrite for Counted {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().tcp).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.tcp.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().tcp).poll_shutdown(cx)
    }
}

/// The timer of one connection's request heads (see the module docs).
pub(super) struct HeadTimer {
    activity: Arc<Activity>,
    header: Duration,
    keep_alive: Duration,
    /// Heads awaited so far on this connection.
    heads: AtomicU64,
}

impl HeadTimer {
    pub(super) fn new(activity: Arc<Activity>, header: Duration, keep_alive: Duration) -> Self {
        HeadTimer {
            activity,
            header,
            keep_alive,
            heads: AtomicU64::new(0),
        }
    }
}

impl Timer for HeadTimer {
    fn sleep(&self, duration: Duration) -> Pin<Box<dyn Sleep>> {
        self.sleep_until(Instant::now() + duration)
    }

    /// hyper asks for one sleep per request head, due after the header timeout.
    fn sleep_until(&self, deadline: Instant) -> Pin<Box<dyn Sleep>> {
        let first_head = self.heads.fetch_add(1, Ordering::Relaxed) == 0;
        let (deadline, phase) = if first_head {
            (deadline, Phase::Head)
        } else {
            let bytes_at_start = self.activity.bytes_read();
            (
                Instant::now() + self.keep_alive,
                Phase::Idle { bytes_at_start },
            )
        };
        Box::pin(HeadWait {
            activity: self.activity.clone(),
            header: self.header,
            phase,
            sleep: Box::pin(tokio::time::sleep_until(deadline.into())),
        })
    }
}

/// Where a wait for a request head is.
enum Phase {
    /// Kept alive, nothing of the next request yet (the byte count when the wait began).
    Idle { bytes_at_start: u64 },
    /// The head is arriving.
    Head,
}

/// One wait for a request head: due when the phase's time runs out.
struct HeadWait {
    activity: Arc<Activity>,
    header: Duration,
    phase: Phase,
    sleep: Pin<Box<tokio::time::Sleep>>,
}

impl Future for HeadWait {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = self.get_mut();
        if let Phase::Idle { bytes_at_start } = this.phase {
            if this.activity.bytes_read() > bytes_at_start {
                this.phase = Phase::Head;
                let deadline = tokio::time::Instant::now() + this.header;
                this.sleep.as_mut().reset(deadline);
            }
        }
        this.sleep.as_mut().poll(cx)
    }
}

impl Sleep for HeadWait {}
