//! `accept`: a mollified trigger goes into its environment's buffer and is answered with the
//! run it will become (status `QUEUED`, its id, its version).
//!
//! One write does it all, in the same group commit as any trigger: the request and
//! idempotency keys are looked up (in runs, then in the buffer), the trigger is checked against
//! its task as a direct trigger would be (version, payload schema, parent), and the entry is
//! inserted. A refused trigger leaves no entry; a repeated one gets the run its key names,
//! buffered or not. The run's version is locked to the one the answer names.

use trigr_store::{BufferedEntry, Environment, Run};
use trigr_types::Millis;

use super::entry;
use crate::trigger::{environment_to_trigger_in, existing_run, plan_run, NewRun, Triggered};
use crate::{Engine, Result, Txn};

impl Engine {
    /// Buffers a trigger that passed its checks (the gate said `mollify`); with whether an
    /// entry was written (not when a key named an existing run).
    pub(crate) async fn accept_buffered(
        &self,
        env_id: &str,
        new: NewRun,
    ) -> Result<(Triggered, bool)> {
        let ttl_ms = self.mollifier().entry_ttl_ms();
        self.write_retrying(|| {
            let (env_id, new) = (env_id.to_string(), new.clone());
            move |tx: &mut Txn<'_>| {
                let now = tx.now();
                let env = environment_to_trigger_in(tx, &env_id)?;
                if let Some(found) = existing_run(tx, &env, &new, now)? {
                    return Ok((found, false));
                }
                let triggered = buffer(tx, &env, new, now, now.saturating_add(ttl_ms))?;
                Ok((triggered, true))
            }
        })
        .await
    }
}

/// Plans the run, locks its version and writes the entry.
pub(crate) fn buffer(
    tx: &mut Txn<'_>,
    env: &Environment,
    mut new: NewRun,
    now: Millis,
    expires_at: Millis,
) -> Result<Triggered> {
    let run: Run = plan_run(tx, env, &new, now, false)?;
    if new.version.is_none() {
        new.version = run.version.clone();
    }
    let org_id = tx.org_of_env(&env.id)?.unwrap_or_default();
    let entry = BufferedEntry {
        seq: 0,
        run_id: run.id.clone(),
        env_id: env.id.clone(),
        org_id,
        task_id: new.task_id.clone(),
        idempotency_key: new.idempotency.as_ref().map(|k| k.key.clone()),
        request_key: new.request_key.clone(),
        body: entry::encode(&new, &run),
        claim: None,
        attempts: 0,
        created_at: now,
        expires_at,
        batch_id: new.batch.as_ref().map(|(id, _)| id.clone()),
    };
    tx.insert_buffered(&entry)?;
    Ok(Triggered {
        run,
        is_cached: false,
    })
}
