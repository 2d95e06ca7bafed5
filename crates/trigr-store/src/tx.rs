//! What a transaction can do, in small traits: per table, one for its reads (`…Read`) and one
//! for its writes (`…Tx`). A read snapshot can do the reads ([`ReadTx`]); a write transaction
//! can do everything ([`Tx`]). The engine works through `&mut dyn ReadTx` and `&mut dyn Tx` and
//! never sees SQL; each backend's implementation is written once for both (see `crate::sql`).
//!
//! **Reads inside a write lock what they return.** Every run and batch a write transaction
//! reads stays locked until it ends (`SELECT … FOR UPDATE` on PostgreSQL; SQLite has a single
//! writer), so a read-modify-write never loses a concurrent change. The list reads that feed
//! dequeue and the timers ([`RunRead::ready_runs`], `due_*`) skip runs another transaction
//! holds instead of waiting for them. Queues are locked only on request
//! ([`QueueTx::queue_for_update`]): every trigger reads its queue.
//!
//! **Concurrency counts are derived from the runs** (those `DEQUEUED` or `EXECUTING`), never
//! kept in counters: only a dequeue raises them, and dequeues of one environment are serialized
//! ([`QueueTx::lock_for_dequeue`]), so a count read under that lock is exact, and completions
//! never contend on a shared counter row.
//!
//! **Waitpoints before their waiting runs.** A command that touches a waitpoint and the runs
//! waiting on it locks the waitpoint first ([`WaitpointRead`]).

use trigr_types::{Millis, RunStatus};

use crate::events::{EventRead, EventTx};
use crate::model::*;
use crate::retention::{RetentionRead, RetentionTx};
use crate::schedule::{Schedule, ScheduleFilter};
use crate::Result;

/// Reading organizations, projects, environments and their keys.
pub trait EnvRead {
    fn has_environments(&mut self) -> Result<bool>;
    fn environments(&mut self) -> Result<Vec<Environment>>;
    fn environment(&mut self, id: &str) -> Result<Option<Environment>>;
    fn api_key_count(&mut self, env_id: &str) -> Result<i64>;
    /// The environment of a key, and from when the key is no longer accepted (expired or
    /// revoked), if ever. Expired and revoked keys are found too: the caller compares with its
    /// clock.
    fn env_by_key_hash(&mut self, key_hash: &str) -> Result<Option<(Environment, Option<Millis>)>>;
    /// Every key, by environment, oldest first.
    fn api_keys(&mut self) -> Result<Vec<ApiKey>>;
    /// Every project, oldest first.
    fn projects(&mut self) -> Result<Vec<Project>>;
}

/// Writing organizations, projects, environments and their keys.
pub trait EnvTx {
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
    /// [`EnvRead::environment`], locking it until the transaction ends: for commands that must
    /// take turns per environment (deployments).
    fn environment_for_update(&mut self, id: &str) -> Result<Option<Environment>>;
    /// [`EnvRead::environment`], held against [`EnvTx::environment_for_update`] until the
    /// transaction ends, without blocking other holders: a trigger locks its run to the current
    /// version while no registration or promotion can change it.
    fn environment_for_share(&mut self, id: &str) -> Result<Option<Environment>>;
    /// Adds a key by its hash and shown prefix; returns false when it was already there.
    fn insert_api_key(
        &mut self,
        key_hash: &str,
        prefix: &str,
        env_id: &str,
        now: Millis,
    ) -> Result<bool>;
    /// Makes every key of the environment that is accepted at `at` stop being accepted then
    /// (a rotation's grace period); returns how many keys it changed.
    fn expire_api_keys(&mut self, env_id: &str, at: Millis) -> Result<usize>;
    /// Revokes one key at once; returns false when it was unknown or already revoked.
    fn revoke_api_key(&mut self, key_hash: &str, now: Millis) -> Result<bool>;
    fn set_env_concurrency_limit(&mut self, env_id: &str, limit: i64) -> Result<()>;
    fn set_current_version(&mut self, env_id: &str, version: &str) -> Result<()>;
    /// Sets (or, with `None`, clears) the region of the environment's runs that name none.
    fn set_default_region(&mut self, env_id: &str, region: Option<&str>) -> Result<()>;
}

/// Reading deployments and their task manifests.
pub trait DeploymentRead {
    fn count_deployments_on_day(&mut self, env_id: &str, day: &str) -> Result<i64>;
    fn deployment(&mut self, env_id: &str, version: &str) -> Result<Option<Deployment>>;
    /// The newest deployment registered with this content hash.
    fn deployment_by_hash(&mut self, env_id: &str, hash: &str) -> Result<Option<Deployment>>;
    /// Newest first.
    fn deployments(&mut self, env_id: &str, limit: usize) -> Result<Vec<Deployment>>;
    /// The versions of the environment, newest first (as [`DeploymentRead::deployments`]).
    fn deployment_versions(&mut self, env_id: &str, limit: usize) -> Result<Vec<String>>;
    /// When a worker of each version last asked for runs, by version.
    fn workers_seen(&mut self, env_id: &str) -> Result<Vec<(String, Millis)>>;
    /// When a worker serving `region` last asked for runs (`None`: never).
    fn region_seen(&mut self, env_id: &str, region: &str) -> Result<Option<Millis>>;
    /// How many workers of each version of the environment asked for runs at or after
    /// `since`, by version, ordered, at most `limit` versions.
    fn live_workers_in(
        &mut self,
        env_id: &str,
        since: Millis,
        limit: usize,
    ) -> Result<Vec<(String, i64)>>;
    /// How many workers of each version asked for runs at or after `since`, across
    /// environments, ordered by environment and version, at most `limit` versions.
    fn live_workers(&mut self, since: Millis, limit: usize) -> Result<Vec<LiveWorkers>>;
}

/// Writing deployments and their task manifests.
pub trait DeploymentTx {
    fn insert_deployment(&mut self, d: &Deployment) -> Result<()>;
    fn set_promoted(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()>;
    /// Records that a worker of `version` asked for runs at `at` (a later time wins).
    fn touch_worker(&mut self, env_id: &str, version: &str, at: Millis) -> Result<()>;
    /// Records that worker `worker_id` of `version` asked for runs at `at` (a later time wins),
    /// and forgets the version's workers last seen before `prune_before`.
    fn touch_worker_instance(
        &mut self,
        env_id: &str,
        version: &str,
        worker_id: &str,
        at: Millis,
        prune_before: Millis,
    ) -> Result<()>;
    /// Records that a worker serving `region` asked for runs at `at` (a later time wins).
    fn touch_region(&mut self, env_id: &str, region: &str, at: Millis) -> Result<()>;
}

/// Reading queues and concurrency slots.
pub trait QueueRead {
    fn queue_by_name(&mut self, env_id: &str, name: &str) -> Result<Option<Queue>>;
    fn queue_by_id(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>>;
    /// Ordered by name; returns the page and the total count.
    fn queues(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<(Vec<Queue>, i64)>;
    /// [`QueueRead::queues`] carrying `tag`.
    fn queues_tagged(
        &mut self,
        env_id: &str,
        tag: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Queue>, i64)>;
    /// The tags of a queue, in order.
    fn queue_tags(&mut self, queue_id: &str) -> Result<Vec<String>>;
    /// Runs of a queue not final yet (waiting in any way, or running).
    fn queue_live_runs(&mut self, queue_id: &str) -> Result<i64>;
    /// The tasks of the queue's runs not final yet, in order, at most `limit`.
    fn queue_live_tasks(&mut self, queue_id: &str, limit: usize) -> Result<Vec<String>>;
    /// Unpaused queues, longest-unserved first.
    fn dequeue_order(&mut self, env_id: &str) -> Result<Vec<Queue>>;
    fn next_served_seq(&mut self, env_id: &str) -> Result<i64>;
    /// Runs of the queue and concurrency key holding a slot (`DEQUEUED` or `EXECUTING`).
    fn slot_running(&mut self, queue_id: &str, ckey: &str) -> Result<i64>;
    /// Runs of the environment holding a slot.
    fn env_running(&mut self, env_id: &str) -> Result<i64>;
    /// (running, queued) counts of a queue.
    fn queue_counts(&mut self, queue_id: &str) -> Result<(i64, i64)>;
    /// The load of the queues of every environment, ordered by environment and name, at most
    /// `limit` queues (one statement, for a metrics scrape).
    fn queue_loads(&mut self, limit: usize) -> Result<Vec<QueueLoad>>;
}

/// Writing queues, and taking turns on them.
pub trait QueueTx {
    /// [`QueueRead::queue_by_id`], locking the queue until the transaction ends: for commands
    /// that change it.
    fn queue_for_update(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>>;
    /// [`QueueRead::queue_by_id`], keeping the queue from being deleted or renamed by another
    /// transaction until this one ends (which waits for one doing so to end first): for
    /// writing a run onto a queue that the queues API may delete.
    fn queue_held(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>>;
    fn insert_queue(&mut self, q: &Queue) -> Result<()>;
    /// Writes the queue's settings (limits, pause); its service order changes only through
    /// [`QueueTx::mark_served`].
    fn update_queue(&mut self, q: &Queue) -> Result<()>;
    /// Deletes a queue and its tags (its runs keep their ids and names).
    fn delete_queue(&mut self, queue_id: &str) -> Result<()>;
    /// Replaces the tags of a queue.
    fn set_queue_tags(&mut self, queue_id: &str, tags: &[String]) -> Result<()>;
    /// Moves the runs of `task_id` not final yet from one queue to `to`; returns how many.
    fn move_live_runs(&mut self, from_queue_id: &str, task_id: &str, to: &Queue) -> Result<u64>;
    /// Writes a queue's new name into every run of it; returns how many.
    fn rename_queue_runs(&mut self, queue_id: &str, name: &str) -> Result<u64>;
    /// Records that a dequeue served the queue as the environment's `served_seq`-th.
    fn mark_served(&mut self, queue_id: &str, served_seq: i64) -> Result<()>;
    /// Serializes dequeues of one environment until the transaction ends, so that concurrent
    /// dequeues (on one server or several) cannot both take the last free slot. A backend with
    /// a single writer has nothing to do.
    fn lock_for_dequeue(&mut self, env_id: &str) -> Result<()>;
}

/// Reading runs.
pub trait RunRead {
    fn run(&mut self, env_id: &str, id: &str) -> Result<Option<Run>>;
    /// The runs of the environment with these ids (locked in a write), in any order; ids
    /// that name no run are left out.
    fn runs_by_ids(&mut self, env_id: &str, ids: &[String]) -> Result<Vec<Run>> {
        let mut runs = Vec::with_capacity(ids.len());
        for id in ids {
            runs.extend(self.run(env_id, id)?);
        }
        Ok(runs)
    }
    fn run_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<Run>>;
    fn run_by_request_key(&mut self, env_id: &str, key: &str) -> Result<Option<Run>>;
    fn list_runs(&mut self, env_id: &str, filter: &RunFilter, page: Page) -> Result<Vec<Run>>;
    fn children(&mut self, run_id: &str) -> Result<Vec<Run>>;
    /// The runs of a batch's items, in item order.
    fn runs_of_batch(&mut self, batch_id: &str) -> Result<Vec<Run>>;
    /// `QUEUED` runs of a queue locked to `version`, in `region`, and available at `now`, in
    /// dequeue order.
    fn ready_runs(
        &mut self,
        queue_id: &str,
        version: &str,
        region: &str,
        now: Millis,
        limit: usize,
    ) -> Result<Vec<Run>>;
    /// Runs with no version yet (`PENDING_VERSION`, or `DELAYED` before any deployment).
    fn unlocked_runs(&mut self, env_id: &str) -> Result<Vec<Run>>;
    /// Runs never attempted (`QUEUED`/`DELAYED`) locked to another version than `version`.
    fn unstarted_runs_not_on(&mut self, env_id: &str, version: &str) -> Result<Vec<Run>>;
    /// Runs locked to `version` that hold no lease and wait for it (`QUEUED`, `DELAYED`,
    /// `WAITING`: not started, queued again for a retry or a resume, delayed, suspended), of
    /// `task` only when given, with a `seq` above `after_seq`, in `seq` order (locked in a
    /// write).
    fn parked_runs(
        &mut self,
        env_id: &str,
        version: &str,
        task: Option<&str>,
        after_seq: i64,
        limit: usize,
    ) -> Result<Vec<Run>>;
    /// The versions that have [`RunRead::parked_runs`], by name.
    fn parked_versions(&mut self, env_id: &str) -> Result<Vec<String>>;
    /// How many runs locked to `version` hold a lease (`DEQUEUED`, `EXECUTING`).
    fn leased_on_version(&mut self, env_id: &str, version: &str) -> Result<i64>;
    fn due_delayed(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    fn due_ttl(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    fn due_leases(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    fn due_timeouts(&mut self, now: Millis, limit: usize) -> Result<Vec<Run>>;
    /// The earliest time any timer is due, if any.
    fn next_timer(&mut self) -> Result<Option<Millis>>;
}

/// Writing runs.
pub trait RunTx {
    /// Inserts a new run and indexes its tags; returns its `seq`.
    fn insert_run(&mut self, run: &Run) -> Result<i64>;
    /// Several [`RunTx::insert_run`]s, in as few statements as the backend can; returns each
    /// run's `seq`, in the order given. Ids must be distinct.
    fn insert_runs(&mut self, runs: &[&Run]) -> Result<Vec<i64>>;
    /// Writes the run's mutable state (all but its tags, which change only through
    /// [`RunTx::set_tags`]) if its status and lease are still `expect_status` and
    /// `expect_lease`. Returns false (and writes nothing) when another writer got there first.
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
    /// [`RunTx::update_runs`] of `(before, after)` pairs of distinct runs: each `after`
    /// written if the run still has `before`'s status and lease (read in the same
    /// transaction). The backend may write only the columns that differ (SQLite does: an
    /// index is then touched only when a column it holds changes); returns whether each was
    /// written.
    fn update_runs_over(&mut self, pairs: &[(&Run, &Run)]) -> Result<Vec<bool>>;
    /// Stores the run's tags (the list only grows) and indexes the new ones.
    fn set_tags(&mut self, run: &Run) -> Result<()>;
    /// Writes what a later trigger with its debounce key changes in a `DELAYED` run: its due
    /// time (`delay_until`, `available_at`, `queue_ts`, `ttl_expires_at`) and the data a
    /// trailing trigger replaces (payload, metadata, tags, max attempts, max duration,
    /// machine), if the run is still `DELAYED`. Returns false (and writes nothing) otherwise.
    fn update_delayed_run(&mut self, run: &Run) -> Result<bool>;
    fn clear_idempotency_key(&mut self, run_seq: i64) -> Result<()>;
}

/// Debounce keys (trigger option `debounce`): the run each key of a task in an environment
/// coalesces into.
pub trait DebounceTx {
    /// The id of the run the key names, locking the key until the transaction ends.
    fn debounce_run_id(&mut self, env_id: &str, task_id: &str, key: &str)
        -> Result<Option<String>>;
    /// Makes a key no row holds yet name `run_id`. Returns false (and writes nothing) when
    /// another writer holds it (then [`DebounceTx::debounce_run_id`] reads theirs).
    fn claim_debounce_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
        run_id: &str,
        now: Millis,
    ) -> Result<bool>;
    /// Points a key that names `old_run_id` at `run_id`. Returns false (and writes nothing)
    /// when it names another run.
    fn move_debounce_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
        old_run_id: &str,
        run_id: &str,
        now: Millis,
    ) -> Result<bool>;
}

/// Reading batches.
pub trait BatchRead {
    fn batch(&mut self, env_id: &str, id: &str) -> Result<Option<Batch>>;
    fn batch_by_idempotency_key(&mut self, env_id: &str, key: &str) -> Result<Option<Batch>>;
    /// Indexes of the items received so far.
    fn batch_indexes(&mut self, batch_id: &str) -> Result<Vec<i64>>;
    /// The environment's batches, newest first, older than `before` (`created_at`, id) when
    /// given.
    fn batches(
        &mut self,
        env_id: &str,
        before: Option<(Millis, &str)>,
        limit: usize,
    ) -> Result<Vec<Batch>>;
    /// How many of the runs the batch's items became have each status (status text,
    /// count), by status.
    fn batch_status_counts(&mut self, batch_id: &str) -> Result<Vec<(String, i64)>>;
}

/// Writing batches.
pub trait BatchTx {
    fn insert_batch(&mut self, b: &Batch) -> Result<()>;
    fn update_batch(&mut self, b: &Batch) -> Result<()>;
    fn insert_batch_item(&mut self, batch_id: &str, index: i64, run_id: &str) -> Result<()>;
    /// Several [`BatchTx::insert_batch_item`]s of one batch, each `(index, run_id)`, in as few
    /// statements as the backend can.
    fn insert_batch_items(&mut self, batch_id: &str, items: &[(i64, &str)]) -> Result<()>;
}

/// Reading uploaded payload packets.
pub trait PacketRead {
    fn packet(&mut self, env_id: &str, path: &str) -> Result<Option<Packet>>;
}

/// Writing uploaded payload packets.
pub trait PacketTx {
    /// Stores a packet, replacing one at the same path.
    fn put_packet(&mut self, p: &Packet) -> Result<()>;
}

/// Reading waitpoints: tokens, times and child runs that runs wait for.
///
/// A waitpoint is locked by the reads of a write (like runs), and commands lock a waitpoint
/// before the runs waiting on it, so that a run suspending on a waitpoint and the waitpoint
/// completing take turns: whichever comes second sees the other's commit.
pub trait WaitpointRead {
    fn waitpoint(&mut self, env_id: &str, id: &str) -> Result<Option<Waitpoint>>;
    /// The batch waitpoints of batch `batch_id` (locked, like [`WaitpointRead::waitpoint`]),
    /// oldest first: the waits of the runs that made the batch, or found it by its
    /// idempotency key, and wait for its items.
    fn batch_waitpoints(&mut self, env_id: &str, batch_id: &str) -> Result<Vec<Waitpoint>>;
    /// A waitpoint of any environment (ids are unique across environments); for the
    /// unauthenticated callback URL, which finds its environment this way.
    fn waitpoint_any_env(&mut self, id: &str) -> Result<Option<Waitpoint>>;
    fn waitpoint_by_idempotency_key(
        &mut self,
        env_id: &str,
        key: &str,
    ) -> Result<Option<Waitpoint>>;
    /// Newest first (or oldest first from `before_seq`, returned newest first), like runs.
    fn list_waitpoints(
        &mut self,
        env_id: &str,
        filter: &WaitpointFilter,
        page: Page,
    ) -> Result<Vec<Waitpoint>>;
    /// `WAITING` waitpoints whose `due_at` has come; skips those another writer holds.
    fn due_waitpoints(&mut self, now: Millis, limit: usize) -> Result<Vec<Waitpoint>>;
    /// The child runs of a waitpoint in item order, **not locked**: a child that ends locks
    /// the waitpoint before reading its siblings, so the last one to end sees them all ended.
    fn runs_of_waitpoint(&mut self, waitpoint_id: &str) -> Result<Vec<Run>>;
    /// The `WAITING` waitpoints waiting for any of these runs (locked in a write, in creation
    /// order).
    fn waitpoints_awaiting(&mut self, run_ids: &[String]) -> Result<Vec<Waitpoint>>;
}

/// Writing waitpoints.
pub trait WaitpointTx {
    fn insert_waitpoint(&mut self, w: &Waitpoint) -> Result<()>;
    fn clear_waitpoint_idempotency_key(&mut self, id: &str) -> Result<()>;
    /// Writes the waitpoint's status, due time, output and times if its status is still
    /// `expect`. Returns false (and writes nothing) when another writer got there first.
    fn update_waitpoint(&mut self, w: &Waitpoint, expect: WaitpointStatus) -> Result<bool>;
    /// Clears the timers of the `WAITING` datetime waitpoints a run created (the run was
    /// canceled: nothing is left to wake). Returns how many.
    fn disarm_waitpoints_of(&mut self, run_id: &str) -> Result<u64>;
    /// Links child runs to a run or batch waitpoint, in item order from 0.
    fn insert_waitpoint_runs(&mut self, waitpoint_id: &str, run_ids: &[String]) -> Result<()>;
    /// Links child runs to a waitpoint at the item indexes given (a batch's items, which
    /// come in several calls).
    fn insert_waitpoint_runs_at(
        &mut self,
        waitpoint_id: &str,
        runs: &[(i64, String)],
    ) -> Result<()>;
}

/// Reading journals: each run's durable operations by position.
pub trait JournalRead {
    fn journal_entry(&mut self, run_id: &str, position: i64) -> Result<Option<JournalEntry>>;
    /// A run's whole journal by position, each wait with its waitpoint's state.
    fn journal(&mut self, run_id: &str) -> Result<Vec<JournalEntry>>;
    /// The highest position of a run's journal (`None` for an empty journal), from the index.
    fn last_journal_position(&mut self, run_id: &str) -> Result<Option<i64>>;
    /// Runs whose journal waits on this waitpoint.
    fn runs_waiting_on(&mut self, waitpoint_id: &str) -> Result<Vec<String>>;
}

/// Writing journals.
pub trait JournalTx {
    /// Fails with [`crate::Error::Conflict`] when the position is taken (a concurrent writer).
    fn insert_journal_entry(&mut self, e: &JournalEntry) -> Result<()>;
}

/// Reading attempt history: the attempts of a run that ended without completing it (the
/// attempt in progress, and the one that completed the run, are read from the run).
pub trait AttemptRead {
    /// The run's recorded attempts, by number.
    fn attempts(&mut self, run_id: &str) -> Result<Vec<Attempt>>;
}

/// Recording attempts, in the transaction of the run transition that ended each.
pub trait AttemptTx {
    /// Fails with [`crate::Error::Conflict`] when the run already has an attempt of that
    /// number recorded.
    fn insert_attempt(&mut self, a: &Attempt) -> Result<()>;
}

/// Reading run logs.
pub trait LogRead {
    /// A run's logs in order of arrival, after `after_seq`.
    fn logs(&mut self, run_id: &str, after_seq: Option<i64>, limit: usize)
        -> Result<Vec<LogEntry>>;
    /// The first `limit` spans of a run's trace, in order of arrival.
    fn spans(&mut self, run_id: &str, limit: usize) -> Result<Vec<Span>>;
    /// How many spans a run keeps.
    fn span_count(&mut self, run_id: &str) -> Result<i64>;
}

/// Writing run logs.
pub trait LogTx {
    fn insert_logs(&mut self, entries: &[LogEntry]) -> Result<()>;
    /// Appends spans to their runs' traces (`seq` is set by the store).
    fn insert_spans(&mut self, spans: &[Span]) -> Result<()>;
}

/// Reading input streams: messages sent to runs, and how far each consumer of a run has read.
pub trait InputRead {
    /// The highest message number of the stream (0 when it has none).
    fn last_input_seq(&mut self, run_id: &str, stream_id: &str) -> Result<i64>;
    /// Messages numbered above `after`, in order.
    fn input_messages(
        &mut self,
        run_id: &str,
        stream_id: &str,
        after: i64,
        limit: usize,
    ) -> Result<Vec<InputMessage>>;
    /// The last message number `consumer` finished with (0 when none).
    fn input_cursor(&mut self, run_id: &str, stream_id: &str, consumer: &str) -> Result<i64>;
    /// The run's `WAITING` input waitpoints on the stream, locked in a write; those another
    /// writer holds (the timer timing them out) are skipped, as the sender holds the run.
    fn input_waitpoints(&mut self, run_id: &str, stream_id: &str) -> Result<Vec<Waitpoint>>;
}

/// Writing input streams.
///
/// A sender locks the run before it numbers a message, so the messages of one stream are
/// numbered 1, 2, 3, … without gaps, in the order their senders committed.
pub trait InputTx {
    fn insert_input_message(&mut self, m: &InputMessage) -> Result<()>;
    /// Moves the consumer's position forward to `to`; false when it already was at `to` or
    /// beyond (the position never goes back).
    fn advance_input_cursor(
        &mut self,
        run_id: &str,
        stream_id: &str,
        consumer: &str,
        to: i64,
        now: Millis,
    ) -> Result<bool>;
}

/// Reading output streams: chunks a run writes under a stream key, numbered 0, 1, 2, … by the
/// writer.
pub trait OutputStreamRead {
    /// The run's stream keys, by the time they were declared, then by key.
    fn output_streams(&mut self, run_id: &str) -> Result<Vec<String>>;
    /// The highest chunk index of the stream, `None` when it has no chunk.
    fn last_output_chunk(&mut self, run_id: &str, key: &str) -> Result<Option<i64>>;
    /// Chunks from index `from` on, in index order, at most `limit`.
    fn output_chunks(
        &mut self,
        run_id: &str,
        key: &str,
        from: i64,
        limit: usize,
    ) -> Result<Vec<OutputChunk>>;
}

/// Writing output streams.
///
/// A chunk index is stored once: inserting an index the stream already has keeps the first
/// chunk, so a writer that sends a chunk again (a resumed upload, a re-executed task) does not
/// duplicate it.
pub trait OutputStreamTx {
    /// Records that the run has this stream (a writer opened it); false when it already had.
    fn declare_output_stream(&mut self, run_id: &str, key: &str, now: Millis) -> Result<bool>;
    /// Stores the chunks whose index the stream does not have yet; returns how many.
    fn insert_output_chunks(&mut self, chunks: &[OutputChunk]) -> Result<u64>;
}

/// Reading cron schedules (see `trigr_engine::schedules`).
///
/// Reads in a write lock what they return; the due scan skips schedules another writer holds.
pub trait ScheduleRead {
    fn schedule(&mut self, env_id: &str, id: &str) -> Result<Option<Schedule>>;
    fn schedule_by_dedup_key(&mut self, env_id: &str, key: &str) -> Result<Option<Schedule>>;
    /// The environment's declarative schedules, by task id.
    fn declarative_schedules(&mut self, env_id: &str) -> Result<Vec<Schedule>>;
    /// Oldest first, those `filter` lets through; returns the page and their total count.
    fn schedules(
        &mut self,
        env_id: &str,
        filter: &ScheduleFilter,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Schedule>, i64)>;
    /// Active schedules whose next tick is at or before `now`, earliest first.
    fn due_schedules(&mut self, now: Millis, limit: usize) -> Result<Vec<Schedule>>;
    /// The earliest next tick of any active schedule.
    fn next_schedule_due(&mut self) -> Result<Option<Millis>>;
}

/// Writing cron schedules.
///
/// A tick is claimed by [`ScheduleTx::claim_schedule_tick`], a compare-and-set on the
/// schedule's next tick, so two servers never both fire one.
pub trait ScheduleTx {
    /// Fails with [`crate::Error::Conflict`] when the deduplication key (or the task's
    /// declarative schedule) is taken by a concurrent writer.
    fn insert_schedule(&mut self, s: &Schedule) -> Result<()>;
    /// Writes every mutable field of the schedule (all but its id, environment, kind and
    /// creation time); false when it does not exist.
    fn update_schedule(&mut self, s: &Schedule) -> Result<bool>;
    /// False when it did not exist.
    fn delete_schedule(&mut self, env_id: &str, id: &str) -> Result<bool>;
    /// Claims the tick due at `due`: moves the next tick to `next` and records `fired` as the
    /// last one, only if the schedule is active and its next tick is still `due`. False (and
    /// nothing written) when another writer claimed it first or the schedule changed.
    fn claim_schedule_tick(
        &mut self,
        id: &str,
        due: Millis,
        next: Option<Millis>,
        fired: Millis,
        now: Millis,
    ) -> Result<bool>;
}

/// Everything a read snapshot can do ([`crate::Store::read`]).
pub trait ReadTx:
    EnvRead
    + DeploymentRead
    + QueueRead
    + RunRead
    + BatchRead
    + PacketRead
    + WaitpointRead
    + JournalRead
    + AttemptRead
    + LogRead
    + InputRead
    + ScheduleRead
    + OutputStreamRead
    + EventRead
    + RetentionRead
    + crate::MollifierRead
    + crate::DashboardRead
    + crate::KvRead
    + crate::EnvVarRead
    + crate::AiToolRead
    + crate::PatRead
    + crate::SnapshotRead
{
}
impl<
        T: EnvRead
            + DeploymentRead
            + QueueRead
            + RunRead
            + BatchRead
            + PacketRead
            + WaitpointRead
            + JournalRead
            + AttemptRead
            + LogRead
            + InputRead
            + ScheduleRead
            + OutputStreamRead
            + EventRead
            + RetentionRead
            + crate::MollifierRead
            + crate::DashboardRead
            + crate::KvRead
            + crate::EnvVarRead
            + crate::AiToolRead
            + crate::PatRead
            + crate::SnapshotRead,
    > ReadTx for T
{
}

/// Everything a write transaction can do ([`crate::Store::write`]): the reads and the writes.
pub trait Tx:
    ReadTx
    + EnvTx
    + DeploymentTx
    + QueueTx
    + RunTx
    + DebounceTx
    + BatchTx
    + PacketTx
    + WaitpointTx
    + JournalTx
    + AttemptTx
    + LogTx
    + InputTx
    + ScheduleTx
    + OutputStreamTx
    + EventTx
    + RetentionTx
    + crate::MollifierTx
    + crate::DashboardTx
    + crate::KvTx
    + crate::EnvVarTx
    + crate::AiToolTx
    + crate::PatTx
    + crate::SnapshotTx
{
}
impl<
        T: ReadTx
            + EnvTx
            + DeploymentTx
            + QueueTx
            + RunTx
            + DebounceTx
            + BatchTx
            + PacketTx
            + WaitpointTx
            + JournalTx
            + AttemptTx
            + LogTx
            + InputTx
            + ScheduleTx
            + OutputStreamTx
            + EventTx
            + RetentionTx
            + crate::MollifierTx
            + crate::DashboardTx
            + crate::KvTx
            + crate::EnvVarTx
            + crate::AiToolTx
            + crate::PatTx
            + crate::SnapshotTx,
    > Tx for T
{
}
