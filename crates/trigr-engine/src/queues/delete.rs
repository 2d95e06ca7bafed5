//! Deleting a queue made through the API.

use trigr_types::manifest::task_queue_name;

use super::edit::made_by_api;
use super::{find, QueueRef};
use crate::trigger::ensure_queue;
use crate::{Engine, Error, Result, Txn};

/// The most tasks whose runs one forced deletion moves; a queue shared by more is refused.
pub const MAX_MOVED_TASKS: usize = 100;

/// A deleted queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDeleted {
    pub id: String,
    /// Runs not final yet moved to their task's own queue (only with `force`).
    pub moved_runs: u64,
}

/// Moves the queue's runs not final yet to their task's own queue; returns how many.
fn move_live_runs(tx: &mut Txn<'_>, env: &str, queue_id: &str) -> Result<u64> {
    let tasks = tx.queue_live_tasks(queue_id, MAX_MOVED_TASKS + 1)?;
    if tasks.len() > MAX_MOVED_TASKS {
        return Err(Error::Conflict(format!(
            "The queue holds runs of more than {MAX_MOVED_TASKS} tasks: too many to move at once"
        )));
    }
    let now = tx.now();
    let mut moved = 0;
    for task in &tasks {
        let to = ensure_queue(tx, env, &task_queue_name(task), None, now)?;
        moved += tx.move_live_runs(queue_id, task, &to)?;
    }
    Ok(moved)
}

impl Engine {
    /// Deletes a queue made through the API. While runs of it are not final the deletion is a
    /// conflict, unless `force` moves them to their task's own queue first (same
    /// transaction). Finished runs keep the queue's id and name.
    pub async fn delete_queue(
        &self,
        env_id: &str,
        r: QueueRef,
        force: bool,
    ) -> Result<QueueDeleted> {
        let env = env_id.to_string();
        self.write_retrying(move || {
            let (env, r) = (env.clone(), r.clone());
            move |tx: &mut Txn<'_>| {
                let found = find(tx.store(), &env, &r)?;
                let q = tx
                    .queue_for_update(&env, &found.id)?
                    .ok_or_else(|| Error::not_found("Queue not found"))?;
                made_by_api(&q, "deleted")?;
                let live = tx.queue_live_runs(&q.id)?;
                let mut moved_runs = 0;
                if live > 0 {
                    if !force {
                        return Err(Error::Conflict(format!(
                            "Queue '{}' has {live} runs not finished yet: delete it with force to \
                             move them to their tasks' own queues",
                            q.name
                        )));
                    }
                    moved_runs = move_live_runs(tx, &env, &q.id)?;
                    tx.wake(&env);
                }
                tx.delete_queue(&q.id)?;
                Ok(QueueDeleted {
                    id: q.id,
                    moved_runs,
                })
            }
        })
        .await
    }
}
