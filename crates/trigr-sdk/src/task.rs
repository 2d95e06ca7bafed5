//! Defining tasks: [`task`] starts a [`TaskBuilder`]; [`TaskBuilder::run`] gives the [`Task`].
//!
//! A task is an id, a typed payload and output (JSON through serde), its settings (retry,
//! queue, longest duration, machine, payload schema) and hooks. The settings go into the
//! manifest a [`Worker`](crate::Worker) registers; the code runs when a run is dequeued.

use std::future::Future;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::Duration;

use futures::future::BoxFuture;
use futures::FutureExt;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use trigr_types::manifest::{task_queue_name, QueueManifest, ScheduleManifest, TaskManifest};

use crate::context::Context;
use crate::task_error::TaskError;

pub use trigr_types::RetryPolicy;

/// Something that names a task and its types: a [`Task`] or a [`TaskRef`]. Triggers take it so
/// the payload and output types are checked at compile time.
pub trait TaskHandle {
    /// What the task takes.
    type Payload: Serialize + Send + Sync;
    /// What the task returns.
    type Output: DeserializeOwned + Send;
    /// The task's id.
    fn id(&self) -> &str;
}

/// A typed reference to a task defined elsewhere (another binary, another language): the id
/// and the types, without the code.
///
/// ```
/// # use trigr_sdk::TaskRef;
/// # #[derive(serde::Serialize)] struct Email { to: String }
/// let send_email = TaskRef::<Email, serde_json::Value>::new("send-email");
/// ```
pub struct TaskRef<P, O> {
    id: String,
    types: PhantomData<fn(P) -> O>,
}

impl<P, O> TaskRef<P, O> {
    /// A reference to the task with this id.
    pub fn new(id: impl Into<String>) -> TaskRef<P, O> {
        TaskRef {
            id: id.into(),
            types: PhantomData,
        }
    }
}

impl<P, O> Clone for TaskRef<P, O> {
    fn clone(&self) -> Self {
        TaskRef::new(self.id.clone())
    }
}

impl<P, O> TaskHandle for TaskRef<P, O>
where
    P: Serialize + Send + Sync,
    O: DeserializeOwned + Send,
{
    type Payload = P;
    type Output = O;
    fn id(&self) -> &str {
        &self.id
    }
}

pub(crate) type RunFn<P, O> =
    Arc<dyn Fn(P, Context) -> BoxFuture<'static, Result<O, TaskError>> + Send + Sync>;
pub(crate) type StartHook<P> = Arc<dyn Fn(P, Context) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type SuccessHook<P, O> =
    Arc<dyn Fn(P, O, Context) -> BoxFuture<'static, ()> + Send + Sync>;
pub(crate) type FailureHook<P> =
    Arc<dyn Fn(P, TaskError, Context) -> BoxFuture<'static, ()> + Send + Sync>;

/// Lifecycle hooks of a task (typed) or of a worker (JSON values).
pub(crate) struct Hooks<P, O> {
    pub(crate) on_start: Option<StartHook<P>>,
    pub(crate) on_success: Option<SuccessHook<P, O>>,
    pub(crate) on_failure: Option<FailureHook<P>>,
}

impl<P, O> Default for Hooks<P, O> {
    fn default() -> Self {
        Hooks {
            on_start: None,
            on_success: None,
            on_failure: None,
        }
    }
}

impl<P, O> Clone for Hooks<P, O> {
    fn clone(&self) -> Self {
        Hooks {
            on_start: self.on_start.clone(),
            on_success: self.on_success.clone(),
            on_failure: self.on_failure.clone(),
        }
    }
}

impl<P: Send + 'static, O: Send + 'static> Hooks<P, O> {
    pub(crate) fn set_start<F, Fut>(&mut self, f: F)
    where
        F: Fn(P, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_start = Some(Arc::new(move |p, ctx| f(p, ctx).boxed()));
    }

    pub(crate) fn set_success<F, Fut>(&mut self, f: F)
    where
        F: Fn(P, O, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_success = Some(Arc::new(move |p, o, ctx| f(p, o, ctx).boxed()));
    }

    pub(crate) fn set_failure<F, Fut>(&mut self, f: F)
    where
        F: Fn(P, TaskError, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.on_failure = Some(Arc::new(move |p, e, ctx| f(p, e, ctx).boxed()));
    }
}

/// Starts the definition of the task with this id (1–128 characters of `A-Za-z0-9_.:/-`).
///
/// The payload type `P` and output type `O` are usually inferred from the closure given to
/// [`TaskBuilder::run`].
pub fn task<P, O>(id: impl Into<String>) -> TaskBuilder<P, O> {
    TaskBuilder {
        manifest: TaskManifest {
            id: id.into(),
            queue: None,
            retry: None,
            max_duration: None,
            machine: None,
            payload_schema: None,
            schedule: None,
            file_path: None,
            export_name: None,
        },
        hooks: Hooks::default(),
    }
}

/// The settings and hooks of a task being defined; [`TaskBuilder::run`] finishes it.
pub struct TaskBuilder<P, O> {
    manifest: TaskManifest,
    hooks: Hooks<P, O>,
}

impl<P, O> TaskBuilder<P, O>
where
    P: Serialize + DeserializeOwned + Send + Sync + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    /// How failed attempts are retried (default: 3 attempts, 1 s doubling to 60 s, jitter).
    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.manifest.retry = Some(policy);
        self
    }

    /// Shortcut for a default retry policy with this many attempts in all (1 = no retry).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        let policy = self.manifest.retry.take().unwrap_or_default();
        self.manifest.retry = Some(RetryPolicy {
            max_attempts: attempts,
            ..policy
        });
        self
    }

    /// Runs on the named queue (shared by every task naming it) instead of the task's own.
    pub fn queue(mut self, name: impl Into<String>) -> Self {
        let limit = self.manifest.queue.take().and_then(|q| q.concurrency_limit);
        self.manifest.queue = Some(QueueManifest {
            name: name.into(),
            concurrency_limit: limit,
        });
        self
    }

    /// At most this many runs of the task's queue execute at once (0: none start).
    pub fn concurrency_limit(mut self, limit: u32) -> Self {
        let name = match self.manifest.queue.take() {
            Some(q) => q.name,
            None => task_queue_name(&self.manifest.id),
        };
        self.manifest.queue = Some(QueueManifest {
            name,
            concurrency_limit: Some(limit),
        });
        self
    }

    /// An attempt running longer ends the run as `TIMED_OUT` (whole seconds, at least 1).
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.manifest.max_duration = Some(max.as_secs().max(1));
        self
    }

    /// Machine preset recorded on the runs: `micro`, `small-1x`, …, `large-2x`.
    pub fn machine(mut self, preset: impl Into<String>) -> Self {
        self.manifest.machine = Some(preset.into());
        self
    }

    /// A JSON Schema the server checks every payload against before a run exists (422).
    pub fn payload_schema(mut self, schema: Value) -> Self {
        self.manifest.payload_schema = Some(schema);
        self
    }

    /// The JSON Schema of `T` (usually the payload type) derived with `schemars`.
    pub fn payload_schema_of<T: schemars::JsonSchema>(self) -> Self {
        let schema = schemars::schema_for!(T);
        self.payload_schema(schema.to_value())
    }

    /// Fires a run of the task on this cron pattern (five fields: minute, hour, day of month,
    /// month, day of week) while the deployment registering it is current, in UTC unless
    /// [`TaskBuilder::timezone`] says otherwise. The server checks the pattern when the
    /// worker registers (422 naming the task).
    pub fn cron(mut self, pattern: impl Into<String>) -> Self {
        self.schedule_manifest().cron = pattern.into();
        self
    }

    /// The IANA time zone the [`TaskBuilder::cron`] pattern is read in (`Europe/Paris`);
    /// ticks follow its daylight saving changes.
    pub fn timezone(mut self, zone: impl Into<String>) -> Self {
        self.schedule_manifest().timezone = Some(zone.into());
        self
    }

    /// Spreads the [`TaskBuilder::cron`] ticks: each fires at a fixed offset within this
    /// window after its cron time (`"30m"`, `"2h"`: 1 minute to 24 hours; `"30%"`: a share of
    /// the time to the next tick), the same on every server. The run's `timestamp` stays the
    /// cron time. The server checks it when the worker registers (422 naming the task).
    pub fn window(mut self, window: impl Into<String>) -> Self {
        self.schedule_manifest().window = Some(window.into());
        self
    }

    fn schedule_manifest(&mut self) -> &mut ScheduleManifest {
        self.manifest
            .schedule
            .get_or_insert_with(|| ScheduleManifest {
                cron: String::new(),
                timezone: None,
                window: None,
            })
    }

    /// [`TaskBuilder::cron`] and [`TaskBuilder::timezone`] at once.
    pub fn schedule(self, pattern: impl Into<String>, zone: impl Into<String>) -> Self {
        self.cron(pattern).timezone(zone)
    }

    /// Called when the run starts: its first attempt, not on retries nor on resumes after a
    /// wait. A panic here fails the attempt.
    pub fn on_start<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(P, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_start(f);
        self
    }

    /// Called after the task returned its output, before the run is reported complete.
    pub fn on_success<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(P, O, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_success(f);
        self
    }

    /// Called when an attempt fails and no retry will follow (the last attempt, or an error
    /// that is not retryable), before the failure is reported.
    pub fn on_failure<F, Fut>(mut self, f: F) -> Self
    where
        F: Fn(P, TaskError, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        self.hooks.set_failure(f);
        self
    }

    /// The task's code: an async function of the payload and the run's [`Context`].
    pub fn run<F, Fut>(self, f: F) -> Task<P, O>
    where
        F: Fn(P, Context) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<O, TaskError>> + Send + 'static,
    {
        Task {
            inner: Arc::new(Inner {
                manifest: self.manifest,
                run: Arc::new(move |p, ctx| f(p, ctx).boxed()),
                hooks: self.hooks,
            }),
        }
    }
}

/// A defined task: add it to a [`Worker`](crate::Worker) to run it, pass it to
/// [`Client::trigger`](crate::Client::trigger) or
/// [`Context::trigger_and_wait`](crate::Context::trigger_and_wait) to start runs of it.
pub struct Task<P, O> {
    inner: Arc<Inner<P, O>>,
}

struct Inner<P, O> {
    manifest: TaskManifest,
    run: RunFn<P, O>,
    hooks: Hooks<P, O>,
}

impl<P, O> Clone for Task<P, O> {
    fn clone(&self) -> Self {
        Task {
            inner: self.inner.clone(),
        }
    }
}

impl<P, O> Task<P, O> {
    /// The manifest entry the worker registers.
    pub fn manifest(&self) -> &TaskManifest {
        &self.inner.manifest
    }
}

impl<P, O> TaskHandle for Task<P, O>
where
    P: Serialize + Send + Sync,
    O: DeserializeOwned + Send,
{
    type Payload = P;
    type Output = O;
    fn id(&self) -> &str {
        &self.inner.manifest.id
    }
}

/// A task with its types erased, as the worker holds it.
pub(crate) trait Runnable: Send + Sync {
    fn manifest(&self) -> &TaskManifest;
    fn on_start(&self, payload: &Value, ctx: Context) -> BoxFuture<'static, ()>;
    fn run(&self, payload: &Value, ctx: Context) -> BoxFuture<'static, Result<Value, TaskError>>;
    fn on_success(&self, payload: &Value, output: &Value, ctx: Context) -> BoxFuture<'static, ()>;
    fn on_failure(
        &self,
        payload: &Value,
        error: &TaskError,
        ctx: Context,
    ) -> BoxFuture<'static, ()>;
}

impl<P, O> Runnable for Task<P, O>
where
    P: Serialize + DeserializeOwned + Send + Sync + 'static,
    O: Serialize + DeserializeOwned + Send + 'static,
{
    fn manifest(&self) -> &TaskManifest {
        &self.inner.manifest
    }

    fn on_start(&self, payload: &Value, ctx: Context) -> BoxFuture<'static, ()> {
        match (&self.inner.hooks.on_start, decode::<P>(payload)) {
            (Some(hook), Ok(p)) => hook(p, ctx),
            _ => async {}.boxed(),
        }
    }

    fn run(&self, payload: &Value, ctx: Context) -> BoxFuture<'static, Result<Value, TaskError>> {
        let payload = match decode::<P>(payload) {
            Ok(p) => p,
            Err(e) => return async move { Err(e) }.boxed(),
        };
        let output = (self.inner.run)(payload, ctx);
        async move {
            let output = output.await?;
            serde_json::to_value(&output).map_err(|e| {
                TaskError::fatal(format!("the output could not be turned into JSON: {e}"))
                    .named("OutputError")
            })
        }
        .boxed()
    }

    fn on_success(&self, payload: &Value, output: &Value, ctx: Context) -> BoxFuture<'static, ()> {
        let output = serde_json::from_value::<O>(output.clone());
        match (&self.inner.hooks.on_success, decode::<P>(payload), output) {
            (Some(hook), Ok(p), Ok(o)) => hook(p, o, ctx),
            _ => async {}.boxed(),
        }
    }

    fn on_failure(
        &self,
        payload: &Value,
        error: &TaskError,
        ctx: Context,
    ) -> BoxFuture<'static, ()> {
        match (&self.inner.hooks.on_failure, decode::<P>(payload)) {
            (Some(hook), Ok(p)) => hook(p, error.clone(), ctx),
            _ => async {}.boxed(),
        }
    }
}

/// The payload as `P`; a payload that does not fit fails the run at once.
fn decode<P: DeserializeOwned>(payload: &Value) -> Result<P, TaskError> {
    serde_json::from_value(payload.clone()).map_err(|e| {
        TaskError::fatal(format!(
            "the payload does not fit the task's payload type: {e}"
        ))
        .named("PayloadError")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Serialize, Deserialize, schemars::JsonSchema)]
    struct Email {
        to: String,
    }

    #[test]
    fn builder_fills_the_manifest() {
        let t = task("send-email")
            .max_attempts(5)
            .concurrency_limit(2)
            .max_duration(Duration::from_secs(300))
            .machine("small-1x")
            .payload_schema_of::<Email>()
            .run(|e: Email, _ctx| async move { Ok(e.to.len()) });
        let m = serde_json::to_value(t.manifest()).expect("manifest");
        assert_eq!(m["id"], json!("send-email"));
        assert_eq!(m["retry"]["maxAttempts"], json!(5));
        assert_eq!(m["retry"]["factor"], json!(2.0));
        assert_eq!(
            m["queue"],
            json!({"name": "task/send-email", "concurrencyLimit": 2})
        );
        assert_eq!(m["maxDuration"], json!(300));
        assert_eq!(m["payloadSchema"]["required"], json!(["to"]));
        assert_eq!(TaskHandle::id(&t), "send-email");
    }

    #[test]
    fn cron_timezone_and_window_fill_the_schedule() {
        let t = task("report")
            .cron("0 9 * * 1-5")
            .timezone("Europe/Paris")
            .run(|_: Value, _ctx| async move { Ok(()) });
        let m = serde_json::to_value(t.manifest()).expect("manifest");
        assert_eq!(
            m["schedule"],
            json!({"cron": "0 9 * * 1-5", "timezone": "Europe/Paris"})
        );
        let t = task("utc")
            .schedule("*/5 * * * *", "UTC")
            .cron("0 * * * *")
            .run(|_: Value, _ctx| async move { Ok(()) });
        assert_eq!(
            serde_json::to_value(t.manifest()).expect("manifest")["schedule"],
            json!({"cron": "0 * * * *", "timezone": "UTC"})
        );
        let t = task("spread")
            .window("30m")
            .cron("0 * * * *")
            .timezone("Europe/Paris")
            .run(|_: Value, _ctx| async move { Ok(()) });
        assert_eq!(
            serde_json::to_value(t.manifest()).expect("manifest")["schedule"],
            json!({"cron": "0 * * * *", "timezone": "Europe/Paris", "window": "30m"})
        );
        let plain = task("plain").run(|_: Value, _ctx| async move { Ok(()) });
        let m = serde_json::to_value(plain.manifest()).expect("manifest");
        assert!(m.get("schedule").is_none(), "{m}");
    }

    #[test]
    fn named_queue_keeps_the_limit() {
        let t = task("a")
            .concurrency_limit(3)
            .queue("emails")
            .run(|_: Value, _ctx| async move { Ok(()) });
        assert_eq!(
            serde_json::to_value(t.manifest()).expect("manifest")["queue"],
            json!({"name": "emails", "concurrencyLimit": 3})
        );
    }
}
