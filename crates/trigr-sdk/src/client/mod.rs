//! [`Client`]: the management API — trigger runs, read and cancel them, manage wait tokens
//! and cron schedules, set how long the environment keeps finished runs, use the
//! environment's cache and metadata store, manage queues, replay, reschedule and tag runs,
//! make and reset idempotency keys, mint public access tokens.
//!
//! How the client behaves under failure is set on its [`ClientBuilder`] and, per call, with
//! [`Client::with_options`]: typed errors ([`ApiErrorKind`](crate::ApiErrorKind)), retries
//! ([`RetryConfig`]), timeouts and cancellation ([`RequestOptions`], [`Cancellation`]),
//! polling ([`PollOptions`]), request metrics and hooks ([`PerformanceStats`],
//! [`RequestRecord`]), interceptors, several environments ([`Client::for_environment`]) and
//! a graceful [`Client::close`].

pub mod ai;
pub mod auth;
pub mod batches;
pub mod cache;
pub mod env_metadata;
pub mod env_vars;
pub mod idempotency_keys;
pub mod log_stream;
pub mod metrics;
pub mod options;
pub mod output_stream;
pub mod poll;
pub mod queues;
mod raw;
pub mod realtime;
pub(crate) mod realtime_ws;
pub mod runs;
pub mod schedules;
pub mod tokens;
pub mod types;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use trigr_types::wire::common::Id;
use trigr_types::wire::manage::{DefaultRegion, Retention};
pub use trigr_types::wire::manage::{MigrationSkipped, RunsMigrated};
pub use trigr_types::wire::rest::MigrateRunsBody as MigrateRuns;
use trigr_types::wire::rest::{MetadataUpdate, RegionBody, RetentionBody, TriggerBody};
pub use trigr_types::wire::runs::CancelOutcome;
use trigr_types::wire::runs::{CancelRunsBody, MetadataUpdated, RunsCanceled, Triggered};

use crate::error::{Error, Result};
use crate::http::{encode, Http, Settings, Tries, DEFAULT_API_URL};
use crate::task::TaskHandle;
use auth::Auth;
use batches::Batches;
use cache::Cache;
use env_metadata::EnvMetadata;
use env_vars::EnvVars;
use idempotency_keys::IdempotencyKeys;
pub use metrics::{
    normalize_endpoint, EndpointStats, ErrorHook, PerformanceStats, RequestHook, RequestRecord,
};
pub use options::{
    Cancellation, IncomingResponse, Interceptor, OutgoingRequest, RequestOptions,
    ResponseInterceptor, RetryConfig, Sleeper,
};
pub use poll::{Backoff, OnPoll, PollOptions, MIN_INTERVAL};
use queues::Queues;
use runs::Runs;
use schedules::Schedules;
use tokens::Tokens;
use types::{ListRuns, LogEntry, Page, Run, RunHandle, RunSummary, TriggerOptions, WirePage};

/// The environment's retention period.
const RETENTION: &str = "/api/v1/retention";
/// The environment's default region.
const REGION: &str = "/api/v1/region";

/// How long [`Client::close`] waits for the requests in flight.
pub const CLOSE_GRACE: Duration = Duration::from_secs(30);
/// The header a trigger's request idempotency key goes in.
const REQUEST_KEY: &str = "x-trigger-request-idempotency-key";

/// The settings of a [`Client`] being built: [`Client::builder`].
///
/// ```no_run
/// # fn f() -> trigr_sdk::Result<()> {
/// use std::time::Duration;
/// use trigr_sdk::client::RetryConfig;
///
/// let client = trigr_sdk::Client::builder("http://127.0.0.1:3030", "tr_dev_…")
///     .user_agent("my-tool/1.0")
///     .request_timeout(Duration::from_secs(30))
///     .retry(RetryConfig::default().max_retries(3).base_delay(Duration::from_millis(100)))
///     .enable_retries(true)
///     .metrics_history(500)
///     .on_request(|r| println!("{} {:?} in {:?}", r.endpoint, r.status, r.duration))
///     .on_error(|e, r| eprintln!("{} failed: {e}", r.endpoint))
///     .interceptor(|req| {
///         req.headers.insert("x-team", "billing".parse().unwrap());
///     })
///     .tracing_spans(true)
///     .sleeper(tokio::time::sleep)
///     .http_client(reqwest::Client::new())
///     .build()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct ClientBuilder {
    api_url: String,
    secret_key: String,
    settings: Settings,
}

impl ClientBuilder {
    /// The `User-Agent` header of every request (none by default).
    pub fn user_agent(mut self, value: impl Into<String>) -> ClientBuilder {
        self.settings.user_agent = Some(value.into());
        self
    }

    /// How long a request may take, its answer included, before it fails with
    /// [`Error::NoAnswer`]: 75 seconds by default. It bounds each send on its own; a
    /// per-call [`RequestOptions::timeout`] bounds the whole call, retries included.
    /// A [`Worker`](crate::Worker) built on the client long-polls for up to 30 seconds, so
    /// keep it above that there.
    pub fn request_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.settings.request_timeout = timeout;
        self
    }

    /// Sends through this `reqwest::Client` (its pool, proxy, TLS settings) instead of one of
    /// the client's own. The request timeout still applies to each request.
    pub fn http_client(mut self, client: reqwest::Client) -> ClientBuilder {
        self.settings.client = Some(client);
        self
    }

    /// The retry policy of every call ([`RetryConfig::default`] unless set; per call:
    /// [`RequestOptions::retry`]).
    pub fn retry(mut self, policy: RetryConfig) -> ClientBuilder {
        self.settings.retry = policy;
        self
    }

    /// Turns retries off (every request sent once), or on again with the default policy when
    /// they were off.
    pub fn enable_retries(mut self, on: bool) -> ClientBuilder {
        let retry = &mut self.settings.retry;
        if !on {
            *retry = retry.clone().max_retries(0);
        } else if !retry.is_enabled() {
            *retry = retry
                .clone()
                .max_retries(RetryConfig::default().get_max_retries());
        }
        self
    }

    /// How many calls the request history keeps for [`Client::performance_stats`]: 1000 by
    /// default, at most [`metrics::MAX_HISTORY`]; 0 keeps none.
    pub fn metrics_history(mut self, size: usize) -> ClientBuilder {
        self.settings.history = size;
        self
    }

    /// A telemetry hook given the [`RequestRecord`] of every call as it ends. Keep it quick:
    /// it runs on the call's task.
    pub fn on_request(
        mut self,
        hook: impl Fn(&RequestRecord) + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.settings.on_request.push(Arc::new(hook));
        self
    }

    /// An error hook given the error and record of every call that fails.
    pub fn on_error(
        mut self,
        hook: impl Fn(&Error, &RequestRecord) + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.settings.on_error.push(Arc::new(hook));
        self
    }

    /// A hook called on every request before it is sent (each retry too), which may add or
    /// change headers; interceptors run in the order they were added.
    pub fn interceptor(
        mut self,
        hook: impl Fn(OutgoingRequest<'_>) + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.settings.interceptors.push(Arc::new(hook));
        self
    }

    /// A hook called on every answer as it arrives (to each send of a retry too), with its
    /// status and headers, before the body is read — to read rate-limit headers, say, or log
    /// request ids; response interceptors run in the order they were added.
    pub fn response_interceptor(
        mut self,
        hook: impl Fn(IncomingResponse<'_>) + Send + Sync + 'static,
    ) -> ClientBuilder {
        self.settings.response_interceptors.push(Arc::new(hook));
        self
    }

    /// How the client waits between retries and polls (`tokio::time::sleep` by default).
    pub fn sleeper<F>(
        mut self,
        sleep: impl Fn(Duration) -> F + Send + Sync + 'static,
    ) -> ClientBuilder
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.settings.sleeper = Arc::new(move |d| Box::pin(sleep(d)));
        self
    }

    /// Runs every call in a `trigr.request` span of `tracing` at info, with the method,
    /// normalised endpoint, status, number of sends and request id (off by default).
    pub fn tracing_spans(mut self, on: bool) -> ClientBuilder {
        self.settings.tracing = on;
        self
    }

    /// Checks the settings and builds the client; no request is sent yet. A bad address or
    /// key is an [`Error::Config`] (see [`http::check_settings`](crate::http::check_settings)).
    pub fn build(self) -> Result<Client> {
        Ok(Client {
            http: Http::with_settings(&self.api_url, &self.secret_key, self.settings)?,
        })
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_url", &self.api_url)
            .field("secret_key", &"…")
            .field("user_agent", &self.settings.user_agent)
            .field("request_timeout", &self.settings.request_timeout)
            .field("retry", &self.settings.retry)
            .finish_non_exhaustive()
    }
}

/// An authenticated client of one environment of a trigr server.
///
/// Cheap to clone; clones share one connection pool.
#[derive(Clone, Debug)]
pub struct Client {
    pub(crate) http: Http,
}

impl Client {
    /// A client of the server at `TRIGGER_API_URL` (default `http://127.0.0.1:3030`) with the
    /// key in `TRIGGER_SECRET_KEY`, like the official tools.
    pub fn from_env() -> Result<Client> {
        let url = std::env::var("TRIGGER_API_URL").unwrap_or_else(|_| DEFAULT_API_URL.into());
        let key = std::env::var("TRIGGER_SECRET_KEY").unwrap_or_default();
        Client::new(&url, &key)
    }

    /// A client of the server at `api_url` with an environment's secret key.
    pub fn new(api_url: &str, secret_key: &str) -> Result<Client> {
        Client::builder(api_url, secret_key).build()
    }

    /// A client of the server at `api_url` with an environment's secret key, with settings
    /// beyond those: a `User-Agent`, another request timeout.
    ///
    /// ```no_run
    /// # fn f() -> trigr_sdk::Result<()> {
    /// let client = trigr_sdk::Client::builder("http://127.0.0.1:3030", "tr_dev_…")
    ///     .user_agent("my-tool/1.0")
    ///     .request_timeout(std::time::Duration::from_secs(60))
    ///     .build()?;
    /// # Ok(()) }
    /// ```
    pub fn builder(api_url: &str, secret_key: &str) -> ClientBuilder {
        ClientBuilder {
            api_url: api_url.to_string(),
            secret_key: secret_key.to_string(),
            settings: Settings::default(),
        }
    }

    /// This client with settings of its own for the calls made through it: a timeout, a
    /// retry policy, a [`Cancellation`], headers. It shares the connection pool, hooks and
    /// history; settings it does not give follow this client's.
    ///
    /// ```no_run
    /// # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
    /// use std::time::Duration;
    /// use trigr_sdk::client::RequestOptions;
    /// let run = client
    ///     .with_options(RequestOptions::new().timeout(Duration::from_secs(2)))
    ///     .retrieve_run("run_…")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub fn with_options(&self, options: RequestOptions) -> Client {
        Client {
            http: self.http.with_options(options),
        }
    }

    /// This client for another environment of the same server (its secret key): the same
    /// connection pool, settings, hooks and history, but a close signal of its own: closing
    /// either leaves the other open. Keep one per environment, or make one for a single call.
    pub fn for_environment(&self, secret_key: &str) -> Result<Client> {
        Ok(Client {
            http: self.http.with_key(secret_key)?,
        })
    }

    /// A summary of the calls in the request history: counts, success and failure rates,
    /// mean and percentile durations, the slowest and the most error-prone endpoint.
    pub fn performance_stats(&self) -> PerformanceStats {
        self.http.stats()
    }

    /// The calls in the request history, oldest first.
    pub fn request_history(&self) -> Vec<RequestRecord> {
        self.http.history()
    }

    /// Forgets the request history.
    pub fn clear_request_history(&self) {
        self.http.clear_history();
    }

    /// Closes the client gracefully: new calls (of every clone, but not of the clients made
    /// by [`Client::for_environment`]) fail with
    /// [`Error::Cancelled`], realtime subscriptions and event streams end, the calls in
    /// flight get up to [`CLOSE_GRACE`] to finish, and those still going then end with
    /// [`Error::Cancelled`]. Returns how many that was.
    pub async fn close(&self) -> usize {
        self.close_within(CLOSE_GRACE).await
    }

    /// [`Client::close`] with another grace period.
    pub async fn close_within(&self, grace: Duration) -> usize {
        self.http.close(grace).await
    }

    /// Whether [`Client::close`] was called (on this client or a clone).
    pub fn is_closed(&self) -> bool {
        self.http.is_closed()
    }

    /// Waits `wait` through the client's sleeper; [`Error::Cancelled`] if the client is
    /// closed first.
    pub(crate) async fn pause(&self, wait: Duration) -> Result<()> {
        if self.http.is_closed() {
            return Err(Error::Cancelled("the client is closed".into()));
        }
        tokio::select! {
            () = self.http.sleep(wait) => Ok(()),
            () = self.http.stopped() => Err(Error::Cancelled("the client is closed".into())),
        }
    }

    /// The server's base URL, without a trailing `/`.
    pub fn api_url(&self) -> &str {
        self.http.base()
    }

    /// Triggers a run of `task` with `payload`.
    pub async fn trigger<T: TaskHandle>(
        &self,
        task: &T,
        payload: &T::Payload,
    ) -> Result<RunHandle> {
        self.trigger_with(task, payload, TriggerOptions::new())
            .await
    }

    /// Triggers a run of `task` with `payload` and options (delay, tags, idempotency key, …).
    pub async fn trigger_with<T: TaskHandle>(
        &self,
        task: &T,
        payload: &T::Payload,
        options: TriggerOptions,
    ) -> Result<RunHandle> {
        self.trigger_id(task.id(), payload, options).await
    }

    /// Triggers a run of the task with this id; the payload is any serializable value.
    ///
    /// The request carries a request idempotency key, so it is retried like a read: a retry
    /// of a trigger the server did receive answers the same run, never a second one.
    pub async fn trigger_id(
        &self,
        task_id: &str,
        payload: &impl Serialize,
        options: TriggerOptions,
    ) -> Result<RunHandle> {
        let payload = serde_json::to_string(payload).map_err(|e| Error::json("the payload", e))?;
        let mut options = options.to_wire();
        options.payload_type = Some(trigr_types::packet::JSON.to_string());
        let body = TriggerBody {
            payload: Some(Value::String(payload)),
            options: Some(options),
        };
        let body = serde_json::to_value(body).map_err(|e| Error::json("the trigger", e))?;
        let path = format!("/api/v1/tasks/{}/trigger", encode(task_id));
        // The same key on every send: a retried trigger answers the run the first one made.
        let key = format!("{:032x}", rand::random::<u128>());
        let triggered: Triggered = self
            .http
            .call_with(
                Method::POST,
                &path,
                Some(&body),
                &[(REQUEST_KEY, key)],
                Tries::Transient,
            )
            .await?;
        Ok(triggered.into())
    }

    /// The run with this id.
    pub async fn retrieve_run(&self, run_id: &str) -> Result<Run> {
        let path = format!("/api/v3/runs/{}", encode(run_id));
        self.http
            .call(Method::GET, &path, None, Tries::Transient)
            .await
    }

    /// One page of runs, newest first.
    pub async fn list_runs(&self, filter: ListRuns) -> Result<Page<RunSummary>> {
        let path = format!("/api/v1/runs{}", filter.query());
        let page: WirePage<RunSummary> = self
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await?;
        Ok(page.into())
    }

    /// Cancels a run and its unfinished descendants; a finished run is left as it is.
    pub async fn cancel_run(&self, run_id: &str) -> Result<()> {
        let path = format!("/api/v2/runs/{}/cancel", encode(run_id));
        self.http
            .send(Method::POST, &path, None, Tries::Transient)
            .await
            .map(drop)
    }

    /// A new run with the payload and options of an old one.
    pub async fn replay_run(&self, run_id: &str) -> Result<RunHandle> {
        let path = format!("/api/v1/runs/{}/replay", encode(run_id));
        let new: Id = self
            .http
            .call(Method::POST, &path, None, Tries::Once)
            .await?;
        Ok(new.into())
    }

    /// Moves the runs of version `from` that no worker holds (queued, delayed, waiting, or
    /// queued again for a retry) to version `to`, which must declare their task; runs of a
    /// task it does not declare stay, counted in `skipped`. One call looks at up to `limit`
    /// runs (default 10,000); when `next_cursor` is set, send it as `cursor` to continue.
    pub async fn migrate_runs(&self, request: &MigrateRuns) -> Result<RunsMigrated> {
        let body = serde_json::to_value(request).map_err(|e| Error::json("the migration", e))?;
        self.http
            .call(
                Method::POST,
                "/api/v1/runs/migrate",
                Some(&body),
                Tries::Transient,
            )
            .await
    }

    /// Reads the run again and again (every 50 ms at first, backing off to 1 s) until it is
    /// final, or fails with [`Error::Timeout`] after `timeout`. For other intervals, a hook per
    /// read and more, see [`Client::poll_run_with`].
    pub async fn poll_run(&self, run_id: &str, timeout: Duration) -> Result<Run> {
        let options = PollOptions::new()
            .interval(Duration::from_millis(50))
            .timeout(timeout)
            .backoff(Backoff::Exponential {
                factor: 2.0,
                max: Duration::from_secs(1),
            });
        self.poll_run_with(run_id, options).await
    }

    /// The log entries a run's attempts shipped, oldest first: the first page, or the page
    /// after a cursor ([`Page::next`]).
    pub async fn run_logs(&self, run_id: &str, after: Option<&str>) -> Result<Page<LogEntry>> {
        let query = types::query_string(
            &after
                .map(|a| vec![("page[after]", a.to_string())])
                .unwrap_or_default(),
        );
        let path = format!("/api/v1/runs/{}/logs{query}", encode(run_id));
        let page: WirePage<LogEntry> = self
            .http
            .call(Method::GET, &path, None, Tries::Transient)
            .await?;
        Ok(page.into())
    }

    /// Runs that exist: replay with overrides, reschedule, add tags.
    pub fn runs(&self) -> Runs {
        Runs {
            http: self.http.clone(),
        }
    }

    /// Releasing idempotency keys; [`idempotency_keys::create`] makes them.
    pub fn idempotency_keys(&self) -> IdempotencyKeys {
        IdempotencyKeys {
            http: self.http.clone(),
        }
    }

    /// Public access tokens signed with this client's secret key.
    pub fn auth(&self) -> Auth {
        Auth {
            http: self.http.clone(),
        }
    }

    /// The wait-token API.
    pub fn tokens(&self) -> Tokens {
        Tokens {
            http: self.http.clone(),
        }
    }

    /// The cron schedule API.
    pub fn schedules(&self) -> Schedules {
        Schedules {
            http: self.http.clone(),
        }
    }

    /// Batches: trigger many runs at once, read a batch's counts, cancel its runs.
    pub fn batches(&self) -> Batches {
        Batches {
            http: self.http.clone(),
        }
    }

    /// Cancels up to 100 runs by id (`POST /api/v1/runs/cancel`), each with its outcome: its
    /// status now, or why it could not be cancelled (an unknown id).
    pub async fn cancel_runs(&self, run_ids: &[&str]) -> Result<Vec<CancelOutcome>> {
        self.cancel_runs_with(run_ids, None).await
    }

    /// [`Client::cancel_runs`], each run cancelled keeping `reason` (1 to 1000 characters)
    /// as its error (`{"message": reason, "name": "CancelledError"}`).
    pub async fn cancel_runs_with(
        &self,
        run_ids: &[&str],
        reason: Option<&str>,
    ) -> Result<Vec<CancelOutcome>> {
        let body = CancelRunsBody {
            run_ids: run_ids.iter().map(|s| s.to_string()).collect(),
            reason: reason.map(str::to_string),
        };
        let body = serde_json::to_value(body).map_err(|e| Error::json("the cancel", e))?;
        let answer: RunsCanceled = self
            .http
            .call(
                Method::POST,
                "/api/v1/runs/cancel",
                Some(&body),
                Tries::Transient,
            )
            .await?;
        Ok(answer.data)
    }

    /// The queues API: counts, pause, limits, and queues made through the API.
    pub fn queues(&self) -> Queues {
        Queues {
            http: self.http.clone(),
        }
    }

    /// AI tools: definitions made from tasks, their exports for the LLM APIs, and the
    /// execution of a model's tool calls.
    pub fn ai(&self) -> ai::Ai {
        ai::Ai {
            client: self.clone(),
        }
    }

    /// The environment's cache: values with a time to live, and locks.
    pub fn cache(&self) -> Cache {
        Cache {
            http: self.http.clone(),
        }
    }

    /// The environment's metadata store: named values of the environment, not of a run (see
    /// [`env_metadata`] for the difference).
    pub fn env_metadata(&self) -> EnvMetadata {
        EnvMetadata {
            http: self.http.clone(),
        }
    }

    /// The environment's variables: list, create, retrieve, update, delete, import
    /// ([`env_vars`]).
    pub fn env_vars(&self) -> EnvVars {
        EnvVars {
            http: self.http.clone(),
        }
    }

    /// How long the environment keeps finished runs (`GET /api/v1/retention`).
    pub async fn retention(&self) -> Result<Retention> {
        self.http
            .call(Method::GET, RETENTION, None, Tries::Transient)
            .await
    }

    /// Keeps the environment's finished runs `days` days after they finished, 0 for good
    /// (`PUT /api/v1/retention`); older ones are deleted from then on.
    pub async fn set_retention(&self, days: u32) -> Result<Retention> {
        let body = serde_json::to_value(RetentionBody {
            days: i64::from(days),
        })
        .map_err(|e| Error::json("the retention period", e))?;
        self.http
            .call(Method::PUT, RETENTION, Some(&body), Tries::Transient)
            .await
    }

    /// Makes the environment follow the server's default retention period again
    /// (`DELETE /api/v1/retention`).
    pub async fn reset_retention(&self) -> Result<Retention> {
        self.http
            .call(Method::DELETE, RETENTION, None, Tries::Transient)
            .await
    }

    /// The environment's default region (`GET /api/v1/region`): where runs that name no region
    /// go, and what workers that name none serve.
    pub async fn default_region(&self) -> Result<DefaultRegion> {
        self.http
            .call(Method::GET, REGION, None, Tries::Transient)
            .await
    }

    /// Sets the environment's default region (`PUT /api/v1/region`); runs already triggered
    /// keep theirs.
    pub async fn set_default_region(&self, region: &str) -> Result<DefaultRegion> {
        let body = serde_json::to_value(RegionBody {
            region: region.to_string(),
        })
        .map_err(|e| Error::json("the region", e))?;
        self.http
            .call(Method::PUT, REGION, Some(&body), Tries::Transient)
            .await
    }

    /// Makes the environment follow the server's default region, `default`, again
    /// (`DELETE /api/v1/region`).
    pub async fn reset_default_region(&self) -> Result<DefaultRegion> {
        self.http
            .call(Method::DELETE, REGION, None, Tries::Transient)
            .await
    }

    /// `PUT /api/v1/runs/{id}/metadata` with a body of operations; the new metadata.
    pub(crate) async fn update_metadata(
        &self,
        run_id: &str,
        update: &MetadataUpdate,
    ) -> Result<Value> {
        let body =
            serde_json::to_value(update).map_err(|e| Error::json("the metadata update", e))?;
        let body = &body;
        let path = format!("/api/v1/runs/{}/metadata", encode(run_id));
        let tries = if repeatable(update) {
            Tries::Transient
        } else {
            Tries::Once
        };
        let answer: MetadataUpdated = self
            .http
            .call(Method::PUT, &path, Some(body), tries)
            .await?;
        Ok(answer.metadata)
    }
}

/// Whether sending `update` twice leaves the same metadata as sending it once: true when it
/// only replaces, merges, sets or deletes; an append, remove, increment or decrement would
/// apply twice.
fn repeatable(update: &MetadataUpdate) -> bool {
    use trigr_types::wire::rest::MetadataOperation as Op;
    [
        &update.operations,
        &update.parent_operations,
        &update.root_operations,
    ]
    .into_iter()
    .flatten()
    .flatten()
    .all(|op| matches!(op, Op::Set { .. } | Op::Delete { .. } | Op::Update { .. }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use trigr_types::wire::rest::MetadataOperation as Op;

    #[test]
    fn only_metadata_updates_that_apply_once_are_retried() {
        let set = Op::Set {
            key: "a".into(),
            value: serde_json::json!(1),
        };
        let increment = Op::Increment {
            key: "n".into(),
            value: 1.0,
        };
        let append = Op::Append {
            key: "log".into(),
            value: serde_json::json!("x"),
        };
        let update = |ops: Vec<Op>, parent: Vec<Op>| MetadataUpdate {
            operations: Some(ops),
            parent_operations: Some(parent),
            ..MetadataUpdate::default()
        };
        assert!(repeatable(&MetadataUpdate::default()));
        assert!(repeatable(&update(vec![set.clone()], vec![])));
        assert!(!repeatable(&update(vec![set.clone(), increment], vec![])));
        assert!(!repeatable(&update(vec![set], vec![append])));
    }
}
