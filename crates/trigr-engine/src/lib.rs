//! The trigr run engine.
//!
//! One command per file. Each command decides and acts inside one store transaction (every run
//! transition is a compare-and-set on its status and lease, see [`transition`]) and returns its
//! side effects — which environments to wake — that [`Engine`] runs after the commit.
//!
//! * [`trigger`] / [`batch`] / [`replay`] create runs; [`deploy`] registers and promotes versions;
//! * [`dequeue`], [`heartbeat`], [`complete`] are the worker protocol, and durable execution
//!   adds [`steps`], [`waits`], [`logs`] (a run's [`journal`]); [`tokens`] are waitpoints
//!   completed from outside; [`resume`] queues again the runs whose waitpoint completed;
//! * [`cancel`], [`reschedule`], [`tags`], [`metadata`], [`idempotency`], [`queues`] manage runs;
//!   [`explain`] says why a run is not running, using the workers [`presence`] records;
//! * [`schedules`] are cron schedules (declarative ones follow the current deployment);
//! * [`timers`] fires what is due (delays, TTLs, lost leases, max durations, waits, token
//!   timeouts and schedule ticks): the background
//!   loop calls its `run_once`, and so do tests after moving the [`clock::ManualClock`].

pub mod batch;
pub mod bootstrap;
pub mod cancel;
pub mod clock;
pub mod complete;
mod delivery;
pub mod deploy;
mod deployments;
pub mod dequeue;
mod error;
pub mod events;
pub mod explain;
pub mod heartbeat;
pub mod idempotency;
pub mod input_read;
pub mod input_send;
pub mod journal;
pub mod logs;
pub mod logs_follow;
pub mod metadata;
mod notify;
pub mod output_streams;
pub mod packets;
pub mod presence;
pub mod query;
pub mod queues;
pub mod realtime;
pub mod replay;
pub mod reschedule;
pub mod resume;
pub mod schedules;
pub mod steps;
pub mod tags;
pub mod timers;
pub mod tokens;
mod transition;
pub mod trigger;
pub mod waits;

use std::sync::Arc;
use std::time::Duration;

pub use deployments::{DeploymentCache, LoadedDeployment};
pub use error::{Error, Result};
pub use notify::Notifier;
pub use transition::{transition, transition_many};

use clock::Clock;
use trigr_store::Store;

/// Engine settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub lease_timeout: Duration,
    pub max_payload_bytes: usize,
    pub max_metadata_bytes: usize,
    /// How often a long-polling dequeue looks again when nothing woke it.
    pub poll_interval: Duration,
    /// Live events a realtime subscriber may fall behind before it reads what it missed from
    /// the store instead ([`realtime::Realtime::capacity`]).
    pub realtime_buffer: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lease_timeout: Duration::from_secs(30),
            max_payload_bytes: 3 * 1024 * 1024,
            max_metadata_bytes: 256 * 1024,
            poll_interval: Duration::from_millis(250),
            realtime_buffer: realtime::DEFAULT_BUFFER,
        }
    }
}

/// The engine: a store, a clock, settings and the wake-up signals. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    pub store: Store,
    pub clock: Arc<dyn Clock>,
    pub config: Arc<Config>,
    pub notifier: Arc<Notifier>,
    pub deployments: Arc<DeploymentCache>,
    /// When this server last recorded each version's workers (see [`presence`]).
    pub presence: Arc<presence::PresenceThrottle>,
    /// Live run events for this server's subscribers (see [`realtime`]).
    pub realtime: Arc<realtime::Realtime>,
}

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> Engine {
        let realtime = Arc::new(realtime::Realtime::new(
            store.clone(),
            config.realtime_buffer,
        ));
        Engine {
            store,
            clock,
            config: Arc::new(config),
            notifier: Arc::new(Notifier::default()),
            deployments: Arc::new(DeploymentCache::default()),
            presence: Arc::new(presence::PresenceThrottle::default()),
            realtime,
        }
    }

    pub fn now(&self) -> trigr_types::Millis {
        self.clock.now()
    }

    /// A write transaction of the store (see [`Store::write`]).
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut dyn trigr_store::Tx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (out, envs) = self
            .store
            .write(move |tx| {
                events::begin_job();
                let out = f(tx)?;
                Ok::<_, Error>((out, events::take_job()))
            })
            .await?;
        if !envs.is_empty() {
            self.realtime.committed(&envs);
            self.store
                .publish_wakes(&realtime::Realtime::wake_ids(&envs));
        }
        Ok(out)
    }

    /// A write that may lose a uniqueness race against another server (PostgreSQL): built anew
    /// by `make` and run again, up to three times, while the store reports a conflict. The
    /// next run sees the winner's row (an idempotency key's run, a version number) and agrees.
    pub async fn write_retrying<R, F>(&self, make: impl Fn() -> F) -> Result<R>
    where
        F: FnOnce(&mut dyn trigr_store::Tx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.write(make()).await {
                Err(Error::Store(trigr_store::Error::Conflict(_))) if attempt < 3 => continue,
                other => return other,
            }
        }
    }

    /// A read-only snapshot of the store.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut dyn trigr_store::Tx) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.store.read(f).await
    }

    /// A long-poll: calls `look` until `done` holds for what it returns, `wait` has passed, or
    /// the server is closing, and returns the last answer. Between looks it sleeps until the
    /// environment is woken ([`Engine::apply`]) or a poll interval passes.
    pub(crate) async fn long_poll<T, Fut>(
        &self,
        env_id: &str,
        wait: std::time::Duration,
        mut look: impl FnMut() -> Fut,
        done: impl Fn(&T) -> bool,
    ) -> Result<T>
    where
        Fut: std::future::Future<Output = Result<T>>,
    {
        let deadline = tokio::time::Instant::now() + wait;
        let signal = self.notifier.env(env_id);
        loop {
            let notified = signal.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let answer = look().await?;
            let now = tokio::time::Instant::now();
            if done(&answer) || now >= deadline || self.notifier.is_closing() {
                return Ok(answer);
            }
            let nap = (deadline - now).min(self.config.poll_interval);
            tokio::select! {
                _ = &mut notified => {}
                _ = tokio::time::sleep(nap) => {}
            }
        }
    }

    /// Runs the side effects a command returned: wakes the workers waiting here, and those
    /// waiting on other servers of the same database.
    pub fn apply(&self, effects: &Effects) {
        for env in &effects.wake {
            self.notifier.wake(env);
        }
        self.store.publish_wakes(&effects.wake);
    }

    /// Wakes this server's workers whenever another server announces work (see
    /// [`Engine::apply`]).
    pub fn listen_for_wakes(&self) {
        let notifier = self.notifier.clone();
        let realtime = self.realtime.clone();
        self.store.subscribe_wakes(Arc::new(move |env_id: &str| {
            realtime.on_wake(env_id);
            notifier.wake(env_id)
        }));
    }
}

/// Side effects of a committed command.
#[derive(Debug, Default, Clone)]
pub struct Effects {
    /// Environments whose workers may find new work.
    pub wake: Vec<String>,
}

impl Effects {
    pub fn wake(env_id: &str) -> Effects {
        Effects {
            wake: vec![env_id.to_string()],
        }
    }

    pub fn merge(&mut self, other: Effects) {
        for e in other.wake {
            if !self.wake.contains(&e) {
                self.wake.push(e);
            }
        }
    }
}
