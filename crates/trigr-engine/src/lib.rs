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
//! * [`retention`] deletes finished runs past their environment's retention period;
//! * [`timers`] fires what is due (delays, TTLs, lost leases, max durations, waits, token
//!   timeouts and schedule ticks) and sweeps what retention deletes: the background
//!   loop calls its `run_once`, and so do tests after moving the [`clock::ManualClock`].

pub mod ai;
pub mod attempts;
pub mod batch;
pub mod batch_cancel;
pub mod batch_stats;
pub mod bootstrap;
pub mod cancel;
pub mod cli_worker;
pub mod clock;
pub mod complete;
pub mod dashboard;
mod delivery;
pub mod deploy;
mod deployments;
pub mod dequeue;
pub mod env_vars;
mod error;
pub mod events;
pub mod explain;
pub mod heartbeat;
pub mod idempotency;
pub mod input_read;
pub mod input_send;
pub mod journal;
pub mod keys;
pub mod kv;
pub mod logs;
pub mod logs_follow;
pub mod metadata;
pub mod migrate;
pub mod mollifier;
mod notify;
pub mod observe;
pub mod output_streams;
pub mod packets;
pub mod pat_login;
pub mod pats;
pub mod presence;
pub mod projects;
pub mod query;
pub mod queues;
pub mod realtime;
pub mod regions;
pub mod replay;
pub mod reschedule;
pub mod resume;
pub mod retention;
mod retry;
pub mod schedules;
pub mod selection;
pub mod serving;
pub mod spans;
pub mod steps;
pub mod tags;
pub mod timers;
pub mod tokens;
mod transition;
pub mod trigger;
mod txn;
pub mod waits;

use std::sync::Arc;
use std::time::Duration;

pub use deployments::{DeploymentCache, LoadedDeployment};
pub use error::{Error, Result};
pub use notify::Notifier;
pub use transition::{transition, transition_many};
pub use txn::{Effects, Txn};

use clock::Clock;
pub use trigr_store::Lane;
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
    /// Days finished runs are kept in environments without a period of their own (0: for
    /// good); see [`retention`].
    pub retention_days: u32,
    /// In development environments, runs of a version none of whose workers asked for runs
    /// for this long move to a version with workers that declares their task (the current one,
    /// else the newest; [`migrate`]); `None` leaves them where they are.
    pub dev_migrate_after: Option<Duration>,
    /// Burst smoothing on the trigger path ([`mollifier`]).
    pub mollifier: mollifier::Settings,
    /// Seals and opens environment variable values ([`env_vars`]); `None`: the variable
    /// commands refuse with a clear error.
    pub env_var_cipher: Option<env_vars::Cipher>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lease_timeout: Duration::from_secs(30),
            max_payload_bytes: 3 * 1024 * 1024,
            max_metadata_bytes: 256 * 1024,
            poll_interval: Duration::from_millis(250),
            realtime_buffer: realtime::DEFAULT_BUFFER,
            retention_days: retention::DEFAULT_DAYS,
            dev_migrate_after: Some(migrate::DEV_MIGRATE_AFTER),
            mollifier: mollifier::Settings::default(),
            env_var_cipher: None,
        }
    }
}

/// The engine: a store, a clock, settings and the wake-up signals. Cheap to clone.
#[derive(Clone)]
pub struct Engine {
    store: Store,
    clock: Arc<dyn Clock>,
    config: Arc<Config>,
    notifier: Arc<Notifier>,
    deployments: Arc<DeploymentCache>,
    /// What each development environment serves (see [`serving`]).
    catalogs: Arc<serving::Catalogs>,
    /// When this server last recorded each version's workers (see [`presence`]).
    presence: Arc<presence::PresenceThrottle>,
    /// Live run events for this server's subscribers (see [`realtime`]).
    realtime: Arc<realtime::Realtime>,
    /// Told of committed run changes and fired timers (see [`observe`]).
    observer: Arc<dyn observe::Observer>,
    /// Whether an observer was set: only then do writes note their run changes.
    observing: bool,
    /// Told of the runs each write finished ([`Engine::on_runs_finished`]).
    finished_hook: Arc<std::sync::OnceLock<FinishedHook>>,
    /// Burst smoothing on the trigger path (see [`mollifier`]).
    mollifier: Arc<mollifier::Mollifier>,
    /// The runs that got a snapshot, for this server's Trigger.dev CLI workers (see
    /// [`cli_worker`] and [`Engine::snapshot_feed`]).
    snapshot_feed: tokio::sync::broadcast::Sender<String>,
}

/// Run ids the snapshot feed keeps for a slow receiver.
const SNAPSHOT_FEED: usize = 1024;

/// What [`Engine::on_runs_finished`] calls with the root spans of the runs a write finished.
pub type FinishedHook = Box<dyn Fn(&[spans::RootSpan]) + Send + Sync>;

impl Engine {
    pub fn new(store: Store, clock: Arc<dyn Clock>, config: Config) -> Engine {
        let realtime = Arc::new(realtime::Realtime::new(
            store.clone(),
            config.realtime_buffer,
        ));
        let buffer = Arc::new(mollifier::StoreBuffer::new(store.clone()));
        let mollifier = Arc::new(mollifier::Mollifier::new(config.mollifier.clone(), buffer));
        Engine {
            store,
            clock,
            config: Arc::new(config),
            notifier: Arc::new(Notifier::default()),
            deployments: Arc::new(DeploymentCache::default()),
            catalogs: Arc::new(serving::Catalogs::default()),
            presence: Arc::new(presence::PresenceThrottle::default()),
            realtime,
            observer: Arc::new(observe::NoObserver),
            observing: false,
            finished_hook: Arc::new(std::sync::OnceLock::new()),
            mollifier,
            snapshot_feed: tokio::sync::broadcast::channel(SNAPSHOT_FEED).0,
        }
    }

    /// The ids of the runs that get a snapshot on this server from now on, as their writes
    /// commit (what pushes `run:notify` to Trigger.dev CLI workers). A receiver that falls
    /// more than a thousand behind loses the oldest: the CLI polls too.
    pub fn snapshot_feed(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.snapshot_feed.subscribe()
    }

    /// This engine with another mollifier (its own trip evaluator or buffer; tests).
    pub fn with_mollifier(mut self, mollifier: mollifier::Mollifier) -> Engine {
        self.mollifier = Arc::new(mollifier);
        self
    }

    /// The mollifier: its gate, buffer, settings and counters.
    pub fn mollifier(&self) -> &mollifier::Mollifier {
        &self.mollifier
    }

    /// This engine, telling `observer` of its committed run changes and fired timers.
    pub fn with_observer(mut self, observer: Arc<dyn observe::Observer>) -> Engine {
        self.observer = observer;
        self.observing = true;
        self
    }

    pub(crate) fn observer(&self) -> &dyn observe::Observer {
        &*self.observer
    }

    /// Realtime subscribers connected to this server, over every environment.
    pub fn realtime_subscribers(&self) -> usize {
        self.realtime.total_subscribers()
    }

    /// Calls `hook` after each write that took runs to a final status, with their root spans
    /// (the OTLP export of run traces). Set once; a second hook is ignored and `false`.
    pub fn on_runs_finished(&self, hook: FinishedHook) -> bool {
        self.finished_hook.set(hook).is_ok()
    }

    pub fn now(&self) -> trigr_types::Millis {
        self.clock.now()
    }

    /// The engine's settings.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The signal named `name`: an environment's id (woken when its workers may find work)
    /// or another name a caller waits on (see [`Notifier::env`]).
    pub fn signal(&self, name: &str) -> Arc<tokio::sync::Notify> {
        self.notifier.env(name)
    }

    /// Wakes every waiter, e.g. after a test moved the clock.
    pub fn wake_all(&self) {
        self.notifier.wake_all();
    }

    /// Tells long-polls and streams that the server is closing; they answer at once.
    pub fn close(&self) {
        self.notifier.close();
    }

    /// Whether [`Engine::close`] was called.
    pub fn is_closing(&self) -> bool {
        self.notifier.is_closing()
    }

    /// Finishes the store's queued writes and closes it (blocking: call it off the async
    /// workers).
    pub fn close_store(&self) {
        self.store.close();
    }

    /// Numbers the run events still waiting for it ([`realtime::sequence`]), then deletes
    /// those older than `retention` now (see [`realtime::prune`]).
    pub async fn prune_run_events(&self, retention: Duration) -> Result<u64> {
        realtime::sequence(&self.store).await?;
        realtime::prune(&self.store, self.now(), retention).await
    }

    /// A write transaction: runs `f` with a [`Txn`] (the store's transaction, the clock, the
    /// deployment cache) and, once the change is durable, applies the [`Effects`] it added.
    /// An `Err` from `f` rolls back its writes and drops its effects.
    pub async fn write<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.write_in(Lane::Live, f).await
    }

    /// [`Engine::write`] in `lane`: [`Lane::Bulk`] for the work of an environment in a burst
    /// (see [`Engine::lane_of`]), which yields to everyone else's.
    pub async fn write_in<R, F>(&self, lane: Lane, f: F) -> Result<R>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let (config, clock, deployments, catalogs, observing) = (
            self.config.clone(),
            self.clock.clone(),
            self.deployments.clone(),
            self.catalogs.clone(),
            self.observing,
        );
        let noting_finished = self.finished_hook.get().is_some();
        let (out, mut effects) = self
            .store
            .write_in(lane, move |tx| {
                let mut txn = Txn::new(tx, &config, &*clock, &deployments, &catalogs);
                txn.observing = observing;
                txn.noting_finished = noting_finished;
                let out = f(&mut txn)?;
                Ok::<_, Error>((out, txn.into_effects()))
            })
            .await?;
        // Waiting workers and subscribers first; the observer's counting can wait.
        let runs = std::mem::take(&mut effects.runs);
        if !effects.is_empty() {
            self.apply(&effects);
        }
        if !runs.is_empty() {
            self.observer.runs_changed(runs);
        }
        Ok(out)
    }

    /// A write that may lose a uniqueness race against another server (PostgreSQL): built anew
    /// by `make` and run again, up to three times, while the store reports a conflict. The
    /// next run sees the winner's row (an idempotency key's run, a version number) and agrees.
    pub async fn write_retrying<R, F>(&self, make: impl Fn() -> F) -> Result<R>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        self.write_retrying_in(Lane::Live, make).await
    }

    /// A slot for one trigger request of `env_id` ([`mollifier::admission`]): waited for while
    /// the environment's triggers are being buffered, `None` at once otherwise (one comparison
    /// with the mollifier off). Held until the request is answered.
    pub async fn admit_trigger(&self, env_id: &str) -> Option<mollifier::admission::Admitted> {
        if self.mollifier.is_off() {
            return None;
        }
        self.mollifier.admit(env_id, self.now()).await
    }

    /// The store lane of `env_id`'s writes now ([`mollifier::Mollifier::lane`]).
    pub fn lane_of(&self, env_id: &str) -> Lane {
        if self.mollifier.is_off() {
            return Lane::Live;
        }
        self.mollifier.lane(env_id, self.now())
    }

    /// [`Engine::write_retrying`] in `lane`.
    pub async fn write_retrying_in<R, F>(&self, lane: Lane, make: impl Fn() -> F) -> Result<R>
    where
        F: FnOnce(&mut Txn<'_>) -> Result<R> + Send + 'static,
        R: Send + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.write_in(lane, make()).await {
                Err(Error::Store(trigr_store::Error::Conflict(_))) if attempt < 3 => continue,
                other => return other,
            }
        }
    }

    /// A read-only snapshot of the store.
    pub async fn read<R, F>(&self, f: F) -> Result<R>
    where
        F: FnOnce(&mut dyn trigr_store::ReadTx) -> Result<R> + Send + 'static,
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

    /// Runs the effects of a committed write: wakes the workers waiting here and pokes this
    /// server's realtime feeds, then tells the other servers of the same database both.
    fn apply(&self, effects: &Effects) {
        if effects.versions {
            self.catalogs.changed();
        }
        for env in &effects.wake {
            self.notifier.wake(env);
        }
        self.realtime.committed(&effects.events);
        for run_id in &effects.snapshots {
            // No receiver is fine: no CLI worker is connected to this server.
            let _ = self.snapshot_feed.send(run_id.clone());
        }
        if let (Some(hook), false) = (self.finished_hook.get(), effects.finished.is_empty()) {
            hook(&effects.finished);
        }
        let mut announce = effects.wake.clone();
        announce.extend(realtime::Realtime::wake_ids(&effects.events));
        self.store.publish_wakes(&announce);
    }

    /// Wakes this server's workers whenever another server announces work (see
    /// `Engine::write`, which publishes the wakes of each commit).
    pub fn listen_for_wakes(&self) {
        let notifier = self.notifier.clone();
        let realtime = self.realtime.clone();
        self.store.subscribe_wakes(Arc::new(move |env_id: &str| {
            realtime.on_wake(env_id);
            notifier.wake(env_id)
        }));
    }
}
