//! The buffer: one FIFO of accepted triggers per environment, each operation atomic.
//!
//! [`MollifierBuffer`] is what the drainer and the status read use; its operations are the
//! ones a Redis backend implements as Lua scripts (`accept` idempotent on the run id, `pop`
//! claiming the oldest entry, `pop_many` the oldest few, `ack`, `requeue` keeping the entry's place, `fail`, and the
//! claim of expired entries). [`StoreBuffer`] keeps the FIFO in the store
//! (`mollifier_entries`), written in the same group commit as every other write, so an entry
//! is on disk before its trigger is answered. Its trigger-side accept runs inside the
//! trigger's own transaction ([`super::accept`]): the idempotency keys are claimed in the same
//! commit as the entry.

use std::future::Future;
use std::pin::Pin;

use trigr_store::{BufferDepth, BufferedEntry, Store};
use trigr_types::Millis;

use crate::Result;

/// A boxed future of the buffer's operations.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A per-environment FIFO of buffered triggers.
pub trait MollifierBuffer: Send + Sync {
    /// Adds an entry at the end of its environment's FIFO; `false` when its run id is there
    /// already (nothing changes).
    fn accept(&self, entry: BufferedEntry) -> BoxFuture<'_, Result<bool>>;
    /// Claims the oldest free entry of an environment for `claimer` until `until`.
    fn pop<'a>(
        &'a self,
        env_id: &'a str,
        claimer: &'a str,
        now: Millis,
        until: Millis,
    ) -> BoxFuture<'a, Result<Option<BufferedEntry>>> {
        let many = self.pop_many(env_id, claimer, now, until, 1);
        Box::pin(async move { Ok(many.await?.pop()) })
    }
    /// Claims up to `limit` of the oldest free entries of an environment, oldest first, in
    /// one write.
    fn pop_many<'a>(
        &'a self,
        env_id: &'a str,
        claimer: &'a str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>>;
    /// Removes an entry `claimer` holds once its run exists.
    fn ack<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Gives an entry back, in its place at the front of the FIFO.
    fn requeue<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Removes an entry that could not become a run (its `FAILED` run is written).
    fn fail<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>>;
    /// Claims up to `limit` entries whose time to live ran out.
    fn claim_expired<'a>(
        &'a self,
        claimer: &'a str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>>;
    /// The first `limit` environments with entries (by id): depth and oldest entry.
    fn depths(&self, limit: i64) -> BoxFuture<'_, Result<Vec<BufferDepth>>>;
    /// The first `limit` environments with entries (by id), with their organization.
    fn envs(&self, limit: i64) -> BoxFuture<'_, Result<Vec<(String, String)>>>;
}

/// The buffer in the store.
#[derive(Clone)]
pub struct StoreBuffer {
    store: Store,
}

impl StoreBuffer {
    pub fn new(store: Store) -> StoreBuffer {
        StoreBuffer { store }
    }
}

impl MollifierBuffer for StoreBuffer {
    fn accept(&self, entry: BufferedEntry) -> BoxFuture<'_, Result<bool>> {
        Box::pin(self.store.write(move |tx| Ok(tx.insert_buffered(&entry)?)))
    }

    fn pop_many<'a>(
        &'a self,
        env_id: &'a str,
        claimer: &'a str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        let (env_id, claimer) = (env_id.to_string(), claimer.to_string());
        Box::pin(
            self.store
                .write(move |tx| Ok(tx.claim_buffered_many(&env_id, &claimer, now, until, limit)?)),
        )
    }

    fn ack<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>> {
        let (run_id, claimer) = (run_id.to_string(), claimer.to_string());
        Box::pin(
            self.store
                .write(move |tx| Ok(tx.delete_buffered(&run_id, Some(&claimer))?)),
        )
    }

    fn requeue<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>> {
        let (run_id, claimer) = (run_id.to_string(), claimer.to_string());
        Box::pin(
            self.store
                .write(move |tx| Ok(tx.release_buffered(&run_id, &claimer)?)),
        )
    }

    fn fail<'a>(&'a self, run_id: &'a str, claimer: &'a str) -> BoxFuture<'a, Result<bool>> {
        self.ack(run_id, claimer)
    }

    fn claim_expired<'a>(
        &'a self,
        claimer: &'a str,
        now: Millis,
        until: Millis,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        let claimer = claimer.to_string();
        Box::pin(
            self.store
                .write(move |tx| Ok(tx.claim_expired_buffered(&claimer, now, until, limit)?)),
        )
    }

    fn depths(&self, limit: i64) -> BoxFuture<'_, Result<Vec<BufferDepth>>> {
        Box::pin(self.store.read(move |tx| Ok(tx.buffer_depths(limit)?)))
    }

    fn envs(&self, limit: i64) -> BoxFuture<'_, Result<Vec<(String, String)>>> {
        Box::pin(self.store.read(move |tx| Ok(tx.buffered_envs(limit)?)))
    }
}
