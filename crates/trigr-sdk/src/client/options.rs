//! How a [`Client`](crate::Client) sends requests: the retry policy ([`RetryConfig`]), the
//! settings of one call ([`RequestOptions`], through [`Client::with_options`]), cancellation
//! ([`Cancellation`]), and the hooks a client can be given ([`Interceptor`], [`Sleeper`]).
//!
//! [`Client::with_options`]: crate::Client::with_options

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use reqwest::Method;
use tokio::sync::Notify;

use crate::error::{Error, Result};

/// The most retries a [`RetryConfig`] allows, whatever it is set to.
pub const MAX_RETRIES: u32 = 100;

/// When and how a failed request is sent again.
///
/// Only a request that is safe to repeat is retried: a `GET`; a typed `PUT` or `DELETE`
/// whose endpoint is idempotent (a metadata update only when all its operations are `set`,
/// `delete` or `update`; increments and appends are sent once); a `POST` the API defines as
/// repeatable (cancel a run, complete a token, …); and a trigger, which carries a request
/// idempotency key (`x-trigger-request-idempotency-key`) so the server answers a repeated
/// trigger with the run the first one made. Other `POST`s (replay a run, the raw
/// [`Client::post_json`](crate::Client::post_json)) and the raw
/// [`Client::put_json`](crate::Client::put_json) and
/// [`Client::delete_json`](crate::Client::delete_json) are sent once; their `_repeatable`
/// forms retry.
///
/// A failure is retried when the server answered one of [`statuses`](RetryConfig::statuses)
/// (and did not say `x-should-retry: false`), or gave no answer at all (no connection, the
/// request timeout passed) while [`retry_unanswered`](RetryConfig::retry_unanswered) is on.
/// The wait before retry `n` (from 1) is `base_delay × multiplier^(n-1)`, at most
/// `max_delay`, and with jitter a random point in its upper half. A `Retry-After` (or
/// `x-ratelimit-reset`) of the answer replaces that wait; one longer than
/// [`max_retry_after`](RetryConfig::max_retry_after) ends the retries at once.
///
/// ```
/// use std::time::Duration;
/// use trigr_sdk::client::RetryConfig;
///
/// let policy = RetryConfig::default()
///     .max_retries(6)
///     .base_delay(Duration::from_millis(100))
///     .multiplier(3.0)
///     .max_delay(Duration::from_secs(10))
///     .jitter(false)
///     .statuses([429, 503])
///     .retry_unanswered(true)
///     .max_retry_after(Duration::from_secs(30));
/// assert_eq!(policy.delay(1, None), Duration::from_millis(100));
/// assert_eq!(policy.delay(3, None), Duration::from_millis(900));
/// assert_eq!(RetryConfig::disabled().get_max_retries(), 0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    max_retries: u32,
    base_delay: Duration,
    multiplier: f64,
    max_delay: Duration,
    jitter: bool,
    statuses: Vec<u16>,
    retry_unanswered: bool,
    max_retry_after: Duration,
}

impl Default for RetryConfig {
    /// 4 retries (5 sends), 200 ms doubling up to 5 s, with jitter, for `408`, `429`, `500`,
    /// `502`, `503`, `504` and unanswered requests; a `Retry-After` of up to 60 s is waited.
    fn default() -> RetryConfig {
        RetryConfig {
            max_retries: 4,
            base_delay: Duration::from_millis(200),
            multiplier: 2.0,
            max_delay: Duration::from_secs(5),
            jitter: true,
            statuses: vec![408, 429, 500, 502, 503, 504],
            retry_unanswered: true,
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryConfig {
    /// No retries: every request is sent once.
    pub fn disabled() -> RetryConfig {
        RetryConfig::default().max_retries(0)
    }

    /// How many times a request may be sent again after the first (at most [`MAX_RETRIES`]);
    /// 0 turns retries off.
    pub fn max_retries(mut self, retries: u32) -> RetryConfig {
        self.max_retries = retries.min(MAX_RETRIES);
        self
    }

    /// The wait before the first retry.
    pub fn base_delay(mut self, delay: Duration) -> RetryConfig {
        self.base_delay = delay;
        self
    }

    /// What each wait is multiplied by for the next (at least 1; not a number counts as 1).
    pub fn multiplier(mut self, multiplier: f64) -> RetryConfig {
        self.multiplier = if multiplier.is_finite() {
            multiplier.max(1.0)
        } else {
            1.0
        };
        self
    }

    /// The longest computed wait (a `Retry-After` is not capped by it).
    pub fn max_delay(mut self, delay: Duration) -> RetryConfig {
        self.max_delay = delay;
        self
    }

    /// Wait a random point in the upper half of each computed wait (on by default), so
    /// clients that failed together do not retry together.
    pub fn jitter(mut self, on: bool) -> RetryConfig {
        self.jitter = on;
        self
    }

    /// The answer statuses worth retrying.
    pub fn statuses(mut self, statuses: impl IntoIterator<Item = u16>) -> RetryConfig {
        self.statuses = statuses.into_iter().collect();
        self
    }

    /// Retry requests that got no answer: no connection, or the request timeout passed (on by
    /// default).
    pub fn retry_unanswered(mut self, on: bool) -> RetryConfig {
        self.retry_unanswered = on;
        self
    }

    /// The longest `Retry-After` waited; a longer one fails the request at once with the
    /// answer, whose [`Error::retry_after`] tells the wait.
    pub fn max_retry_after(mut self, limit: Duration) -> RetryConfig {
        self.max_retry_after = limit;
        self
    }

    /// The retries allowed.
    pub fn get_max_retries(&self) -> u32 {
        self.max_retries
    }

    /// Whether retries are on (at least one allowed).
    pub fn is_enabled(&self) -> bool {
        self.max_retries > 0
    }

    /// The wait before retry `retry` (from 1), without jitter, or the server's `retry_after`.
    pub fn delay(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        if let Some(wait) = retry_after {
            return wait;
        }
        let exponent = i32::try_from(retry.saturating_sub(1)).unwrap_or(i32::MAX);
        let factor = self.multiplier.powi(exponent);
        let millis = (self.base_delay.as_secs_f64() * 1000.0 * factor)
            .min(self.max_delay.as_secs_f64() * 1000.0);
        Duration::try_from_secs_f64(millis.max(0.0) / 1000.0).unwrap_or(self.max_delay)
    }

    /// The wait before retry `retry`, jittered when jitter is on (a server's wait is not).
    pub(crate) fn wait(&self, retry: u32, retry_after: Option<Duration>) -> Duration {
        let delay = self.delay(retry, retry_after);
        if !self.jitter || retry_after.is_some() || delay.is_zero() {
            return delay;
        }
        let half = delay / 2;
        half + half.mul_f64(rand::random::<f64>())
    }

    /// Whether `error`, the answer to send `sent` (from 1), is worth another send, and after
    /// how long.
    pub(crate) fn retry_after(
        &self,
        error: &Error,
        sent: u32,
        answered_only: bool,
    ) -> Option<Duration> {
        if sent > self.max_retries {
            return None;
        }
        let worth = match error {
            Error::Unreachable { .. } | Error::NoAnswer { .. } => {
                self.retry_unanswered && !answered_only
            }
            Error::Api {
                status, no_retry, ..
            } => !no_retry && self.statuses.contains(status),
            _ => false,
        };
        let asked = error.retry_after();
        if !worth || asked.is_some_and(|w| w > self.max_retry_after) {
            return None;
        }
        Some(self.wait(sent, asked))
    }
}

/// A signal that ends the requests it is given to ([`RequestOptions::cancellation`]): once
/// [`cancel`](Cancellation::cancel) is called, requests waiting for an answer or for a retry
/// end with [`Error::Cancelled`], and new ones fail at once. Clones share the signal.
///
/// Dropping a request's future also ends it; a `Cancellation` ends many from one place.
#[derive(Clone, Debug, Default)]
pub struct Cancellation {
    inner: Arc<CancelInner>,
}

#[derive(Debug, Default)]
struct CancelInner {
    cancelled: AtomicBool,
    notify: Notify,
}

impl Cancellation {
    /// A signal not yet given.
    pub fn new() -> Cancellation {
        Cancellation::default()
    }

    /// Gives the signal: every request holding it ends.
    pub fn cancel(&self) {
        self.inner.cancelled.store(true, Ordering::SeqCst);
        self.inner.notify.notify_waiters();
    }

    /// Whether the signal was given.
    pub fn is_cancelled(&self) -> bool {
        self.inner.cancelled.load(Ordering::SeqCst)
    }

    /// Waits for the signal.
    pub async fn cancelled(&self) {
        loop {
            let notified = self.inner.notify.notified();
            if self.is_cancelled() {
                return;
            }
            notified.await;
        }
    }
}

/// Runs `work` unless `signal` fires first, which ends it with [`Error::Cancelled`] saying
/// `why`.
pub(crate) async fn unless_cancelled<T>(
    signal: Option<&Cancellation>,
    why: String,
    work: impl Future<Output = Result<T>>,
) -> Result<T> {
    let Some(signal) = signal else {
        return work.await;
    };
    if signal.is_cancelled() {
        return Err(Error::Cancelled(why));
    }
    tokio::select! {
        result = work => result,
        () = signal.cancelled() => Err(Error::Cancelled(why)),
    }
}

/// What an [`Interceptor`] may change: the headers of a request about to be sent.
#[derive(Debug)]
pub struct OutgoingRequest<'a> {
    /// The method.
    pub method: &'a Method,
    /// The path and query, e.g. `/api/v3/runs/run_abc`.
    pub path: &'a str,
    /// The headers sent, the key and API version included; add or replace freely.
    pub headers: &'a mut HeaderMap,
}

/// A hook called on every request before it is sent, each send of a retry included
/// ([`ClientBuilder::interceptor`](crate::ClientBuilder::interceptor)).
pub type Interceptor = Arc<dyn Fn(OutgoingRequest<'_>) + Send + Sync>;

/// What a [`ResponseInterceptor`] sees of an answer: its status and headers, before the body
/// is read.
#[derive(Debug)]
pub struct IncomingResponse<'a> {
    /// The method of the request answered.
    pub method: &'a Method,
    /// The path and query of the request answered.
    pub path: &'a str,
    /// The answer's status.
    pub status: u16,
    /// The answer's headers (`x-request-id`, rate-limit headers, …).
    pub headers: &'a HeaderMap,
}

/// A hook called on every answer as it arrives, the answer to each send of a retry included
/// ([`ClientBuilder::response_interceptor`](crate::ClientBuilder::response_interceptor)).
pub type ResponseInterceptor = Arc<dyn Fn(IncomingResponse<'_>) + Send + Sync>;

/// How a client waits between retries and polls: `tokio::time::sleep` unless replaced
/// ([`ClientBuilder::sleeper`](crate::ClientBuilder::sleeper)), e.g. by a test that records
/// the waits instead of sitting through them.
pub type Sleeper = Arc<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// The default [`Sleeper`].
pub(crate) fn tokio_sleeper() -> Sleeper {
    Arc::new(|d| Box::pin(tokio::time::sleep(d)))
}

/// Settings of the calls made through one [`Client::with_options`](crate::Client::with_options)
/// clone; what is not set follows the client's settings.
///
/// ```no_run
/// # async fn f(client: trigr_sdk::Client) -> trigr_sdk::Result<()> {
/// use std::time::Duration;
/// use trigr_sdk::client::{Cancellation, RequestOptions, RetryConfig};
///
/// let stop = Cancellation::new();
/// let quick = client.with_options(
///     RequestOptions::new()
///         .timeout(Duration::from_secs(2))
///         .retry(RetryConfig::disabled())
///         .cancellation(stop.clone())
///         .header("x-team", "billing")?,
/// );
/// let run = quick.retrieve_run("run_…").await?;
/// # Ok(()) }
/// ```
#[derive(Clone, Debug, Default)]
pub struct RequestOptions {
    pub(crate) timeout: Option<Duration>,
    pub(crate) retry: Option<RetryConfig>,
    pub(crate) cancellation: Option<Cancellation>,
    pub(crate) headers: Vec<(HeaderName, HeaderValue)>,
}

impl RequestOptions {
    /// No settings of its own.
    pub fn new() -> RequestOptions {
        RequestOptions::default()
    }

    /// How long the whole call may take: every send, its answer and the waits between
    /// retries included. A send cut short by it fails with
    /// [`Error::NoAnswer`], and no retry starts whose wait would pass it. (The client's
    /// [`request_timeout`](crate::ClientBuilder::request_timeout) bounds each send alone.)
    pub fn timeout(mut self, timeout: Duration) -> RequestOptions {
        self.timeout = Some(timeout);
        self
    }

    /// The retry policy of these calls.
    pub fn retry(mut self, policy: RetryConfig) -> RequestOptions {
        self.retry = Some(policy);
        self
    }

    /// Ends these calls when the signal is given.
    pub fn cancellation(mut self, signal: Cancellation) -> RequestOptions {
        self.cancellation = Some(signal);
        self
    }

    /// A header sent with these calls; a name or value HTTP cannot carry is an
    /// [`Error::Config`].
    pub fn header(mut self, name: &str, value: &str) -> Result<RequestOptions> {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Error::Config(format!("'{name}' is not a valid header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Error::Config(format!("the value of header {name} cannot be sent")))?;
        self.headers.push((name, value));
        Ok(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ApiErrorKind;

    fn answer(status: u16, retry_after: Option<Duration>) -> Error {
        Error::Api {
            request: "GET /x".into(),
            status,
            code: None,
            message: "m".into(),
            request_id: None,
            kind: ApiErrorKind::of(status, None, retry_after),
            no_retry: false,
        }
    }

    #[test]
    fn waits_grow_and_stop() {
        let p = RetryConfig::default()
            .jitter(false)
            .base_delay(Duration::from_millis(10))
            .max_delay(Duration::from_millis(50))
            .max_retries(3);
        assert_eq!(p.delay(1, None), Duration::from_millis(10));
        assert_eq!(p.delay(2, None), Duration::from_millis(20));
        assert_eq!(p.delay(4, None), Duration::from_millis(50));
        assert_eq!(p.delay(u32::MAX, None), Duration::from_millis(50));
        let huge = RetryConfig::default()
            .base_delay(Duration::MAX)
            .max_delay(Duration::MAX);
        assert_eq!(huge.delay(3, None), Duration::MAX);
        let busy = answer(503, None);
        assert_eq!(
            p.retry_after(&busy, 1, false),
            Some(Duration::from_millis(10))
        );
        assert_eq!(p.retry_after(&busy, 4, false), None);
        assert_eq!(p.retry_after(&answer(400, None), 1, false), None);
        let asked = answer(429, Some(Duration::from_secs(2)));
        assert_eq!(
            p.retry_after(&asked, 1, false),
            Some(Duration::from_secs(2))
        );
        let too_long = answer(429, Some(Duration::from_secs(3600)));
        assert_eq!(p.retry_after(&too_long, 1, false), None);
        let gone = Error::Unreachable {
            base: "b".into(),
            reason: "r".into(),
        };
        assert!(p.retry_after(&gone, 1, false).is_some());
        assert!(p.retry_after(&gone, 1, true).is_none());
        assert_eq!(RetryConfig::default().multiplier(f64::NAN).multiplier, 1.0);
        assert_eq!(
            RetryConfig::default().max_retries(u32::MAX).max_retries,
            MAX_RETRIES
        );
    }

    #[test]
    fn jitter_stays_in_the_upper_half() {
        let p = RetryConfig::default().base_delay(Duration::from_millis(100));
        for _ in 0..100 {
            let w = p.wait(1, None);
            assert!(w >= Duration::from_millis(50) && w <= Duration::from_millis(100));
        }
    }
}
