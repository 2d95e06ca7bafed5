//! `idempotency`: release an idempotency key so the next trigger with it makes a new run.

use crate::{Engine, Error, Result};

impl Engine {
    pub async fn reset_idempotency_key(
        &self,
        env_id: &str,
        task_id: &str,
        key: &str,
    ) -> Result<()> {
        let (env_id, task_id, key) = (env_id.to_string(), task_id.to_string(), key.to_string());
        self.write(move |tx| {
            let run = tx
                .run_by_idempotency_key(&env_id, &task_id, &key)?
                .ok_or_else(|| {
                    Error::not_found(format!(
                        "No run of task '{task_id}' holds the idempotency key '{key}'"
                    ))
                })?;
            tx.clear_idempotency_key(run.seq)?;
            Ok(())
        })
        .await
    }
}
