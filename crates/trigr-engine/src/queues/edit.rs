//! Editing a queue made through the API: its name, limit, description and tags.

use trigr_store::Queue;

use super::{check_edit, find, view, within_env_limit, QueueEdit, QueueRef, QueueView};
use crate::{Engine, Error, Result, Txn};

/// Refuses a queue defined in code: the API edits only the queues it made.
pub(super) fn made_by_api(q: &Queue, doing: &str) -> Result<()> {
    if q.from_api {
        return Ok(());
    }
    Err(Error::Conflict(format!(
        "Queue '{}' is defined in code and cannot be {doing} through the API \
         (pause, resume and the concurrency override apply to it)",
        q.name
    )))
}

/// Gives the queue a new name, in its runs too; a name taken in the environment is a
/// conflict.
fn rename(tx: &mut Txn<'_>, q: &mut Queue, name: String) -> Result<()> {
    if name == q.name {
        return Ok(());
    }
    if tx.queue_by_name(&q.env_id, &name)?.is_some() {
        return Err(Error::Conflict(format!(
            "A queue named '{name}' already exists"
        )));
    }
    tx.rename_queue_runs(&q.id, &name)?;
    q.name = name;
    Ok(())
}

impl Engine {
    /// Applies `edit` to a queue made through the API in one transaction.
    pub async fn edit_queue(
        &self,
        env_id: &str,
        r: QueueRef,
        edit: QueueEdit,
    ) -> Result<QueueView> {
        let edit = check_edit(edit)?;
        let env = env_id.to_string();
        self.write_retrying(move || {
            let (env, r, edit) = (env.clone(), r.clone(), edit.clone());
            move |tx: &mut Txn<'_>| {
                let found = find(tx.store(), &env, &r)?;
                let mut q = tx
                    .queue_for_update(&env, &found.id)?
                    .ok_or_else(|| Error::not_found("Queue not found"))?;
                made_by_api(&q, "edited")?;
                if let Some(name) = edit.name {
                    rename(tx, &mut q, name)?;
                }
                if let Some(limit) = edit.concurrency_limit {
                    within_env_limit(tx.store(), &env, limit)?;
                    q.base_limit = limit;
                }
                if let Some(description) = edit.description {
                    q.description = description;
                }
                tx.update_queue(&q)?;
                if let Some(tags) = &edit.tags {
                    tx.set_queue_tags(&q.id, tags)?;
                }
                // A raised limit may let runs start.
                tx.wake(&env);
                view(tx.store(), q)
            }
        })
        .await
    }
}
