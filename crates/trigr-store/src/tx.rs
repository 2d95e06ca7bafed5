//! What a transaction can do, in small traits. A backend implements all of them on its
//! transaction type; the engine works through `&mut dyn Tx` and never sees SQL.
//!
//! **Reads inside a write lock what they return.** Every run and batch a write transaction
//! reads stays locked until it ends (`SELECT … FOR UPDATE` on PostgreSQL; SQLite has a single
//! writer), so a read-modify-write never loses a concurrent change. The list reads that feed
//! dequeue and the timers ([`RunTx::ready_runs`], `due_*`) skip runs another transaction
//! holds instead of waiting for them. Queues are locked only on request
//! ([`QueueTx::queue_for_update`]): every trigger reads its queue.
//!
//! **Concurrency counts are derived from the runs** (those `DEQUEUED` or `EXECUTING`), never
//! kept in counters: only a dequeue raises them, and dequeues of one environment are serialized
//! ([`QueueTx::lock_for_dequeue`]), so a count read under that lock is exact, and completions
//! never contend on a shared counter row.

use trigr_types::{Millis, RunStatus};

use crate::model::*;
use crate::Result;

/// Organizations, projects, environments and their keys.
pub trait EnvTx {
    fn has_environments(&mut self) -> Result<bool>;
    fn insert_organization(&mut self, id: &str, slug: &str, now: Millis) -> Result<()>;
    fn insert_project(
        &mut self,
        id: &str,
        org_id: &str,
        project_ref: &str,
        name: &str,
        now: Millis,
    ) -> Result<()>;
    fn insert_environment(&mut self, env: &Environment, now: Millis) -> Result<()>;
    fn environments(&mut self) -> Result<Vec<Environment>>;
    fn environment(&mut self, id: &str) -> Result<Option<Environment>>;
    /// [`EnvTx::environment`], locking it until the transaction ends: for commands that must
    /// take turns per environment (deployments).
    fn environment_for_update(&mut self, id: &str) -> Result<Option<Environment>>;
    /// Adds a key hash; returns false when it was already there.
    fn insert_api_key(&mut self, key_hash: &str, env_id: &str, now: Millis) -> Result<bool>;
    fn api_key_count(&mut self, env_id: &str) -> Result<i64>;
    fn env_by_key_hash(&mut self, key_hash: &str) -> Result<Option<Environment>>;
    fn set_env_concurrency_limit(&mut self, env_id: &str, limit: i64) -> Result<()>;
    fn set_current_version(&mut self, env_id: &str, version: &str) -> Result<()>;
}

/// Deployments and their task manifests.
pub trait DeploymentTx {
    fn count_deployments_on_day(&mut self, env_id: &str, day: &str) -> Result<i64>;
    fn insert_deployment(&mut self, d: &Deployment) -> Result<()>;
    fn deployment(&mut self, env_id: &str, version: &str) -> Result<Option<Deployment>>;
    /// Newest first.
    fn deployments(&mut self, env_id: &str, limit: usize) -> Result<Vec<Deployment>>;
    fn set_promoted(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()>;
}

/// Queues and concurrency slots.
pub trait QueueTx {
    fn queue_by_name(&mut self, env_id: &str, name: &str) -> Result<Option<Queue>>;
    fn queue_by_id(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>>;
    /// [`QueueTx::queue_by_id`], locking the queue until the transaction ends: for commands
    /// that change it.
    fn queue_for_update(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>>;
    fn insert_queue(&mut self, q: &Queue) -> Result<()>;
    /// Writes the queue's settings (limits, pause); its service order changes only through
    /// [`QueueTx::mark_served`].
    fn update_queue(&mut self, q: &Queue) -> Result<()>;
    /// Records that a dequeue served the queue as the environment's `served_seq`-th.
    fn mark_served(&mut self, queue_id: &str, served_seq: i64) -> Result<()>;
    /// Ordered by name; returns the page and the total count.
    fn queues(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<(Vec<Queue>, i64)>;
    /// Serializes dequeues of one environment until the transaction ends, so that concurrent
    /// dequeues (on one server or several) cannot both take the last free slot. A backend with
    /// a single writer has nothing to do.
    fn lock_for_dequeue(&mut self, env_id: &str) -> Result<()>;
    /// Unpaused queues, longest-unserved first.
    fn dequeue_order(&mut self, env_id: &str) -> Result<Vec<Queue>>;
    fn next_served_seq(&mut self, env_id: &str) -> Result<i64>;
    /// Runs of the queue and concurrency key holding a slot (`DEQUEUED` or `EXECUTING`).
    fn slot_running(&mut self, queue_id: &str, ckey: &str) -> Result<i64>;
    /// Runs of the environment holding a slot.
    fn env_running(&mut self, env_id: &str) -> Result<i64>;
    /// (running, queued) counts of a queue.
    fn queue_counts(&mut self, queue_id: &str) -> Result<(i64, i64)>;
}

/// Runs.
pub trait RunTx {
    fn insert_run(&mut self, run: &Run) -> Result<i64>;
    fn run(&mut self, env_id: &str, id: &str) -> Result<Option<Run>>;
    /// Writes the run's mutable state (all but its tags, which change only through
    /// [`RunTx::set_tags`]) if its status and lease are still `expect_status` and `expect_lease`. Returns false (and writes nothing) when another writer got there first.
    fn update_run(
        &mut self,
        run: &Run,
        expect_status: RunStatus,
        expect_lease: Option<&str>,
    ) -> Result<bool>;
    /// Several [`RunTx::update_run`]s, each `(run, expect_status, expect_lease)`, in one
    /// statement where the backend can; returns whether each was written. Ids must be
    /// distinct.
    fn update_runs(&mut self, updates: &[(&Run, RunStatus, Option<&str>)]) -> Result<Vec<bool>> {
        updates
            .iter()
            .map(|(run, status, lease)| self.update_run(run, *status, *lease))
            .collect()
    }
    /// The runs of the environment with these ids (locked in a write), in any order; ids
    /// that name no run are left out.
    fn runs_by_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            runs.extend(self.run(env_id, id)?);
        }
        Ok(runs)
    }
    /// Stores the run's tags (the list only grows) and indexes the new ones.
    fn set_tags(&mut self, run: &Run) -> Result<()>;
    fn run_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<Run>>;
    fn run_by_request_key(&mut self, env_id: &str, key: &str) -> Result<Option<Run>>;
    fn clear_idempotency_key(&mut self, run_seq: i64) -> Result<()>;
    fn list_runs(&mut self, env_id: &str, filter: &RunFilter, page: Page) -> Result<Vec<Run>>;
    fn children(&mut self, run_id: &str) -> Result<Vec<Run>>;
    /// The runs of a batch's items, in item order.
    fn runs_of_batch(&mut self, batch_id: &str) -> Result<Vec<Run>>;
    /// `QUEUED` runs of a queue locked to `version` and available at `now`, in dequeue order.
    fn ready_runs(
        &mut self,
        queue_id: &str,
        version: &str,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<Run>>;
    /// Runs with no version yet (`PENDING_VERSION`, or `DELAYED` before any deployment).
    fn unlocked_runs(&mut self, env_id: &str) -> Result<Vec<Run>>;
    /// Runs never attempted (`QUEUED`/`DELAYED`) locked to another version than `version`.
    fn unstarted_runs_not_on(&mut self, env_id: &str, version: &str) -> Result<Vec<Run>>;
    fn due_delayed(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    fn due_ttl(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    fn due_leases(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    fn due_timeouts(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    /// The earliest time any timer is due, if any.
    fn next_timer(&mut self) -> Result<Option<Millis>>;
}

/// Batches.
pub trait BatchTx {
    fn insert_batch(&mut self, b: &Batch) -> Result<()>;
    fn batch(&mut self, env_id: &str, id: &str) -> Result<Option<Batch>>;
    fn batch_by_idempotency_key(&mut self, env_id: &str, key: &str) -> Result<Option<Batch>>;
    fn update_batch(&mut self, b: &Batch) -> Result<()>;
    /// Indexes of the items received so far.
    fn batch_indexes(&mut self, batch_id: &str) -> Result<Vec<i64>>;
    fn insert_batch_item(&mut self, batch_id: &str, index: i64, run_id: &str) -> Result<()>;
}

/// Uploaded payload packets.
pub trait PacketTx {
    /// Stores a packet, replacing one at the same path.
    fn put_packet(&mut self, p: &Packet) -> Result<()>;
    fn packet(&mut self, env_id: &str, path: &str) -> Result<Option<Packet>>;
}

/// Everything a transaction can do.
pub trait Tx: EnvTx + DeploymentTx + QueueTx + RunTx + BatchTx + PacketTx {}
impl<T: EnvTx + DeploymentTx + QueueTx + RunTx + BatchTx + PacketTx> Tx for T {}
