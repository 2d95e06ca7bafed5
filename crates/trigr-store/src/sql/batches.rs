//! Batches and the runs their items became.

use super::{sql, Db, Sql};
use crate::model::Batch;
use crate::rows::{self, Columns, BATCH_COLUMNS};
use crate::tx::{BatchRead, BatchTx};
use crate::Result;
use trigr_types::Millis;

static INSERT: Sql =
    sql!("INSERT INTO batches ({BATCH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)");
static BY_ID: Sql =
    sql!(Update: "SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = $1 AND id = $2");
static BY_IDEMPOTENCY_KEY: Sql =
    sql!("SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = $1 AND idempotency_key = $2");
static UPDATE: Sql =
    sql!("UPDATE batches SET sealed = $2, items_accepted = $3, updated_at = $4 WHERE id = $1");
static NEWEST: Sql = sql!(
    "SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = $1 AND (created_at, id) < ($2, $3) \
     ORDER BY created_at DESC, id DESC LIMIT $4"
);
static STATUS_COUNTS: Sql = sql!(
    "SELECT runs.status, COUNT(*) FROM batch_items JOIN runs ON runs.id = batch_items.run_id \
     WHERE batch_items.batch_id = $1 GROUP BY runs.status ORDER BY runs.status"
);
static INDEXES: Sql = sql!("SELECT idx FROM batch_items WHERE batch_id = $1 ORDER BY idx");
static INSERT_ITEM: Sql =
    sql!("INSERT INTO batch_items (batch_id, idx, run_id) VALUES ($1, $2, $3)");

/// The batch statements each backend writes its own way: lists of values travel as arrays in
/// PostgreSQL, one statement per value in SQLite.
pub(crate) trait BatchesNative {
    /// [`BatchTx::insert_batch_items`] of two items or more.
    fn insert_batch_items_at_once(&mut self, batch_id: &str, items: &[(i64, &str)]) -> Result<()>;
}

impl<C: Db> BatchRead for C {
    fn batch(&mut self, env_id: &str, id: &str) -> Result<Option<Batch>> {
        self.query_first(&BY_ID, &[&env_id, &id], |r| rows::batch(r))
    }

    fn batch_by_idempotency_key(&mut self, env_id: &str, key: &str) -> Result<Option<Batch>> {
        self.query_first(&BY_IDEMPOTENCY_KEY, &[&env_id, &key], |r| rows::batch(r))
    }

    fn batch_indexes(&mut self, batch_id: &str) -> Result<Vec<i64>> {
        self.query(&INDEXES, &[&batch_id], |r| r.int(0))
    }

    fn batches(
        &mut self,
        env_id: &str,
        before: Option<(Millis, &str)>,
        limit: usize,
    ) -> Result<Vec<Batch>> {
        let (created_at, id) = before.unwrap_or((Millis::MAX, ""));
        self.query(
            &NEWEST,
            &[&env_id, &created_at, &id, &(limit as i64)],
            |r| rows::batch(r),
        )
    }

    fn batch_status_counts(&mut self, batch_id: &str) -> Result<Vec<(String, i64)>> {
        self.query(&STATUS_COUNTS, &[&batch_id], |r| {
            Ok((r.text(0)?, r.int(1)?))
        })
    }
}

impl<C: Db + BatchesNative> BatchTx for C {
    fn insert_batch(&mut self, b: &Batch) -> Result<()> {
        self.execute(
            &INSERT,
            &[
                &b.id,
                &b.env_id,
                &b.run_count,
                &b.idempotency_key,
                &b.idempotency_key_user,
                &b.sealed,
                &b.items_accepted,
                &b.created_at,
                &b.updated_at,
            ],
        )?;
        Ok(())
    }

    fn update_batch(&mut self, b: &Batch) -> Result<()> {
        self.execute(
            &UPDATE,
            &[&b.id, &b.sealed, &b.items_accepted, &b.updated_at],
        )?;
        Ok(())
    }

    fn insert_batch_item(&mut self, batch_id: &str, index: i64, run_id: &str) -> Result<()> {
        self.execute(&INSERT_ITEM, &[&batch_id, &index, &run_id])?;
        Ok(())
    }

    fn insert_batch_items(&mut self, batch_id: &str, items: &[(i64, &str)]) -> Result<()> {
        match items {
            [] => Ok(()),
            [(index, run_id)] => self.insert_batch_item(batch_id, *index, run_id),
            _ => self.insert_batch_items_at_once(batch_id, items),
        }
    }
}
