//! [`Context`]: what a running task knows about its run, and its handle on durable operations,
//! logs and metadata.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};
use trigr_types::wire::Timestamp;

use crate::attempt::Attempt;
use crate::client::Client;
use crate::logger::Logger;
use crate::metadata::Metadata;
use crate::protocol::DequeuedRun;

/// The run being executed.
#[derive(Clone, Debug)]
pub struct RunInfo {
    /// Run id, `run_…`.
    pub id: String,
    /// Tags of the run.
    pub tags: Vec<String>,
    /// This attempt's number, from 1. A resume after a wait keeps the number.
    pub attempt: u32,
    /// Attempts the retry policy allows, when the server says.
    pub max_attempts: Option<u32>,
    /// `true` when this execution continues a run that was `WAITING`.
    pub resumed: bool,
    /// Metadata at the start of the attempt (see [`Metadata::current`] for the latest).
    pub metadata: Value,
    /// Whether the run was triggered as a test.
    pub is_test: bool,
    /// The idempotency key the run was triggered with.
    pub idempotency_key: Option<String>,
    /// The concurrency key the run was triggered with.
    pub concurrency_key: Option<String>,
    /// The queue it runs on.
    pub queue: Option<String>,
    /// Machine preset.
    pub machine: Option<String>,
    /// Seconds an attempt may run.
    pub max_duration: Option<u64>,
    /// When the run was triggered.
    pub created_at: Option<DateTime<Utc>>,
    /// When its first attempt started.
    pub started_at: Option<DateTime<Utc>>,
    /// The run that triggered this one.
    pub parent_run_id: Option<String>,
    /// The first run of the tree.
    pub root_run_id: Option<String>,
    /// The batch this run belongs to.
    pub batch_id: Option<String>,
}

/// The task being executed.
#[derive(Clone, Debug)]
pub struct TaskInfo {
    /// Task id.
    pub id: String,
}

/// The environment the worker serves.
#[derive(Clone, Debug)]
pub struct EnvironmentInfo {
    /// Environment id, `env_…`.
    pub id: String,
    /// `dev`, `staging`, `prod`, …
    pub slug: String,
    /// `DEVELOPMENT`, `STAGING`, `PRODUCTION`, `PREVIEW`.
    pub kind: String,
}

/// The deployment the run is locked to.
#[derive(Clone, Debug)]
pub struct DeploymentInfo {
    /// Version, `YYYYMMDD.N`.
    pub version: String,
}

/// Everything a task attempt can reach: information about the run (`ctx.run`, `ctx.task`,
/// `ctx.environment`, `ctx.deployment`), its [`Logger`] and [`Metadata`], and the durable
/// operations — [`step`](Context::step), the waits, child runs and tokens — and an HTTP client
/// whose calls are spans of the run's trace ([`http`](Context::http)).
///
/// Cheap to clone; every clone refers to the same attempt.
#[derive(Clone)]
pub struct Context {
    /// The run.
    pub run: RunInfo,
    /// The task.
    pub task: TaskInfo,
    /// The environment.
    pub environment: EnvironmentInfo,
    /// The deployment.
    pub deployment: DeploymentInfo,
    /// Structured logs, shipped to the server.
    pub logger: Logger,
    /// The run's metadata.
    pub metadata: Metadata,
    pub(crate) attempt: Arc<Attempt>,
    pub(crate) client: Client,
    /// The environment's variables, read on first use and kept for the attempt.
    env_var_cache: Arc<tokio::sync::OnceCell<Arc<BTreeMap<String, String>>>>,
}

impl Context {
    pub(crate) fn new(run: &DequeuedRun, attempt: Arc<Attempt>, client: Client) -> Context {
        let metadata = run
            .metadata
            .clone()
            .unwrap_or_else(|| Value::Object(Map::new()));
        Context {
            run: run_info(run, metadata.clone()),
            task: TaskInfo {
                id: run.task_identifier.clone(),
            },
            environment: EnvironmentInfo {
                id: run.environment.id.clone(),
                slug: run.environment.slug.clone(),
                kind: run.environment.kind.clone(),
            },
            deployment: DeploymentInfo {
                version: run.version.clone().unwrap_or_default(),
            },
            logger: attempt.logger.clone(),
            metadata: Metadata::new(client.clone(), &run.run_id, metadata),
            attempt,
            client,
            env_var_cache: Arc::default(),
        }
    }

    /// The management client of the worker's environment (to complete tokens, read other
    /// runs, …). Its calls are not journaled.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The cache of the run's environment ([`cache`](crate::cache)), through the worker's
    /// client. Its calls are not journaled: a re-executed task calls again (wrap a call in
    /// [`step`](Context::step) to record its result).
    pub fn cache(&self) -> crate::cache::Cache {
        self.client.cache()
    }

    /// The metadata store of the run's environment ([`env_metadata`](crate::env_metadata)),
    /// not the run's own [`metadata`](Context::metadata). Not journaled, like
    /// [`Context::cache`].
    pub fn env_metadata(&self) -> crate::env_metadata::EnvMetadata {
        self.client.env_metadata()
    }

    /// The value of the environment variable `name` ([`env_vars`](crate::env_vars)), secret
    /// or not; `None` when the environment has no such variable. The first call of an attempt
    /// reads every variable from the server; later calls of the attempt use what it read, so
    /// a change is seen by the next attempt.
    pub async fn env_var(&self, name: &str) -> crate::Result<Option<String>> {
        Ok(self.env_vars().await?.get(name).cloned())
    }

    /// Every environment variable with its value, read like [`Context::env_var`].
    pub async fn env_vars(&self) -> crate::Result<Arc<BTreeMap<String, String>>> {
        let vars = self
            .env_var_cache
            .get_or_try_init(|| async { self.client.env_vars().values().await.map(Arc::new) })
            .await?;
        Ok(vars.clone())
    }
}

fn run_info(run: &DequeuedRun, metadata: Value) -> RunInfo {
    RunInfo {
        id: run.run_id.clone(),
        tags: run.tags.clone(),
        attempt: run.attempt,
        max_attempts: run.max_attempts,
        resumed: run.resumed,
        metadata,
        is_test: run.is_test,
        idempotency_key: run.idempotency_key.clone(),
        concurrency_key: run.concurrency_key.clone(),
        queue: Some(run.queue.clone()),
        machine: run.machine.clone(),
        max_duration: run.max_duration,
        created_at: Some(run.created_at.to_datetime()),
        started_at: run.started_at.map(Timestamp::to_datetime),
        parent_run_id: run.parent_run_id.clone(),
        root_run_id: run.root_run_id.clone(),
        batch_id: run.batch_id.clone(),
    }
}
