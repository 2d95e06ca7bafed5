//! Wake-ups between servers through `LISTEN`/`NOTIFY`.
//!
//! When a commit on one server makes runs ready, [`Wakeups::publish`] hands the environment
//! ids to a publisher thread, which sends them (coalesced: one `NOTIFY` per environment per
//! round trip, however many commits asked) on the `trigr_wake` channel. A listener thread on
//! every server holds a connection in `LISTEN trigr_wake` and calls its subscribers, which wake
//! the long-polling workers of that environment. Each payload carries the sending server's
//! instance id, so a server ignores its own notifications (it woke its workers already).
//!
//! Wake-ups only make delivery faster: a lost one (a connection drop, a database restart)
//! costs a worker one poll interval, never a run. Both threads reconnect by themselves.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, Once};
use std::time::Duration;

use postgres::fallible_iterator::FallibleIterator;
use postgres::{Client, NoTls};

use crate::WakeListener;

const CHANNEL: &str = "trigr_wake";
/// Longest pause between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(2);
/// How often the listener looks up from an idle connection to see whether it should stop.
const LISTEN_TICK: Duration = Duration::from_millis(250);

/// The publisher and listener threads of one server.
pub struct Wakeups {
    inner: Arc<Inner>,
    listening: Once,
}

struct Inner {
    config: postgres::Config,
    /// This server's id in payloads.
    instance: String,
    pending: Mutex<Pending>,
    work: Condvar,
    listeners: Mutex<Vec<WakeListener>>,
    stopped: AtomicBool,
}

#[derive(Default)]
struct Pending {
    envs: BTreeSet<String>,
    publisher_started: bool,
}

impl Wakeups {
    /// Threads start on first use.
    pub fn start(config: postgres::Config) -> Wakeups {
        Wakeups {
            inner: Arc::new(Inner {
                config,
                instance: trigr_types::id::new("srv"),
                pending: Mutex::new(Pending::default()),
                work: Condvar::new(),
                listeners: Mutex::new(Vec::new()),
                stopped: AtomicBool::new(false),
            }),
            listening: Once::new(),
        }
    }

    /// Announces that these environments may have work ready.
    pub fn publish(&self, env_ids: &[String]) {
        if self.inner.stopped.load(Ordering::SeqCst) {
            return;
        }
        let Ok(mut pending) = self.inner.pending.lock() else {
            return;
        };
        pending.envs.extend(env_ids.iter().cloned());
        if !pending.publisher_started {
            pending.publisher_started = true;
            let inner = self.inner.clone();
            std::thread::Builder::new()
                .name("trigr-pg-notify".into())
                .spawn(move || inner.publish_loop())
                .ok();
        }
        self.inner.work.notify_one();
    }

    /// Calls `listener` for each environment other servers announce.
    pub fn subscribe(&self, listener: WakeListener) {
        if let Ok(mut listeners) = self.inner.listeners.lock() {
            listeners.push(listener);
        }
        self.listening.call_once(|| {
            let inner = self.inner.clone();
            std::thread::Builder::new()
                .name("trigr-pg-listen".into())
                .spawn(move || inner.listen_loop())
                .ok();
        });
    }

    /// Stops both threads (they finish what they are doing).
    pub fn stop(&self) {
        self.inner.stopped.store(true, Ordering::SeqCst);
        self.inner.work.notify_all();
    }
}

impl Inner {
    fn stopping(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Waits for environments to announce and sends them, one round trip per batch.
    fn publish_loop(&self) {
        let mut client: Option<Client> = None;
        let mut backoff = Duration::from_millis(50);
        loop {
            let envs = match self.next_batch() {
                Some(envs) => envs,
                None => return,
            };
            if client.as_ref().is_none_or(Client::is_closed) {
                client = self.config.connect(NoTls).ok();
            }
            let payloads: Vec<String> = envs
                .iter()
                .map(|env| format!("{}:{env}", self.instance))
                .collect();
            let sent = client.as_mut().map(|c| {
                c.execute(
                    "SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p",
                    &[&CHANNEL, &payloads],
                )
            });
            match sent {
                Some(Ok(_)) => backoff = Duration::from_millis(50),
                _ => {
                    // Dropped: these wake-ups are lost, which costs a poll interval.
                    client = None;
                    tracing::debug!("could not send wake-ups to other servers");
                    self.pause(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }

    /// The environments announced since the last batch; `None` once stopping.
    fn next_batch(&self) -> Option<BTreeSet<String>> {
        let mut pending = self.pending.lock().ok()?;
        loop {
            if self.stopping() {
                return None;
            }
            if !pending.envs.is_empty() {
                return Some(std::mem::take(&mut pending.envs));
            }
            pending = self.work.wait(pending).ok()?;
        }
    }

    /// Sleeps up to `d`, or less if stopping.
    fn pause(&self, d: Duration) {
        if let Ok(pending) = self.pending.lock() {
            let _ = self
                .work
                .wait_timeout_while(pending, d, |_| !self.stopping());
        }
    }

    /// Holds a `LISTEN` connection and hands each notification from another server to the
    /// subscribers; reconnects when the connection drops.
    fn listen_loop(&self) {
        let mut backoff = Duration::from_millis(50);
        while !self.stopping() {
            let mut client = match self.config.connect(NoTls) {
                Ok(c) => c,
                Err(e) => {
                    tracing::debug!("wake-up listener cannot connect: {e}");
                    self.pause(backoff);
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
            };
            if client.batch_execute(&format!("LISTEN {CHANNEL}")).is_err() {
                continue;
            }
            backoff = Duration::from_millis(50);
            if let Err(e) = self.receive(&mut client) {
                tracing::debug!("wake-up listener lost its connection: {e}");
            }
        }
    }

    /// Delivers notifications until stopping (`Ok`) or the connection fails.
    fn receive(&self, client: &mut Client) -> Result<(), postgres::Error> {
        let own = format!("{}:", self.instance);
        while !self.stopping() {
            {
                let mut notifications = client.notifications();
                let mut batch = notifications.timeout_iter(LISTEN_TICK);
                while let Some(n) = batch.next()? {
                    self.deliver(n.payload(), &own);
                }
            }
            if client.is_closed() {
                return client.batch_execute("").map(|_| ());
            }
        }
        Ok(())
    }

    /// Hands one payload (`instance:env`) to the subscribers, unless this server sent it.
    fn deliver(&self, payload: &str, own: &str) {
        if payload.starts_with(own) {
            return;
        }
        let env = payload.split_once(':').map_or(payload, |(_, env)| env);
        let listeners = self.listeners.lock().map(|l| l.clone()).unwrap_or_default();
        for listener in listeners {
            listener(env);
        }
    }
}
