//! `queues`: list and retrieve queues with their counts; pause, resume, override and reset
//! their concurrency limit; and the queues made through the API: create
//! ([`Engine::create_queue`]), edit ([`Engine::edit_queue`]) and delete
//! ([`Engine::delete_queue`]).
//!
//! Queues come from two places. A trigger or a deployment naming a queue makes it: such a
//! queue is *defined in code* and keeps its name, description and tags as they are (editing
//! or deleting it through the API is a conflict; pausing it and overriding its limit are not).
//! A queue made through the API is marked `from_api`; it can be renamed, described, tagged,
//! given another limit and deleted. A deletion is refused while runs of the queue are not
//! final, unless forced: then those runs move to their task's own queue (`task/<task>`) in
//! the same transaction.
//!
//! The route checks what a client sent with [`check_spec`] and [`check_edit`].

mod create;
mod delete;
mod edit;

pub use delete::{QueueDeleted, MAX_MOVED_TASKS};

use trigr_store::{Queue, ReadTx};

use crate::{Engine, Error, Result};

/// The longest queue name, in bytes.
pub const MAX_NAME_BYTES: usize = 128;
/// The longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 1024;
/// The most tags a queue carries.
pub const MAX_TAGS: usize = 10;
/// The longest tag, in bytes.
pub const MAX_TAG_BYTES: usize = 128;
/// The highest concurrency limit a queue can be given.
pub const MAX_LIMIT: i64 = 100_000;

/// A queue to make through the API, checked by [`check_spec`].
#[derive(Clone, Debug, Default)]
pub struct QueueSpec {
    pub name: String,
    /// `None`: only the environment's limit.
    pub concurrency_limit: Option<i64>,
    pub description: Option<String>,
    pub tags: Vec<String>,
}

/// What to change on a queue made through the API (`None`: leave as is), checked by
/// [`check_edit`].
#[derive(Clone, Debug, Default)]
pub struct QueueEdit {
    pub name: Option<String>,
    /// `Some(None)` removes the queue's own limit.
    pub concurrency_limit: Option<Option<i64>>,
    /// `Some(None)` removes the description.
    pub description: Option<Option<String>>,
    pub tags: Option<Vec<String>>,
}

fn check_text(what: &str, s: &str, max: usize) -> Result<()> {
    if s.len() > max {
        return Err(Error::invalid(format!(
            "{what} is {} bytes, over the limit of {max}",
            s.len()
        )));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::invalid(format!(
            "{what} must not contain control characters"
        )));
    }
    Ok(())
}

fn check_name(name: &str) -> Result<()> {
    check_text("name", name, MAX_NAME_BYTES)?;
    if name.trim().is_empty() {
        return Err(Error::invalid("name must not be empty"));
    }
    if name.starts_with("task/") || name.starts_with("queue_") {
        return Err(Error::invalid(
            "name must not start with 'task/' (task queues) or 'queue_' (queue ids)",
        ));
    }
    Ok(())
}

fn check_limit(limit: Option<i64>) -> Result<()> {
    match limit {
        Some(n) if !(0..=MAX_LIMIT).contains(&n) => Err(Error::invalid(format!(
            "concurrencyLimit must be between 0 and {MAX_LIMIT}"
        ))),
        _ => Ok(()),
    }
}

fn check_description(d: Option<&str>) -> Result<()> {
    d.map_or(Ok(()), |d| {
        check_text("description", d, MAX_DESCRIPTION_BYTES)
    })
}

/// Checks tags and returns them sorted without repeats.
pub fn check_tags(tags: Vec<String>) -> Result<Vec<String>> {
    if tags.len() > MAX_TAGS {
        return Err(Error::invalid(format!(
            "{} tags given, over the limit of {MAX_TAGS}",
            tags.len()
        )));
    }
    for t in &tags {
        check_text("a tag", t, MAX_TAG_BYTES)?;
        if t.is_empty() {
            return Err(Error::invalid("a tag must not be empty"));
        }
    }
    let mut tags = tags;
    tags.sort();
    tags.dedup();
    Ok(tags)
}

/// Checks a queue to create.
pub fn check_spec(spec: QueueSpec) -> Result<QueueSpec> {
    check_name(&spec.name)?;
    check_limit(spec.concurrency_limit)?;
    check_description(spec.description.as_deref())?;
    let tags = check_tags(spec.tags)?;
    Ok(QueueSpec { tags, ..spec })
}

/// Checks a change to a queue.
pub fn check_edit(edit: QueueEdit) -> Result<QueueEdit> {
    if let Some(name) = &edit.name {
        check_name(name)?;
    }
    check_limit(edit.concurrency_limit.flatten())?;
    check_description(edit.description.as_ref().and_then(|d| d.as_deref()))?;
    let tags = edit.tags.map(check_tags).transpose()?;
    Ok(QueueEdit { tags, ..edit })
}

/// Refuses a limit over the environment's own.
fn within_env_limit(tx: &mut dyn ReadTx, env_id: &str, limit: Option<i64>) -> Result<()> {
    let Some(n) = limit else { return Ok(()) };
    let env = tx
        .environment(env_id)?
        .ok_or_else(|| Error::not_found("Environment not found"))?;
    if n > env.concurrency_limit {
        return Err(Error::invalid(format!(
            "concurrencyLimit {n} is over the environment's limit of {}",
            env.concurrency_limit
        )));
    }
    Ok(())
}

/// How a queue is named in a request.
#[derive(Clone, Debug)]
pub enum QueueRef {
    Id(String),
    /// A task queue, by task id.
    Task(String),
    Custom(String),
    /// A name given without a type: a custom queue of that name, else the task queue.
    Named(String),
}

/// A queue with its live counts.
#[derive(Clone, Debug)]
pub struct QueueView {
    pub queue: Queue,
    pub running: i64,
    pub queued: i64,
    /// Its tags, in order.
    pub tags: Vec<String>,
}

/// A change to a queue.
#[derive(Clone, Copy, Debug)]
pub enum QueueChange {
    Pause,
    Resume,
    Override(i64),
    Reset,
}

pub(crate) fn find(tx: &mut dyn ReadTx, env_id: &str, r: &QueueRef) -> Result<Queue> {
    let found = match r {
        QueueRef::Id(id) => tx.queue_by_id(env_id, id)?,
        QueueRef::Task(name) => {
            let task = name.strip_prefix("task/").unwrap_or(name);
            tx.queue_by_name(env_id, &format!("task/{task}"))?
        }
        QueueRef::Custom(name) => tx.queue_by_name(env_id, name)?,
        QueueRef::Named(name) => match tx.queue_by_name(env_id, name)? {
            Some(q) => Some(q),
            None => tx.queue_by_name(env_id, &format!("task/{name}"))?,
        },
    };
    found.ok_or_else(|| {
        let name = match r {
            QueueRef::Id(s) | QueueRef::Task(s) | QueueRef::Custom(s) | QueueRef::Named(s) => s,
        };
        Error::not_found(format!("Queue '{name}' not found"))
    })
}

pub(crate) fn view(tx: &mut dyn ReadTx, queue: Queue) -> Result<QueueView> {
    let (running, queued) = tx.queue_counts(&queue.id)?;
    let tags = tx.queue_tags(&queue.id)?;
    Ok(QueueView {
        queue,
        running,
        queued,
        tags,
    })
}

impl Engine {
    /// A page of the environment's queues in name order, only those carrying `tag` when
    /// given, and how many there are in all.
    pub async fn list_queues(
        &self,
        env_id: &str,
        tag: Option<String>,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<QueueView>, i64)> {
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let offset = (page - 1) * per_page;
            let (queues, total) = match &tag {
                Some(tag) => tx.queues_tagged(&env_id, tag, offset, per_page)?,
                None => tx.queues(&env_id, offset, per_page)?,
            };
            let views = queues
                .into_iter()
                .map(|q| view(tx, q))
                .collect::<Result<Vec<_>>>()?;
            Ok((views, total))
        })
        .await
    }

    pub async fn retrieve_queue(&self, env_id: &str, r: QueueRef) -> Result<QueueView> {
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let q = find(tx, &env_id, &r)?;
            view(tx, q)
        })
        .await
    }

    pub async fn change_queue(
        &self,
        env_id: &str,
        r: QueueRef,
        change: QueueChange,
    ) -> Result<QueueView> {
        if let QueueChange::Override(n) = change {
            check_limit(Some(n))?;
        }
        let env = env_id.to_string();
        self.write(move |tx| {
            let found = find(tx.store(), &env, &r)?;
            let mut q = tx
                .queue_for_update(&env, &found.id)?
                .ok_or_else(|| Error::not_found("Queue not found"))?;
            match change {
                QueueChange::Pause => q.paused = true,
                QueueChange::Resume => q.paused = false,
                QueueChange::Override(n) => {
                    within_env_limit(tx.store(), &env, Some(n))?;
                    q.override_limit = Some(n);
                    q.overridden_at = Some(tx.now());
                }
                QueueChange::Reset => {
                    q.override_limit = None;
                    q.overridden_at = None;
                }
            }
            tx.update_queue(&q)?;
            // A resumed queue or a raised limit may let runs start.
            tx.wake(&env);
            view(tx.store(), q)
        })
        .await
    }
}
