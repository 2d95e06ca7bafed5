//! Queues and concurrency slots.

use super::{int, sql, texts, Db, Sql};
use crate::model::{Queue, QueueLoad};
use crate::rows::{self, Columns, HOLDING_STATUSES, LIVE_STATUSES, QUEUE_COLUMNS};
use crate::tx::{QueueRead, QueueTx};
use crate::Result;

/// How a backend serializes the dequeues of one environment ([`QueueTx::lock_for_dequeue`]).
pub(crate) trait DequeueLock {
    fn lock_dequeues(&mut self, env_id: &str) -> Result<()>;
}

/// A lock on a name, held until the write transaction ends: writers taking the same name run
/// one after the other, and nothing else waits for it (no row is locked). For checks a
/// statement alone cannot make race-free, such as a count against a limit.
pub(crate) trait NamedLock {
    fn lock_name(&mut self, name: &str) -> Result<()>;
}

static BY_NAME: Sql = sql!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND name = $2");
static BY_ID: Sql = sql!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND id = $2");
static BY_ID_FOR_UPDATE: Sql =
    sql!(Update: "SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND id = $2");
static BY_ID_HELD: Sql =
    sql!(KeyShare: "SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND id = $2");
static INSERT: Sql = sql!(
    "INSERT INTO queues ({QUEUE_COLUMNS}) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
);
static UPDATE: Sql = sql!(
    "UPDATE queues SET base_limit = $2, override_limit = $3, overridden_at = $4, paused = $5, \
     name = $6, description = $7 WHERE id = $1"
);
static DELETE: Sql = sql!("DELETE FROM queues WHERE id = $1");
static TAGS: Sql = sql!("SELECT tag FROM queue_tags WHERE queue_id = $1 ORDER BY tag");
static DELETE_TAGS: Sql = sql!("DELETE FROM queue_tags WHERE queue_id = $1");
static INSERT_TAG: Sql = sql!("INSERT INTO queue_tags (queue_id, tag) VALUES ($1, $2)");
static COUNT_TAGGED: Sql = sql!(
    "SELECT COUNT(*) FROM queues q WHERE q.env_id = $1 AND EXISTS \
     (SELECT 1 FROM queue_tags t WHERE t.queue_id = q.id AND t.tag = $2)"
);
static PAGE_TAGGED: Sql = sql!(
    "SELECT {QUEUE_COLUMNS} FROM queues q WHERE q.env_id = $1 AND EXISTS \
     (SELECT 1 FROM queue_tags t WHERE t.queue_id = q.id AND t.tag = $2) \
     ORDER BY q.name LIMIT $3 OFFSET $4"
);
static LIVE_RUNS: Sql =
    sql!("SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND status IN {LIVE_STATUSES}");
static LIVE_TASKS: Sql = sql!(
    "SELECT DISTINCT task_id FROM runs WHERE queue_id = $1 AND status IN {LIVE_STATUSES} \
     ORDER BY task_id LIMIT $2"
);
static MOVE_LIVE_RUNS: Sql = sql!(
    "UPDATE runs SET queue_id = $3, queue_name = $4 \
     WHERE queue_id = $1 AND task_id = $2 AND status IN {LIVE_STATUSES}"
);
static RENAME_RUNS: Sql = sql!("UPDATE runs SET queue_name = $2 WHERE queue_id = $1");
static MARK_SERVED: Sql = sql!("UPDATE queues SET served_seq = $2 WHERE id = $1");
static COUNT: Sql = sql!("SELECT COUNT(*) FROM queues WHERE env_id = $1");
static PAGE: Sql =
    sql!("SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 ORDER BY name LIMIT $2 OFFSET $3");
static DEQUEUE_ORDER: Sql = sql!(
    "SELECT {QUEUE_COLUMNS} FROM queues WHERE env_id = $1 AND paused = FALSE \
     ORDER BY served_seq, name"
);
static NEXT_SERVED_SEQ: Sql =
    sql!("SELECT COALESCE(MAX(served_seq), 0) + 1 FROM queues WHERE env_id = $1");
static SLOT_RUNNING: Sql = sql!(
    "SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND ckey = $2 AND status IN {HOLDING_STATUSES}"
);
static ENV_RUNNING: Sql =
    sql!("SELECT COUNT(*) FROM runs WHERE env_id = $1 AND status IN {HOLDING_STATUSES}");
static QUEUE_RUNNING: Sql =
    sql!("SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND status IN {HOLDING_STATUSES}");
static QUEUE_QUEUED: Sql =
    sql!("SELECT COUNT(*) FROM runs WHERE queue_id = $1 AND status = 'QUEUED'");
// Each count reads one partial index (`runs_ready`, `runs_holding_slot`).
static LOADS: Sql = sql!(
    "SELECT q.env_id, q.name, \
     (SELECT COUNT(*) FROM runs r WHERE r.queue_id = q.id AND r.status = 'QUEUED'), \
     (SELECT COUNT(*) FROM runs r WHERE r.queue_id = q.id AND r.status IN {HOLDING_STATUSES}) \
     FROM queues q ORDER BY q.env_id, q.name LIMIT $1"
);

impl<C: Db + DequeueLock> QueueRead for C {
    fn queue_by_name(&mut self, env_id: &str, name: &str) -> Result<Option<Queue>> {
        self.query_first(&BY_NAME, &[&env_id, &name], |r| rows::queue(r))
    }

    fn queue_by_id(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        self.query_first(&BY_ID, &[&env_id, &id], |r| rows::queue(r))
    }

    fn queues(&mut self, env_id: &str, offset: usize, limit: usize) -> Result<(Vec<Queue>, i64)> {
        let total = int(self, &COUNT, &[&env_id])?;
        let page = self.query(&PAGE, &[&env_id, &(limit as i64), &(offset as i64)], |r| {
            rows::queue(r)
        })?;
        Ok((page, total))
    }

    fn queues_tagged(
        &mut self,
        env_id: &str,
        tag: &str,
        offset: usize,
        limit: usize,
    ) -> Result<(Vec<Queue>, i64)> {
        let total = int(self, &COUNT_TAGGED, &[&env_id, &tag])?;
        let page = self.query(
            &PAGE_TAGGED,
            &[&env_id, &tag, &(limit as i64), &(offset as i64)],
            |r| rows::queue(r),
        )?;
        Ok((page, total))
    }

    fn queue_tags(&mut self, queue_id: &str) -> Result<Vec<String>> {
        texts(self, &TAGS, &[&queue_id])
    }

    fn queue_live_runs(&mut self, queue_id: &str) -> Result<i64> {
        int(self, &LIVE_RUNS, &[&queue_id])
    }

    fn queue_live_tasks(&mut self, queue_id: &str, limit: usize) -> Result<Vec<String>> {
        texts(self, &LIVE_TASKS, &[&queue_id, &(limit as i64)])
    }

    fn dequeue_order(&mut self, env_id: &str) -> Result<Vec<Queue>> {
        self.query(&DEQUEUE_ORDER, &[&env_id], |r| rows::queue(r))
    }

    fn next_served_seq(&mut self, env_id: &str) -> Result<i64> {
        int(self, &NEXT_SERVED_SEQ, &[&env_id])
    }

    fn slot_running(&mut self, queue_id: &str, ckey: &str) -> Result<i64> {
        int(self, &SLOT_RUNNING, &[&queue_id, &ckey])
    }

    fn env_running(&mut self, env_id: &str) -> Result<i64> {
        int(self, &ENV_RUNNING, &[&env_id])
    }

    fn queue_counts(&mut self, queue_id: &str) -> Result<(i64, i64)> {
        let running = int(self, &QUEUE_RUNNING, &[&queue_id])?;
        let queued = int(self, &QUEUE_QUEUED, &[&queue_id])?;
        Ok((running, queued))
    }

    fn queue_loads(&mut self, limit: usize) -> Result<Vec<QueueLoad>> {
        self.query(&LOADS, &[&(limit as i64)], |r| {
            Ok(QueueLoad {
                env_id: r.text(0)?,
                name: r.text(1)?,
                queued: r.int(2)?,
                running: r.int(3)?,
            })
        })
    }
}

impl<C: Db + DequeueLock> QueueTx for C {
    fn queue_for_update(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        self.query_first(&BY_ID_FOR_UPDATE, &[&env_id, &id], |r| rows::queue(r))
    }

    fn queue_held(&mut self, env_id: &str, id: &str) -> Result<Option<Queue>> {
        self.query_first(&BY_ID_HELD, &[&env_id, &id], |r| rows::queue(r))
    }

    fn insert_queue(&mut self, q: &Queue) -> Result<()> {
        self.execute(
            &INSERT,
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
                &q.description,
                &(if q.from_api { "api" } else { "code" }),
            ],
        )?;
        Ok(())
    }

    fn update_queue(&mut self, q: &Queue) -> Result<()> {
        self.execute(
            &UPDATE,
            &[
                &q.id,
                &q.base_limit,
                &q.override_limit,
                &q.overridden_at,
                &q.paused,
                &q.name,
                &q.description,
            ],
        )?;
        Ok(())
    }

    fn delete_queue(&mut self, queue_id: &str) -> Result<()> {
        self.execute(&DELETE_TAGS, &[&queue_id])?;
        self.execute(&DELETE, &[&queue_id])?;
        Ok(())
    }

    fn set_queue_tags(&mut self, queue_id: &str, tags: &[String]) -> Result<()> {
        self.execute(&DELETE_TAGS, &[&queue_id])?;
        for tag in tags {
            self.execute(&INSERT_TAG, &[&queue_id, tag])?;
        }
        Ok(())
    }

    fn move_live_runs(&mut self, from_queue_id: &str, task_id: &str, to: &Queue) -> Result<u64> {
        self.execute(
            &MOVE_LIVE_RUNS,
            &[&from_queue_id, &task_id, &to.id, &to.name],
        )
    }

    fn rename_queue_runs(&mut self, queue_id: &str, name: &str) -> Result<u64> {
        self.execute(&RENAME_RUNS, &[&queue_id, &name])
    }

    fn mark_served(&mut self, queue_id: &str, served_seq: i64) -> Result<()> {
        self.execute(&MARK_SERVED, &[&queue_id, &served_seq])?;
        Ok(())
    }

    fn lock_for_dequeue(&mut self, env_id: &str) -> Result<()> {
        self.lock_dequeues(env_id)
    }
}
