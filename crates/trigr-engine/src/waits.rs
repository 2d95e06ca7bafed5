//! `waits`: a worker waits at a journal position (worker protocol §7.3) for a duration, a
//! date, a token, a child run or a batch of children. The first call at a position creates the
//! waitpoint (and the children) in the same transaction as the journal entry; every later
//! call finds them again. With `suspend` and the waitpoint incomplete the run goes
//! `EXECUTING → WAITING` in that transaction (lease over, slot free) and is queued again when
//! the waitpoint completes ([`crate::resume`]). Also the long-poll of a wait the worker holds.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use trigr_store::{
    Batch, EnvKind, Environment, InputWait, JournalEntry, JournalKind, ReadTx, Run, Waitpoint,
    WaitpointKind, WaitpointStatus,
};
use trigr_types::wire::trigger::TriggerOptions;
use trigr_types::wire::worker::{WaitBody, WaitFor};
use trigr_types::{duration, id, packet, Millis};

use crate::input_send::{check_stream_id, fill_input_wait, message_json};
use crate::journal::{check_entry, check_name, leased_run};
use crate::resume::complete_if_children_ended;
use crate::transition::{check_lease, suspended, transition_leased};
use crate::trigger::{create_run, prepare, truncated, NewRun};
use crate::{Engine, Error, Result, Txn};

/// Most children of one batch wait.
pub const MAX_BATCH_ITEMS: usize = 500;
/// Longest long-poll of a held wait.
pub const MAX_POLL: Duration = Duration::from_secs(30);

/// A wait at a journal position, checked ([`check`]).
#[derive(Clone, Debug)]
pub struct WaitRequest {
    pub lease: String,
    pub position: u32,
    pub name: String,
    /// Suspend the run while the wait is incomplete.
    pub suspend: bool,
    pub wait: Wait,
}

/// What to wait for, checked: times in milliseconds, children ready to trigger.
#[derive(Clone, Debug)]
pub enum Wait {
    /// From 0 to [`duration::MAX`] milliseconds from the time of the wait.
    Duration {
        ms: Millis,
    },
    /// Until this time.
    Until {
        at: Millis,
    },
    Token {
        token_id: String,
    },
    /// A child run, triggered by the wait.
    Run {
        child: Box<NewRun>,
    },
    /// 1 to [`MAX_BATCH_ITEMS`] child runs, triggered by the wait.
    Batch {
        children: Vec<NewRun>,
    },
    /// The runs of a batch the run made and whose items come later (`batchTriggerAndWait`
    /// of a Trigger.dev CLI task): the batch's items join the wait as they become runs
    /// ([`crate::batch`]), and it completes once the batch is sealed and every one ended.
    Items {
        batch_id: String,
    },
    /// The next message of the run's input stream after message `after` (the last one this
    /// run's `once`/`wait` calls consumed), or a timeout after `timeout_ms`.
    Input {
        stream_id: String,
        after: i64,
        timeout_ms: Option<Millis>,
    },
}

/// Checks a wait body: the name, the wait, and the children of a run or batch wait, which
/// are prepared here ([`prepare`]) with the payload limit and the time of the request.
pub fn check(body: WaitBody, max_payload: usize, now: Millis) -> Result<WaitRequest> {
    check_name(&body.name)?;
    check_wait(&body.wait)?;
    let wait = match body.wait {
        WaitFor::Duration { ms } => Wait::Duration { ms },
        WaitFor::Until { date } => Wait::Until {
            at: duration::parse_date(&date)
                .ok_or_else(|| Error::invalid(format!("wait.date '{date}' is not a date")))?,
        },
        WaitFor::Token { token_id } => Wait::Token { token_id },
        WaitFor::Run {
            task,
            payload,
            options,
            span_id,
        } => Wait::Run {
            child: Box::new(child_run(
                &task,
                payload,
                *options,
                span_id,
                max_payload,
                now,
            )?),
        },
        WaitFor::Batch { items } => Wait::Batch {
            children: items
                .into_iter()
                .enumerate()
                .map(|(i, c)| {
                    child_run(&c.task, c.payload, c.options, c.span_id, max_payload, now)
                        .map_err(|e| item_error(i, e))
                })
                .collect::<Result<_>>()?,
        },
        WaitFor::Input {
            stream_id,
            after,
            timeout_ms,
        } => Wait::Input {
            stream_id,
            after,
            timeout_ms,
        },
    };
    Ok(WaitRequest {
        lease: body.lease,
        position: body.position,
        name: body.name,
        suspend: body.suspend,
        wait,
    })
}

/// Where a wait stands.
#[derive(Clone, Debug)]
pub struct WaitState {
    pub position: i64,
    pub waitpoint_id: String,
    pub status: WaitpointStatus,
    /// JSON text of the result (`COMPLETED`) or the error (`TIMED_OUT`).
    pub output: Option<String>,
    /// While `WAITING`: whether the run is now suspended (`WAITING`).
    pub suspended: Option<bool>,
    /// The children of a run or batch wait.
    pub run_ids: Vec<String>,
}

impl Engine {
    /// Waits at a position: creates or finds the waitpoint, and suspends the run if asked.
    pub async fn wait(&self, env_id: &str, run_id: &str, req: WaitRequest) -> Result<WaitState> {
        let req = Arc::new(req);
        self.write_retrying(|| {
            let (env_id, run_id, req) = (env_id.to_string(), run_id.to_string(), req.clone());
            move |tx: &mut Txn<'_>| wait_in(tx, &env_id, &run_id, &req)
        })
        .await
    }

    /// The state of the wait at `position`, waiting up to `wait` for it to complete.
    pub async fn poll_wait(
        &self,
        env_id: &str,
        run_id: &str,
        position: u32,
        lease: &str,
        wait: Duration,
    ) -> Result<WaitState> {
        let look = || {
            let (env, run, lease) = (env_id.to_string(), run_id.to_string(), lease.to_string());
            self.read(move |tx| held_wait(tx, &env, &run, i64::from(position), &lease))
        };
        let done = |state: &WaitState| state.status != WaitpointStatus::Waiting;
        self.long_poll(env_id, wait.min(MAX_POLL), look, done).await
    }
}

/// Checks what needs no store and no preparing.
fn check_wait(w: &WaitFor) -> Result<()> {
    match w {
        WaitFor::Duration { ms } if !(0..=duration::MAX).contains(ms) => {
            Err(Error::invalid(format!(
                "wait.ms must be a whole number of milliseconds from 0 to {} (100 years), got {ms}",
                duration::MAX
            )))
        }
        WaitFor::Until { date } if duration::parse_date(date).is_none() => Err(Error::invalid(
            format!("wait.date must be an ISO 8601 date, got '{date}'"),
        )),
        WaitFor::Token { token_id } if token_id.is_empty() => {
            Err(Error::invalid("wait.tokenId must not be empty"))
        }
        WaitFor::Batch { items } if items.is_empty() || items.len() > MAX_BATCH_ITEMS => {
            Err(Error::invalid(format!(
                "wait.items must have 1-{MAX_BATCH_ITEMS} items, got {}",
                items.len()
            )))
        }
        WaitFor::Input { stream_id, .. } if check_stream_id(stream_id).is_err() => {
            check_stream_id(stream_id).map_err(|e| match e {
                Error::Invalid(m) => Error::Invalid(format!("wait.streamId: {m}")),
                other => other,
            })
        }
        WaitFor::Input { after, .. } if *after < 0 => Err(Error::invalid(format!(
            "wait.after must be a message number of 0 or more, got {after}"
        ))),
        WaitFor::Input {
            timeout_ms: Some(ms),
            ..
        } if !(0..=duration::MAX).contains(ms) => Err(Error::invalid(format!(
            "wait.timeoutMs must be a whole number of milliseconds from 0 to {}, got {ms}",
            duration::MAX
        ))),
        _ => Ok(()),
    }
}

pub(crate) fn wait_in(
    tx: &mut Txn<'_>,
    env_id: &str,
    run_id: &str,
    req: &WaitRequest,
) -> Result<WaitState> {
    let now = tx.now();
    let position = i64::from(req.position);
    // The waitpoint is locked before the run (see `trigr_store::tx`), so that a completion
    // racing this call either sees the run suspended or is seen by it.
    match (tx.journal_entry(run_id, position)?, &req.wait) {
        (
            Some(JournalEntry {
                waitpoint_id: Some(w),
                ..
            }),
            _,
        ) => {
            tx.waitpoint(env_id, &w)?;
        }
        (None, Wait::Token { token_id }) => {
            tx.waitpoint(env_id, token_id)?;
        }
        _ => {}
    }
    let run = leased_run(tx, env_id, run_id, &req.lease)?;
    let (wp, run_ids) = match tx.journal_entry(run_id, position)? {
        Some(entry) => {
            check_entry(&entry, JournalKind::Wait, &req.name)?;
            let mut wp = waitpoint_of(tx.store(), env_id, &entry)?;
            // A message that came while another command held the wait completes it now.
            if fill_input_wait(tx, &wp, now)? {
                wp = waitpoint_of(tx.store(), env_id, &entry)?;
            }
            let run_ids = child_ids(tx.store(), &wp)?;
            (wp, run_ids)
        }
        None => create(tx, &run, req, now)?,
    };
    let suspended = match wp.status {
        WaitpointStatus::Waiting if req.suspend => {
            suspend(tx, &run, now)?;
            // Its slot is free: another run may start.
            tx.wake(env_id);
            Some(true)
        }
        WaitpointStatus::Waiting => Some(false),
        _ => None,
    };
    Ok(state(position, &wp, suspended, run_ids))
}

fn state(
    position: i64,
    wp: &Waitpoint,
    suspended: Option<bool>,
    run_ids: Vec<String>,
) -> WaitState {
    WaitState {
        position,
        waitpoint_id: wp.id.clone(),
        status: wp.status,
        output: wp.output.clone(),
        suspended,
        run_ids,
    }
}

fn waitpoint_of(tx: &mut dyn ReadTx, env_id: &str, entry: &JournalEntry) -> Result<Waitpoint> {
    let missing = || {
        Error::Store(trigr_store::Error::Corrupt(format!(
            "the wait at position {} of run {} has no waitpoint",
            entry.position, entry.run_id
        )))
    };
    let id = entry.waitpoint_id.as_deref().ok_or_else(missing)?;
    tx.waitpoint(env_id, id)?.ok_or_else(missing)
}

fn child_ids(tx: &mut dyn ReadTx, wp: &Waitpoint) -> Result<Vec<String>> {
    Ok(match wp.kind {
        WaitpointKind::Run | WaitpointKind::Batch => tx
            .runs_of_waitpoint(&wp.id)?
            .into_iter()
            .map(|r| r.id)
            .collect(),
        WaitpointKind::Token | WaitpointKind::Datetime | WaitpointKind::Input => Vec::new(),
    })
}

/// The first call at a position: the waitpoint, its children and the journal entry. Returns
/// the waitpoint as it now stands and the children.
fn create(
    tx: &mut Txn<'_>,
    run: &Run,
    req: &WaitRequest,
    now: Millis,
) -> Result<(Waitpoint, Vec<String>)> {
    let mut wp = Waitpoint {
        seq: 0,
        id: id::new("waitpoint"),
        env_id: run.env_id.clone(),
        kind: WaitpointKind::Datetime,
        status: WaitpointStatus::Waiting,
        owner_run_id: Some(run.id.clone()),
        due_at: None,
        idempotency_key: None,
        idempotency_expires_at: None,
        tags: Vec::new(),
        output: None,
        batch_id: None,
        created_at: now,
        updated_at: now,
        completed_at: None,
        input: None,
    };
    let mut run_ids = Vec::new();
    match &req.wait {
        Wait::Duration { ms } => at_time(&mut wp, now.saturating_add(*ms), now),
        Wait::Until { at } => at_time(&mut wp, *at, now),
        Wait::Token { token_id } => {
            wp = tx
                .waitpoint(&run.env_id, token_id)?
                .filter(|w| w.kind == WaitpointKind::Token)
                .ok_or_else(|| Error::not_found(format!("Waitpoint token {token_id} not found")))?;
        }
        Wait::Run { child } => {
            wp.kind = WaitpointKind::Run;
            let env = environment(tx, &run.env_id)?;
            let c = trigger_child(tx, &env, run, child, None, "triggerAndWait", now)?;
            run_ids.push(c.id);
        }
        Wait::Batch { children } => {
            wp.kind = WaitpointKind::Batch;
            let env = environment(tx, &run.env_id)?;
            let n = children.len() as i64;
            let batch = Batch {
                id: id::new("batch"),
                env_id: run.env_id.clone(),
                run_count: n,
                idempotency_key: None,
                idempotency_key_user: None,
                sealed: true,
                items_accepted: n,
                created_at: now,
                updated_at: now,
            };
            tx.insert_batch(&batch)?;
            for (i, item) in children.iter().enumerate() {
                let slot = Some((batch.id.clone(), i as i64));
                let c = trigger_child(tx, &env, run, item, slot, "batchTriggerAndWait", now)
                    .map_err(|e| item_error(i, e))?;
                tx.insert_batch_item(&batch.id, i as i64, &c.id)?;
                run_ids.push(c.id);
            }
            wp.batch_id = Some(batch.id);
        }
        Wait::Items { batch_id } => {
            wp.kind = WaitpointKind::Batch;
            wp.batch_id = Some(batch_id.clone());
        }
        Wait::Input {
            stream_id,
            after,
            timeout_ms,
        } => {
            wp.kind = WaitpointKind::Input;
            wp.due_at = timeout_ms.map(|ms| now.saturating_add(ms));
            wp.input = Some(InputWait {
                stream_id: stream_id.clone(),
                after: *after,
            });
            // A message already there (sent before the task listened) completes it at once.
            if let Some(m) = tx.input_messages(&run.id, stream_id, *after, 1)?.first() {
                wp.status = WaitpointStatus::Completed;
                wp.output = Some(message_json(m).to_string());
                wp.completed_at = Some(now);
            }
        }
    }
    if wp.kind != WaitpointKind::Token {
        tx.insert_waitpoint(&wp)?;
    }
    if !run_ids.is_empty() {
        tx.insert_waitpoint_runs(&wp.id, &run_ids)?;
        // Children an idempotency key found already ended complete the wait at once.
        complete_if_children_ended(tx, &wp, now)?;
        wp = tx.waitpoint(&run.env_id, &wp.id)?.unwrap_or(wp);
    }
    tx.insert_journal_entry(&JournalEntry {
        run_id: run.id.clone(),
        position: i64::from(req.position),
        kind: JournalKind::Wait,
        name: req.name.clone(),
        output: None,
        waitpoint_id: Some(wp.id.clone()),
        created_at: now,
        wait: None,
    })?;
    Ok((wp, run_ids))
}

/// A datetime waitpoint due at `at`; one already due is complete from the start.
fn at_time(wp: &mut Waitpoint, at: Millis, now: Millis) {
    wp.kind = WaitpointKind::Datetime;
    wp.due_at = Some(at);
    if at <= now {
        wp.status = WaitpointStatus::Completed;
        wp.completed_at = Some(now);
    }
}

fn environment(tx: &mut Txn<'_>, env_id: &str) -> Result<Environment> {
    tx.environment(env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))
}

/// A child run as a worker describes it: the payload is plain JSON unless the worker names
/// another packet type (a SuperJSON or text string).
fn child_run(
    task: &str,
    payload: Option<Value>,
    mut options: TriggerOptions,
    span_id: Option<String>,
    max_payload: usize,
    now: Millis,
) -> Result<NewRun> {
    if let Some(s) = &span_id {
        if !trigr_types::trace::is_span_id(s) {
            return Err(Error::invalid(format!(
                "wait.spanId '{}' is not a span id (16 lowercase hex digits, not all zeros)",
                truncated(s, 40)
            )));
        }
    }
    let payload = match (payload, options.payload_type.as_deref()) {
        (None | Some(Value::Null), _) => None,
        (Some(p), None | Some(packet::JSON)) => Some(Value::String(p.to_string())),
        (Some(p), Some(_)) => Some(p),
    };
    options
        .payload_type
        .get_or_insert_with(|| packet::JSON.to_string());
    let mut new = prepare(task, payload, options, max_payload, now)?;
    new.parent_span = span_id;
    Ok(new)
}

/// Triggers a child of `parent`, locked to the parent's version. In a development
/// environment, a child whose task the parent's version does not declare (another worker's
/// task) goes to the version serving that task ([`crate::serving`]).
fn trigger_child(
    tx: &mut Txn<'_>,
    env: &Environment,
    parent: &Run,
    child: &NewRun,
    batch: Option<(String, i64)>,
    trigger_function: &'static str,
    now: Millis,
) -> Result<Run> {
    let mut new = child.clone();
    new.parent_run_id = Some(parent.id.clone());
    new.version = child_version(tx, env, parent, &child.task_id)?;
    let resolved = new.version.is_none() && parent.version.is_some();
    new.batch = batch;
    new.trigger_function = trigger_function;
    match create_run(tx, env, &new, now) {
        Ok(t) => Ok(t.run),
        // A task no version declares is the worker's mistake, as on its parent's version.
        Err(Error::NotFound(m)) if resolved => Err(Error::Unprocessable(m)),
        Err(e) => Err(e),
    }
}

/// The version a child run is locked to: its parent's, unless (in development only) that
/// version does not declare the child's task; then none, so that it is resolved.
fn child_version(
    tx: &mut Txn<'_>,
    env: &Environment,
    parent: &Run,
    task_id: &str,
) -> Result<Option<String>> {
    let Some(version) = &parent.version else {
        return Ok(None);
    };
    if env.kind != EnvKind::Development {
        return Ok(Some(version.clone()));
    }
    let declared = tx
        .loaded_deployment(&env.id, version)?
        .is_some_and(|d| d.task(task_id).is_some());
    Ok(declared.then(|| version.clone()))
}

/// The error of batch item `i`, of the same kind, naming the item.
fn item_error(i: usize, e: Error) -> Error {
    match e {
        Error::Invalid(m) => Error::Invalid(format!("wait.items[{i}]: {m}")),
        Error::Unprocessable(m) => Error::Unprocessable(format!("wait.items[{i}]: {m}")),
        Error::NotFound(m) => Error::NotFound(format!("wait.items[{i}]: {m}")),
        Error::TooLarge(m) => Error::TooLarge(format!("wait.items[{i}]: {m}")),
        other => other,
    }
}

/// `EXECUTING → WAITING`: the attempt's lease ends and its slot is freed.
fn suspend(tx: &mut Txn<'_>, run: &Run, now: Millis) -> Result<()> {
    transition_leased(tx, run, &suspended(run, now))
}

/// The state of a held wait, for its long-poll.
fn held_wait(
    tx: &mut dyn ReadTx,
    env_id: &str,
    run_id: &str,
    position: i64,
    lease: &str,
) -> Result<WaitState> {
    let run = tx
        .run(env_id, run_id)?
        .ok_or_else(|| Error::run_not_found(run_id))?;
    check_lease(&run, lease)?;
    let entry = tx
        .journal_entry(run_id, position)?
        .filter(|e| e.kind == JournalKind::Wait)
        .ok_or_else(|| {
            Error::not_found(format!(
                "Run {run_id} has no wait journaled at position {position}"
            ))
        })?;
    let wp = waitpoint_of(tx, env_id, &entry)?;
    let suspended = (wp.status == WaitpointStatus::Waiting).then_some(false);
    let run_ids = child_ids(tx, &wp)?;
    Ok(state(position, &wp, suspended, run_ids))
}
