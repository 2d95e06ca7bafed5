//! Define durable background tasks in Rust, run them in workers that pull from a trigr server,
//! and trigger and manage runs.
//!
//! # Quick start
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use trigr_sdk::{task, Client, Worker};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Email { to: String }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), trigr_sdk::Error> {
//!     let send_email = task("send-email")
//!         .max_attempts(5)
//!         .concurrency_limit(10)
//!         .run(|email: Email, ctx| async move {
//!             ctx.logger.info_with("sending", serde_json::json!({ "to": email.to }));
//!             let id: String = ctx
//!                 .step("deliver", || async { Ok("msg_1".to_string()) })
//!                 .await?;
//!             Ok(id)
//!         });
//!
//!     // Somewhere else (a web handler, another process): trigger a run.
//!     let client = Client::from_env()?;
//!     client.trigger(&send_email, &Email { to: "a@example.com".into() }).await?;
//!
//!     // The worker process: registers a deployment and runs until SIGTERM or ctrl-c.
//!     Worker::from_env()?.task(send_email).run().await
//! }
//! ```
//!
//! Both read `TRIGGER_API_URL` (default `http://127.0.0.1:3030`) and `TRIGGER_SECRET_KEY`.
//!
//! # Defining tasks: a builder, not a macro
//!
//! [`task`]`("id")` starts a [`TaskBuilder`]; settings (retry, queue, concurrency limit, longest
//! duration, machine, payload schema) and hooks chain on it, and [`TaskBuilder::run`] takes the
//! code and gives a [`Task`]. A builder was chosen over an attribute macro because the task is
//! then an ordinary value: it can be passed to [`Worker::task`], to [`Client::trigger`] and to
//! [`Context::trigger_and_wait`] with its payload and output types checked, shared between
//! binaries, built in a loop, and read by rust-analyzer without macro expansion. The payload
//! and output types are inferred from the closure; any `serde` type works. A task's error type
//! is [`TaskError`], which any `std::error::Error` converts into with `?`.
//!
//! # Durable execution
//!
//! A task re-executes from the top on every retry and every resume after a long wait. The
//! [`Context`] makes that safe (worker protocol §7):
//!
//! * [`Context::step`] runs a side effect once and journals its JSON result; on re-execution the
//!   recorded result is returned without running it.
//! * [`Context::wait_for`], [`Context::wait_until`], [`Context::wait_for_token`],
//!   [`Context::trigger_and_wait`] and [`Context::batch_trigger_and_wait`] are journaled too.
//!   Waits longer than the worker's short-wait threshold (default 5 s) *suspend* the run: the
//!   worker drops the attempt and frees its slot, and when the wait is over any worker of the
//!   same version re-executes the task, which skips what is journaled and continues.
//! * Operations are numbered in the order the code reaches them; a re-execution that reaches a
//!   different operation at a journaled position fails the run with `NonDeterminismError`. So
//!   keep durable operations in the same order on every execution, and keep side effects inside
//!   steps.
//!
//! # Modules
//!
//! * [`Worker`] — the runtime of a worker process; [`Context`] — what a running task can reach;
//! * [`Client`] — the management API; [`tokens`] — wait tokens; [`client`] — how the client
//!   behaves under failure: retries, timeouts, cancellation, polling, request metrics and
//!   hooks ([`client::RetryConfig`], [`client::RequestOptions`], [`client::PollOptions`],
//!   [`client::PerformanceStats`]), and typed errors ([`ApiErrorKind`]);
//! * [`http`] — for tools that call endpoints by path ([`Client::get_json`] and the like):
//!   the rules of the connection settings, and server-sent event streams;
//! * [`workflow`] — workflow plans: HTTP actions with dependencies run durably in a task
//!   ([`Context::run_plan`]), their live state, the `StateManager` adapter, the built-in plan task;
//! * `testkit` (feature `testkit`) — a temporary in-process server for tests of your tasks.

mod attempt;
pub mod client;
mod context;
mod durable;
mod error;
pub mod http;
mod logger;
mod metadata;
mod output;
mod protocol;
mod replay;
mod spans;
pub mod streams;
mod task;
mod task_error;
mod traced_http;
mod version;
mod worker;
pub mod workflow;

#[cfg(feature = "testkit")]
pub mod testkit;

pub use client::ai;
pub use client::auth;
pub use client::batches;
pub use client::cache;
pub use client::env_metadata;
pub use client::env_vars;
pub use client::idempotency_keys;
pub use client::queues;
pub use client::realtime;
pub use client::runs;
pub use client::schedules;
pub use client::tokens;
pub use client::types::{
    Debounce, ListRuns, Page, Run, RunAttempt, RunHandle, RunStatus, RunSummary, TriggerOptions,
};
pub use client::{Client, ClientBuilder, MigrateRuns, MigrationSkipped, RunsMigrated};
pub use context::{Context, DeploymentInfo, EnvironmentInfo, RunInfo, TaskInfo};
pub use durable::results::{RunFailed, TaskRunResult, WaitResult, WaitTimeout};
pub use durable::WaitOptions;
pub use error::{ApiErrorKind, Error, Result};
pub use logger::{Level, Logger};
pub use metadata::{Metadata, MetadataBatch};
pub use output::{OutputStream, StreamChunk};
pub use task::{task, RetryPolicy, Task, TaskBuilder, TaskHandle, TaskRef};
pub use task_error::{ErrorBody, Retry, TaskError};
pub use traced_http::{TracedHttp, TracedRequest};
/// How long an environment keeps finished runs ([`Client::retention`]).
pub use trigr_types::wire::manage::{DefaultRegion, Retention};
pub use version::{IfVersion, VersionMismatchError};
pub use worker::{RunningWorker, ShutdownHandle, Worker, REGION_VAR};
