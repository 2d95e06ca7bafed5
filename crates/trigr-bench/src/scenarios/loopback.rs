//! `loopback_fanout_p50_ms`, `loopback_fanout_p99_ms`: this machine's own cost of fanning small
//! messages out over loopback TCP, with no server in the way. It is the floor under the `sse`
//! delay, as `disk` is the floor under every commit.
//!
//! The same number of connections as the `sse` scenario's subscribers, each a pair of plain
//! sockets (`TCP_NODELAY` on both ends). Writer threads, one per core like the server's
//! runtime, share the server ends; one reader thread waits on every client end with `epoll`
//! (mio). The messages come at the rate of the `sse` steady load, three per [`sse::INTERVAL`]
//! (a run's created, dequeued and completed events), but evenly spaced, which is the kindest
//! order for a fan-out (the `sse` scenario's three events of a run come within a few
//! milliseconds of each other). Each is [`FRAME_BYTES`] long (an event frame's size) and goes
//! to every connection, for `--latency-secs` seconds. The delay of one delivery is the moment
//! the read that completed the message returned minus the moment the message was due, so a
//! writer that falls behind its schedule counts too. Nearest-rank percentiles over every
//! delivery, milliseconds.
//!
//! There is no HTTP, no JSON, no store and no async runtime here: only the `write` and `read`
//! system calls and the kernel's TCP. A server that delivers events through one connection
//! per subscriber cannot be faster than this on the same machine with its clients beside it.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use mio::{Events, Interest, Poll, Token};

use super::{sse, Outcome, Settings};
use crate::report::{LOOPBACK_FANOUT_P50_MS, LOOPBACK_FANOUT_P99_MS};
use crate::stats::{millis, percentile};

/// Bytes of one message: about one `status` event frame of the `sse` scenario.
pub const FRAME_BYTES: usize = 300;
/// Messages per [`sse::INTERVAL`] (a run's three events).
const PER_ROUND: usize = 3;
/// How long the reader may wait for the last messages.
const DRAIN: Duration = Duration::from_secs(30);

pub async fn run(settings: &Settings) -> Result<Outcome> {
    let connections = settings.sse_subscribers;
    let rounds = ((settings.latency_duration.as_secs_f64() / sse::INTERVAL.as_secs_f64()).ceil()
        as usize)
        .max(1);
    let writers = std::thread::available_parallelism().map_or(2, |n| n.get());
    let (mut delays, cpu) =
        tokio::task::spawn_blocking(move || fan_out(connections, rounds, writers)).await??;
    delays.sort_by(f64::total_cmp);
    let deliveries = delays.len();
    let cpu_per_delivery = cpu
        .map(|c| {
            format!(
                ", {:.1} µs of CPU per delivery",
                c * 1e6 / deliveries as f64
            )
        })
        .unwrap_or_default();
    Ok(Outcome {
        figures: vec![
            (&LOOPBACK_FANOUT_P50_MS, percentile(&delays, 50.0)),
            (&LOOPBACK_FANOUT_P99_MS, percentile(&delays, 99.0)),
        ],
        detail: format!(
            "{connections} connections, {writers} writer threads, {} messages of {FRAME_BYTES} B evenly spaced at {}/s; {deliveries} deliveries, max delay {:.1} ms{cpu_per_delivery}",
            rounds * PER_ROUND,
            (PER_ROUND as f64 / sse::INTERVAL.as_secs_f64()).round(),
            delays.last().copied().unwrap_or(f64::NAN)
        ),
    })
}

/// Connects `connections` pairs, sends the rounds and reads them; every delivery's delay (ms)
/// and the CPU seconds the process used meanwhile (when the system tells).
fn fan_out(connections: usize, rounds: usize, writers: usize) -> Result<(Vec<f64>, Option<f64>)> {
    let listener = TcpListener::bind("127.0.0.1:0").context("binding a loopback port")?;
    let addr = listener.local_addr()?;
    let mut clients = Vec::with_capacity(connections);
    let mut servers = Vec::with_capacity(connections);
    for _ in 0..connections {
        let client = TcpStream::connect(addr).context("connecting over loopback")?;
        let (server, _) = listener.accept().context("accepting over loopback")?;
        client.set_nodelay(true)?;
        server.set_nodelay(true)?;
        clients.push(client);
        servers.push(server);
    }
    let messages = rounds * PER_ROUND;
    let cpu_before = process_cpu_seconds();
    let start = Instant::now() + Duration::from_millis(20);
    let due: Arc<Vec<Instant>> = Arc::new(
        (0..messages)
            .map(|m| start + sse::INTERVAL * m as u32 / PER_ROUND as u32)
            .collect(),
    );
    let reader = std::thread::Builder::new()
        .name("trigr-bench-loopback-reader".into())
        .spawn(move || read_all(clients, messages))
        .context("starting the reader thread")?;
    let share = connections.div_ceil(writers.max(1));
    let mut writing = Vec::new();
    let mut servers = servers.into_iter();
    for w in 0..writers {
        let mine: Vec<TcpStream> = servers.by_ref().take(share).collect();
        let due = due.clone();
        writing.push(
            std::thread::Builder::new()
                .name(format!("trigr-bench-loopback-writer-{w}"))
                .spawn(move || write_all(mine, &due))
                .context("starting a writer thread")?,
        );
    }
    for w in writing {
        w.join()
            .map_err(|_| anyhow::anyhow!("a writer thread panicked"))??;
    }
    let arrivals = reader
        .join()
        .map_err(|_| anyhow::anyhow!("the reader thread panicked"))??;
    let cpu = cpu_before.and_then(|b| Some(process_cpu_seconds()? - b));
    let delays = arrivals
        .into_iter()
        .map(|(m, at)| millis(at.saturating_duration_since(due[m])))
        .collect();
    Ok((delays, cpu))
}

/// Writes every message to each of `servers` when it is due (at once when late).
fn write_all(mut servers: Vec<TcpStream>, due: &[Instant]) -> Result<()> {
    let mut frame = vec![b'x'; FRAME_BYTES];
    frame[FRAME_BYTES - 2..].copy_from_slice(b"\n\n");
    for at in due {
        let wait = at.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
        }
        for s in &mut servers {
            s.write_all(&frame).context("writing over loopback")?;
        }
    }
    Ok(())
}

/// Reads every connection until each has `messages` messages; the message number and arrival
/// of every delivery.
fn read_all(clients: Vec<TcpStream>, messages: usize) -> Result<Vec<(usize, Instant)>> {
    let mut poll = Poll::new().context("creating an epoll instance")?;
    let mut streams = Vec::with_capacity(clients.len());
    for (i, client) in clients.into_iter().enumerate() {
        client.set_nonblocking(true)?;
        let mut stream = mio::net::TcpStream::from_std(client);
        poll.registry()
            .register(&mut stream, Token(i), Interest::READABLE)?;
        streams.push(stream);
    }
    let mut bytes = vec![0usize; streams.len()];
    let mut arrivals = Vec::with_capacity(streams.len() * messages);
    let mut unfinished = streams.len();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let deadline = Instant::now() + DRAIN + sse::INTERVAL * (messages / PER_ROUND) as u32;
    while unfinished > 0 {
        if Instant::now() > deadline {
            bail!("{unfinished} connections still had messages to receive");
        }
        poll.poll(&mut events, Some(Duration::from_secs(1)))
            .context("waiting on the connections")?;
        for event in &events {
            let i = event.token().0;
            loop {
                match streams[i].read(&mut buf) {
                    // The writer is done with it: fine once every message is in.
                    Ok(0) if bytes[i] == messages * FRAME_BYTES => break,
                    Ok(0) => bail!(
                        "connection {i} closed after {} of {messages} messages",
                        bytes[i] / FRAME_BYTES
                    ),
                    Ok(n) => {
                        let now = Instant::now();
                        let (before, after) =
                            (bytes[i] / FRAME_BYTES, (bytes[i] + n) / FRAME_BYTES);
                        bytes[i] += n;
                        arrivals.extend((before..after).map(|m| (m, now)));
                        ensure!(after <= messages, "connection {i} got more than was sent");
                        if after == messages && before < messages {
                            unfinished -= 1;
                        }
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(e) => return Err(e).context("reading over loopback"),
                }
            }
        }
    }
    Ok(arrivals)
}

/// CPU seconds (user and system) this process has used, from `/proc/self/stat` (Linux; the
/// kernel counts in hundredths of a second there).
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let user: f64 = fields.get(11)?.parse().ok()?;
    let system: f64 = fields.get(12)?.parse().ok()?;
    Some((user + system) / 100.0)
}
