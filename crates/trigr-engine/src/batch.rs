//! `batch`: the two-phase batch trigger of the official SDK — create a batch of N runs, then
//! stream its items (each deduplicated by index) until all N have arrived.

use serde::Deserialize;
use std::collections::HashSet;

use serde_json::Value;
use trigr_store::{Batch, Run};
use trigr_types::id;
use trigr_types::wire::trigger::{IdempotencyKeyOptions, TriggerOptions};

use crate::trigger::{create_run, prepare, NewRun, ReuseCheck};
use crate::{Engine, Error, Result, Txn};

pub const MAX_ITEMS: i64 = 1000;

/// Body of `POST /api/v3/batches`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(example = json!({"runCount": 2, "taskIdentifiers": ["send-email"]}))]
pub struct CreateBatch {
    #[schema(minimum = 1, maximum = 1000)]
    pub run_count: i64,
    #[serde(default)]
    pub task_identifiers: Vec<String>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
    #[serde(default)]
    pub idempotency_key_options: Option<IdempotencyKeyOptions>,
}

/// One NDJSON line of `POST /api/v3/batches/{id}/items`.
#[derive(Clone, Debug, Deserialize, utoipa::ToSchema)]
#[schema(example = json!({"index": 0, "task": "send-email", "payload": {"to": "a@example.com"}}))]
pub struct BatchItem {
    pub index: i64,
    pub task: String,
    #[serde(default)]
    pub payload: Option<Value>,
    #[serde(default)]
    pub options: TriggerOptions,
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
    pub async fn create_batch(&self, env_id: &str, req: CreateBatch) -> Result<(Batch, bool)> {
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
        let env_id = env_id.to_string();
        self.write(move |tx| {
            let now = tx.now();
            if let Some(key) = &req.idempotency_key {
                if let Some(b) = tx.batch_by_idempotency_key(&env_id, key)? {
                    return Ok((b, true));
                }
            }
            let b = Batch {
                id: id::new("batch"),
                env_id,
                run_count: req.run_count,
                idempotency_key: req.idempotency_key,
                idempotency_key_user: req.idempotency_key_options.map(|o| o.key),
                sealed: false,
                items_accepted: 0,
                created_at: now,
                updated_at: now,
            };
            tx.insert_batch(&b)?;
            Ok((b, false))
        })
        .await
    }

    /// Accepts a (possibly repeated, possibly partial) stream of items. `reuse` says which
    /// existing runs an item's idempotency key may answer with (see [`ReuseCheck`]).
    pub async fn add_batch_items(
        &self,
        env_id: &str,
        batch_id: &str,
        items: Vec<BatchItem>,
        reuse: Option<ReuseCheck>,
    ) -> Result<ItemsAccepted> {
        let (max, now) = (self.config.max_payload_bytes, self.now());
        let mut prepared: Vec<(i64, Result<NewRun>)> = Vec::with_capacity(items.len());
        for mut it in items {
            let new = match self
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
            prepared.push((it.index, new));
        }
        let (env_id, batch_id) = (env_id.to_string(), batch_id.to_string());
        self.write(move |tx| {
            let b = tx
                .batch(&env_id, &batch_id)?
                .ok_or_else(|| Error::not_found(format!("Batch {batch_id} not found")))?;
            add_items(tx, b, prepared)
        })
        .await
    }

    pub async fn retrieve_batch(&self, env_id: &str, batch_id: &str) -> Result<BatchView> {
        let (env_id, batch_id) = (env_id.to_string(), batch_id.to_string());
        self.read(move |tx| {
            let batch = tx
                .batch(&env_id, &batch_id)?
                .ok_or_else(|| Error::not_found(format!("Batch {batch_id} not found")))?;
            let runs = tx.runs_of_batch(&batch.id)?;
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

/// Turns new items into runs; any bad item rejects the whole call, so nothing is half-written.
fn add_items(
    tx: &mut Txn<'_>,
    mut b: Batch,
    items: Vec<(i64, Result<NewRun>)>,
) -> Result<ItemsAccepted> {
    let now = tx.now();
    let mut seen: HashSet<i64> = tx.batch_indexes(&b.id)?.into_iter().collect();
    let env = tx
        .environment_for_share(&b.env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))?;
    let (mut accepted, mut deduplicated) = (0, 0);
    let mut runs = Vec::new();
    for (index, prepared) in items {
        if index < 0 || index >= b.run_count {
            return Err(Error::invalid(format!(
                "Item index {index} is outside the batch of {} runs",
                b.run_count
            )));
        }
        if !seen.insert(index) {
            deduplicated += 1;
            continue;
        }
        let mut new = prepared.map_err(|e| item_error(index, e))?;
        new.batch = Some((b.id.clone(), index));
        new.trigger_function = "batchTrigger";
        let t = create_run(tx, &env, &new, now).map_err(|e| item_error(index, e))?;
        tx.insert_batch_item(&b.id, index, &t.run.id)?;
        runs.push(ItemRun {
            index,
            run_id: t.run.id,
            version: t.run.version,
        });
        accepted += 1;
    }
    b.items_accepted = seen.len() as i64;
    b.sealed = b.items_accepted >= b.run_count;
    b.updated_at = now;
    tx.update_batch(&b)?;
    Ok(ItemsAccepted {
        batch_id: b.id.clone(),
        accepted,
        deduplicated,
        sealed: b.sealed,
        enqueued: b.items_accepted,
        expected: b.run_count,
        items: runs,
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
