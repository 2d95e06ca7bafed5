//! The buffer: one FIFO of accepted triggers per environment, each operation atomic.
//!
//! [`MollifierBuffer`] is what the drainer, the status read and read-fallback use: `accept`
//! (idempotent on the run id, and refusing a key another entry holds), `pop` claiming the
//! oldest entry, `pop_many` the oldest few, `ack`, `requeue` keeping the entry's place,
//! `fail`, the claim of expired entries, and the reads of entries by run, key, batch and
//! place. Two backends implement it:
//! - [`StoreBuffer`] keeps the FIFO in the store (`mollifier_entries`), written in the same
//!   group commit as every other write, so an entry is on disk before its trigger is
//!   answered. It is [`MollifierBuffer::in_store`]: the trigger-side accept runs inside the
//!   trigger's own transaction ([`super::accept`]), the idempotency keys claimed in the same
//!   commit as the entry, and read-fallback reads the entries in the reader's transaction.
//! - [`super::redis_buffer::RedisBuffer`] keeps it in Redis (`--redis-url`), each operation
//!   one Lua script; read-fallback reads its entries before the reader's transaction
//!   ([`super::fallback::Fetched`]).

use std::future::Future;
use std::pin::Pin;

use trigr_store::{BufferCursor, BufferDepth, BufferedEntry, Store};
use trigr_types::Millis;

use crate::Result;

/// A boxed future of the buffer's operations.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// What `accept` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Accepted {
    /// The entry is at the end of its environment's FIFO.
    New,
    /// An entry holds its run id already (nothing changed).
    Exists,
    /// Another entry holds its request idempotency key (nothing changed): that entry's run.
    RequestKey(String),
    /// Another entry holds its idempotency key (nothing changed): that entry's run.
    IdempotencyKey(String),
}

/// A per-environment FIFO of buffered triggers.
pub trait MollifierBuffer: Send + Sync {
    /// Whether the entries live in the store, accepted and read inside the store's own
    /// transactions (else they are accepted and read around them).
    fn in_store(&self) -> bool {
        false
    }
    /// Adds an entry at the end of its environment's FIFO, unless its run id or one of its
    /// keys is held already.
    fn accept(&self, entry: BufferedEntry) -> BoxFuture<'_, Result<Accepted>>;
    /// The entry holding `run_id` in an environment.
    fn get<'a>(
        &'a self,
        env_id: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BufferedEntry>>>;
    /// The entries holding a request idempotency key, or an idempotency key of a task.
    fn by_keys<'a>(
        &'a self,
        env_id: &'a str,
        task_id: &'a str,
        idempotency_key: Option<&'a str>,
        request_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>>;
    /// Up to `limit` entries of an environment from a place in its FIFO (listing).
    fn entries<'a>(
        &'a self,
        env_id: &'a str,
        from: BufferCursor,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>>;
    /// The entries that are items of a batch, oldest first.
    fn of_batch<'a>(
        &'a self,
        env_id: &'a str,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>>;
    /// Removes an entry whoever holds it (its run was made by a cancel or an update).
    fn remove<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<bool>>;
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
    fn in_store(&self) -> bool {
        true
    }

    fn accept(&self, entry: BufferedEntry) -> BoxFuture<'_, Result<Accepted>> {
        Box::pin(self.store.write(move |tx| {
            let keys = (&entry.request_key, &entry.idempotency_key);
            let held = match keys {
                (Some(k), _) => tx.buffered_by_request_key(&entry.env_id, k)?,
                _ => None,
            };
            if let Some(e) = held.filter(|e| e.run_id != entry.run_id) {
                return Ok(Accepted::RequestKey(e.run_id));
            }
            let held = match keys {
                (_, Some(k)) => tx.buffered_by_idempotency_key(&entry.env_id, &entry.task_id, k)?,
                _ => None,
            };
            if let Some(e) = held.filter(|e| e.run_id != entry.run_id) {
                return Ok(Accepted::IdempotencyKey(e.run_id));
            }
            Ok(match tx.insert_buffered(&entry)? {
                true => Accepted::New,
                false => Accepted::Exists,
            })
        }))
    }

    fn get<'a>(
        &'a self,
        env_id: &'a str,
        run_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<BufferedEntry>>> {
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        Box::pin(
            self.store
                .read(move |tx| Ok(tx.buffered(&env_id, &run_id)?)),
        )
    }

    fn by_keys<'a>(
        &'a self,
        env_id: &'a str,
        task_id: &'a str,
        idempotency_key: Option<&'a str>,
        request_key: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        let (env_id, task_id) = (env_id.to_string(), task_id.to_string());
        let (idem, req) = (
            idempotency_key.map(str::to_string),
            request_key.map(str::to_string),
        );
        Box::pin(self.store.read(move |tx| {
            let mut out = Vec::new();
            if let Some(k) = req {
                out.extend(tx.buffered_by_request_key(&env_id, &k)?);
            }
            if let Some(k) = idem {
                out.extend(tx.buffered_by_idempotency_key(&env_id, &task_id, &k)?);
            }
            Ok(out)
        }))
    }

    fn entries<'a>(
        &'a self,
        env_id: &'a str,
        from: BufferCursor,
        limit: i64,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        let env_id = env_id.to_string();
        Box::pin(
            self.store
                .read(move |tx| Ok(tx.buffered_entries(&env_id, from, limit)?)),
        )
    }

    fn of_batch<'a>(
        &'a self,
        env_id: &'a str,
        batch_id: &'a str,
    ) -> BoxFuture<'a, Result<Vec<BufferedEntry>>> {
        let (env_id, batch_id) = (env_id.to_string(), batch_id.to_string());
        Box::pin(
            self.store
                .read(move |tx| Ok(tx.buffered_of_batch(&env_id, &batch_id)?)),
        )
    }

    fn remove<'a>(&'a self, run_id: &'a str) -> BoxFuture<'a, Result<bool>> {
        let run_id = run_id.to_string();
        Box::pin(
            self.store
                .write(move |tx| Ok(tx.delete_buffered(&run_id, None)?)),
        )
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
