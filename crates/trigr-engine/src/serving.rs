//! Which version a new run of a task is locked to when the caller names none.
//!
//! **Staging and production** serve the current deployment: a task it does not declare is
//! answered `404`, naming the versions with workers that do declare it.
//!
//! **Development** environments serve the union of the tasks of the workers that are alive.
//! Every developer's worker (and every example run next to it) registers its own version, and
//! each registration becomes current; a task resolves to the current version when it declares
//! the task and has a worker (one asked for runs within [`WORKER_SEEN_WINDOW_MS`]), else to the
//! newest version with a worker that declares it, else to the current or newest version that
//! declares it. The run is locked to that version like any other. (The current version goes
//! first so that a promotion, a rollback, or the restart of an older build still decides which
//! of two live versions serves a task both declare.)
//!
//! Triggers are a hot path, so each server keeps a [`Catalog`] of every development
//! environment: its versions (newest first, at most [`MAX_VERSIONS`]), the tasks each declares
//! and when its workers were last seen. An entry is read again from the store when a commit of
//! this server registered, promoted or saw a version (`Catalogs::changed`, applied after the
//! commit), when the environment's current version is not the one it was read with, after
//! [`REFRESH_MS`] of the engine's clock (so other servers' registrations show within a
//! second), and before a task is answered as declared by no version. Deployments are
//! immutable, so only new versions' manifests are read.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use trigr_store::{EnvKind, Environment};
use trigr_types::manifest::TaskManifest;
use trigr_types::{version, Millis};

use crate::presence::{WorkersSeen, WORKER_SEEN_WINDOW_MS};
use crate::{Error, Result, Txn};

/// Most versions of a development environment that serve triggers: the newest ones.
pub const MAX_VERSIONS: usize = 500;

/// How long (engine clock) a catalog is used before it is read again.
pub const REFRESH_MS: Millis = 1_000;

/// The version a new run of `task_id` in `env` is locked to: `None` while no deployment is
/// current (the run waits for a version). In development, a `404` when no version declares
/// the task; in staging and production the current version, whose manifest the caller checks
/// (answering [`not_declared`] when it lacks the task), so that it is looked up once.
pub(crate) fn version_for(
    tx: &mut Txn<'_>,
    env: &Environment,
    task_id: &str,
) -> Result<Option<String>> {
    let Some(current) = env.current_version.clone() else {
        return Ok(None);
    };
    if env.kind != EnvKind::Development {
        return Ok(Some(current));
    }
    let now = tx.now();
    let catalog = tx.catalog(env, false)?;
    if let Some(v) = catalog.serving(task_id, now) {
        return Ok(Some(v.to_string()));
    }
    // Read again before answering that no version declares it.
    let catalog = tx.catalog(env, true)?;
    match catalog.serving(task_id, now) {
        Some(v) => Ok(Some(v.to_string())),
        None => Err(Error::not_found(format!(
            "Task '{task_id}' is not declared by the current deployment (version {current}) \
             nor by any other version of this environment"
        ))),
    }
}

/// The `404` of a task the current deployment does not declare, naming the versions with
/// workers that declare it (staging and production).
pub(crate) fn not_declared(
    tx: &mut Txn<'_>,
    env: &Environment,
    task_id: &str,
    current: &str,
) -> Result<Error> {
    let now = tx.now();
    let tx = tx.store();
    let seen = WorkersSeen::read(tx, &env.id, now)?;
    let mut live = Vec::new();
    for v in seen.last_seen.keys() {
        if !seen.has_workers(v) || v == current {
            continue;
        }
        if tx
            .deployment(&env.id, v)?
            .is_some_and(|d| d.task(task_id).is_some())
        {
            live.push(v.clone());
        }
    }
    live.sort_by(|a, b| version::compare(b, a));
    let mut message =
        format!("Task '{task_id}' is not declared by the current deployment (version {current})");
    match live.as_slice() {
        [] => {}
        [one] => message.push_str(&format!(
            "; version {one} declares it and has workers: promote it, or trigger with version {one}"
        )),
        many => message.push_str(&format!(
            "; versions {} declare it and have workers",
            many.join(", ")
        )),
    }
    Ok(Error::not_found(message))
}

/// The tasks the development environment serves once `promoted` is current: for each task,
/// the manifest of the version that would serve it (`promoted`, else the newest with
/// workers). Declarative schedules follow these.
pub(crate) fn served_tasks(
    tx: &mut Txn<'_>,
    env_id: &str,
    promoted: &trigr_store::Deployment,
    now: Millis,
) -> Result<Vec<TaskManifest>> {
    let seen = WorkersSeen::read(tx.store(), env_id, now)?;
    let mut live: Vec<String> = seen
        .last_seen
        .keys()
        .filter(|v| seen.has_workers(v) && **v != promoted.version)
        .cloned()
        .collect();
    live.sort_by(|a, b| version::compare(b, a));
    live.insert(0, promoted.version.clone());
    let mut tasks: Vec<TaskManifest> = Vec::new();
    for v in live {
        let manifest = if v == promoted.version {
            promoted.tasks.clone()
        } else {
            match tx.loaded_deployment(env_id, &v)? {
                Some(d) => d.deployment.tasks.clone(),
                None => continue,
            }
        };
        for t in manifest {
            if !tasks.iter().any(|have| have.id == t.id) {
                tasks.push(t);
            }
        }
    }
    Ok(tasks)
}

/// What one development environment serves, as read at one time.
pub struct Catalog {
    /// [`Catalogs`]' change count when it was read.
    generation: u64,
    /// The environment's current version when it was read.
    current: Option<String>,
    read_at: Millis,
    /// Newest first.
    versions: Vec<String>,
    /// The tasks of each version, as indexes in `versions`' order: for each task, the
    /// versions that declare it, newest first.
    by_task: HashMap<String, Vec<usize>>,
    /// The tasks each version declares (kept so a later read loads only new versions).
    tasks_of: HashMap<String, Arc<[String]>>,
    workers: WorkersSeen,
}

impl Catalog {
    /// The version serving `task_id` at `now`: the current one if it declares the task and
    /// has workers, else the newest with workers that declares it, else the current one if it
    /// declares it, else the newest that declares it.
    fn serving(&self, task_id: &str, now: Millis) -> Option<&str> {
        let declaring = self.by_task.get(task_id)?;
        let live = |i: &usize| {
            self.workers
                .last_seen(&self.versions[*i])
                .is_some_and(|t| now - t <= WORKER_SEEN_WINDOW_MS)
        };
        let current = self
            .current
            .as_deref()
            .and_then(|c| declaring.iter().find(|i| self.versions[**i] == c));
        current
            .filter(|i| live(i))
            .or_else(|| declaring.iter().find(|i| live(i)))
            .or(current)
            .or(declaring.first())
            .map(|i| self.versions[*i].as_str())
    }

    fn fresh(&self, generation: u64, current: &Option<String>, now: Millis) -> bool {
        self.generation == generation
            && &self.current == current
            && (0..REFRESH_MS).contains(&(now - self.read_at))
    }
}

/// The catalogs of this server's development environments.
#[derive(Default)]
pub struct Catalogs {
    /// Counts the commits that changed versions or their workers.
    generation: AtomicU64,
    envs: Mutex<HashMap<String, Arc<Catalog>>>,
}

impl Catalogs {
    /// Called after a commit that registered, promoted or saw a version: every catalog is read
    /// again before its next use.
    pub(crate) fn changed(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// The catalog of `env`, read again when stale or when `reload`.
    pub(crate) fn get(
        &self,
        tx: &mut Txn<'_>,
        env: &Environment,
        now: Millis,
        reload: bool,
    ) -> Result<Arc<Catalog>> {
        // Read before the store, so that a change committed meanwhile makes it stale.
        let generation = self.generation.load(Ordering::SeqCst);
        let old = self.lock().get(&env.id).cloned();
        if let Some(c) = &old {
            if !reload && c.fresh(generation, &env.current_version, now) {
                return Ok(c.clone());
            }
        }
        let catalog = Arc::new(read(tx, env, generation, now, old.as_deref())?);
        self.lock().insert(env.id.clone(), catalog.clone());
        Ok(catalog)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Catalog>>> {
        self.envs.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Reads an environment's catalog, reusing the task lists `old` has.
fn read(
    tx: &mut Txn<'_>,
    env: &Environment,
    generation: u64,
    now: Millis,
    old: Option<&Catalog>,
) -> Result<Catalog> {
    let versions = tx.deployment_versions(&env.id, MAX_VERSIONS)?;
    let mut tasks_of: HashMap<String, Arc<[String]>> = HashMap::with_capacity(versions.len());
    let mut missing = Vec::new();
    for v in &versions {
        match old.and_then(|c| c.tasks_of.get(v)) {
            Some(t) => {
                tasks_of.insert(v.clone(), t.clone());
            }
            None => missing.push(v.clone()),
        }
    }
    if missing.len() > 8 {
        // The first read (or many new versions): every manifest in one query.
        for d in tx.deployments(&env.id, MAX_VERSIONS)? {
            tasks_of.insert(d.version.clone(), task_ids(&d.tasks));
        }
    } else {
        for v in missing {
            if let Some(d) = tx.loaded_deployment(&env.id, &v)? {
                tasks_of.insert(v, task_ids(&d.deployment.tasks));
            }
        }
    }
    let mut by_task: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, v) in versions.iter().enumerate() {
        for t in tasks_of.get(v).iter().flat_map(|t| t.iter()) {
            by_task.entry(t.clone()).or_default().push(i);
        }
    }
    Ok(Catalog {
        generation,
        current: env.current_version.clone(),
        read_at: now,
        versions,
        by_task,
        tasks_of,
        workers: WorkersSeen::read(tx.store(), &env.id, now)?,
    })
}

fn task_ids(tasks: &[TaskManifest]) -> Arc<[String]> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn catalog(versions: &[(&str, &[&str])], seen: &[(&str, Millis)]) -> Catalog {
        catalog_with(versions, seen, versions.first().map(|(v, _)| *v))
    }

    fn catalog_with(
        versions: &[(&str, &[&str])],
        seen: &[(&str, Millis)],
        current: Option<&str>,
    ) -> Catalog {
        let mut by_task: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, (_, tasks)) in versions.iter().enumerate() {
            for t in *tasks {
                by_task.entry(t.to_string()).or_default().push(i);
            }
        }
        Catalog {
            generation: 0,
            current: current.map(str::to_string),
            read_at: 0,
            versions: versions.iter().map(|(v, _)| v.to_string()).collect(),
            by_task,
            tasks_of: HashMap::new(),
            workers: WorkersSeen {
                now: 0,
                last_seen: seen.iter().map(|(v, t)| (v.to_string(), *t)).collect(),
                live: HashMap::new(),
            },
        }
    }

    #[test]
    fn the_newest_live_version_declaring_the_task_serves_it() {
        // .3 is the example (current), .2 the developer's worker, .1 an old build.
        let c = catalog(
            &[
                ("20260101.3", &["hello"]),
                ("20260101.2", &["process-order", "hello"]),
                ("20260101.1", &["process-order"]),
            ],
            &[
                ("20260101.3", 100_000),
                ("20260101.2", 100_000),
                ("20260101.1", 10_000),
            ],
        );
        let now = 100_000;
        assert_eq!(c.serving("process-order", now), Some("20260101.2"));
        assert_eq!(c.serving("hello", now), Some("20260101.3"));
        assert_eq!(c.serving("nope", now), None);
        // Once .2's workers are gone, the newest declaring version still takes the run.
        let later = 100_000 + WORKER_SEEN_WINDOW_MS + 1;
        assert_eq!(c.serving("process-order", later), Some("20260101.2"));
        // An older version with workers wins over a newer one without.
        let c = catalog(
            &[("20260101.2", &["t"]), ("20260101.1", &["t"])],
            &[("20260101.2", 0), ("20260101.1", 100_000)],
        );
        assert_eq!(c.serving("t", 100_000), Some("20260101.1"));
    }

    #[test]
    fn the_current_version_goes_first_while_it_has_workers() {
        // .1 was promoted again (a rollback, or its build restarted): it serves what it declares.
        let versions: &[(&str, &[&str])] = &[("20260101.2", &["t", "u"]), ("20260101.1", &["t"])];
        let both = &[("20260101.2", 100_000), ("20260101.1", 100_000)];
        let c = catalog_with(versions, both, Some("20260101.1"));
        assert_eq!(c.serving("t", 100_000), Some("20260101.1"));
        assert_eq!(c.serving("u", 100_000), Some("20260101.2"));
        // Without workers it gives way to a version with workers.
        let c = catalog_with(
            versions,
            &[("20260101.2", 100_000), ("20260101.1", 0)],
            Some("20260101.1"),
        );
        assert_eq!(c.serving("t", 100_000), Some("20260101.2"));
        // With no worker anywhere, the current version still goes first.
        let c = catalog_with(versions, &[], Some("20260101.1"));
        assert_eq!(c.serving("t", 100_000), Some("20260101.1"));
        assert_eq!(c.serving("u", 100_000), Some("20260101.2"));
    }

    #[test]
    fn a_catalog_is_fresh_for_a_second_of_the_same_state() {
        let c = catalog(&[("20260101.1", &["t"])], &[]);
        let current = Some("20260101.1".to_string());
        assert!(c.fresh(0, &current, 0));
        assert!(c.fresh(0, &current, REFRESH_MS - 1));
        assert!(!c.fresh(0, &current, REFRESH_MS), "too old");
        assert!(!c.fresh(0, &current, -1), "the clock went back");
        assert!(!c.fresh(1, &current, 0), "a version changed here");
        assert!(
            !c.fresh(0, &Some("20260101.2".into()), 0),
            "another current"
        );
    }
}
