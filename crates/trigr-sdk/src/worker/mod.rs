//! [`Worker`]: registers a deployment of its tasks, pulls their runs and executes them.
//!
//! The loop: register the deployment (`POST /api/v1/worker/deployments`), then long-poll
//! `POST /api/v1/worker/dequeue` for as many runs as there are free slots, execute each run
//! in its own tokio task (heartbeating at a third of the lease), and report the outcomes
//! through the batched completion call. On shutdown (SIGTERM, ctrl-c, a
//! [`ShutdownHandle`]) it stops pulling — the dequeue already in flight is allowed to finish,
//! so no run is handed to a closed connection — lets the runs in flight finish within the
//! shutdown timeout, and fails the ones still running after it (retryable, so another worker
//! picks them up at once).

mod build;
mod complete;
mod execute;

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::{watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use trigr_types::manifest::TaskManifest;

use crate::attempt::{Attempt, DurableSettings, Stop};
use crate::client::{Client, RequestOptions};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol;
use crate::task::{Hooks, Runnable};
use crate::task_error::TaskError;

/// Most runs one dequeue may ask for (protocol limit).
const MAX_DEQUEUE: usize = 500;

/// Settings of a worker.
#[derive(Clone, Debug)]
struct Config {
    concurrency: usize,
    poll_wait: Duration,
    short_wait: Duration,
    shutdown_timeout: Duration,
    heartbeat_interval: Option<Duration>,
    promote: bool,
    worker_id: String,
    /// Serve this registered version instead of registering a new one.
    version: Option<String>,
    /// Where the build's content hash comes from.
    build: Build,
    /// The region (worker group) served; the environment's default when `None`.
    region: Option<String>,
}

/// The environment variable that names the region a worker serves (see [`Worker::region`]).
pub const REGION_VAR: &str = "TRIGR_REGION";

/// How a worker names its build when it registers (see [`Worker::build_id`]).
#[derive(Clone, Debug)]
enum Build {
    /// `TRIGR_BUILD_ID`, else the running executable's build id or hash (see `build`).
    Executable,
    Named(String),
    /// Every start registers a new version.
    Unnamed,
}

impl Default for Config {
    fn default() -> Self {
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "worker".into());
        Config {
            concurrency: 10,
            poll_wait: Duration::from_secs(10),
            short_wait: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(30),
            heartbeat_interval: None,
            promote: true,
            worker_id: format!("{host}:{}", std::process::id()),
            version: None,
            build: Build::Executable,
            region: std::env::var(REGION_VAR).ok().filter(|r| !r.is_empty()),
        }
    }
}

/// A worker process's runtime: the tasks it serves, its global hooks and settings.
///
/// ```no_run
/// # use trigr_sdk::{task, Worker};
/// # async fn demo() -> Result<(), trigr_sdk::Error> {
/// let hello = task("hello-world").run(|name: String, _ctx| async move { Ok(format!("Hello, {name}!")) });
/// Worker::from_env()?.task(hello).run().await
/// # }
/// ```
pub struct Worker {
    client: Client,
    tasks: Vec<Arc<dyn Runnable>>,
    hooks: Hooks<Value, Value>,
    config: Config,
    shutdown: ShutdownHandle,
}

/// Asks a worker to shut down gracefully. Cheap to clone.
#[derive(Clone, Debug)]
pub struct ShutdownHandle {
    tx: Arc<watch::Sender<bool>>,
}

impl ShutdownHandle {
    fn new() -> ShutdownHandle {
        ShutdownHandle {
            tx: Arc::new(watch::channel(false).0),
        }
    }

    /// Stops pulling runs; runs in flight finish within the shutdown timeout.
    pub fn shutdown(&self) {
        self.tx.send_replace(true);
    }

    /// Whether shutdown was asked for.
    pub fn is_shutting_down(&self) -> bool {
        *self.tx.borrow()
    }

    async fn requested(&self) {
        let mut rx = self.tx.subscribe();
        let _ = rx.wait_for(|down| *down).await;
    }
}

impl Worker {
    /// A worker of the server at `TRIGGER_API_URL` with the key in `TRIGGER_SECRET_KEY`.
    pub fn from_env() -> Result<Worker> {
        Ok(Worker::new(Client::from_env()?))
    }

    /// A worker using this client's server, key, hooks and sleeper. Its calls retry under a
    /// fixed policy of their own (up to 5 sends), not the client's
    /// [`RetryConfig`](crate::client::RetryConfig).
    pub fn new(client: Client) -> Worker {
        Worker {
            client: client.with_options(RequestOptions::new().retry(protocol::worker_retry())),
            tasks: Vec::new(),
            hooks: Hooks::default(),
            config: Config::default(),
            shutdown: ShutdownHandle::new(),
        }
    }

    /// Adds a task.
    pub fn task<P, O>(mut self, task: crate::Task<P, O>) -> Self
    where
        P: Serialize + DeserializeOwned + Send + Sync + 'static,
        O: Serialize + DeserializeOwned + Send + 'static,
    {
        self.tasks.push(Arc::new(task));
        self
    }

    /// Most runs executing at once (default 10).
    pub fn concurrency(mut self, max_runs: usize) -> Self {
        self.config.concurrency = max_runs.max(1);
        self
    }

    /// How long one dequeue waits for runs when none is ready (default 10 s, at most 30 s).
    /// Also the longest a shutdown waits for the dequeue in flight.
    pub fn poll_wait(mut self, wait: Duration) -> Self {
        self.config.poll_wait = wait.min(Duration::from_secs(30));
        self
    }

    /// Waits shorter than this are held in the worker; longer ones suspend the run and free
    /// its slot (default 5 s).
    pub fn short_wait_threshold(mut self, threshold: Duration) -> Self {
        self.config.short_wait = threshold;
        self
    }

    /// How long runs in flight may take to finish after shutdown is asked (default 30 s).
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.config.shutdown_timeout = timeout;
        self
    }

    /// Heartbeat every `interval` instead of every third of the lease.
    pub fn heartbeat_interval(mut self, interval: Duration) -> Self {
        self.config.heartbeat_interval = Some(interval);
        self
    }

    /// Whether the registered deployment becomes current at once (default `true`; `dev`
    /// promotes every registration anyway).
    pub fn promote(mut self, promote: bool) -> Self {
        self.config.promote = promote;
        self
    }

    /// Serves a deployment version registered before (by another replica, or by a deploy
    /// step) instead of registering a new one. Runs are locked to versions, so every replica
    /// of one deployment must serve the same version; the tasks added here must match it.
    pub fn serve_version(mut self, version: impl Into<String>) -> Self {
        self.config.version = Some(version.into());
        self
    }

    /// Names the build this worker runs, e.g. a git commit. Workers that register the same
    /// tasks under the same build id share one deployment version: a worker restarted after a
    /// crash, and every replica of a deployment, serve the runs already locked to it.
    ///
    /// By default the build id is the `TRIGR_BUILD_ID` environment variable, else the GNU
    /// build id the linker wrote into the running executable (Linux: a hash of the whole
    /// binary, read in microseconds), else a SHA-256 of the executable, so the same binary
    /// restarts on the same version and a rebuilt one gets a new version. `None` makes every
    /// start register a new version.
    pub fn build_id(mut self, id: Option<String>) -> Self {
        self.config.build = match id {
            Some(id) => Build::Named(id),
            None => Build::Unnamed,
        };
        self
    }

    /// The region (worker group) this worker serves: it takes only the runs triggered for that
    /// region (`region` in the trigger options). By default `TRIGR_REGION`, else the
    /// environment's default region, which is where runs that name no region go.
    /// [`Worker::start`] refuses a name that is not 1-64 ASCII letters, digits, `-`, `_` or `.`.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.config.region = Some(region.into());
        self
    }

    /// The id the worker gives itself in dequeues (default `$HOSTNAME:pid`).
    pub fn worker_id(mut self, id: impl Into<String>) -> Self {
        self.config.worker_id = id.into();
        self
    }

    /// Called when any run starts (before the task's own hook), with the JSON payload.
    pub fn on_start<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_start(f);
        self
    }

    /// Called when any run succeeds (after the task's own hook).
    pub fn on_success<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value, Value, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_success(f);
        self
    }

    /// Called when any run fails for good (after the task's own hook).
    pub fn on_failure<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(Value, TaskError, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_failure(f);
        self
    }

    /// A handle that shuts this worker down gracefully.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Registers the deployment and runs until SIGTERM, ctrl-c or the shutdown handle, then
    /// shuts down gracefully.
    pub async fn run(self) -> Result<()> {
        let handle = self.shutdown.clone();
        tokio::spawn(async move {
            os_signal().await;
            tracing::info!("shutdown signal received: finishing the runs in flight");
            handle.shutdown();
        });
        self.start().await?.stopped().await
    }

    /// Registers the deployment and runs until `signal` completes (or the shutdown handle is
    /// used), then shuts down gracefully.
    pub async fn run_until(self, signal: impl Future<Output = ()> + Send + 'static) -> Result<()> {
        let handle = self.shutdown.clone();
        tokio::spawn(async move {
            signal.await;
            handle.shutdown();
        });
        self.start().await?.stopped().await
    }

    /// Registers the deployment and starts pulling runs in the background.
    pub async fn start(self) -> Result<RunningWorker> {
        if let Some(region) = &self.config.region {
            trigr_types::region::check(region)
                .map_err(|e| Error::Config(format!("the worker's region '{region}' {e}")))?;
        }
        let version = self.version().await?;
        let tasks = self
            .tasks
            .iter()
            .map(|t| (t.manifest().id.clone(), t.clone()))
            .collect();
        let shared = Arc::new(Shared {
            completer: complete::Completer::start(self.client.http.clone()),
            client: self.client,
            tasks,
            hooks: self.hooks,
            config: self.config,
            version: version.clone(),
            active: Mutex::new(HashMap::new()),
        });
        let join = tokio::spawn(pull(shared, self.shutdown.clone()));
        Ok(RunningWorker {
            version,
            shutdown: self.shutdown,
            join,
        })
    }

    /// The version to serve: the one given, or a new registration of the tasks.
    async fn version(&self) -> Result<String> {
        let manifests = self.manifests()?;
        if let Some(version) = &self.config.version {
            return Ok(version.clone());
        }
        let hash = content_hash(&self.config.build, &manifests).await;
        tracing::info!(
            "registering {} task(s) with the server at {}",
            manifests.len(),
            self.client.api_url()
        );
        let registered = protocol::register(
            &self.client.http,
            manifests,
            self.config.promote,
            hash,
            self.config.region.clone(),
        )
        .await?;
        tracing::info!(
            "registered deployment {} with {} task(s)",
            registered.version,
            self.tasks.len()
        );
        Ok(registered.version)
    }

    fn manifests(&self) -> Result<Vec<TaskManifest>> {
        let mut seen = std::collections::HashSet::new();
        let mut list = Vec::new();
        for task in &self.tasks {
            let manifest = task.manifest();
            manifest.validate().map_err(Error::Config)?;
            if !seen.insert(manifest.id.clone()) {
                return Err(Error::Config(format!(
                    "the task id '{}' is added twice",
                    manifest.id
                )));
            }
            list.push(manifest.clone());
        }
        if list.is_empty() {
            return Err(Error::Config(
                "the worker has no tasks: add some with .task(…)".into(),
            ));
        }
        Ok(list)
    }
}

/// A started worker.
pub struct RunningWorker {
    version: String,
    shutdown: ShutdownHandle,
    join: tokio::task::JoinHandle<Result<()>>,
}

impl RunningWorker {
    /// The deployment version it registered and serves.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// A handle that shuts it down.
    pub fn shutdown_handle(&self) -> ShutdownHandle {
        self.shutdown.clone()
    }

    /// Asks for a graceful shutdown and waits until it is over.
    pub async fn shutdown(self) -> Result<()> {
        self.shutdown.shutdown();
        self.stopped().await
    }

    /// Stops at once, like a killed process: runs in flight are dropped without completion,
    /// heartbeats stop, and their leases expire on the server (which retries them). For tests
    /// of crash recovery.
    pub fn kill(self) {
        self.join.abort();
    }

    /// Waits until the worker has stopped (after a shutdown was asked, or because the server
    /// refused its key).
    pub async fn stopped(self) -> Result<()> {
        self.join
            .await
            .map_err(|e| Error::Config(format!("the worker loop failed: {e}")))?
    }
}

/// What every execution of the worker reaches.
pub(crate) struct Shared {
    client: Client,
    tasks: HashMap<String, Arc<dyn Runnable>>,
    hooks: Hooks<Value, Value>,
    config: Config,
    version: String,
    completer: complete::Completer,
    /// Attempts in flight, to stop them at the shutdown deadline.
    active: Mutex<HashMap<String, Arc<Attempt>>>,
}

impl Shared {
    fn durable(&self) -> DurableSettings {
        DurableSettings {
            short_wait: self.config.short_wait,
        }
    }

    fn active(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Attempt>>> {
        self.active
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The pull loop: dequeue into free slots until shutdown, then drain.
async fn pull(shared: Arc<Shared>, shutdown: ShutdownHandle) -> Result<()> {
    let mut failure = None;
    let slots = Arc::new(Semaphore::new(shared.config.concurrency));
    let mut running = JoinSet::new();
    let mut backoff = Duration::from_millis(100);
    while !shutdown.is_shutting_down() {
        let permits = tokio::select! {
            permits = free_slots(&slots) => permits,
            _ = shutdown.requested() => break,
        };
        match dequeue(&shared, permits.len()).await {
            Ok(runs) => {
                backoff = Duration::from_millis(100);
                // Never more runs than slots asked for; a run beyond them still runs.
                let mut permits = permits.into_iter();
                for run in runs {
                    running.spawn(execute::execute(shared.clone(), run, permits.next()));
                }
            }
            Err(e) if matches!(e.status(), Some(401 | 403)) => {
                tracing::error!("dequeue refused, the worker stops: {e}");
                failure = Some(e);
                break;
            }
            Err(e) => {
                tracing::warn!("dequeue failed: {e}");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {},
                    _ = shutdown.requested() => {},
                }
                backoff = (backoff * 2).min(Duration::from_secs(10));
            }
        }
        while running.try_join_next().is_some() {}
    }
    drain(&shared, running).await;
    failure.map_or(Ok(()), Err)
}

/// Waits for one free slot, then takes every other free one (up to the dequeue limit).
async fn free_slots(slots: &Arc<Semaphore>) -> Vec<OwnedSemaphorePermit> {
    let Ok(first) = slots.clone().acquire_owned().await else {
        return Vec::new();
    };
    let mut permits = vec![first];
    while permits.len() < MAX_DEQUEUE {
        match slots.clone().try_acquire_owned() {
            Ok(p) => permits.push(p),
            Err(_) => break,
        }
    }
    permits
}

async fn dequeue(shared: &Shared, max: usize) -> Result<Vec<protocol::DequeuedRun>> {
    let wait_ms = shared.config.poll_wait.as_millis() as u64;
    protocol::dequeue(
        &shared.client.http,
        &shared.version,
        max.max(1),
        wait_ms,
        &shared.config.worker_id,
        shared.config.region.as_deref(),
    )
    .await
}

/// Lets the runs in flight finish within the shutdown timeout; then stops the rest, which
/// report a retryable failure.
async fn drain(shared: &Shared, mut running: JoinSet<()>) {
    let deadline = tokio::time::sleep(shared.config.shutdown_timeout);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            next = running.join_next() => if next.is_none() { return },
            _ = &mut deadline => break,
        }
    }
    let left: Vec<Arc<Attempt>> = shared.active().values().cloned().collect();
    tracing::warn!(
        "{} run(s) still executing after the shutdown timeout: stopping them",
        left.len()
    );
    for attempt in left {
        attempt.stop(Stop::Shutdown);
    }
    let grace = tokio::time::timeout(Duration::from_secs(10), async {
        while running.join_next().await.is_some() {}
    });
    if grace.await.is_err() {
        running.abort_all();
    }
}

/// SIGTERM or ctrl-c.
async fn os_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The content hash sent with a registration: SHA-256 of the build id and the manifest.
async fn content_hash(build: &Build, manifests: &[TaskManifest]) -> Option<String> {
    use sha2::{Digest, Sha256};
    let build = match build {
        Build::Unnamed => return None,
        Build::Named(id) => id.clone(),
        Build::Executable => tokio::task::spawn_blocking(build::executable_build_id)
            .await
            .ok()
            .flatten()?,
    };
    let mut hasher = Sha256::new();
    hasher.update(build.as_bytes());
    hasher.update([0]);
    // The manifests as a JSON value's text, as the hash has always been made.
    let manifests = serde_json::to_value(manifests).ok()?;
    hasher.update(manifests.to_string().as_bytes());
    Some(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client::RetryConfig;

    #[test]
    fn worker_calls_keep_their_own_retry_policy() {
        let client = Client::builder("http://127.0.0.1:1", "tr_dev_x")
            .retry(RetryConfig::disabled())
            .build()
            .unwrap();
        let worker = Worker::new(client);
        assert_eq!(worker.client.http.policy(), &protocol::worker_retry());
        assert_eq!(protocol::worker_retry().get_max_retries(), 4, "5 sends");
    }
}
