//! The context every engine command writes in.
//!
//! [`crate::Engine::write`] runs a command's closure with a [`Txn`]: the store's transaction
//! (through `Deref`, so `txn.run(…)` reads the store), the engine's settings, the clock, the
//! deployment cache, and
//! the [`Effects`] the command causes. A command says what should happen once its change is
//! durable — wake the workers of an environment, tell realtime subscribers that events were
//! recorded — by adding to its effects; `Engine::write` applies them after the commit and
//! drops them when the transaction rolls back. Nothing travels beside the closure's return
//! value.

use std::collections::HashMap;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;

use trigr_store::{Queue, Tx};
use trigr_types::Millis;

use crate::clock::Clock;
use crate::observe::RunChange;
use crate::serving::{Catalog, Catalogs};
use crate::{Config, DeploymentCache, LoadedDeployment, Result};

/// A write transaction of the engine: see the module docs.
pub struct Txn<'a> {
    tx: &'a mut dyn Tx,
    config: &'a Config,
    clock: &'a dyn Clock,
    deployments: &'a DeploymentCache,
    catalogs: &'a Catalogs,
    effects: Effects,
    /// Whether run changes are noted for the engine's observer ([`crate::observe`]).
    pub(crate) observing: bool,
    /// Whether runs reaching a final status are noted for the finished-runs hook.
    pub(crate) noting_finished: bool,
    /// Where read-fallback finds buffered entries ([`crate::mollifier::fallback::Fetched`]).
    pub(crate) fetched: crate::mollifier::fallback::Fetched,
    /// What this transaction read that cannot change before it ends: see [`Txn::queue_named`]
    /// and [`Txn::org_of`].
    read_once: ReadOnce,
}

/// Rows read once per transaction however many runs a command makes.
#[derive(Default)]
struct ReadOnce {
    /// Queues defined in code, by environment and name.
    queues: HashMap<(String, String), Queue>,
    /// The organization of each environment.
    orgs: HashMap<String, Option<String>>,
}

impl<'a> Txn<'a> {
    pub(crate) fn new(
        tx: &'a mut dyn Tx,
        config: &'a Config,
        clock: &'a dyn Clock,
        deployments: &'a DeploymentCache,
        catalogs: &'a Catalogs,
    ) -> Txn<'a> {
        Txn {
            tx,
            config,
            clock,
            deployments,
            catalogs,
            effects: Effects::default(),
            observing: false,
            noting_finished: false,
            fetched: Default::default(),
            read_once: ReadOnce::default(),
        }
    }

    /// The engine's settings.
    pub fn config(&self) -> &'a Config {
        self.config
    }

    /// The engine's clock, read now.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// The deployment of `version` in `env_id`, from the cache or loaded in this transaction.
    pub fn loaded_deployment(
        &mut self,
        env_id: &str,
        version: &str,
    ) -> Result<Option<Arc<LoadedDeployment>>> {
        self.deployments.get(&mut *self.tx, env_id, version)
    }

    /// What the development environment `env` serves ([`crate::serving`]), from this
    /// server's catalogs or read in this transaction (always with `reload`).
    pub(crate) fn catalog(
        &mut self,
        env: &trigr_store::Environment,
        reload: bool,
    ) -> Result<Arc<Catalog>> {
        let (catalogs, now) = (self.catalogs, self.now());
        catalogs.get(self, env, now, reload)
    }

    /// After the commit, this server's catalogs of development environments are read again:
    /// the command registered or promoted a version, or recorded its workers.
    pub(crate) fn versions_changed(&mut self) {
        self.effects.versions = true;
    }

    /// The queue named `name` in the environment, if any. A queue defined in code is never
    /// deleted or renamed, so it is read once per transaction (the run records made from it
    /// take only its id and name); one made through the API is read every time.
    pub(crate) fn queue_named(&mut self, env_id: &str, name: &str) -> Result<Option<Queue>> {
        let key = (env_id.to_string(), name.to_string());
        if let Some(q) = self.read_once.queues.get(&key) {
            return Ok(Some(q.clone()));
        }
        let found = self.tx.queue_by_name(env_id, name)?;
        if let Some(q) = found.as_ref().filter(|q| !q.from_api) {
            self.read_once.queues.insert(key, q.clone());
        }
        Ok(found)
    }

    /// Remembers a queue defined in code that this transaction made.
    pub(crate) fn made_code_queue(&mut self, q: &Queue) {
        let key = (q.env_id.clone(), q.name.clone());
        self.read_once.queues.insert(key, q.clone());
    }

    /// The organization of an environment (an environment never changes organization).
    pub(crate) fn org_of(&mut self, env_id: &str) -> Result<Option<String>> {
        if let Some(org) = self.read_once.orgs.get(env_id) {
            return Ok(org.clone());
        }
        let org = self.tx.org_of_env(env_id)?;
        self.read_once.orgs.insert(env_id.to_string(), org.clone());
        Ok(org)
    }

    /// The store's transaction as a plain [`Tx`], for the read helpers a command shares with
    /// read-only snapshots.
    pub fn store(&mut self) -> &mut dyn Tx {
        &mut *self.tx
    }

    /// After the commit, wake the workers waiting for runs of this environment (on every
    /// server of the database).
    pub fn wake(&mut self, env_id: &str) {
        push_once(&mut self.effects.wake, env_id);
    }

    /// After the commit, tell this environment's realtime subscribers that run events were
    /// recorded for it.
    pub(crate) fn events_recorded(&mut self, env_id: &str) {
        push_once(&mut self.effects.events, env_id);
    }

    /// After the commit, tell this server's Trigger.dev CLI workers that the run has a new
    /// snapshot ([`crate::cli_worker`]).
    pub(crate) fn snapshot_appended(&mut self, run_id: &str) {
        push_once(&mut self.effects.snapshots, run_id);
    }

    /// After the commit, tell the engine's observer of this run change (when it has one).
    pub(crate) fn observe(&mut self, before: Option<&trigr_store::Run>, after: &trigr_store::Run) {
        if self.observing {
            if let Some(change) = RunChange::of(before, after) {
                self.effects.runs.push(change);
            }
        }
    }

    /// Records that a run reached a final status in this write (see [`Effects::finished`]),
    /// when a hook wants finished runs ([`crate::Engine::on_runs_finished`]).
    pub(crate) fn note_if_finished(
        &mut self,
        before: Option<&trigr_store::Run>,
        after: &trigr_store::Run,
    ) {
        if self.noting_finished {
            if let Some(root) = crate::spans::root_span_if_finished(before, after) {
                self.effects.finished.push(root);
            }
        }
    }

    pub(crate) fn into_effects(self) -> Effects {
        self.effects
    }
}

impl<'a> Deref for Txn<'a> {
    type Target = dyn Tx + 'a;

    fn deref(&self) -> &Self::Target {
        &*self.tx
    }
}

impl DerefMut for Txn<'_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut *self.tx
    }
}

/// What a committed command causes beyond its own rows.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Effects {
    /// Environments whose workers may find new work.
    pub wake: Vec<String>,
    /// Environments that got run events (realtime subscribers read them from the store).
    pub events: Vec<String>,
    /// Versions were registered or promoted, or their workers recorded.
    pub versions: bool,
    /// Run changes for the engine's observer (noted only when it has one).
    pub runs: Vec<RunChange>,
    /// The root spans of the runs (with a trace) that reached a final status.
    pub finished: Vec<crate::spans::RootSpan>,
    /// Runs that got a new snapshot ([`crate::cli_worker`]).
    pub snapshots: Vec<String>,
}

impl Effects {
    pub fn is_empty(&self) -> bool {
        self.wake.is_empty()
            && self.events.is_empty()
            && !self.versions
            && self.runs.is_empty()
            && self.finished.is_empty()
            && self.snapshots.is_empty()
    }
}

fn push_once(list: &mut Vec<String>, env_id: &str) {
    if !list.iter().any(|e| e == env_id) {
        list.push(env_id.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effects_name_each_environment_once() {
        let mut e = Effects::default();
        push_once(&mut e.wake, "env_a");
        push_once(&mut e.wake, "env_b");
        push_once(&mut e.wake, "env_a");
        assert_eq!(e.wake, vec!["env_a".to_string(), "env_b".to_string()]);
        assert!(e.events.is_empty());
        assert!(!e.is_empty());
    }
}
