//! The mollifier's tables: the buffer of triggers accepted during a burst (one FIFO per
//! environment, by `seq`) and the stored overrides of its settings.
//!
//! Every operation on an entry is one statement guarded by the entry's state, so two servers
//! draining one database never both hold an entry: a claim reads the oldest free entry with
//! `FOR UPDATE SKIP LOCKED` (PostgreSQL; SQLite has one writer) and marks it claimed by its
//! drainer until a deadline; acknowledging, releasing or failing it names that drainer.

use trigr_types::Millis;

use crate::Result;

/// A buffered trigger.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferedEntry {
    /// Its place in its environment's FIFO.
    pub seq: i64,
    /// The id its run gets (fixed when the trigger was answered).
    pub run_id: String,
    pub env_id: String,
    pub org_id: String,
    pub task_id: String,
    pub idempotency_key: Option<String>,
    pub request_key: Option<String>,
    /// The checked trigger, as JSON (the engine's to read).
    pub body: String,
    /// `None` while queued; the drainer holding it and until when, once claimed.
    pub claim: Option<(String, Millis)>,
    /// How often a drainer gave it back after a failure.
    pub attempts: i64,
    pub created_at: Millis,
    /// When it fails unprocessed.
    pub expires_at: Millis,
    /// The batch it is an item of.
    pub batch_id: Option<String>,
}

/// One environment's buffer, for status and metrics.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BufferDepth {
    pub env_id: String,
    pub org_id: String,
    /// Entries waiting (claimed ones included).
    pub depth: i64,
    /// When the oldest one was accepted.
    pub oldest_at: Millis,
}

/// Where a listing of one environment's buffer starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufferCursor {
    /// Entries before this `seq`, newest first (`i64::MAX`: from the newest).
    Below(i64),
    /// Entries after this `seq`, oldest first (`0`: from the oldest).
    Above(i64),
}

/// Reads of the buffer and the settings.
pub trait MollifierRead {
    /// The entry holding `run_id` in an environment.
    fn buffered(&mut self, env_id: &str, run_id: &str) -> Result<Option<BufferedEntry>>;
    /// The entry holding an idempotency key of a task.
    fn buffered_by_idempotency_key(
        &mut self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<BufferedEntry>>;
    /// The entry a request idempotency key created.
    fn buffered_by_request_key(&mut self, env_id: &str, key: &str)
        -> Result<Option<BufferedEntry>>;
    /// Up to `limit` entries of an environment from a place in its FIFO, for listing.
    fn buffered_entries(
        &mut self,
        env_id: &str,
        from: BufferCursor,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>>;
    /// The entries that are items of a batch (at most the batch's size), oldest first.
    fn buffered_of_batch(&mut self, env_id: &str, batch_id: &str) -> Result<Vec<BufferedEntry>>;
    /// The first `limit` environments with entries, by environment id.
    fn buffer_depths(&mut self, limit: i64) -> Result<Vec<BufferDepth>>;
    /// The first `limit` environments with entries, by environment id, with their
    /// organization: the drainer's look, as cheap with deep FIFOs as with shallow ones.
    fn buffered_envs(&mut self, limit: i64) -> Result<Vec<(String, String)>>;
    /// The organization of an environment.
    fn org_of_env(&mut self, env_id: &str) -> Result<Option<String>>;
    /// The environments some server holds tripped at `now`, with the latest end.
    fn mollifier_trips(&mut self, now: Millis) -> Result<Vec<(String, Millis)>>;
    /// Every stored override, as `(scope, settings JSON)`.
    fn mollifier_settings(&mut self) -> Result<Vec<(String, String)>>;
}

/// Writes of the buffer and the settings.
pub trait MollifierTx {
    /// Adds an entry at the end of its environment's FIFO; `false` (and nothing written) when
    /// an entry holds its run id already.
    fn insert_buffered(&mut self, e: &BufferedEntry) -> Result<bool>;
    /// Several [`MollifierTx::insert_buffered`]s, in order, in as few statements as the
    /// backend can; an entry whose run id is held already is skipped.
    fn insert_buffered_all(&mut self, entries: &[BufferedEntry]) -> Result<()>;
    /// Claims the oldest entry of an environment that is queued (or whose claim ran out) and
    /// has not expired, for `claimer` until `until`.
    fn claim_buffered(
        &mut self,
        env_id: &str,
        claimer: &str,
        now: Millis,
        until: Millis,
    ) -> Result<Option<BufferedEntry>>;
    /// Up to `limit` of the oldest such entries of an environment, oldest first, locked for
    /// this transaction only (`FOR UPDATE SKIP LOCKED` on PostgreSQL): for a drain that
    /// deletes them in the same transaction, so needs no claim.
    fn lock_buffered(
        &mut self,
        env_id: &str,
        now: Millis,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>>;
    /// Claims up to `limit` of the oldest such entries of an environment, oldest first.
    fn claim_buffered_many(
        &mut self,
        env_id: &str,
        claimer: &str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>>;
    /// Claims up to `limit` entries (of any environment) that expired at `now`.
    fn claim_expired_buffered(
        &mut self,
        claimer: &str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>>;
    /// Gives back an entry `claimer` holds, keeping its place; counts the attempt.
    fn release_buffered(&mut self, run_id: &str, claimer: &str) -> Result<bool>;
    /// Deletes an entry `claimer` holds (`None`: whoever holds it, or nobody).
    fn delete_buffered(&mut self, run_id: &str, claimer: Option<&str>) -> Result<bool>;
    /// Deletes the entries of these runs, whoever holds them, in as few statements as the
    /// backend can.
    fn delete_buffered_runs(&mut self, run_ids: &[&str]) -> Result<()>;
    /// Replaces the environments server `server_id` holds tripped (bounded by the caller).
    fn put_mollifier_trips(&mut self, server_id: &str, trips: &[(String, Millis)]) -> Result<()>;
    /// Adds `added` to server `server_id`'s trip count of an environment's window; the
    /// window's total over every server.
    fn add_trip_count(
        &mut self,
        server_id: &str,
        env_id: &str,
        window_start: Millis,
        added: i64,
    ) -> Result<i64>;
    /// Holds an environment tripped by `server_id` until at least `until`.
    fn extend_mollifier_trip(&mut self, server_id: &str, env_id: &str, until: Millis)
        -> Result<()>;
    /// Deletes the trip counts of windows that started before `before`.
    fn prune_trip_counts(&mut self, before: Millis) -> Result<u64>;
    /// Stores the override of a scope, or removes it (`None`).
    fn put_mollifier_setting(
        &mut self,
        scope: &str,
        settings: Option<&str>,
        now: Millis,
    ) -> Result<()>;
}
