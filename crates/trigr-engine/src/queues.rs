//! `queues`: list and retrieve queues with their counts; pause, resume, override and reset
//! their concurrency limit.

use trigr_store::{Queue, ReadTx};

use crate::{Engine, Error, Result};

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
}

/// A change to a queue.
#[derive(Clone, Copy, Debug)]
pub enum QueueChange {
    Pause,
    Resume,
    Override(i64),
    Reset,
}

fn find(tx: &mut dyn ReadTx, env_id: &str, r: &QueueRef) -> Result<Queue> {
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

fn view(tx: &mut dyn ReadTx, queue: Queue) -> Result<QueueView> {
    let (running, queued) = tx.queue_counts(&queue.id)?;
    Ok(QueueView {
        queue,
        running,
        queued,
    })
}

impl Engine {
    pub async fn list_queues(
        &self,
        env_id: &str,
        page: usize,
        per_page: usize,
    ) -> Result<(Vec<QueueView>, i64)> {
        let env_id = env_id.to_string();
        self.read(move |tx| {
            let (queues, total) = tx.queues(&env_id, (page - 1) * per_page, per_page)?;
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
            if !(0..=100_000).contains(&n) {
                return Err(Error::invalid(
                    "concurrencyLimit must be between 0 and 100000",
                ));
            }
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
                    let env = tx
                        .environment(&env)?
                        .ok_or_else(|| Error::not_found("Environment not found"))?;
                    if n > env.concurrency_limit {
                        return Err(Error::invalid(format!(
                            "concurrencyLimit {n} is over the environment's limit of {}",
                            env.concurrency_limit
                        )));
                    }
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
