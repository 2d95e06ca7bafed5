//! Read-fallback: a buffered run is a run to its callers before the drainer creates it.
//!
//! Reads (`runs.retrieve`, an idempotent repeat) get a view made from the entry: status
//! `QUEUED`, its id, version, queue, payload, tags and metadata, `waitingFor` `BUFFERED`.
//! Writes to it (cancel) first create the run from the entry, in their own transaction, and
//! then act on it as on any run: the drainer finds the run made and only drops the entry.
//!
//! A buffer in the store is read in the reader's own transaction. A buffer outside it (Redis)
//! is read first, by `Engine::fetch_buffered`, and the transaction looks in what was
//! [`Fetched`]: reading the buffer before the store, a reader that misses an entry drained in
//! between finds its run.

use std::sync::Arc;

use trigr_store::{BufferCursor, BufferedEntry, Environment, ReadTx, Run};

use super::entry;
use crate::trigger::{create_run, run_record, unsaved_queue, NewRun, Triggered};
use crate::{Result, Txn};

/// Where a transaction finds buffered entries.
#[derive(Clone, Debug, Default)]
pub struct Fetched(Option<Arc<Vec<BufferedEntry>>>);

impl Fetched {
    /// The entries read before the transaction from a buffer outside the store.
    pub(crate) fn read(entries: Vec<BufferedEntry>) -> Fetched {
        Fetched(Some(Arc::new(entries)))
    }

    fn find(&self, pred: impl Fn(&BufferedEntry) -> bool) -> Option<Option<BufferedEntry>> {
        self.0.as_ref().map(|v| v.iter().find(|e| pred(e)).cloned())
    }

    /// The entry holding `run_id`.
    pub(crate) fn by_run<T: ReadTx + ?Sized>(
        &self,
        tx: &mut T,
        env_id: &str,
        run_id: &str,
    ) -> Result<Option<BufferedEntry>> {
        match self.find(|e| e.env_id == env_id && e.run_id == run_id) {
            Some(found) => Ok(found),
            None => Ok(tx.buffered(env_id, run_id)?),
        }
    }

    fn by_request_key<T: ReadTx + ?Sized>(
        &self,
        tx: &mut T,
        env_id: &str,
        key: &str,
    ) -> Result<Option<BufferedEntry>> {
        let key = Some(key.to_string());
        match self.find(|e| e.env_id == env_id && e.request_key == key) {
            Some(found) => Ok(found),
            None => Ok(tx.buffered_by_request_key(env_id, key.as_deref().unwrap_or(""))?),
        }
    }

    fn by_idempotency_key<T: ReadTx + ?Sized>(
        &self,
        tx: &mut T,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<Option<BufferedEntry>> {
        let want = |e: &BufferedEntry| {
            e.env_id == env_id && e.task_id == task_id && e.idempotency_key.as_deref() == Some(key)
        };
        match self.find(want) {
            Some(found) => Ok(found),
            None => Ok(tx.buffered_by_idempotency_key(env_id, task_id, key)?),
        }
    }

    /// Up to `limit` entries from a place in the FIFO, in the order it reads.
    pub(crate) fn page<T: ReadTx + ?Sized>(
        &self,
        tx: &mut T,
        env_id: &str,
        from: BufferCursor,
        limit: i64,
    ) -> Result<Vec<BufferedEntry>> {
        let Some(all) = &self.0 else {
            return Ok(tx.buffered_entries(env_id, from, limit)?);
        };
        let mut out: Vec<BufferedEntry> = all
            .iter()
            .filter(|e| {
                e.env_id == env_id
                    && match from {
                        BufferCursor::Below(s) => e.seq < s,
                        BufferCursor::Above(s) => e.seq > s,
                    }
            })
            .cloned()
            .collect();
        match from {
            BufferCursor::Below(_) => out.sort_by_key(|e| std::cmp::Reverse(e.seq)),
            BufferCursor::Above(_) => out.sort_by_key(|e| e.seq),
        }
        out.truncate(usize::try_from(limit).unwrap_or(0));
        Ok(out)
    }

    fn of_batch<T: ReadTx + ?Sized>(
        &self,
        tx: &mut T,
        env_id: &str,
        batch_id: &str,
    ) -> Result<Vec<BufferedEntry>> {
        let Some(all) = &self.0 else {
            return Ok(tx.buffered_of_batch(env_id, batch_id)?);
        };
        let mut out: Vec<BufferedEntry> = all
            .iter()
            .filter(|e| e.env_id == env_id && e.batch_id.as_deref() == Some(batch_id))
            .cloned()
            .collect();
        out.sort_by_key(|e| e.seq);
        Ok(out)
    }

    /// Whether the entries came from a buffer outside the store (whose entry a write that
    /// made its run removes after its commit).
    pub(crate) fn is_outside(&self) -> bool {
        self.0.is_some()
    }
}

/// The run a buffered entry will become, as a reader sees it now.
pub fn view(env: &Environment, e: &BufferedEntry) -> Result<Run> {
    let d = entry::decode(&e.body, &e.run_id)?;
    let queue = unsaved_queue(&env.id, &d.queue_name, e.created_at);
    let version = d.new.version.clone();
    Ok(run_record(
        &d.new,
        env,
        &queue,
        None,
        version,
        None,
        e.created_at,
    ))
}

/// The buffered run a request key or an idempotency key of `new` names, if any (not the one
/// `new` is itself, when the drainer creates it).
pub(crate) fn existing_buffered<T: ReadTx + ?Sized>(
    tx: &mut T,
    fetched: &Fetched,
    env: &Environment,
    new: &NewRun,
) -> Result<Option<Triggered>> {
    let own = new.fixed.as_ref().map(|f| f.run_id.as_str());
    let by_request = match &new.request_key {
        Some(key) => fetched.by_request_key(tx, &env.id, key)?,
        None => None,
    };
    let (found, is_cached, key) = match by_request {
        Some(e) => (Some(e), false, "request idempotency key"),
        None => match &new.idempotency {
            Some(k) => (
                fetched.by_idempotency_key(tx, &env.id, &new.task_id, &k.key)?,
                true,
                "idempotencyKey",
            ),
            None => (None, false, ""),
        },
    };
    let Some(e) = found.filter(|e| Some(e.run_id.as_str()) != own) else {
        return Ok(None);
    };
    let run = view(env, &e)?;
    new.reused(&run, key)?;
    Ok(Some(Triggered { run, is_cached }))
}

/// The buffered run `run_id` of an environment, as a reader sees it.
pub(crate) fn buffered_run<T: ReadTx + ?Sized>(
    tx: &mut T,
    fetched: &Fetched,
    env_id: &str,
    run_id: &str,
) -> Result<Option<Run>> {
    let Some(e) = fetched.by_run(tx, env_id, run_id)? else {
        return Ok(None);
    };
    let Some(env) = tx.environment(env_id)? else {
        return Ok(None);
    };
    Ok(Some(view(&env, &e)?))
}

/// Creates the run of buffered entry `run_id` now, in this transaction, and drops the entry
/// (whoever holds it: a drainer holding it finds the run made). `None` when no entry holds
/// that run.
pub(crate) fn materialise_in(tx: &mut Txn<'_>, env_id: &str, run_id: &str) -> Result<Option<Run>> {
    let fetched = tx.fetched.clone();
    let Some(e) = fetched.by_run(&mut **tx, env_id, run_id)? else {
        return Ok(None);
    };
    let Some(env) = tx.environment(env_id)? else {
        return Ok(None);
    };
    let d = entry::decode(&e.body, &e.run_id)?;
    let run = create_run(tx, &env, &d.new, e.created_at)?.run;
    tx.delete_buffered(run_id, None)?;
    Ok(Some(run))
}

/// The runs of a batch, buffered items included (as readers see them), by item index.
pub(crate) fn batch_runs<T: ReadTx + ?Sized>(
    tx: &mut T,
    fetched: &Fetched,
    env_id: &str,
    batch_id: &str,
) -> Result<Vec<Run>> {
    let mut runs = tx.runs_of_batch(batch_id)?;
    let entries = fetched.of_batch(tx, env_id, batch_id)?;
    // An entry drained between the buffer's read and this one's is a run already.
    let entries: Vec<_> = entries
        .into_iter()
        .filter(|e| !runs.iter().any(|r| r.id == e.run_id))
        .collect();
    if entries.is_empty() {
        return Ok(runs);
    }
    let Some(env) = tx.environment(env_id)? else {
        return Ok(runs);
    };
    for e in &entries {
        runs.push(view(&env, e)?);
    }
    runs.sort_by_key(|r| r.batch_index);
    Ok(runs)
}

/// The entries a command reads from a buffer outside the store, before its transaction.
pub(crate) enum Want<'a> {
    /// The entry of one run.
    Run { env_id: &'a str, run_id: &'a str },
    /// The entries holding a trigger's keys.
    Keys { env_id: &'a str, new: &'a NewRun },
    /// The items of a batch.
    Batch { env_id: &'a str, batch_id: &'a str },
    /// A page of the runs list from its cursors (run ids).
    Page {
        env_id: &'a str,
        after: Option<&'a str>,
        before: Option<&'a str>,
    },
}

impl crate::Engine {
    /// Reads what `want` names from the buffer when it is outside the store (nothing when it
    /// is the store's: the transaction reads it). A failing buffer reads as empty: a reader
    /// is never refused because the smoother is sick.
    pub(crate) async fn fetch_buffered(&self, want: Want<'_>) -> Fetched {
        let buffer = self.mollifier().buffer();
        if buffer.in_store() {
            return Fetched::default();
        }
        match fetch(&**buffer, want).await {
            Ok(entries) => Fetched::read(entries),
            Err(e) => {
                tracing::warn!(error = %e, "mollifier buffer unreadable: read without it");
                Fetched::read(Vec::new())
            }
        }
    }

    /// After a write made the run of a fetched entry, drops the entry from the buffer outside
    /// the store (a drainer finding the run made would drop it too).
    pub(crate) async fn forget_buffered(&self, fetched: &Fetched, run_id: &str) {
        if fetched.is_outside() {
            if let Err(e) = self.mollifier().buffer().remove(run_id).await {
                tracing::debug!(run = run_id, error = %e, "buffered entry left for the drainer");
            }
        }
    }
}

async fn fetch(buffer: &dyn super::MollifierBuffer, want: Want<'_>) -> Result<Vec<BufferedEntry>> {
    let scan = super::listing::MAX_SCAN as i64;
    match want {
        Want::Run { env_id, run_id } => Ok(buffer.get(env_id, run_id).await?.into_iter().collect()),
        Want::Keys { env_id, new } => {
            if new.idempotency.is_none() && new.request_key.is_none() {
                return Ok(Vec::new());
            }
            let idem = new.idempotency.as_ref().map(|k| k.key.as_str());
            buffer
                .by_keys(env_id, &new.task_id, idem, new.request_key.as_deref())
                .await
        }
        Want::Batch { env_id, batch_id } => buffer.of_batch(env_id, batch_id).await,
        Want::Page {
            env_id,
            after,
            before,
        } => {
            let cursor = match after.or(before) {
                Some(id) => buffer.get(env_id, id).await?,
                None => None,
            };
            let from = match (&cursor, after, before) {
                (Some(e), Some(_), _) => BufferCursor::Below(e.seq),
                (Some(e), None, _) => BufferCursor::Above(e.seq),
                (None, None, Some(_)) => BufferCursor::Above(0),
                // After a created run, or from the top: the newest entries.
                _ => BufferCursor::Below(i64::MAX),
            };
            let mut entries = buffer.entries(env_id, from, scan).await?;
            entries.extend(cursor);
            Ok(entries)
        }
    }
}
