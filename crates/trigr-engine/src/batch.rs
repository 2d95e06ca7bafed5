//! `batch`: the two-phase batch trigger of the official SDK — create a batch of N runs, then
//! stream its items (each deduplicated by index) until all N have arrived.

use std::collections::HashSet;

use std::sync::atomic::Ordering;

use trigr_store::{Batch, Environment, Run, Waitpoint};
use trigr_types::wire::rest::{BatchItem, CreateBatch};
use trigr_types::{id, Millis};

use crate::mollifier::fallback::{batch_runs, Want};
use crate::mollifier::Decision;
use crate::resume::complete_if_children_ended;
use crate::trigger::{existing_run, prepare, NewRun, NewRuns, ReuseCheck, Triggered};
use crate::{Engine, Error, Result, Txn};

pub const MAX_ITEMS: i64 = 1000;

/// A checked request for a new batch (from [`check`]).
#[derive(Clone, Debug)]
pub struct NewBatch {
    /// 1 to [`MAX_ITEMS`].
    pub run_count: i64,
    pub idempotency_key: Option<String>,
    /// The key as the caller's code named it, before the SDK hashed it.
    pub idempotency_key_user: Option<String>,
    /// The run that makes the batch and waits for its runs (`resumeParentOnCompletion`).
    pub waiting_parent: Option<String>,
}

/// Checks the body of a batch create: `runCount` within 1 to [`MAX_ITEMS`], the idempotency
/// key within its length.
pub fn check(req: CreateBatch) -> Result<NewBatch> {
    if req.run_count < 1 || req.run_count > MAX_ITEMS {
        return Err(Error::invalid(format!(
            "runCount must be between 1 and {MAX_ITEMS}, got {}",
            req.run_count
        )));
    }
    if req
        .idempotency_key
        .as_ref()
        .is_some_and(|k| k.len() > crate::trigger::MAX_IDEMPOTENCY_KEY_LEN)
    {
        return Err(Error::invalid(
            "idempotencyKey is over the limit of 2048 characters",
        ));
    }
    Ok(NewBatch {
        run_count: req.run_count,
        idempotency_key: req.idempotency_key,
        idempotency_key_user: req.idempotency_key_options.map(|o| o.key),
        waiting_parent: req
            .parent_run_id
            .filter(|_| req.resume_parent_on_completion == Some(true)),
    })
}

/// An item of a batch, checked: its index and its run ready to create, or why it cannot be
/// (reported only if the item is not a repeat of one already accepted).
#[derive(Debug)]
pub struct NewItem {
    pub index: i64,
    pub run: Result<NewRun>,
}

/// Answer of the items call.
#[derive(Clone, Debug)]
pub struct ItemsAccepted {
    pub batch_id: String,
    pub accepted: i64,
    pub deduplicated: i64,
    pub sealed: bool,
    pub enqueued: i64,
    pub expected: i64,
    /// The items this call turned into runs (not the deduplicated ones), in the order sent.
    pub items: Vec<ItemRun>,
    /// How many of them went to the mollifier's buffer.
    pub buffered: u64,
}

/// An item of a batch and its run: the version the run is locked to (`None` while it has none).
#[derive(Clone, Debug)]
pub struct ItemRun {
    pub index: i64,
    pub run_id: String,
    pub version: Option<String>,
}

/// A batch with its runs, as `GET /api/v2/batches/{id}` shows it.
#[derive(Clone, Debug)]
pub struct BatchView {
    pub batch: Batch,
    pub runs: Vec<Run>,
    /// The item index of each run.
    pub indexes: Vec<i64>,
    pub status: &'static str,
}

impl BatchView {
    /// Each item with its run and the run's version, in item order.
    pub fn items(&self) -> Vec<ItemRun> {
        self.runs
            .iter()
            .zip(&self.indexes)
            .map(|(r, &index)| ItemRun {
                index,
                run_id: r.id.clone(),
                version: r.version.clone(),
            })
            .collect()
    }
}

impl Engine {
    pub async fn create_batch(&self, env_id: &str, req: NewBatch) -> Result<(Batch, bool)> {
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let now = tx.now();
            if let Some(key) = &req.idempotency_key {
                if let Some(b) = tx.batch_by_idempotency_key(&env_id, key)? {
                    if let Some(parent) = &req.waiting_parent {
                        crate::cli_worker::waits::wait_for_found_batch(tx, &env_id, parent, &b)?;
                    }
                    return Ok((b, true));
                }
            }
            let b = Batch {
                id: id::new("batch"),
                env_id,
                run_count: req.run_count,
                idempotency_key: req.idempotency_key,
                idempotency_key_user: req.idempotency_key_user,
                sealed: false,
                items_accepted: 0,
                created_at: now,
                updated_at: now,
            };
            tx.insert_batch(&b)?;
            if let Some(parent) = &req.waiting_parent {
                crate::cli_worker::waits::wait_for_batch(tx, &b.env_id, parent, &b.id)?;
            }
            Ok((b, false))
        })
        .await
    }

    /// Checks the items of an items call: each item's payload is resolved (a stored packet
    /// read) and its options prepared into a run. `reuse` says which existing runs an item's
    /// idempotency key may answer with (see [`ReuseCheck`]). An item's error is kept with it:
    /// [`Engine::add_batch_items`] reports it, unless the item repeats one already accepted
    /// and the error is not about the item itself (a malformed item is refused all the same).
    pub async fn check_batch_items(
        &self,
        env_id: &str,
        items: Vec<BatchItem>,
        reuse: Option<ReuseCheck>,
    ) -> Vec<NewItem> {
        let (max, now) = (self.config.max_payload_bytes, self.now());
        let mut prepared = Vec::with_capacity(items.len());
        for mut it in items {
            let run = match self
                .resolve_payload(env_id, it.payload, &mut it.options.payload_type)
                .await
            {
                Ok(payload) => prepare(&it.task, payload, it.options, max, now),
                Err(e) => Err(e),
            }
            .map(|mut new| {
                new.reuse = reuse.clone();
                new
            });
            prepared.push(NewItem {
                index: it.index,
                run,
            });
        }
        prepared
    }

    /// Accepts a (possibly repeated, possibly partial) stream of items, checked by
    /// [`Engine::check_batch_items`].
    pub async fn add_batch_items(
        &self,
        env_id: &str,
        batch_id: &str,
        prepared: Vec<NewItem>,
    ) -> Result<ItemsAccepted> {
        let (env_id, batch_id) = (env_id.to_string(), batch_id.to_string());
        let gate = self.gate_items(&env_id, &prepared);
        self.write(move |tx| {
            // The parents' waits first: a child's end locks them before the batch.
            let waiting = tx.batch_waitpoints(&env_id, &batch_id)?;
            let b = tx
                .batch(&env_id, &batch_id)?
                .ok_or_else(|| Error::not_found(format!("Batch {batch_id} not found")))?;
            add_items(tx, b, prepared, &gate, waiting)
        })
        .await
        .inspect(|a| {
            let stats = self.mollifier().stats();
            stats.buffered.fetch_add(a.buffered, Ordering::Relaxed);
        })
    }

    /// The gate's decision for each checked item: which ones go to the buffer (the
    /// mollifier's), with the time to live of their entries.
    fn gate_items(&self, env_id: &str, items: &[NewItem]) -> ItemGate {
        let m = self.mollifier();
        // Items are written with their batch in one commit: only a buffer in the store can
        // take them in that commit.
        if m.is_off() || !m.buffer().in_store() {
            return ItemGate::default();
        }
        let now = self.now();
        let mollified = items
            .iter()
            // A debounced item coalesces in the store at once: it is never buffered.
            .filter(|it| {
                it.run.as_ref().is_ok_and(|r| r.debounce.is_none())
                    && matches!(m.gate(env_id, now), Decision::Mollify(_))
            })
            .map(|it| it.index)
            .collect();
        ItemGate {
            mollified,
            ttl_ms: m.entry_ttl_ms(),
        }
    }

    pub async fn retrieve_batch(&self, env_id: &str, batch_id: &str) -> Result<BatchView> {
        let fetched = self.fetch_buffered(Want::Batch { env_id, batch_id }).await;
        let (env_id, batch_id) = (env_id.to_string(), batch_id.to_string());
        self.read(move |tx| {
            let batch = tx
                .batch(&env_id, &batch_id)?
                .ok_or_else(|| Error::not_found(format!("Batch {batch_id} not found")))?;
            let runs = batch_runs(tx, &fetched, &env_id, &batch.id)?;
            // Both in item order, one run per item.
            let mut indexes = tx.batch_indexes(&batch.id)?;
            if indexes.len() != runs.len() {
                indexes = runs
                    .iter()
                    .enumerate()
                    .map(|(i, r)| r.batch_index.unwrap_or(i as i64))
                    .collect();
            }
            let status = batch_status(&batch, &runs);
            Ok(BatchView {
                batch,
                runs,
                indexes,
                status,
            })
        })
        .await
    }
}

/// The error of item `index`, of the same kind, naming the item.
fn item_error(index: i64, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::Invalid(format!("Item {index}: {m}")),
        Error::Unprocessable(m) => Error::Unprocessable(format!("Item {index}: {m}")),
        Error::NotFound(m) => Error::NotFound(format!("Item {index}: {m}")),
        Error::TooLarge(m) => Error::TooLarge(format!("Item {index}: {m}")),
        Error::Conflict(m) => Error::Conflict(format!("Item {index}: {m}")),
        other => other,
    }
}

/// Which items of a call the mollifier's gate sent to the buffer.
#[derive(Default)]
struct ItemGate {
    mollified: HashSet<i64>,
    ttl_ms: Millis,
}

/// An item's run: created now, or (mollified) buffered with its batch and index, unless a
/// key names a run already; with whether it was buffered.
fn item_run(
    tx: &mut Txn<'_>,
    env: &Environment,
    new: NewRun,
    now: Millis,
    gate: &ItemGate,
    made: &mut NewRuns,
) -> Result<(Triggered, bool)> {
    let index = new.batch.as_ref().map_or(-1, |(_, i)| *i);
    if !gate.mollified.contains(&index) {
        return Ok((made.create(tx, env, &new, now)?, false));
    }
    if made.write_before(tx, env, &new)? {
        if let Some(found) = existing_run(tx, env, &new, now)? {
            return Ok((found, false));
        }
    }
    let expires_at = now.saturating_add(gate.ttl_ms);
    let (t, e) = crate::mollifier::accept::plan_entry(tx, env, new, now, expires_at)?;
    made.buffer(e);
    Ok((t, true))
}

/// Turns new items into runs; any bad item rejects the whole call, so nothing is half-written.
fn add_items(
    tx: &mut Txn<'_>,
    mut b: Batch,
    items: Vec<NewItem>,
    gate: &ItemGate,
    waiting: Vec<Waitpoint>,
) -> Result<ItemsAccepted> {
    let now = tx.now();
    let mut seen: HashSet<i64> = tx.batch_indexes(&b.id)?.into_iter().collect();
    let env = tx
        .environment_for_share(&b.env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))?;
    let (mut accepted, mut deduplicated, mut buffered) = (0, 0, 0);
    let mut runs = Vec::new();
    let mut made = NewRuns::default();
    for NewItem {
        index,
        run: prepared,
    } in items
    {
        if index < 0 || index >= b.run_count {
            return Err(Error::invalid(format!(
                "Item index {index} is outside the batch of {} runs",
                b.run_count
            )));
        }
        // A malformed item is refused even where it repeats one already accepted; what
        // depends on the store (a packet, the task) is looked at only for new items.
        let prepared = match prepared {
            Err(e @ Error::Invalid(_)) => return Err(item_error(index, e)),
            other => other,
        };
        if !seen.insert(index) {
            deduplicated += 1;
            continue;
        }
        let mut new = prepared.map_err(|e| item_error(index, e))?;
        new.batch = Some((b.id.clone(), index));
        new.trigger_function = "batchTrigger";
        if let Some(wp) = waiting.first() {
            new.parent_run_id = wp.owner_run_id.clone();
            new.trigger_function = "batchTriggerAndWait";
        }
        let (t, was_buffered) =
            item_run(tx, &env, new, now, gate, &mut made).map_err(|e| item_error(index, e))?;
        buffered += u64::from(was_buffered);
        runs.push(ItemRun {
            index,
            run_id: t.run.id,
            version: t.run.version,
        });
        accepted += 1;
    }
    made.write(tx, &env.id)?;
    let items: Vec<(i64, &str)> = runs.iter().map(|r| (r.index, r.run_id.as_str())).collect();
    tx.insert_batch_items(&b.id, &items)?;
    b.items_accepted = seen.len() as i64;
    b.sealed = b.items_accepted >= b.run_count;
    b.updated_at = now;
    tx.update_batch(&b)?;
    let linked: Vec<(i64, String)> = runs.iter().map(|r| (r.index, r.run_id.clone())).collect();
    for wp in waiting {
        tx.insert_waitpoint_runs_at(&wp.id, &linked)?;
        // Items an idempotency key found already ended may complete the wait at once.
        if b.sealed {
            complete_if_children_ended(tx, &wp, now)?;
        }
    }
    Ok(ItemsAccepted {
        batch_id: b.id.clone(),
        accepted,
        deduplicated,
        sealed: b.sealed,
        enqueued: b.items_accepted,
        expected: b.run_count,
        items: runs,
        buffered,
    })
}

/// PENDING until sealed, PROCESSING until every run is final, then COMPLETED. (Items that
/// cannot become runs are refused when they are sent, so PARTIAL_FAILED never arises.)
fn batch_status(b: &Batch, runs: &[Run]) -> &'static str {
    if !b.sealed {
        return "PENDING";
    }
    if runs.iter().any(|r| !r.status.is_final()) {
        return "PROCESSING";
    }
    "COMPLETED"
}
