//! `accept`: a mollified trigger goes into its environment's buffer and is answered with the
//! run it will become (status `QUEUED`, its id, its version).
//!
//! One write does it all, in the same group commit as any trigger: the request and
//! idempotency keys are looked up (in runs, then in the buffer), the trigger is checked against
//! its task as a direct trigger would be (version, payload schema, parent), and the entry is
//! inserted. A refused trigger leaves no entry; a repeated one gets the run its key names,
//! buffered or not. The run's version is locked to the one the answer names.
//!
//! A buffer outside the store (Redis) is written after that check, by its own atomic
//! `accept`, which refuses a key another entry took meanwhile: the trigger is then answered
//! with that entry's run, as a repeat is.

use trigr_store::{BufferedEntry, Environment, Run};
use trigr_types::Millis;

use super::buffer::Accepted;
use super::entry;
use super::fallback::{view, Fetched};
use crate::trigger::{environment_to_trigger_in, existing_run, plan_run, NewRun, Triggered};
use crate::{Engine, Error, Lane, Result, Txn};

/// What the checks before an outside buffer's accept found.
enum Checked {
    /// A key names an existing run (created or buffered).
    Found(Box<Triggered>),
    /// The entry to accept and the answer it gets.
    Entry(Box<(Triggered, BufferedEntry)>),
}

impl Engine {
    /// Buffers a trigger that passed its checks (the gate said `mollify`); with whether an
    /// entry was written (not when a key named an existing run).
    pub(crate) async fn accept_buffered(
        &self,
        env_id: &str,
        new: NewRun,
        fetched: Fetched,
    ) -> Result<(Triggered, bool)> {
        let ttl_ms = self.mollifier().entry_ttl_ms();
        if !self.mollifier().buffer().in_store() {
            return self.accept_outside(env_id, new, fetched, ttl_ms).await;
        }
        self.write_retrying_in(Lane::Bulk, || {
            let (env_id, new) = (env_id.to_string(), new.clone());
            move |tx: &mut Txn<'_>| {
                let now = tx.now();
                let env = environment_to_trigger_in(tx, &env_id)?;
                if let Some(found) = existing_run(tx, &env, &new, now)? {
                    return Ok((found, false));
                }
                let (triggered, e) = plan_entry(tx, &env, new, now, now.saturating_add(ttl_ms))?;
                tx.insert_buffered(&e)?;
                Ok((triggered, true))
            }
        })
        .await
    }

    /// The checks in a store transaction that writes nothing but released keys, then the
    /// outside buffer's accept.
    async fn accept_outside(
        &self,
        env_id: &str,
        new: NewRun,
        fetched: Fetched,
        ttl_ms: Millis,
    ) -> Result<(Triggered, bool)> {
        let checked = self
            .write_retrying_in(Lane::Bulk, || {
                let (env_id, new, fetched) = (env_id.to_string(), new.clone(), fetched.clone());
                move |tx: &mut Txn<'_>| {
                    tx.fetched = fetched;
                    let now = tx.now();
                    let env = environment_to_trigger_in(tx, &env_id)?;
                    if let Some(found) = existing_run(tx, &env, &new, now)? {
                        return Ok(Checked::Found(Box::new(found)));
                    }
                    let planned = plan_entry(tx, &env, new, now, now.saturating_add(ttl_ms))?;
                    Ok(Checked::Entry(Box::new(planned)))
                }
            })
            .await?;
        let (triggered, e) = match checked {
            Checked::Found(found) => return Ok((*found, false)),
            Checked::Entry(planned) => *planned,
        };
        let (other, key, is_cached) = match self.mollifier().buffer().accept(e).await? {
            Accepted::New => return Ok((triggered, true)),
            Accepted::Exists => return Ok((triggered, false)),
            Accepted::RequestKey(other) => (other, "request idempotency key", false),
            Accepted::IdempotencyKey(other) => (other, "idempotencyKey", true),
        };
        let run = self.run_or_entry(env_id, &other).await?;
        new.reused(&run, key)?;
        Ok((Triggered { run, is_cached }, false))
    }

    /// A run as readers see it: created, else buffered (outside the store).
    async fn run_or_entry(&self, env_id: &str, run_id: &str) -> Result<Run> {
        let entry = self.mollifier().buffer().get(env_id, run_id).await?;
        let (env_id, run_id) = (env_id.to_string(), run_id.to_string());
        self.read(move |tx| {
            if let Some(run) = tx.run(&env_id, &run_id)? {
                return Ok(run);
            }
            match (entry, tx.environment(&env_id)?) {
                (Some(e), Some(env)) => view(&env, &e),
                _ => Err(Error::run_not_found(&run_id)),
            }
        })
        .await
    }
}

/// Plans the run, locks its version and makes the entry.
pub(crate) fn plan_entry(
    tx: &mut Txn<'_>,
    env: &Environment,
    mut new: NewRun,
    now: Millis,
    expires_at: Millis,
) -> Result<(Triggered, BufferedEntry)> {
    let run: Run = plan_run(tx, env, &new, now, false)?;
    if new.version.is_none() {
        new.version = run.version.clone();
    }
    let org_id = tx.org_of(&env.id)?.unwrap_or_default();
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
    let triggered = Triggered {
        run,
        is_cached: false,
    };
    Ok((triggered, entry))
}
