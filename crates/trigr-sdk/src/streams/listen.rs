//! Reading an input stream inside a task: `once`, `wait` and `on` (worker protocol §7.3, §7.6).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::task::AbortHandle;

use super::InputStream;
use crate::attempt::Attempt;
use crate::context::Context;
use crate::durable::results::{WaitResult, WaitTimeout};
use crate::durable::{journaled, submit, Ended, WaitCall};
use crate::error::{Error, Result};
use crate::protocol::{self, WaitFor};

/// How long one read of an `on` handler waits on the server for a message.
const READ_WAIT_MS: u64 = 25_000;

/// An `on` handler; [`off`](InputListener::off) ends it (it also ends with the attempt).
#[derive(Debug)]
pub struct InputListener {
    task: AbortHandle,
}

impl InputListener {
    /// Stops calling the handler.
    pub fn off(self) {
        self.task.abort();
    }
}

impl<T: DeserializeOwned + Send + 'static> InputStream<T> {
    /// The next message, waiting for it in the worker (the run keeps its slot) for at most
    /// `timeout` (`None`: no limit). Durable: a re-executed run gets the same message here.
    pub fn once(
        &self,
        ctx: &Context,
        timeout: impl Into<Option<Duration>>,
    ) -> impl Future<Output = Result<WaitResult<T>>> + Send {
        self.next(ctx, timeout.into(), true)
    }

    /// The next message, suspending the run until it comes (its slot is free meanwhile) or
    /// until `timeout` (`None`: no limit). A message already sent returns at once.
    pub fn wait(
        &self,
        ctx: &Context,
        timeout: impl Into<Option<Duration>>,
    ) -> impl Future<Output = Result<WaitResult<T>>> + Send {
        self.next(ctx, timeout.into(), false)
    }

    fn next(
        &self,
        ctx: &Context,
        timeout: Option<Duration>,
        hold: bool,
    ) -> impl Future<Output = Result<WaitResult<T>>> + Send {
        let attempt = ctx.attempt.clone();
        let position = attempt.next_position();
        let stream = self.id.clone();
        async move {
            let name = format!("input:{stream}");
            let waited = match journaled(&attempt, position, &name).await {
                Some(waited) => waited,
                None => {
                    let wait = WaitFor::Input {
                        stream_id: stream.clone(),
                        after: attempt.consumed(&stream),
                        timeout_ms: timeout
                            .map(|t| i64::try_from(t.as_millis()).unwrap_or(i64::MAX)),
                    };
                    let call = WaitCall {
                        position,
                        name: &name,
                        wait,
                        hold,
                    };
                    submit(&attempt, call).await?
                }
            };
            match waited.ended {
                Ended::Completed(message) => {
                    if let Some(seq) = message["seq"].as_i64() {
                        attempt.consume(&stream, seq);
                    }
                    let data = message.get("data").cloned().unwrap_or(Value::Null);
                    serde_json::from_value(data)
                        .map(WaitResult::Completed)
                        .map_err(|e| Error::json(format!("a message of input stream {stream}"), e))
                }
                Ended::TimedOut(error) => Ok(WaitResult::TimedOut(WaitTimeout {
                    message: error.message,
                })),
            }
        }
    }

    /// Calls `handler` for every message of the stream, in order, from the first one, while
    /// the attempt runs. Handlers registered in the same order on every execution keep their
    /// place: a message a handler finished is not handed to it again after a retry or a
    /// resume. A message that does not fit `T` is logged as an error and skipped.
    pub fn on<F, Fut>(&self, ctx: &Context, handler: F) -> InputListener
    where
        F: Fn(T) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let attempt = ctx.attempt.clone();
        let consumer = attempt.next_handler(&self.id);
        let task = tokio::spawn(listen(attempt.clone(), self.id.clone(), consumer, handler));
        let abort = task.abort_handle();
        attempt.add_listener(task);
        InputListener { task: abort }
    }
}

/// Reads the stream for one consumer until the attempt ends.
async fn listen<T, F, Fut>(attempt: Arc<Attempt>, stream: String, consumer: String, handler: F)
where
    T: DeserializeOwned,
    F: Fn(T) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut pause = Duration::from_millis(200);
    while attempt.stopped().is_none() && !attempt.is_ending() {
        let http = &attempt.http;
        let (run, lease) = (&attempt.run_id, &attempt.lease);
        let read = tokio::select! {
            read = protocol::input_read(http, run, lease, &stream, &consumer, READ_WAIT_MS) => read,
            _ = attempt.ending() => return,
        };
        let messages = match read {
            Ok(read) => read.messages,
            Err(e) if e.is_lease_lost() || e.is_not_found() => return,
            Err(e) => {
                tracing::warn!("reading input stream {stream} of run {run}: {e}");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        pause = Duration::from_millis(200);
        for m in messages {
            if attempt.is_ending() {
                // Not started: the next execution's handler gets it.
                return;
            }
            match serde_json::from_value::<T>(m.data) {
                Ok(data) => handler(data).await,
                Err(e) => attempt.logger.error(format!(
                    "message {} of input stream {stream} does not fit the handler's type: {e}",
                    m.seq
                )),
            }
            let acked = protocol::input_ack(http, run, lease, &stream, &consumer, m.seq).await;
            match acked {
                Ok(()) => {}
                Err(e) if e.is_lease_lost() => return,
                Err(e) => {
                    tracing::warn!("input stream {stream} of run {run}: {e}");
                    break;
                }
            }
        }
    }
}
