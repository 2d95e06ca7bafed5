//! Child runs from inside a task: `trigger`, `trigger_and_wait`, `batch_trigger_and_wait`.
//!
//! Each child triggered (not replayed from the journal) is a `trigger` span of the attempt,
//! with the child's task id and, when the trigger answers it, the child's run id. A child run
//! joins its parent's trace on the server.

use std::future::Future;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde::Serialize;
use trigr_types::wire::worker::ChildRun;

use super::results::TaskRunResult;
use super::{journaled, run_step, submit, Ended, WaitCall, Waited};
use crate::attempt::Attempt;
use crate::client::types::{RunHandle, TriggerOptions};
use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::WaitFor;
use crate::task::TaskHandle;
use crate::task_error::TaskError;

impl Context {
    /// Triggers a child run (its `parentRunId` is this run) without waiting for it.
    ///
    /// The trigger is journaled like a step, and sent with an idempotency key made of this
    /// run's id and the position (unless the options name one), so a re-executed run does not
    /// start the child twice.
    pub fn trigger<T: TaskHandle>(
        &self,
        task: &T,
        payload: &T::Payload,
    ) -> impl Future<Output = Result<RunHandle, TaskError>> + Send {
        self.trigger_with(task, payload, TriggerOptions::new())
    }

    /// [`trigger`](Context::trigger) with options.
    pub fn trigger_with<T: TaskHandle>(
        &self,
        task: &T,
        payload: &T::Payload,
        options: TriggerOptions,
    ) -> impl Future<Output = Result<RunHandle, TaskError>> + Send {
        let attempt = self.attempt.clone();
        let client = self.client.clone();
        let position = attempt.next_position();
        let task_id = task.id().to_string();
        let payload = serde_json::to_value(payload);
        let mut options = options.parent_run(&attempt.run_id);
        if !options.has_idempotency_key() {
            options = options.idempotency_key(format!("{}-{position}", attempt.run_id));
        }
        async move {
            let payload = payload.map_err(|e| Error::json("the payload", e))?;
            let name = format!("trigger/{task_id}");
            run_step(&attempt, position, &name, || async {
                let started = crate::spans::now_ns();
                let handle = client.trigger_id(&task_id, &payload, options).await;
                let child = Child {
                    task_id: &task_id,
                    run_id: handle.as_ref().ok().map(|h| h.id.as_str()),
                    batch_index: None,
                };
                let outcome = handle.as_ref().map(drop).map_err(ToString::to_string);
                record_trigger(&attempt, child, started, outcome);
                Ok(handle?)
            })
            .await
        }
    }

    /// Triggers a child run and waits for it to end; the run is suspended meanwhile.
    ///
    /// ```no_run
    /// # use trigr_sdk::{Context, TaskRef, TaskError};
    /// # async fn demo(ctx: Context) -> Result<(), TaskError> {
    /// let resize = TaskRef::<String, u64>::new("resize-image");
    /// let result = ctx.trigger_and_wait(&resize, &"cat.png".to_string()).await?;
    /// let bytes = result.into_result()?;
    /// # Ok(()) }
    /// ```
    pub fn trigger_and_wait<T: TaskHandle>(
        &self,
        task: &T,
        payload: &T::Payload,
    ) -> impl Future<Output = Result<TaskRunResult<T::Output>>> + Send
    where
        T::Output: 'static,
    {
        self.trigger_and_wait_with(task, payload, TriggerOptions::new())
    }

    /// [`trigger_and_wait`](Context::trigger_and_wait) with options.
    pub fn trigger_and_wait_with<T: TaskHandle>(
        &self,
        task: &T,
        payload: &T::Payload,
        options: TriggerOptions,
    ) -> impl Future<Output = Result<TaskRunResult<T::Output>>> + Send
    where
        T::Output: 'static,
    {
        let attempt = self.attempt.clone();
        let position = attempt.next_position();
        let name = format!("triggerAndWait/{}", task.id());
        let wait = item(task.id(), payload, &options).map(|item| WaitFor::Run {
            task: item.task,
            payload: item.payload,
            options: Box::new(item.options),
            span_id: None,
        });
        async move {
            let waited = wait_children(&attempt, position, &name, wait?).await?;
            let id = waited.run_ids.first().cloned().unwrap_or_default();
            match waited.ended {
                Ended::Completed(value) => TaskRunResult::from_wire(id, &value),
                Ended::TimedOut(error) => Ok(TaskRunResult::Err { id, error }),
            }
        }
    }

    /// Triggers one child run per payload and waits for all of them; the results come in the
    /// order of the payloads.
    pub fn batch_trigger_and_wait<T: TaskHandle>(
        &self,
        task: &T,
        payloads: impl IntoIterator<Item = T::Payload>,
    ) -> impl Future<Output = Result<Vec<TaskRunResult<T::Output>>>> + Send
    where
        T::Output: 'static,
    {
        let items = payloads
            .into_iter()
            .map(|p| (p, TriggerOptions::new()))
            .collect();
        self.batch_trigger_and_wait_with(task, items)
    }

    /// [`batch_trigger_and_wait`](Context::batch_trigger_and_wait) with options per item.
    pub fn batch_trigger_and_wait_with<T: TaskHandle>(
        &self,
        task: &T,
        items: Vec<(T::Payload, TriggerOptions)>,
    ) -> impl Future<Output = Result<Vec<TaskRunResult<T::Output>>>> + Send
    where
        T::Output: 'static,
    {
        let attempt = self.attempt.clone();
        let position = attempt.next_position();
        let name = format!("batchTriggerAndWait/{}", task.id());
        let wire: Result<Vec<ChildRun>> = items
            .iter()
            .map(|(payload, options)| item(task.id(), payload, options))
            .collect();
        async move {
            let items = wire?;
            if items.is_empty() {
                return Ok(Vec::new());
            }
            let wait = WaitFor::Batch { items };
            let waited = wait_children(&attempt, position, &name, wait).await?;
            batch_results(waited)
        }
    }
}

/// `{"task", "payload", "options"}` of one child.
fn item(task_id: &str, payload: &impl Serialize, options: &TriggerOptions) -> Result<ChildRun> {
    let payload = serde_json::to_value(payload).map_err(|e| Error::json("the payload", e))?;
    Ok(ChildRun {
        task: task_id.to_string(),
        payload: Some(payload),
        options: options.to_wire(),
        span_id: None,
    })
}

/// The journaled or submitted wait on children, with their run ids.
async fn wait_children(
    attempt: &Arc<Attempt>,
    position: u32,
    name: &str,
    mut wait: WaitFor,
) -> Result<Waited> {
    let journal = journaled(attempt, position, name).await;
    if journal.is_none() {
        record_waited_triggers(attempt, &mut wait);
    }
    let call = |hold| WaitCall {
        position,
        name,
        wait: wait.clone(),
        hold,
    };
    match journal {
        // §7.1 entries carry no run ids: the wait call, idempotent by position, tells them.
        Some(waited) if waited.run_ids.is_empty() => submit(attempt, call(true)).await,
        Some(waited) => Ok(waited),
        None => submit(attempt, call(false)).await,
    }
}

/// A child run a `trigger` span is about.
struct Child<'a> {
    task_id: &'a str,
    /// `None` until the trigger answers it.
    run_id: Option<&'a str>,
    /// The child's place in its batch.
    batch_index: Option<usize>,
}

/// Records the `trigger` span of one child, from `started` to now.
fn record_trigger(attempt: &Attempt, child: Child<'_>, started: i64, outcome: Result<(), String>) {
    let id = trigr_types::trace::new_span_id();
    record_trigger_as(attempt, id, child, started, outcome);
}

/// [`record_trigger`] under a span id chosen beforehand.
fn record_trigger_as(
    attempt: &Attempt,
    span_id: String,
    child: Child<'_>,
    started: i64,
    outcome: Result<(), String>,
) {
    let mut attributes = serde_json::json!({"trigr.child.task": child.task_id});
    if let Some(id) = child.run_id {
        attributes["trigr.child.run_id"] = id.into();
    }
    if let Some(i) = child.batch_index {
        attributes["trigr.batch.index"] = i.into();
    }
    attempt.spans.record_as(
        span_id,
        crate::spans::Finished {
            name: &format!("trigger {}", child.task_id),
            kind: "trigger",
            start_ns: started,
            outcome,
            attributes,
        },
    );
}

/// Records a `trigger` span for each child a wait is about to start, and names it in the wait
/// as the span the child's root span hangs under. The wait suspends the run, so the spans are
/// sent before it: the children's run ids are not in them, but each child's trace points back
/// at its span.
fn record_waited_triggers(attempt: &Attempt, wait: &mut WaitFor) {
    let started = crate::spans::now_ns();
    let children: Vec<(&str, Option<usize>, &mut Option<String>)> = match wait {
        WaitFor::Run { task, span_id, .. } => vec![(task.as_str(), None, span_id)],
        WaitFor::Batch { items } => items
            .iter_mut()
            .enumerate()
            .map(|(i, item)| (item.task.as_str(), Some(i), &mut item.span_id))
            .collect(),
        _ => Vec::new(),
    };
    for (task_id, batch_index, span_id) in children {
        let id = trigr_types::trace::new_span_id();
        *span_id = Some(id.clone());
        let child = Child {
            task_id,
            run_id: None,
            batch_index,
        };
        record_trigger_as(attempt, id, child, started, Ok(()));
    }
}

fn batch_results<O: DeserializeOwned>(waited: Waited) -> Result<Vec<TaskRunResult<O>>> {
    let items = match waited.ended {
        Ended::Completed(value) => value["items"].as_array().cloned().unwrap_or_default(),
        Ended::TimedOut(error) => {
            return Err(Error::BadAnswer {
                request: "a batch wait".into(),
                reason: format!("it timed out: {error}"),
            })
        }
    };
    items
        .iter()
        .enumerate()
        .map(|(i, value)| {
            let id = waited.run_ids.get(i).cloned().unwrap_or_default();
            TaskRunResult::from_wire(id, value)
        })
        .collect()
}
