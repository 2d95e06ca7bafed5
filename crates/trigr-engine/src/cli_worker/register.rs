//! `register_cli_build`: a build the Trigger.dev CLI made of a TypeScript project
//! (`POST /api/v1/projects/{ref}/background-workers`) becomes a deployment of its environment,
//! with the same rules as a Rust worker's: the same build (its content hash and tasks) is the
//! same version, a rebuild is a new version, promoted at once in development, and runs stay on
//! the version they are locked to.

use std::collections::HashMap;

use trigr_types::manifest::{QueueManifest, ScheduleManifest, TaskManifest};
use trigr_types::wire::dev::{BackgroundWorkerBody, CliQueue, CliRetry, CliTask};
use trigr_types::RetryPolicy;

use crate::deploy::Registered;
use crate::{Engine, Error, Result};

/// Most tasks one build declares.
pub const MAX_TASKS: usize = 1000;

/// A build, checked: its tasks as trigr declares them, and its content hash.
#[derive(Clone, Debug)]
pub struct CliBuild {
    pub tasks: Vec<TaskManifest>,
    pub content_hash: String,
}

/// Checks a registration body: every task's settings within what trigr takes, each mistake
/// named with its task.
pub fn check(body: BackgroundWorkerBody) -> Result<CliBuild> {
    let meta = body.metadata;
    if meta.tasks.len() > MAX_TASKS || meta.queues.len() > MAX_TASKS {
        return Err(Error::invalid(format!(
            "a build declares at most {MAX_TASKS} tasks and {MAX_TASKS} queues"
        )));
    }
    let shared: HashMap<String, Option<u32>> = meta
        .queues
        .iter()
        .filter_map(|q| Some((q.name.clone()?, limit(q, "queues[]").ok()?)))
        .collect();
    let tasks = meta
        .tasks
        .into_iter()
        .map(|t| task(t, &shared))
        .collect::<Result<Vec<_>>>()?;
    Ok(CliBuild {
        tasks,
        content_hash: meta.content_hash,
    })
}

fn task(t: CliTask, shared: &HashMap<String, Option<u32>>) -> Result<TaskManifest> {
    let named = |m: String| Error::invalid(format!("task '{}': {m}", t.id));
    let queue = match &t.queue {
        Some(q) => {
            let name = q.name.clone().unwrap_or_else(|| format!("task/{}", t.id));
            let own = limit(q, "queue").map_err(named)?;
            let concurrency_limit = own.or_else(|| shared.get(&name).copied().flatten());
            Some(QueueManifest {
                name,
                concurrency_limit,
            })
        }
        None => None,
    };
    let retry = t
        .retry
        .as_ref()
        .map(|r| retry(r).map_err(named))
        .transpose()?;
    let max_duration = match t.max_duration {
        Some(s) if s.is_finite() && s > 0.0 => Some(s.ceil() as u64),
        Some(s) => {
            return Err(named(format!(
                "maxDuration must be a positive number of seconds, got {s}"
            )))
        }
        None => None,
    };
    Ok(TaskManifest {
        queue,
        retry,
        max_duration,
        machine: t.machine.and_then(|m| m.preset),
        payload_schema: t.payload_schema,
        schedule: t.schedule.map(|s| ScheduleManifest {
            cron: s.cron,
            timezone: s.timezone,
            window: None,
        }),
        file_path: Some(t.file_path),
        export_name: t.export_name,
        id: t.id,
    })
}

/// A queue's limit: a whole number, or none.
fn limit(q: &CliQueue, field: &str) -> std::result::Result<Option<u32>, String> {
    match q.concurrency_limit {
        None => Ok(None),
        Some(l) if l.fract() == 0.0 && (0.0..=f64::from(u32::MAX)).contains(&l) => {
            Ok(Some(l as u32))
        }
        Some(l) => Err(format!(
            "{field}.concurrencyLimit must be a whole number of 0 or more, got {l}"
        )),
    }
}

/// A retry policy, the defaults filling what the task left out.
fn retry(r: &CliRetry) -> std::result::Result<RetryPolicy, String> {
    let d = RetryPolicy::default();
    let whole = |v: Option<f64>, field: &str, default: u64| match v {
        None => Ok(default),
        Some(x) if x.is_finite() && x >= 0.0 => Ok(x.round() as u64),
        Some(x) => Err(format!(
            "retry.{field} must be a number of 0 or more, got {x}"
        )),
    };
    Ok(RetryPolicy {
        max_attempts: u32::try_from(whole(
            r.max_attempts,
            "maxAttempts",
            u64::from(d.max_attempts),
        )?)
        .map_err(|_| "retry.maxAttempts is too large".to_string())?,
        factor: r.factor.unwrap_or(d.factor),
        min_timeout_in_ms: whole(r.min_timeout_in_ms, "minTimeoutInMs", d.min_timeout_in_ms)?,
        max_timeout_in_ms: whole(r.max_timeout_in_ms, "maxTimeoutInMs", d.max_timeout_in_ms)?,
        randomize: r.randomize.unwrap_or(d.randomize),
    })
}

impl Engine {
    /// Registers a checked build in `env_id` (see the module docs).
    pub async fn register_cli_build(&self, env_id: &str, build: CliBuild) -> Result<Registered> {
        self.register_deployment(env_id, build.tasks, true, Some(build.content_hash), None)
            .await
    }
}
