//! [`Client`]: the management API — trigger runs, read and cancel them, manage wait tokens
//! and cron schedules, set how long the environment keeps finished runs, use the
//! environment's cache and metadata store, manage queues.

pub mod batches;
pub mod cache;
pub mod env_metadata;
pub mod queues;
mod raw;
pub mod realtime;
pub mod schedules;
pub mod tokens;
pub mod types;

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
use crate::http::{encode, Http, Tries, DEFAULT_API_URL, REQUEST_TIMEOUT};
use crate::task::TaskHandle;
use batches::Batches;
use cache::Cache;
use env_metadata::EnvMetadata;
use queues::Queues;
use schedules::Schedules;
use tokens::Tokens;
use types::{ListRuns, LogEntry, Page, Run, RunHandle, RunSummary, TriggerOptions, WirePage};

/// The environment's retention period.
const RETENTION: &str = "/api/v1/retention";
/// The environment's default region.
const REGION: &str = "/api/v1/region";

/// The settings of a [`Client`] being built: [`Client::builder`].
#[derive(Clone)]
pub struct ClientBuilder {
    api_url: String,
    secret_key: String,
    user_agent: Option<String>,
    request_timeout: Duration,
}

impl ClientBuilder {
    /// The `User-Agent` header of every request (none by default).
    pub fn user_agent(mut self, value: impl Into<String>) -> ClientBuilder {
        self.user_agent = Some(value.into());
        self
    }

    /// How long a request may take, its answer included, before it fails with
    /// [`Error::NoAnswer`]: 75 seconds by default. A [`Worker`](crate::Worker) built on the
    /// client long-polls for up to 30 seconds, so keep it above that there.
    pub fn request_timeout(mut self, timeout: Duration) -> ClientBuilder {
        self.request_timeout = timeout;
        self
    }

    /// Checks the settings and builds the client; no request is sent yet. A bad address or
    /// key is an [`Error::Config`] (see [`http::check_settings`](crate::http::check_settings)).
    pub fn build(self) -> Result<Client> {
        Ok(Client {
            http: Http::configured(
                &self.api_url,
                &self.secret_key,
                self.user_agent.as_deref(),
                self.request_timeout,
            )?,
        })
    }
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("api_url", &self.api_url)
            .field("secret_key", &"…")
            .field("user_agent", &self.user_agent)
            .field("request_timeout", &self.request_timeout)
            .finish()
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
            user_agent: None,
            request_timeout: REQUEST_TIMEOUT,
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
        let triggered: Triggered = self
            .http
            .call(Method::POST, &path, Some(&body), Tries::Once)
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
    /// final, or fails with [`Error::Timeout`] after `timeout`.
    pub async fn poll_run(&self, run_id: &str, timeout: Duration) -> Result<Run> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut delay = Duration::from_millis(50);
        loop {
            let run = self.retrieve_run(run_id).await?;
            if run.status.is_final() {
                return Ok(run);
            }
            if tokio::time::Instant::now() + delay > deadline {
                return Err(Error::Timeout(format!(
                    "run {run_id} is still {} after {timeout:?}",
                    run.status
                )));
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(1));
        }
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
        let body = CancelRunsBody {
            run_ids: run_ids.iter().map(|s| s.to_string()).collect(),
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

    /// The environment's cache: values with a time to live, and locks.
    pub fn cache(&self) -> Cache {
        Cache {
            http: self.http.clone(),
        }
    }

    /// The environment's metadata store: named values of the environment, not of a run (see
    /// [`env_metadata`](crate::env_metadata) for the difference).
    pub fn env_metadata(&self) -> EnvMetadata {
        EnvMetadata {
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
        let answer: MetadataUpdated = self
            .http
            .call(Method::PUT, &path, Some(body), Tries::Transient)
            .await?;
        Ok(answer.metadata)
    }
}
