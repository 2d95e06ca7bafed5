use rusqlite::params;

use super::SqliteTx;
use crate::model::Batch;
use crate::rows::{self, BATCH_COLUMNS};
use crate::tx::BatchTx;
use crate::{Error, Result};

impl BatchTx for SqliteTx<'_> {
    fn insert_batch(&mut self, b: &Batch) -> Result<()> {
        self.conn.execute(
            &format!(
                "INSERT INTO batches ({BATCH_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)"
            ),
            params![
                b.id,
                b.env_id,
                b.run_count,
                b.idempotency_key,
                b.idempotency_key_user,
                b.sealed,
                b.items_accepted,
                b.created_at,
                b.updated_at
            ],
        )?;
        Ok(())
    }

    fn batch(&mut self, env_id: &str, id: &str) -> Result<Option<Batch>> {
        self.first(
            &format!("SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = ?1 AND id = ?2"),
            params![env_id, id],
            |r| rows::batch(r),
        )
    }

    fn batch_by_idempotency_key(&mut self, env_id: &str, key: &str) -> Result<Option<Batch>> {
        self.first(
            &format!(
                "SELECT {BATCH_COLUMNS} FROM batches WHERE env_id = ?1 AND idempotency_key = ?2"
            ),
            params![env_id, key],
            |r| rows::batch(r),
        )
    }

    fn update_batch(&mut self, b: &Batch) -> Result<()> {
        self.conn.execute(
            "UPDATE batches SET sealed = ?2, items_accepted = ?3, updated_at = ?4 WHERE id = ?1",
            params![b.id, b.sealed, b.items_accepted, b.updated_at],
        )?;
        Ok(())
    }

    fn batch_indexes(&mut self, batch_id: &str) -> Result<Vec<i64>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT idx FROM batch_items WHERE batch_id = ?1 ORDER BY idx")?;
        let rows = st.query_map([batch_id], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<Vec<_>>>()
            .map_err(Error::from)
    }

    fn insert_batch_item(&mut self, batch_id: &str, index: i64, run_id: &str) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO batch_items (batch_id, idx, run_id) VALUES (?1, ?2, ?3)",
        )?;
        st.execute(params![batch_id, index, run_id])?;
        Ok(())
    }
}
