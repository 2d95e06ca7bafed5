//! [`HttpExecutor`] ("module 2" of the seed): sends one action's request, with its timeout and
//! retries, and answers an [`ActionResult`] — it knows nothing of plans, dependencies or state.
//!
//! * Each try is bounded by the action's `timeoutMs`, from sending to the end of the body.
//! * Timeouts, connection errors, `429` and `5xx` are tried again, after the answer's
//!   `Retry-After` (seconds or an HTTP date, at most 5 minutes) or the action's backoff.
//! * Other `4xx` answers fail at once; `2xx` and `3xx` complete (redirects are not followed:
//!   the target of a redirect would escape the host allowlist).
//! * The response body is kept up to a limit (default 1 MiB); the output is `{"status",
//!   "body"}`, the body parsed as JSON when it is JSON, else text.
//! * Every request carries `Idempotency-Key`, so a request re-sent after a crash (the worker
//!   died between the answer and the journal) is recognised by a target that honours the key.

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::StreamExt;
use serde_json::{Map, Value};
use trigr_types::plan::{
    Action, ActionError, ActionErrorCode, ActionResult, ActionStatus, HttpAction,
};

use super::hosts::{HostPolicy, HostRefused};
use super::options::PlanClock;

/// The longest `Retry-After` honoured.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(300);
/// The default limit of a kept response body.
pub const DEFAULT_MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// Sends actions' requests.
#[derive(Clone, Debug)]
pub struct HttpExecutor {
    client: reqwest::Client,
    policy: HostPolicy,
    max_response_bytes: usize,
    clock: PlanClock,
}

/// How one try ended.
enum Try {
    /// A final answer: completed or failed for good.
    Done(
        ActionStatus,
        Option<Map<String, Value>>,
        Option<ActionError>,
    ),
    /// Worth another try, after at least this long (from `Retry-After`).
    Again(ActionError, Option<Duration>),
}

impl HttpExecutor {
    /// An executor that sends only where `policy` allows.
    pub fn new(policy: HostPolicy) -> crate::Result<HttpExecutor> {
        let client = reqwest::Client::builder()
            .dns_resolver(policy.resolver())
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("trigr-plans/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| crate::Error::Config(format!("the plan HTTP client: {e}")))?;
        Ok(HttpExecutor {
            client,
            policy,
            max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
            clock: PlanClock::default(),
        })
    }

    /// Keeps response bodies up to `bytes`; a longer one fails the action
    /// (`RESPONSE_TOO_LARGE`).
    pub fn max_response_bytes(mut self, bytes: usize) -> HttpExecutor {
        self.max_response_bytes = bytes;
        self
    }

    /// Takes the results' timestamps, and the wait an HTTP-date `Retry-After` asks for, from
    /// `clock` (default: the wall clock).
    pub fn clock(mut self, clock: PlanClock) -> HttpExecutor {
        self.clock = clock;
        self
    }

    /// Sends `action`'s request (tries and waits included) with this idempotency key.
    pub async fn execute(&self, action: &Action, idempotency_key: &str) -> ActionResult {
        let started = self.clock.now();
        let mut tries = 0;
        let end = loop {
            tries += 1;
            match self.try_once(&action.http, idempotency_key).await {
                Try::Done(status, output, error) => break (status, output, error),
                Try::Again(error, after) if tries < action.retry.attempts => {
                    let backoff = Duration::from_millis(action.retry.backoff.delay_ms(tries));
                    let wait = after.map_or(backoff, |a| a.min(MAX_RETRY_AFTER));
                    tracing::debug!(action = %action.id, tries, ?wait, "retrying: {}", error.message);
                    tokio::time::sleep(wait).await;
                }
                Try::Again(error, _) => break (ActionStatus::Failed, None, Some(error)),
            }
        };
        let (status, output, error) = end;
        let completed = self.clock.now();
        finished(
            &action.id,
            status,
            output,
            error,
            (started, completed),
            tries,
        )
    }

    async fn try_once(&self, http: &HttpAction, idempotency_key: &str) -> Try {
        let url = match reqwest::Url::parse(&http.url) {
            Ok(url) => url,
            Err(e) => return fail(ActionErrorCode::InvalidRequest, format!("the URL: {e}")),
        };
        if let Err(HostRefused(why)) = self.policy.check_url(&url) {
            return fail(ActionErrorCode::HostNotAllowed, why);
        }
        let request = self.request(http, url, idempotency_key);
        let timeout = Duration::from_millis(http.timeout_ms);
        match tokio::time::timeout(timeout, self.send(request)).await {
            Ok(outcome) => outcome,
            Err(_) => Try::Again(
                error(
                    ActionErrorCode::Timeout,
                    format!("no complete answer within {} ms", http.timeout_ms),
                ),
                None,
            ),
        }
    }

    fn request(
        &self,
        http: &HttpAction,
        url: reqwest::Url,
        idempotency_key: &str,
    ) -> reqwest::RequestBuilder {
        let method = reqwest::Method::from_bytes(http.method.as_str().as_bytes())
            .unwrap_or(reqwest::Method::GET);
        let mut request = self
            .client
            .request(method, url)
            .header("Idempotency-Key", idempotency_key);
        let mut typed = false;
        for (name, value) in &http.headers {
            typed |= name.eq_ignore_ascii_case("content-type");
            request = request.header(name, value);
        }
        if let Some(body) = &http.body {
            if !typed {
                request = request.header("Content-Type", "application/json");
            }
            request = request.body(body.to_string());
        }
        request
    }

    async fn send(&self, request: reqwest::RequestBuilder) -> Try {
        let response = match request.send().await {
            Ok(response) => response,
            Err(e) => return sent_error(&e),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers(), self.clock.now());
        let body = match self.read_body(response).await {
            Ok(body) => body,
            Err(outcome) => return outcome,
        };
        let code = status.as_u16();
        if status.is_success() || status.is_redirection() {
            let mut output = Map::new();
            output.insert("status".into(), Value::from(code));
            output.insert("body".into(), body);
            return Try::Done(ActionStatus::Completed, Some(output), None);
        }
        let message = format!("the target answered {status}: {}", excerpt(&body));
        match code {
            429 => Try::Again(error(ActionErrorCode::RateLimited, message), retry_after),
            500..=599 => Try::Again(error(ActionErrorCode::ServerError, message), retry_after),
            _ => fail(ActionErrorCode::ClientError, message),
        }
    }

    /// The body, up to the limit, as JSON or text.
    async fn read_body(&self, response: reqwest::Response) -> Result<Value, Try> {
        let mut bytes = Vec::new();
        let mut stream = response.bytes_stream();
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| sent_error(&e))?;
            if bytes.len() + chunk.len() > self.max_response_bytes {
                return Err(fail(
                    ActionErrorCode::ResponseTooLarge,
                    format!(
                        "the response body is over the limit of {} bytes",
                        self.max_response_bytes
                    ),
                ));
            }
            bytes.extend_from_slice(&chunk);
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        Ok(serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned())))
    }
}

fn finished(
    action_id: &str,
    status: ActionStatus,
    output: Option<Map<String, Value>>,
    error: Option<ActionError>,
    (started, completed): (DateTime<Utc>, DateTime<Utc>),
    attempts: u32,
) -> ActionResult {
    ActionResult {
        action_id: action_id.to_string(),
        status,
        output,
        output_omitted: false,
        error,
        started_at: Some(started),
        completed_at: Some(completed),
        duration_ms: Some((completed - started).num_milliseconds().max(0) as u64),
        attempts,
    }
}

fn error(code: ActionErrorCode, message: String) -> ActionError {
    ActionError {
        message,
        code: Some(code),
    }
}

fn fail(code: ActionErrorCode, message: String) -> Try {
    Try::Done(ActionStatus::Failed, None, Some(error(code, message)))
}

/// A request that got no (complete) answer: refused by the host policy, or a network error.
fn sent_error(e: &reqwest::Error) -> Try {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = source {
        if let Some(refused) = err.downcast_ref::<HostRefused>() {
            return fail(ActionErrorCode::HostNotAllowed, refused.0.clone());
        }
        source = err.source();
    }
    if e.is_builder() {
        return fail(ActionErrorCode::InvalidRequest, format!("the request: {e}"));
    }
    let code = if e.is_timeout() {
        ActionErrorCode::Timeout
    } else {
        ActionErrorCode::ConnectionFailed
    };
    Try::Again(error(code, format!("{e}: {}", root_cause(e))), None)
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e;
    while let Some(next) = last.source() {
        last = next;
    }
    last.to_string()
}

/// `Retry-After` as seconds or as an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap, now: DateTime<Utc>) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let wait = at.with_timezone(&Utc) - now;
    Some(wait.to_std().unwrap_or(Duration::ZERO))
}

/// The start of a body, for an error message.
fn excerpt(body: &Value) -> String {
    let text = match body {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    text.chars().take(200).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue, RETRY_AFTER};

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let mut h = HeaderMap::new();
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        let now = Utc::now();
        assert_eq!(retry_after(&h, now), Some(Duration::from_secs(3)));
        h.insert(
            RETRY_AFTER,
            HeaderValue::from_static("Sun, 06 Nov 1994 08:49:37 GMT"),
        );
        assert_eq!(
            retry_after(&h, now),
            Some(Duration::ZERO),
            "a date in the past: at once"
        );
        let before = DateTime::parse_from_rfc2822("Sun, 06 Nov 1994 08:49:30 GMT")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            retry_after(&h, before),
            Some(Duration::from_secs(7)),
            "a date measured from the executor's clock"
        );
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h, now), None);
    }
}
