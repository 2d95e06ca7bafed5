//! `trigger`: create one run. The shared `create_run` also serves batches and replays;
//! `options` validates what a caller sent before any store work; `debounce` coalesces
//! triggers that share a debounce key into one run.

pub mod debounce;
mod options;

use std::sync::atomic::Ordering;
use std::sync::Arc;

use trigr_store::{BufferedEntry, Environment, Queue, QueueKind, Run};
use trigr_types::manifest::{task_queue_name, TaskManifest};
use trigr_types::{id, Millis, RunStatus};

pub use options::{
    check_region, idempotency_ttl, parse_delay, parse_region, parse_tags, parse_ttl, prepare,
    refuse_unsupported, tag_list, truncated, unsupported, Fixed, IdempotencyKey, NewRun,
    ReuseCheck, Ttl, MAX_IDEMPOTENCY_KEY_LEN, MAX_TAGS, MAX_TAG_LEN,
};

use crate::mollifier::fallback::Want;
use crate::mollifier::Decision;
use crate::{Engine, Error, LoadedDeployment, Result, Txn};

/// The answer to a trigger.
#[derive(Clone, Debug)]
pub struct Triggered {
    pub run: Run,
    /// An idempotency key matched an existing run.
    pub is_cached: bool,
}

impl Engine {
    /// Triggers one run.
    #[tracing::instrument(level = "debug", name = "trigger", skip_all, fields(env = env_id, task = %new.task_id))]
    pub async fn trigger(&self, env_id: &str, new: NewRun) -> Result<Triggered> {
        let m = self.mollifier();
        // A buffer outside the store is read first for the entries holding the trigger's keys.
        let fetched = self.fetch_buffered(Want::Keys { env_id, new: &new }).await;
        // A debounced trigger coalesces in the store at once: it is never buffered.
        if !m.is_off()
            && new.debounce.is_none()
            && matches!(m.gate(env_id, self.now()), Decision::Mollify(_))
        {
            match self
                .accept_buffered(env_id, new.clone(), fetched.clone())
                .await
            {
                // Fail-open: a sick buffer never refuses a trigger.
                Err(Error::Store(e)) => {
                    tracing::warn!(env = env_id, error = %e, "mollifier buffer failed: trigger sent straight to the engine");
                    m.stats().buffer_fail_open.fetch_add(1, Ordering::Relaxed);
                }
                Ok((t, buffered)) => {
                    if buffered {
                        m.stats().buffered.fetch_add(1, Ordering::Relaxed);
                    }
                    return Ok(t);
                }
                Err(e) => return Err(e),
            }
        }
        self.write_retrying(|| {
            let (env_id, new, fetched) = (env_id.to_string(), new.clone(), fetched.clone());
            move |tx: &mut Txn<'_>| {
                tx.fetched = fetched;
                let now = tx.now();
                let env = environment_to_trigger_in(tx, &env_id)?;
                create_run(tx, &env, &new, now)
            }
        })
        .await
    }
}

/// The environment a trigger creates its run in, read with a share lock (its settings must
/// not change under the trigger).
pub(crate) fn environment_to_trigger_in(tx: &mut Txn<'_>, env_id: &str) -> Result<Environment> {
    tx.environment_for_share(env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))
}

/// Resolves the version and task a new run locks to: the version the caller named, else the
/// one serving the task ([`crate::serving`]).
fn resolve_task(
    tx: &mut Txn<'_>,
    env: &Environment,
    new: &NewRun,
) -> Result<Option<(Arc<LoadedDeployment>, TaskManifest)>> {
    let version = match &new.version {
        Some(v) => v.clone(),
        None => match crate::serving::version_for(tx, env, &new.task_id)? {
            Some(v) => v,
            None => return Ok(None),
        },
    };
    let Some(dep) = tx.loaded_deployment(&env.id, &version)? else {
        return Err(Error::unprocessable(format!(
            "Task locked to version '{version}', but no deployment has that version"
        )));
    };
    let Some(task) = dep.task(&new.task_id).cloned() else {
        return Err(match &new.version {
            Some(_) => Error::unprocessable(format!(
                "Task '{}' is not declared by version {version}",
                new.task_id
            )),
            None => crate::serving::not_declared(tx, env, &new.task_id, &version)?,
        });
    };
    dep.validate_payload(&new.task_id, &new.payload_value)?;
    Ok(Some((dep, task)))
}

/// The queue named `name` in the environment, made now (defined in code) when there is none.
pub(crate) fn ensure_queue(
    tx: &mut Txn<'_>,
    env_id: &str,
    name: &str,
    base_limit: Option<i64>,
    now: Millis,
) -> Result<Queue> {
    let found = tx.queue_named(env_id, name)?;
    settle_queue(tx, env_id, name, found, base_limit, now)
}

/// The queue `found` by `name`, ready to take a run in this transaction, or made now when there
/// was none. A queue defined in code is never deleted or renamed, so it is used as read. One
/// made through the API is held until the transaction ends (`queue_held`), so that a deletion
/// either waits and then counts the run, or ends first and the queue is made anew here; after
/// a rename it is not the queue of that name any more, and one is made anew too.
fn settle_queue(
    tx: &mut Txn<'_>,
    env_id: &str,
    name: &str,
    found: Option<Queue>,
    base_limit: Option<i64>,
    now: Millis,
) -> Result<Queue> {
    match found {
        Some(q) if !q.from_api => return Ok(q),
        Some(q) => {
            if let Some(q) = tx.queue_held(env_id, &q.id)?.filter(|q| q.name == name) {
                return Ok(q);
            }
        }
        None => {}
    }
    let q = Queue {
        id: id::new("queue"),
        env_id: env_id.to_string(),
        name: name.to_string(),
        kind: if name.starts_with("task/") {
            QueueKind::Task
        } else {
            QueueKind::Custom
        },
        base_limit,
        override_limit: None,
        overridden_at: None,
        paused: false,
        served_seq: 0,
        created_at: now,
        description: None,
        from_api: false,
    };
    tx.insert_queue(&q)?;
    tx.made_code_queue(&q);
    Ok(q)
}

/// Returns the live run holding this idempotency key, releasing the key if it expired or its
/// run failed.
fn idempotent_match(
    tx: &mut Txn<'_>,
    env_id: &str,
    task_id: &str,
    key: &str,
    now: Millis,
) -> Result<Option<Run>> {
    let Some(existing) = tx.run_by_idempotency_key(env_id, task_id, key)? else {
        return Ok(None);
    };
    let expired = existing.idempotency_expires_at.is_some_and(|t| t <= now);
    if expired || existing.status.frees_idempotency_key() {
        tx.clear_idempotency_key(existing.seq)?;
        return Ok(None);
    }
    Ok(Some(existing))
}

/// Creates a run inside a write transaction (or returns the run an idempotency key names).
pub(crate) fn create_run(
    tx: &mut Txn<'_>,
    env: &Environment,
    new: &NewRun,
    now: Millis,
) -> Result<Triggered> {
    if let Some(found) = existing_run(tx, env, new, now)? {
        return Ok(found);
    }
    // Debounce comes before anything else creates the run: a trigger whose key names a run
    // still delayed is answered with that run (once the trigger is checked against its task).
    let debounced_id = match &new.debounce {
        Some(d) => {
            resolve_task(tx, env, new)?;
            match debounce::step(tx, &env.id, new, d, now)? {
                debounce::Step::Coalesced(run) => {
                    new.reused(&run, "debounce key")?;
                    return Ok(Triggered {
                        run: *run,
                        is_cached: false,
                    });
                }
                debounce::Step::New(run_id) => Some(run_id),
            }
        }
        None => None,
    };
    let mut run = run_to_insert(tx, env, new, now)?;
    if let Some(id) = debounced_id {
        run.id = id;
    }
    let run = insert_runs(tx, &env.id, vec![run])?.remove(0);
    Ok(Triggered {
        run,
        is_cached: false,
    })
}

/// The record of the run `new` makes now, its queue made if missing.
fn run_to_insert(tx: &mut Txn<'_>, env: &Environment, new: &NewRun, now: Millis) -> Result<Run> {
    let mut run = plan_run(tx, env, new, now, true)?;
    if new.fixed.is_some() {
        // A buffered run keeps its creation time; it changed now, when it was made.
        run.updated_at = tx.now().max(run.updated_at);
    }
    Ok(run)
}

/// Writes new runs of an environment (in one statement where the store can), records their
/// events and wakes the environment's workers; the runs, with their `seq`.
fn insert_runs(tx: &mut Txn<'_>, env_id: &str, mut runs: Vec<Run>) -> Result<Vec<Run>> {
    if runs.is_empty() {
        return Ok(runs);
    }
    let seqs = tx.insert_runs(&runs.iter().collect::<Vec<_>>())?;
    for (run, seq) in runs.iter_mut().zip(seqs) {
        run.seq = seq;
    }
    crate::events::record(tx, runs.iter().map(|r| (None, r)))?;
    tx.wake(env_id);
    Ok(runs)
}

/// The runs one command creates in an environment (a batch's items, a drain's entries),
/// written together. A run that no key or debounce ties to other runs is planned at once
/// and written with the others by [`NewRuns::write`]; one with a key or a debounce is made
/// on its own, after the runs planned before it are written, so that it finds them. The
/// command calls `write` before it ends.
#[derive(Default)]
pub(crate) struct NewRuns {
    planned: Vec<Run>,
    /// Buffer entries made instead of runs (mollified batch items), written with them.
    buffered: Vec<BufferedEntry>,
}

impl NewRuns {
    /// [`create_run`], the run written now or by [`NewRuns::write`]: its `seq` is not known
    /// before.
    pub(crate) fn create(
        &mut self,
        tx: &mut Txn<'_>,
        env: &Environment,
        new: &NewRun,
        now: Millis,
    ) -> Result<Triggered> {
        if self.write_before(tx, env, new)? {
            return create_run(tx, env, new, now);
        }
        let run = run_to_insert(tx, env, new, now)?;
        self.planned.push(run.clone());
        Ok(Triggered {
            run,
            is_cached: false,
        })
    }

    /// Writes what was planned so far when `new` has a key or a debounce, which looks for
    /// earlier runs and entries; whether it has.
    pub(crate) fn write_before(
        &mut self,
        tx: &mut Txn<'_>,
        env: &Environment,
        new: &NewRun,
    ) -> Result<bool> {
        let looks =
            new.request_key.is_some() || new.idempotency.is_some() || new.debounce.is_some();
        if looks {
            self.write(tx, &env.id)?;
        }
        Ok(looks)
    }

    /// Adds a buffer entry, written with the runs.
    pub(crate) fn buffer(&mut self, e: BufferedEntry) {
        self.buffered.push(e);
    }

    /// Writes the runs and entries planned so far.
    pub(crate) fn write(&mut self, tx: &mut Txn<'_>, env_id: &str) -> Result<()> {
        insert_runs(tx, env_id, std::mem::take(&mut self.planned))?;
        tx.insert_buffered_all(&std::mem::take(&mut self.buffered))?;
        Ok(())
    }
}

/// The run a request key or an idempotency key of `new` names already, if any.
pub(crate) fn existing_run(
    tx: &mut Txn<'_>,
    env: &Environment,
    new: &NewRun,
    now: Millis,
) -> Result<Option<Triggered>> {
    if let Some(key) = &new.request_key {
        if let Some(run) = tx.run_by_request_key(&env.id, key)? {
            new.reused(&run, "request idempotency key")?;
            return Ok(Some(Triggered {
                run,
                is_cached: false,
            }));
        }
    }
    if let Some(key) = &new.idempotency {
        if let Some(run) = idempotent_match(tx, &env.id, &new.task_id, &key.key, now)? {
            new.reused(&run, "idempotencyKey")?;
            return Ok(Some(Triggered {
                run,
                is_cached: true,
            }));
        }
    }
    if new.request_key.is_some() || new.idempotency.is_some() {
        let fetched = tx.fetched.clone();
        return crate::mollifier::fallback::existing_buffered(&mut **tx, &fetched, env, new);
    }
    Ok(None)
}

/// The record of the run `new` makes, checked against its task (version, payload schema,
/// parent). `with_queue` creates its queue when missing; without, a queue not made yet is
/// named only (the record of a buffered trigger, which is not inserted).
pub(crate) fn plan_run(
    tx: &mut Txn<'_>,
    env: &Environment,
    new: &NewRun,
    now: Millis,
    with_queue: bool,
) -> Result<Run> {
    let resolved = resolve_task(tx, env, new)?;
    let task = resolved.as_ref().map(|(_, t)| t);
    let queue_name = match (&new.queue, task) {
        (Some(q), _) => q.clone(),
        (None, Some(t)) => t.queue_name(),
        (None, None) => task_queue_name(&new.task_id),
    };
    let declared_limit = task
        .and_then(|t| t.queue.as_ref())
        .and_then(|q| q.concurrency_limit)
        .map(i64::from);
    let found = tx.queue_named(&env.id, &queue_name)?;
    let queue = match (with_queue, found) {
        (true, found) => settle_queue(tx, &env.id, &queue_name, found, declared_limit, now)?,
        (false, Some(q)) => q,
        (false, None) => unsaved_queue(&env.id, &queue_name, now),
    };
    let version = resolved.as_ref().map(|(d, _)| d.deployment.version.clone());
    let parent = match &new.parent_run_id {
        Some(pid) => Some(
            tx.run(&env.id, pid)?
                .ok_or_else(|| Error::not_found(format!("Parent run {pid} not found")))?,
        ),
        None => None,
    };
    Ok(run_record(
        new,
        env,
        &queue,
        task,
        version,
        parent.as_ref(),
        now,
    ))
}

/// A queue named but not created yet.
pub(crate) fn unsaved_queue(env_id: &str, name: &str, now: Millis) -> Queue {
    Queue {
        id: String::new(),
        env_id: env_id.to_string(),
        name: name.to_string(),
        kind: QueueKind::Custom,
        base_limit: None,
        override_limit: None,
        overridden_at: None,
        paused: false,
        served_seq: 0,
        created_at: now,
        description: None,
        from_api: false,
    }
}

/// The record of a new run: its status, timers and everything the caller asked for.
pub(crate) fn run_record(
    new: &NewRun,
    env: &Environment,
    queue: &Queue,
    task: Option<&TaskManifest>,
    version: Option<String>,
    parent: Option<&Run>,
    now: Millis,
) -> Run {
    let delay_until = new.delay_until.filter(|t| *t > now);
    let status = match (delay_until.is_some(), version.is_some()) {
        (true, _) => RunStatus::Delayed,
        (false, true) => RunStatus::Queued,
        (false, false) => RunStatus::PendingVersion,
    };
    let available_at = delay_until.unwrap_or(now);
    let key = new.idempotency.as_ref();
    let (joined_trace_id, parent_span_id) = match &new.fixed {
        Some(f) => (f.joined_trace_id.clone(), f.parent_span_id.clone()),
        None => trace_of(new, parent),
    };
    Run {
        seq: 0,
        id: new
            .fixed
            .as_ref()
            .map_or_else(|| id::new("run"), |f| f.run_id.clone()),
        env_id: env.id.clone(),
        task_id: new.task_id.clone(),
        queue_id: queue.id.clone(),
        queue_name: queue.name.clone(),
        ckey: new.concurrency_key.clone(),
        status,
        version,
        payload: new.payload.clone(),
        payload_type: new.payload_type.clone(),
        metadata: new.metadata.clone(),
        metadata_type: new.metadata_type.clone(),
        tags: new.tags.clone(),
        idempotency_key: key.map(|k| k.key.clone()),
        idempotency_key_user: key.and_then(|k| k.user_key.clone()),
        idempotency_scope: key.and_then(|k| k.scope.clone()),
        idempotency_expires_at: key.map(|k| now + k.ttl_ms),
        request_key: new.request_key.clone(),
        priority_ms: new.priority_ms,
        queue_ts: available_at - new.priority_ms,
        available_at,
        delay_until,
        ttl: new.ttl.as_ref().map(|t| t.text.clone()),
        ttl_expires_at: new.ttl.as_ref().map(|t| available_at + t.ms),
        max_attempts: new.max_attempts,
        max_duration: new
            .max_duration_secs
            .or(task.and_then(|t| t.max_duration).map(|d| d as i64)),
        machine: new.machine.clone().or(task.and_then(|t| t.machine.clone())),
        attempt: 0,
        lease: None,
        lease_expires_at: None,
        timeout_at: None,
        output: None,
        output_type: None,
        error: None,
        root_run_id: parent.map(|p| p.root_run_id.clone().unwrap_or_else(|| p.id.clone())),
        depth: parent.map_or(0, |p| p.depth + 1),
        parent_run_id: parent.map(|p| p.id.clone()),
        batch_id: new.batch.as_ref().map(|(b, _)| b.clone()),
        batch_index: new.batch.as_ref().map(|(_, i)| *i),
        trigger_function: new.trigger_function.to_string(),
        is_test: new.is_test,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
        resumed: false,
        attempt_started_at: None,
        heartbeat_at: None,
        joined_trace_id,
        minted_span_id: None,
        parent_span_id,
        region: region_of(new, env),
    }
}

/// The region of a new run: the one its trigger named, else its environment's default, else
/// the server's ([`trigr_types::region::DEFAULT`]).
fn region_of(new: &NewRun, env: &Environment) -> String {
    new.region
        .as_deref()
        .or(env.default_region.as_deref())
        .unwrap_or(trigr_types::region::DEFAULT)
        .to_string()
}

/// The trace a new run joins and the span its root span hangs under: the parent run's trace
/// (under the parent's span the worker named, else the caller's span when the caller is in
/// that trace too, else the parent's root span), else the caller's (`traceparent`); `(None, None)` when the run begins a trace of its
/// own.
fn trace_of(new: &NewRun, parent: Option<&Run>) -> (Option<String>, Option<String>) {
    let caller = new.trace.as_ref();
    match parent.map(Run::trace) {
        Some(p) => {
            let span = match (&new.parent_span, caller) {
                (Some(s), _) => s.clone(),
                (None, Some(c)) if c.trace_id == p.trace_id => c.span_id.clone(),
                _ => p.span_id,
            };
            (Some(p.trace_id), Some(span))
        }
        None => match caller {
            Some(c) => (Some(c.trace_id.clone()), Some(c.span_id.clone())),
            None => (None, None),
        },
    }
}
