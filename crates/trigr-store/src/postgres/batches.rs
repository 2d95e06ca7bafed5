//! Batches and the runs their items became.

use super::PgTx;
use crate::model::Batch;
use crate::rows::{self, BATCH_COLUMNS};
use crate::tx::BatchTx;
use crate::Result;

impl BatchTx for PgTx<'_> {
    fn insert_batch(&mut self, b: &Batch) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO batches ({BATCH_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
            ),
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

    fn batch(&mut self, env_id: &str, id: &str) -> Result<Option<Batch>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = $1 AND id = $2{}",
            self.lock()
        );
        self.opt_row(&sql, &[&env_id, &id])?
            .as_ref()
            .map(rows::batch)
            .transpose()
    }

    fn batch_by_idempotency_key(&mut self, env_id: &str, key: &str) -> Result<Option<Batch>> {
        let sql = format!(
            "SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = $1 AND idempotency_key = $2"
        );
        self.opt_row(&sql, &[&env_id, &key])?
            .as_ref()
            .map(rows::batch)
            .transpose()
    }

    fn update_batch(&mut self, b: &Batch) -> Result<()> {
        self.exec(
            "UPDATE batches SET sealed = $2, items_accepted = $3, updated_at = $4 WHERE id = $1",
            &[&b.id, &b.sealed, &b.items_accepted, &b.updated_at],
        )?;
        Ok(())
    }

    fn batch_indexes(&mut self, batch_id: &str) -> Result<Vec<i64>> {
        self.rows(
            "SELECT idx FROM batch_items WHERE batch_id = $1 ORDER BY idx",
            &[&batch_id],
        )?
        .iter()
        .map(|r| Ok(r.try_get(0)?))
        .collect()
    }

    fn insert_batch_item(&mut self, batch_id: &str, index: i64, run_id: &str) -> Result<()> {
        self.exec(
            "INSERT INTO batch_items (batch_id, idx, run_id) VALUES ($1, $2, $3)",
            &[&batch_id, &index, &run_id],
        )?;
        Ok(())
    }
}
