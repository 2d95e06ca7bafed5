//! Waits for time and for tokens.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;

use super::results::{WaitResult, WaitTimeout};
use super::{journaled, submit, Ended, WaitCall};
use crate::attempt::Attempt;
use crate::client::tokens::{CreateToken, Token};
use crate::client::types::rfc3339;
use crate::client::Client;
use crate::context::Context;
use crate::error::{Error, Result};
use crate::protocol::WaitFor;
use crate::task_error::TaskError;

/// Options of a time wait.
#[derive(Clone, Debug, Default)]
pub struct WaitOptions {
    idempotency_key: Option<String>,
    idempotency_key_ttl: Option<Duration>,
}

impl WaitOptions {
    /// No options.
    pub fn new() -> WaitOptions {
        WaitOptions::default()
    }

    /// Waits with the same key share one timer: a wait whose key already ran out (in this run
    /// or any other) returns at once. The official SDK's "idempotent waits".
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// How long the key lives (default 30 days).
    pub fn idempotency_key_ttl(mut self, ttl: Duration) -> Self {
        self.idempotency_key_ttl = Some(ttl);
        self
    }
}

impl Context {
    /// Waits for `duration`. Shorter than the worker's short-wait threshold (default 5 s) the
    /// worker holds the run; longer, the run is suspended and the worker's slot is freed until
    /// the time has come, when the task re-executes from the top and continues here.
    pub fn wait_for(&self, duration: Duration) -> impl Future<Output = Result<()>> + Send {
        self.wait_for_with(duration, WaitOptions::new())
    }

    /// [`wait_for`](Context::wait_for) with options (an idempotency key).
    pub fn wait_for_with(
        &self,
        duration: Duration,
        options: WaitOptions,
    ) -> impl Future<Output = Result<()>> + Send {
        let until =
            Utc::now() + chrono::Duration::from_std(duration).unwrap_or(chrono::Duration::MAX);
        let wait = WaitFor::Duration {
            ms: i64::try_from(duration.as_millis()).unwrap_or(i64::MAX),
        };
        self.time_wait("wait.for", wait, until, options)
    }

    /// Waits until `at` (suspending the run unless `at` is within the short-wait threshold).
    pub fn wait_until(&self, at: DateTime<Utc>) -> impl Future<Output = Result<()>> + Send {
        self.wait_until_with(at, WaitOptions::new())
    }

    /// [`wait_until`](Context::wait_until) with options (an idempotency key).
    pub fn wait_until_with(
        &self,
        at: DateTime<Utc>,
        options: WaitOptions,
    ) -> impl Future<Output = Result<()>> + Send {
        let wait = WaitFor::Until { date: rfc3339(at) };
        self.time_wait("wait.until", wait, at, options)
    }

    fn time_wait(
        &self,
        name: &'static str,
        wait: WaitFor,
        until: DateTime<Utc>,
        options: WaitOptions,
    ) -> impl Future<Output = Result<()>> + Send {
        let attempt = self.attempt.clone();
        let client = self.client.clone();
        let position = attempt.next_position();
        async move {
            if journaled(&attempt, position, name).await.is_some() {
                return Ok(());
            }
            let wait = match &options.idempotency_key {
                Some(key) => keyed_timer(&client, key, &options, until).await?,
                None => wait,
            };
            let hold = held(&attempt, until);
            // Done either way: the time passed, or the keyed timer token timed out.
            submit(
                &attempt,
                WaitCall {
                    position,
                    name,
                    wait,
                    hold,
                },
            )
            .await?;
            Ok(())
        }
    }

    /// Creates a wait token and journals it, so a re-executed run gets the same token back
    /// (and a step that sends its URL somewhere does not run again). Outside a task, use
    /// [`Client::tokens`](crate::Client::tokens).
    pub fn create_token(
        &self,
        options: CreateToken,
    ) -> impl Future<Output = Result<Token, TaskError>> + Send {
        let client = self.client.clone();
        self.step("wait.createToken", move || async move {
            Ok(client.tokens().create(options).await?)
        })
    }

    /// Waits until the token is completed (with data of type `T`) or times out. The run is
    /// suspended meanwhile unless the token is already complete.
    pub fn wait_for_token<T: DeserializeOwned>(
        &self,
        token_id: &str,
    ) -> impl Future<Output = Result<WaitResult<T>>> + Send {
        let attempt = self.attempt.clone();
        let position = attempt.next_position();
        let wait = WaitFor::Token {
            token_id: token_id.to_string(),
        };
        async move { token_wait(&attempt, position, wait).await }
    }
}

async fn token_wait<T: DeserializeOwned>(
    attempt: &Arc<Attempt>,
    position: u32,
    wait: WaitFor,
) -> Result<WaitResult<T>> {
    const NAME: &str = "wait.forToken";
    let waited = match journaled(attempt, position, NAME).await {
        Some(waited) => waited,
        None => {
            let call = WaitCall {
                position,
                name: NAME,
                wait,
                hold: false,
            };
            submit(attempt, call).await?
        }
    };
    match waited.ended {
        Ended::Completed(data) => serde_json::from_value(data)
            .map(WaitResult::Completed)
            .map_err(|e| Error::json("the token's data", e)),
        Ended::TimedOut(error) => Ok(WaitResult::TimedOut(WaitTimeout {
            message: error.message,
        })),
    }
}

/// Whether a wait until `until` is short enough to hold in the worker.
fn held(attempt: &Attempt, until: DateTime<Utc>) -> bool {
    let left = (until - Utc::now()).to_std().unwrap_or(Duration::ZERO);
    left < attempt.settings.short_wait
}

/// A keyed time wait is a token that times out at `until`, shared by every wait with the key.
async fn keyed_timer(
    client: &Client,
    key: &str,
    options: &WaitOptions,
    until: DateTime<Utc>,
) -> Result<WaitFor> {
    let mut create = CreateToken::new().idempotency_key(key).timeout_at(until);
    if let Some(ttl) = options.idempotency_key_ttl {
        create = create.idempotency_key_ttl(ttl);
    }
    let token = client.tokens().create(create).await?;
    Ok(WaitFor::Token { token_id: token.id })
}
