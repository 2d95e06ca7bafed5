//! Queues and concurrency slots. Dequeues of one environment are serialized across servers
//! by a transaction-level advisory lock on the environment id.

use super::PgTx;
use crate::model::Queue;
use crate::rows::{self, HOLDING_STATUSES, QUEUE_COLUMNS};
use crate::tx::QueueTx;
use crate::Result;

impl PgTx<'_> {
    fn query_queues(&mut self, sql: &str, params: &[super::Param]) -> Result<Vec<Queue>> {
        self.rows(sql, params)?.iter().map(rows::queue).collect()
    }
}

impl QueueTx for PgTx<'_> {
    fn lock_for_dequeue(&mut self, env_id: &str) -> Result<()> {
        self.exec(
            "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
            &[&env_id],
        )?;
        Ok(())
    }

    fn queue_by_name(&mut self, env_id: &str, name: &str) -> Result<Option<Queue>> {
        let sql = format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND name = $2");
        self.opt_row(&sql, &[&env_id, &name])?
            .as_ref()
            .map(rows::queue)
            .transpose()
    }

    fn queue_by_id(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        let sql = format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND id = $2");
        self.opt_row(&sql, &[&env_id, &id])?
            .as_ref()
            .map(rows::queue)
            .transpose()
    }

    fn insert_queue(&mut self, q: &Queue) -> Result<()> {
        self.exec(
            &format!(
                "INSERT INTO queues ({QUEUE_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
            ),
            &[
                &q.id,
                &q.env_id,
                &q.name,
                &q.kind.as_str(),
                &q.base_limit,
                &q.override_limit,
                &q.overridden_at,
                &q.paused,
                &q.served_seq,
                &q.created_at,
            ],
        )?;
        Ok(())
    }

    fn queue_for_update(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        let sql =
            format!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND id = $2 FOR UPDATE");
        self.opt_row(&sql, &[&env_id, &id])?
            .as_ref()
            .map(rows::queue)
            .transpose()
    }

    fn update_queue(&mut self, q: &Queue) -> Result<()> {
        self.exec(
            "UPDATE queues SET base_limit = $2, override_limit = $3, overridden_at = $4, paused = $5 WHERE id = $1",
            &[
                &q.id,
                &q.base_limit,
                &q.override_limit,
                &q.overridden_at,
                &q.paused,
            ],
        )?;
        Ok(())
    }

    fn mark_served(&mut self, queue_id: &str, served_seq: i64) -> Result<()> {
        self.exec(
            "UPDATE queues SET served_seq = $2 WHERE id = $1",
            &[&queue_id, &served_seq],
        )?;
        Ok(())
    }

    fn queues(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<(Vec<Queue>, i64)> {
        let total = self.scalar("SELECT COUNT(*) FROM queues WHERE env_id = $1", &[&env_id])?;
        let sql = format!(
            "SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 ORDER BY name LIMIT $2 OFFSET $3"
        );
        let page = self.query_queues(&sql, &[&env_id, &(limit as i64), &(offset as i64)])?;
        Ok((page, total))
    }

    fn dequeue_order(&mut self, env_id: &str) -> Result<Vec<Queue>> {
        let sql = format!(
            "SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND NOT paused ORDER BY served_seq, name"
        );
        self.query_queues(&sql, &[&env_id])
    }

    fn next_served_seq(&mut self, env_id: &str) -> Result<i64> {
        self.scalar(
            "SELECT COALESCE(MAX(served_seq), 0) + 1 FROM queues WHERE env_id = $1",
            &[&env_id],
        )
    }

    fn slot_running(&mut self, queue_id: &str, ckey: &str) -> Result<i64> {
        self.scalar(
            &format!("SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND ckey = $2 AND status IN {HOLDING_STATUSES}"),
            &[&queue_id, &ckey],
        )
    }

    fn env_running(&mut self, env_id: &str) -> Result<i64> {
        self.scalar(
            &format!(
                "SELECT COUNT(*) FROM runs WHERE env_id = $1 AND status IN {HOLDING_STATUSES}"
            ),
            &[&env_id],
        )
    }

    fn queue_counts(&mut self, queue_id: &str) -> Result<(i64, i64)> {
        let running = self.scalar(
            &format!(
                "SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND status IN {HOLDING_STATUSES}"
            ),
            &[&queue_id],
        )?;
        let queued = self.scalar(
            "SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND status = 'QUEUED'",
            &[&queue_id],
        )?;
        Ok((running, queued))
    }
}
