use rusqlite::params;

use super::SqliteTx;
use crate::model::Queue;
use crate::rows::{self, HOLDING_STATUSES, QUEUE_COLUMNS};
use crate::tx::QueueTx;
use crate::Result;

impl QueueTx for SqliteTx<'_> {
    fn lock_for_dequeue(&mut self, _env_id: &str) -> Result<()> {
        // One writer thread: write transactions never run concurrently.
        Ok(())
    }

    fn queue_by_name(&mut self, env_id: &str, name: &str) -> Result<Option<Queue>> {
        self.first(
            &format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = ?1 AND name = ?2"),
            params![env_id, name],
            |r| rows::queue(r),
        )
    }

    fn queue_by_id(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        self.first(
            &format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = ?1 AND id = ?2"),
            params![env_id, id],
            |r| rows::queue(r),
        )
    }

    fn insert_queue(&mut self, q: &Queue) -> Result<()> {
        self.conn.execute(
            &format!(
                "INSERT INTO queues ({QUEUE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)"
            ),
            params![
                q.id,
                q.env_id,
                q.name,
                q.kind.as_str(),
                q.base_limit,
                q.override_limit,
                q.overridden_at,
                q.paused,
                q.served_seq,
                q.created_at
            ],
        )?;
        Ok(())
    }

    fn queue_for_update(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        // One writer thread: nothing else can change the queue before this transaction ends.
        self.queue_by_id(env_id, id)
    }

    fn update_queue(&mut self, q: &Queue) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "UPDATE queues SET base_limit = ?2, override_limit = ?3, overridden_at = ?4, paused = ?5 WHERE id = ?1",
        )?;
        st.execute(params![
            q.id,
            q.base_limit,
            q.override_limit,
            q.overridden_at,
            q.paused,
        ])?;
        Ok(())
    }

    fn mark_served(&mut self, queue_id: &str, served_seq: i64) -> Result<()> {
        let mut st = self
            .conn
            .prepare_cached("UPDATE queues SET served_seq = ?2 WHERE id = ?1")?;
        st.execute(params![queue_id, served_seq])?;
        Ok(())
    }

    fn queues(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<(Vec<Queue>, i64)> {
        let total: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM queues WHERE env_id = ?1",
            [env_id],
            |r| r.get(0),
        )?;
        let page = self.all(
            &format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = ?1 ORDER BY name LIMIT ?2 OFFSET ?3"),
            params![env_id, limit as i64, offset as i64],
            |r| rows::queue(r),
        )?;
        Ok((page, total))
    }

    fn dequeue_order(&mut self, env_id: &str) -> Result<Vec<Queue>> {
        self.all(
            &format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = ?1 AND paused = 0 ORDER BY served_seq, name"),
            [env_id],
            |r| rows::queue(r),
        )
    }

    fn next_served_seq(&mut self, env_id: &str) -> Result<i64> {
        let mut st = self.conn.prepare_cached(
            "SELECT COALESCE(MAX(served_seq), 0) + 1 FROM queues WHERE env_id = ?1",
        )?;
        Ok(st.query_row([env_id], |r| r.get(0))?)
    }

    fn slot_running(&mut self, queue_id: &str, ckey: &str) -> Result<i64> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT COUNT(*) FROM runs WHERE queue_id = ?1 AND ckey = ?2 AND status IN {HOLDING_STATUSES}"
        ))?;
        Ok(st.query_row(params![queue_id, ckey], |r| r.get(0))?)
    }

    fn env_running(&mut self, env_id: &str) -> Result<i64> {
        let mut st = self.conn.prepare_cached(&format!(
            "SELECT COUNT(*) FROM runs WHERE env_id = ?1 AND status IN {HOLDING_STATUSES}"
        ))?;
        Ok(st.query_row([env_id], |r| r.get(0))?)
    }

    fn queue_counts(&mut self, queue_id: &str) -> Result<(i64, i64)> {
        let running: i64 = self.conn.query_row(
            &format!(
                "SELECT COUNT(*) FROM runs WHERE queue_id = ?1 AND status IN {HOLDING_STATUSES}"
            ),
            [queue_id],
            |r| r.get(0),
        )?;
        let queued: i64 = self.conn.query_row(
            "SELECT COUNT(*) FROM runs WHERE queue_id = ?1 AND status = 'QUEUED'",
            [queue_id],
            |r| r.get(0),
        )?;
        Ok((running, queued))
    }
}
