//! `dev_trigger_and_wait`: a task a Trigger.dev CLI worker runs triggers a child and waits
//! for it (`triggerAndWait`: a trigger with `parentRunId` and `resumeParentOnCompletion`).
//! The child is made by the parent's wait, in the same transaction as the journal entry the
//! parent holds ([`super::waits`]), so the child's end hands it back as a `RUN` waitpoint.

use std::sync::Arc;

use trigr_store::Run;
use trigr_types::RunStatus;

use super::is_dev_lease;
use super::waits::dev_wait_in;
use crate::trigger::NewRun;
use crate::waits::Wait;
use crate::{Engine, Error, Result, Txn};

impl Engine {
    /// Triggers `child` with its parent waiting for it, when the parent (`child.parent_run_id`)
    /// executes under a CLI worker; `None` (nothing written) otherwise: the trigger is an
    /// ordinary one.
    pub async fn dev_trigger_and_wait(&self, env_id: &str, child: NewRun) -> Result<Option<Run>> {
        let Some(parent_id) = child.parent_run_id.clone() else {
            return Ok(None);
        };
        let child = Arc::new(child);
        self.write_retrying(|| {
            let (env_id, parent_id, child) = (env_id.to_string(), parent_id.clone(), child.clone());
            move |tx: &mut Txn<'_>| {
                let held = tx.run(&env_id, &parent_id)?.is_some_and(|p| {
                    p.status == RunStatus::Executing && is_dev_lease(p.lease.as_deref())
                });
                if !held {
                    return Ok(None);
                }
                let wait = Wait::Run {
                    child: Box::new((*child).clone()),
                };
                let w = dev_wait_in(tx, &env_id, &parent_id, "triggerAndWait", &wait)?;
                let child_id = w.state.run_ids.first().ok_or_else(|| {
                    Error::Store(trigr_store::Error::Corrupt(
                        "a triggerAndWait made no child".to_string(),
                    ))
                })?;
                Ok(tx.run(&env_id, child_id)?)
            }
        })
        .await
    }
}
