//! `deploy`: register a deployment (a version of the task code), promote one to current, or
//! roll back to the one before the current.

use std::collections::HashSet;

use trigr_store::{Deployment, EnvKind, Environment};
use trigr_types::manifest::TaskManifest;
use trigr_types::{id, version, Millis};

use crate::transition::moved_to_version;
use crate::trigger::ensure_queue;
use crate::{transition, Engine, Error, LoadedDeployment, Result, Txn};

/// What a registration made or found.
#[derive(Clone, Debug)]
pub struct Registered {
    pub deployment: Deployment,
    /// It is the environment's current deployment now.
    pub current: bool,
    /// An earlier registration of the same build made it (see `register_deployment`).
    pub reused: bool,
}

impl Engine {
    /// Registers a deployment; promotes it when asked, and always in `dev`.
    ///
    /// With a `content_hash` (of the worker's code and manifest), a registration that finds a
    /// deployment of the same hash with the same manifest returns that one instead of making a
    /// new version: a worker restarted after a crash, or a second replica of the same build,
    /// serves the runs already locked to it. The registering worker serves `region` (a
    /// checked name; the environment's default when `None`).
    pub async fn register_deployment(
        &self,
        env_id: &str,
        tasks: Vec<TaskManifest>,
        promote: bool,
        content_hash: Option<String>,
        region: Option<String>,
    ) -> Result<Registered> {
        validate_manifest(&tasks)?;
        if content_hash
            .as_ref()
            .is_some_and(|h| h.is_empty() || h.len() > 128)
        {
            return Err(Error::invalid("contentHash must be 1 to 128 characters"));
        }
        let registered = self
            .write_retrying(|| {
                let (env_id, tasks) = (env_id.to_string(), tasks.clone());
                let (content_hash, region) = (content_hash.clone(), region.clone());
                move |tx: &mut Txn<'_>| {
                    let now = tx.now();
                    let env = env_of(tx, &env_id)?;
                    let region = region
                        .as_deref()
                        .or(env.default_region.as_deref())
                        .unwrap_or(trigr_types::region::DEFAULT);
                    tx.touch_region(&env.id, region, now)?;
                    // Runs may have moved to the version now current.
                    tx.wake(&env.id);
                    tx.versions_changed();
                    if let Some(found) = same_build(tx, &env, content_hash.as_deref(), &tasks)? {
                        let mut d = found;
                        let mut current =
                            env.current_version.as_deref() == Some(d.version.as_str());
                        if !current && (promote || env.kind == EnvKind::Development) {
                            promote_in(tx, &env, &d, now)?;
                            d.promoted_at = Some(now);
                            current = true;
                        }
                        tx.touch_worker(&env.id, &d.version, now)?;
                        return Ok(Registered {
                            deployment: d,
                            current,
                            reused: true,
                        });
                    }
                    let day = chrono::DateTime::from_timestamp_millis(now)
                        .unwrap_or_default()
                        .format("%Y%m%d")
                        .to_string();
                    let n = tx.count_deployments_on_day(&env.id, &day)? + 1;
                    let mut d = Deployment {
                        id: id::new("deployment"),
                        env_id: env.id.clone(),
                        version: version::format(&day, n as u32),
                        day,
                        tasks,
                        created_at: now,
                        promoted_at: None,
                        content_hash,
                    };
                    tx.insert_deployment(&d)?;
                    for t in &d.tasks {
                        let limit = t
                            .queue
                            .as_ref()
                            .and_then(|q| q.concurrency_limit)
                            .map(i64::from);
                        ensure_queue(tx, &env.id, &t.queue_name(), limit, now)?;
                    }
                    if promote || env.kind == EnvKind::Development {
                        promote_in(tx, &env, &d, now)?;
                        d.promoted_at = Some(now);
                    }
                    // The registering worker is one of the version's workers.
                    tx.touch_worker(&env.id, &d.version, now)?;
                    Ok(Registered {
                        current: d.promoted_at.is_some(),
                        deployment: d,
                        reused: false,
                    })
                }
            })
            .await?;
        Ok(registered)
    }

    /// Makes an existing deployment current.
    pub async fn promote(&self, env_id: &str, version: &str) -> Result<Deployment> {
        let (env_id, version) = (env_id.to_string(), version.to_string());
        let d = self
            .write(move |tx| {
                let now = tx.now();
                let env = env_of(tx, &env_id)?;
                // Runs may have moved to the version now current.
                tx.wake(&env.id);
                let mut d = tx
                    .deployment(&env.id, &version)?
                    .ok_or_else(|| Error::not_found(format!("Deployment {version} not found")))?;
                promote_in(tx, &env, &d, now)?;
                d.promoted_at = Some(now);
                Ok(d)
            })
            .await?;
        Ok(d)
    }

    /// Makes the newest deployment older than the current one (by version order) current
    /// again. Returns it and the version that was current.
    pub async fn rollback(&self, env_id: &str) -> Result<(Deployment, String)> {
        let env_id = env_id.to_string();
        let (d, from) = self
            .write(move |tx| {
                let now = tx.now();
                let env = env_of(tx, &env_id)?;
                // Runs may have moved to the version now current.
                tx.wake(&env.id);
                let Some(from) = env.current_version.clone() else {
                    return Err(Error::unprocessable(
                        "No deployment is current in this environment, so there is nothing to roll back",
                    ));
                };
                let mut d = tx
                    .deployments(&env.id, ROLLBACK_SCAN)?
                    .into_iter()
                    .filter(|d| version::compare(&d.version, &from).is_lt())
                    .max_by(|a, b| version::compare(&a.version, &b.version))
                    .ok_or_else(|| {
                        Error::unprocessable(format!(
                            "No deployment is older than the current version {from}, so there is nothing to roll back to"
                        ))
                    })?;
                promote_in(tx, &env, &d, now)?;
                d.promoted_at = Some(now);
                Ok((d, from))
            })
            .await?;
        Ok((d, from))
    }
}

/// How many of the newest deployments a rollback looks through for the one before the current.
const ROLLBACK_SCAN: usize = 10_000;

/// The deployment an earlier registration of the same build made, if any (same hash and the
/// same manifest: a hash is the worker's word, the manifest is checked).
fn same_build(
    tx: &mut Txn<'_>,
    env: &Environment,
    content_hash: Option<&str>,
    tasks: &[TaskManifest],
) -> Result<Option<Deployment>> {
    let Some(hash) = content_hash else {
        return Ok(None);
    };
    Ok(tx
        .deployment_by_hash(&env.id, hash)?
        .filter(|d| d.tasks.as_slice() == tasks))
}

/// The environment, locked until the transaction ends: registrations and promotions of one
/// environment take turns, so version numbers and the current version never race.
fn env_of(tx: &mut Txn<'_>, env_id: &str) -> Result<Environment> {
    tx.environment_for_update(env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))
}

/// Checks a manifest: ids unique and well-formed, fields in range, schemas compile.
pub fn validate_manifest(tasks: &[TaskManifest]) -> Result<()> {
    if tasks.is_empty() {
        return Err(Error::invalid("The manifest declares no tasks"));
    }
    let mut seen = HashSet::new();
    for t in tasks {
        t.validate().map_err(Error::Invalid)?;
        if !seen.insert(t.id.as_str()) {
            return Err(Error::invalid(format!(
                "Task id '{}' appears twice in the manifest",
                t.id
            )));
        }
        if let Some(schedule) = &t.schedule {
            crate::schedules::cron::parse(&schedule.cron, schedule.timezone.as_deref())
                .map_err(|e| Error::unprocessable(format!("Task '{}': schedule: {e}", t.id)))?;
            if let Some(w) = &schedule.window {
                crate::schedules::window::parse(w)
                    .map_err(|e| Error::unprocessable(format!("Task '{}': schedule: {e}", t.id)))?;
            }
        }
    }
    let probe = Deployment {
        id: String::new(),
        env_id: String::new(),
        version: String::new(),
        day: String::new(),
        tasks: tasks.to_vec(),
        created_at: 0,
        promoted_at: None,
        content_hash: None,
    };
    LoadedDeployment::new(probe)
        .map(|_| ())
        .map_err(Error::Invalid)
}

/// Makes `d` current: queue limits follow its manifest, runs waiting for a version lock to it
/// (and, in dev, runs that never started move to it from older dev versions).
fn promote_in(tx: &mut Txn<'_>, env: &Environment, d: &Deployment, now: Millis) -> Result<()> {
    tx.versions_changed();
    tx.set_current_version(&env.id, &d.version)?;
    tx.set_promoted(&env.id, &d.version, now)?;
    for t in &d.tasks {
        let limit = t
            .queue
            .as_ref()
            .and_then(|q| q.concurrency_limit)
            .map(i64::from);
        let q = ensure_queue(tx, &env.id, &t.queue_name(), limit, now)?;
        let mut q = tx.queue_for_update(&env.id, &q.id)?.unwrap_or(q);
        if q.base_limit != limit {
            q.base_limit = limit;
            tx.update_queue(&q)?;
        }
    }
    let served = if env.kind == EnvKind::Development {
        crate::serving::served_tasks(tx, &env.id, d, now)?
    } else {
        d.tasks.clone()
    };
    crate::schedules::declarative::sync(tx, &env.id, &served, now)?;
    let mut movable = tx.unlocked_runs(&env.id)?;
    if env.kind == EnvKind::Development {
        movable.extend(tx.unstarted_runs_not_on(&env.id, &d.version)?);
    }
    for run in movable {
        let Some(task) = d.task(&run.task_id) else {
            continue;
        };
        let max_duration = task.max_duration.map(|s| s as i64);
        let after = moved_to_version(&run, &d.version, max_duration, now);
        transition(tx, &run, &after)?;
    }
    Ok(())
}
