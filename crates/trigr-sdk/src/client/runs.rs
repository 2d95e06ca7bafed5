//! Managing runs that exist (`/api/v1/runs/{id}/…`): replay one with overrides, move a delayed
//! one's start, add tags, read its log lines as a stream.
//!
//! [`Runs::replay`] makes a new run of the same task from an old one, on the current version;
//! what [`ReplayOptions`] does not set is the old run's (payload, tags, metadata, queue,
//! concurrency key, machine, region). [`Runs::reschedule`] moves a `DELAYED` run's start
//! (any other status is refused with a validation error). [`Runs::add_tags`] adds tags to a
//! run, up to ten in all. [`Runs::log_stream`] hands out a run's log lines one by one, and
//! with `follow` the lines written later, until the run ends ([`LogStream`]).
//!
//! ```no_run
//! # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
//! use std::time::Duration;
//! use trigr_sdk::runs::ReplayOptions;
//! let runs = client.runs();
//! let again = runs
//!     .replay("run_1234", ReplayOptions::new().payload(&serde_json::json!({ "retry": true }))?.tag("replayed"))
//!     .await?;
//! runs.reschedule("run_5678", Duration::from_secs(600)).await?;
//! runs.add_tags(&again.id, ["vip"]).await?;
//! # Ok(()) }
//! ```

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::Method;
use serde::Serialize;
use serde_json::{json, Value};
use trigr_types::wire::common::{Id, Message};
use trigr_types::wire::rest::{ReplayOverrides, RescheduleBody, TagsBody};

pub use crate::client::log_stream::LogStream;
pub use crate::client::output_stream::OutputStream;
use crate::client::types::{duration_text, rfc3339, Run, RunHandle};
use crate::error::{Error, Result};
use crate::http::{encode, Http, Tries};

/// The runs API of one client ([`Client::runs`](crate::Client::runs)).
#[derive(Clone, Debug)]
pub struct Runs {
    pub(crate) http: Http,
}

/// What a replayed run takes instead of the original's; what is not set is the original's.
#[derive(Clone, Debug, Default)]
pub struct ReplayOptions {
    overrides: ReplayOverrides,
}

impl ReplayOptions {
    /// The original run's payload and options.
    pub fn new() -> ReplayOptions {
        ReplayOptions::default()
    }

    /// A new payload, any serializable value.
    pub fn payload(mut self, payload: &impl Serialize) -> Result<Self> {
        let text = serde_json::to_string(payload).map_err(|e| Error::json("the payload", e))?;
        self.overrides.payload = Some(Value::String(text));
        self.overrides.payload_type = Some(trigr_types::packet::JSON.to_string());
        Ok(self)
    }

    /// New metadata (a JSON object).
    pub fn metadata(mut self, metadata: Value) -> Self {
        self.overrides.metadata = Some(metadata);
        self
    }

    /// Adds a tag to the new run's tags, which replace the original's (ten at most).
    pub fn tag(mut self, tag: impl Into<String>) -> Self {
        let mut tags = match self.overrides.tags.take() {
            Some(Value::Array(tags)) => tags,
            _ => Vec::new(),
        };
        tags.push(Value::String(tag.into()));
        self.overrides.tags = Some(Value::Array(tags));
        self
    }

    /// The queue the new run goes to.
    pub fn queue(mut self, queue: impl Into<String>) -> Self {
        self.overrides.queue = Some(queue.into());
        self
    }

    /// The new run's concurrency key.
    pub fn concurrency_key(mut self, key: impl Into<String>) -> Self {
        self.overrides.concurrency_key = Some(json!(key.into()));
        self
    }

    /// The machine preset the new run asks for.
    pub fn machine(mut self, machine: impl Into<String>) -> Self {
        self.overrides.machine = Some(machine.into());
        self
    }

    /// The version the new run is locked to, instead of the current one.
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.overrides.version = Some(version.into());
        self
    }

    /// The region the new run runs in.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.overrides.region = Some(region.into());
        self
    }

    /// Starts the new run this long from now.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.overrides.delay = Some(json!(duration_text(delay)));
        self
    }

    /// Expires the new run if it has not started this long after it was made.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.overrides.ttl = Some(json!(duration_text(ttl)));
        self
    }

    /// An idempotency key for the new run, and how long it lives.
    pub fn idempotency_key(mut self, key: impl Into<String>, ttl: Option<Duration>) -> Self {
        self.overrides.idempotency_key = Some(key.into());
        self.overrides.idempotency_key_ttl = ttl.map(duration_text);
        self
    }

    /// The most attempts the new run gets.
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.overrides.max_attempts = Some(i64::from(attempts));
        self
    }

    /// The longest the new run may execute.
    pub fn max_duration(mut self, max: Duration) -> Self {
        self.overrides.max_duration = Some(max.as_secs_f64());
        self
    }

    /// How much earlier than its enqueue time the new run is dequeued.
    pub fn priority(mut self, priority: Duration) -> Self {
        self.overrides.priority = Some(priority.as_secs_f64());
        self
    }
}

impl Runs {
    /// A new run of the same task as `run_id`, with the overrides given; answers the new run.
    pub async fn replay(&self, run_id: &str, options: ReplayOptions) -> Result<RunHandle> {
        let path = format!("/api/v1/runs/{}/replay", encode(run_id));
        let body =
            serde_json::to_value(&options.overrides).map_err(|e| Error::json("the replay", e))?;
        let new: Id = self
            .http
            .call(Method::POST, &path, Some(&body), Tries::Once)
            .await?;
        Ok(new.into())
    }

    /// Moves a `DELAYED` run's start to `delay` from now; answers the run.
    pub async fn reschedule(&self, run_id: &str, delay: Duration) -> Result<Run> {
        self.reschedule_to(run_id, json!(duration_text(delay)))
            .await
    }

    /// Moves a `DELAYED` run's start to `at`; answers the run.
    pub async fn reschedule_at(&self, run_id: &str, at: DateTime<Utc>) -> Result<Run> {
        self.reschedule_to(run_id, json!(rfc3339(at))).await
    }

    async fn reschedule_to(&self, run_id: &str, delay: Value) -> Result<Run> {
        let path = format!("/api/v1/runs/{}/reschedule", encode(run_id));
        let body = serde_json::to_value(RescheduleBody { delay })
            .map_err(|e| Error::json("the reschedule", e))?;
        self.http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await
    }

    /// The run's log lines, oldest first: those written so far, and with `follow` those
    /// written later too, until the run is final and its last line was read.
    pub fn log_stream(&self, run_id: &str, follow: bool) -> LogStream {
        LogStream::new(self.http.clone(), run_id, follow)
    }

    /// The chunks of the run's output stream `key` (what its task wrote with
    /// `ctx.streams`/`metadata.stream`), oldest first: those written so far, and with
    /// `follow` those written later too, until the run is final and its last chunk was read.
    pub fn output_stream(&self, run_id: &str, key: &str, follow: bool) -> OutputStream {
        OutputStream::new(self.http.clone(), run_id, key, follow)
    }

    /// Adds tags to a run (it keeps the ones it has; ten in all at most); answers the
    /// server's message, which says how many were new.
    pub async fn add_tags<I, S>(&self, run_id: &str, tags: I) -> Result<String>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let path = format!("/api/v1/runs/{}/tags", encode(run_id));
        let tags: Vec<String> = tags.into_iter().map(Into::into).collect();
        let body = serde_json::to_value(TagsBody { tags: json!(tags) })
            .map_err(|e| Error::json("the tags", e))?;
        let answer: Message = self
            .http
            .call(Method::POST, &path, Some(&body), Tries::Transient)
            .await?;
        Ok(answer.message)
    }
}
