//! The HTTP transport under [`Client`](crate::Client): base URL, key, JSON in and out, error
//! mapping, retries of transient failures and server-sent events.
//!
//! Most of it is internal. What is public serves tools that talk to endpoints the typed
//! methods of [`Client`](crate::Client) do not cover, through its raw requests
//! ([`Client::get_json`](crate::Client::get_json) and the like) and
//! [`Client::open_events`](crate::Client::open_events):
//!
//! * [`DEFAULT_API_URL`], and [`check_settings`] with its [`SettingsError`]: the rules a server
//!   address and a secret key must follow, to explain a bad one in a tool's own words;
//! * [`EventStream`] and [`ServerEvent`]: a server-sent event body, read event by event.

use std::future::Future;
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, AUTHORIZATION, USER_AGENT};
use reqwest::Method;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tokio::sync::Notify;
use tracing::Instrument;

use crate::client::metrics::{
    clip, normalize_endpoint, ErrorHook, History, PerformanceStats, RequestHook, RequestRecord,
    DEFAULT_HISTORY,
};
use crate::client::options::{
    tokio_sleeper, unless_cancelled, Cancellation, IncomingResponse, Interceptor, OutgoingRequest,
    RequestOptions, ResponseInterceptor, RetryConfig, Sleeper,
};
use crate::error::{ApiErrorKind, Error, Result};
use crate::version::VersionMismatchError;

/// Server address used when `TRIGGER_API_URL` is not set.
pub const DEFAULT_API_URL: &str = "http://127.0.0.1:3030";
/// API version header value; selects the current run-status names.
const API_VERSION: &str = "2025-07-16";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// The default request timeout: longer than the longest long-poll (30 s) the protocol allows.
pub(crate) const REQUEST_TIMEOUT: Duration = Duration::from_secs(75);
/// The time limit of an event stream's request: none in practice (readers watch for silence).
const STREAM_TIMEOUT: Duration = Duration::from_secs(365 * 24 * 3600);

/// Everything except the RFC 3986 unreserved characters `A-Z a-z 0-9 - _ . ~`.
const COMPONENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Encodes one path segment or query component (like JavaScript's `encodeURIComponent`).
pub(crate) fn encode(text: &str) -> String {
    utf8_percent_encode(text, COMPONENT).to_string()
}

/// Whether a request may be sent again after a failure ([`RetryConfig`] decides when).
#[derive(Clone, Copy, Debug)]
pub(crate) enum Tries {
    /// Send once (not safe to repeat, or the caller handles failures).
    Once,
    /// Safe to repeat: retried on the failures the policy names (no answer, 408, 429, 5xx by
    /// default).
    Transient,
    /// Safe to repeat, but only after an answer of the server: a server that cannot be
    /// reached, or does not answer, fails at once.
    Answered,
}

/// The settings of a connection beyond its address and key ([`Http::with_settings`]).
#[derive(Clone)]
pub(crate) struct Settings {
    pub(crate) user_agent: Option<String>,
    pub(crate) request_timeout: Duration,
    pub(crate) client: Option<reqwest::Client>,
    pub(crate) retry: RetryConfig,
    pub(crate) history: usize,
    pub(crate) on_request: Vec<RequestHook>,
    pub(crate) on_error: Vec<ErrorHook>,
    pub(crate) interceptors: Vec<Interceptor>,
    pub(crate) response_interceptors: Vec<ResponseInterceptor>,
    pub(crate) sleeper: Sleeper,
    pub(crate) tracing: bool,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            user_agent: None,
            request_timeout: REQUEST_TIMEOUT,
            client: None,
            retry: RetryConfig::default(),
            history: DEFAULT_HISTORY,
            on_request: Vec::new(),
            on_error: Vec::new(),
            interceptors: Vec::new(),
            response_interceptors: Vec::new(),
            sleeper: tokio_sleeper(),
            tracing: false,
        }
    }
}

/// What every clone of a connection shares, those for other environments included: hooks,
/// the request history, the sleeper.
pub(crate) struct Shared {
    user_agent: Option<HeaderValue>,
    retry: RetryConfig,
    history: History,
    on_request: Vec<RequestHook>,
    on_error: Vec<ErrorHook>,
    interceptors: Vec<Interceptor>,
    response_interceptors: Vec<ResponseInterceptor>,
    sleeper: Sleeper,
    tracing: bool,
}

/// The close signals and the calls in flight of one client and its clones: a client for
/// another environment ([`Http::with_key`]) has its own, so closing one leaves the other open.
#[derive(Debug, Default)]
pub(crate) struct Lifecycle {
    /// Given when [`Http::close`] starts: no new request, subscriptions end.
    stopping: Cancellation,
    /// Given when the grace period of [`Http::close`] is over: requests still going end.
    closing: Cancellation,
    in_flight: AtomicUsize,
    idle: Notify,
    /// The realtime WebSocket shared by the client's WebSocket subscriptions.
    ws: crate::client::realtime_ws::HubSlot,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("retry", &self.retry)
            .field("tracing", &self.tracing)
            .finish_non_exhaustive()
    }
}

/// Counts a request in flight while it lives.
struct InFlight<'a>(&'a Lifecycle);

impl<'a> InFlight<'a> {
    fn enter(life: &'a Lifecycle) -> InFlight<'a> {
        life.in_flight.fetch_add(1, Ordering::SeqCst);
        InFlight(life)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        if self.0.in_flight.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// One answer of a server: what the caller asked for, with its status and request id.
struct Answer<T> {
    value: T,
    status: u16,
    request_id: Option<String>,
}

/// An authenticated connection to one server.
#[derive(Clone, Debug)]
pub(crate) struct Http {
    base: String,
    auth: HeaderValue,
    http: reqwest::Client,
    request_timeout: Duration,
    shared: Arc<Shared>,
    life: Arc<Lifecycle>,
    call: RequestOptions,
}

impl Http {
    /// A connection with the default settings.
    #[cfg(test)]
    pub(crate) fn new(api_url: &str, secret_key: &str) -> Result<Http> {
        Http::with_settings(api_url, secret_key, Settings::default())
    }

    /// The secret key the requests are authenticated with (it signs public tokens).
    pub(crate) fn secret_key(&self) -> String {
        let header = self.auth.to_str().unwrap_or_default();
        header.strip_prefix("Bearer ").unwrap_or(header).to_string()
    }

    /// A connection with these settings.
    pub(crate) fn with_settings(
        api_url: &str,
        secret_key: &str,
        settings: Settings,
    ) -> Result<Http> {
        let base = base_url(api_url).map_err(|e| Error::Config(e.to_string()))?;
        let auth = auth_header(secret_key).map_err(|e| Error::Config(e.to_string()))?;
        let user_agent = settings
            .user_agent
            .as_deref()
            .map(HeaderValue::from_str)
            .transpose()
            .map_err(|_| Error::Config("the User-Agent cannot be sent as a header".into()))?;
        let http = match settings.client {
            Some(client) => client,
            None => reqwest::Client::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .build()
                .map_err(|e| Error::Config(format!("the HTTP client could not be set up: {e}")))?,
        };
        let shared = Shared {
            user_agent,
            retry: settings.retry,
            history: History::new(settings.history),
            on_request: settings.on_request,
            on_error: settings.on_error,
            interceptors: settings.interceptors,
            response_interceptors: settings.response_interceptors,
            sleeper: settings.sleeper,
            tracing: settings.tracing,
        };
        Ok(Http {
            base,
            auth,
            http,
            request_timeout: settings.request_timeout,
            shared: Arc::new(shared),
            life: Arc::default(),
            call: RequestOptions::default(),
        })
    }

    /// A connection sending `user_agent` (if any), whose requests fail after `request_timeout`.
    #[cfg(test)]
    fn configured(
        api_url: &str,
        secret_key: &str,
        user_agent: Option<&str>,
        request_timeout: Duration,
    ) -> Result<Http> {
        let settings = Settings {
            user_agent: user_agent.map(str::to_string),
            request_timeout,
            ..Settings::default()
        };
        Http::with_settings(api_url, secret_key, settings)
    }

    /// [`Http::request`] with a JSON body, or with none.
    #[cfg(test)]
    fn json_request(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> reqwest::RequestBuilder {
        let request = self.request(method, path, &[]);
        match body {
            Some(body) => request.json(body),
            None => request,
        }
    }

    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// The same connection, its calls with `options` (over the ones it had).
    pub(crate) fn with_options(&self, options: RequestOptions) -> Http {
        let mut http = self.clone();
        let call = &mut http.call;
        call.timeout = options.timeout.or(call.timeout);
        call.retry = options.retry.or(call.retry.take());
        call.cancellation = options.cancellation.or(call.cancellation.take());
        call.headers.extend(options.headers);
        http
    }

    /// The same connection (pool, hooks, history) with another secret key, and close
    /// signals of its own.
    pub(crate) fn with_key(&self, secret_key: &str) -> Result<Http> {
        let auth = auth_header(secret_key).map_err(|e| Error::Config(e.to_string()))?;
        Ok(Http {
            auth,
            life: Arc::default(),
            ..self.clone()
        })
    }

    /// The summary of the calls kept in the history.
    pub(crate) fn stats(&self) -> PerformanceStats {
        self.shared.history.stats()
    }

    /// The calls kept in the history, oldest first.
    pub(crate) fn history(&self) -> Vec<RequestRecord> {
        self.shared.history.records()
    }

    /// Forgets the history.
    pub(crate) fn clear_history(&self) {
        self.shared.history.clear();
    }

    /// Whether [`Http::close`] was called.
    pub(crate) fn is_closed(&self) -> bool {
        self.life.stopping.is_cancelled()
    }

    /// The client's realtime WebSocket hub.
    pub(crate) fn ws_hub(&self) -> &crate::client::realtime_ws::HubSlot {
        &self.life.ws
    }

    /// The `ws://` (or `wss://`) URL of `path` on the server.
    pub(crate) fn ws_url(&self, path: &str) -> String {
        let base = self.base.trim_end_matches('/');
        let base = match base.split_once("://") {
            Some(("https", rest)) => format!("wss://{rest}"),
            Some((_, rest)) => format!("ws://{rest}"),
            None => format!("ws://{base}"),
        };
        format!("{base}{path}")
    }

    /// The `Authorization` header value of this client.
    pub(crate) fn auth_header(&self) -> HeaderValue {
        self.auth.clone()
    }

    /// Waits until [`Http::close`] is called.
    pub(crate) async fn stopped(&self) {
        self.life.stopping.cancelled().await;
    }

    /// Waits through the sleeper.
    pub(crate) async fn sleep(&self, wait: Duration) {
        (self.shared.sleeper)(wait).await;
    }

    /// Refuses new requests and ends subscriptions, waits up to `grace` for the requests in
    /// flight, then ends those still going; how many that was.
    pub(crate) async fn close(&self, grace: Duration) -> usize {
        let shared = &self.life;
        shared.stopping.cancel();
        let drained = async {
            loop {
                let idle = shared.idle.notified();
                if shared.in_flight.load(Ordering::SeqCst) == 0 {
                    return;
                }
                idle.await;
            }
        };
        let left = match tokio::time::timeout(grace, drained).await {
            Ok(()) => 0,
            Err(_) => shared.in_flight.load(Ordering::SeqCst),
        };
        shared.closing.cancel();
        left
    }

    /// The time limit of each send.
    fn timeout(&self) -> Duration {
        self.call.timeout.unwrap_or(self.request_timeout)
    }

    /// The retry policy of this connection's calls.
    pub(crate) fn policy(&self) -> &RetryConfig {
        self.call.retry.as_ref().unwrap_or(&self.shared.retry)
    }

    /// No answer within the request timeout.
    fn no_answer(&self) -> Error {
        Error::NoAnswer {
            base: self.base.clone(),
            seconds: self.timeout().as_secs(),
        }
    }

    /// Sends a request and returns the JSON body of a success answer (`null` when empty).
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        tries: Tries,
    ) -> Result<Value> {
        self.send_with(method, path, body, &[], tries).await
    }

    /// [`Http::send`] with extra headers.
    pub(crate) async fn send_with(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
        tries: Tries,
    ) -> Result<Value> {
        let once = || self.send_once(&method, path, body, headers);
        self.exchange(&method, path, tries, once).await
    }

    /// Like [`Http::send`], decoding the answer into `T`.
    pub(crate) async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        tries: Tries,
    ) -> Result<T> {
        self.call_with(method, path, body, &[], tries).await
    }

    /// [`Http::call`] with extra headers.
    pub(crate) async fn call_with<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
        tries: Tries,
    ) -> Result<T> {
        let name = request_name(&method, path);
        let value = self.send_with(method, path, body, headers, tries).await?;
        serde_json::from_value(value).map_err(|e| Error::BadAnswer {
            request: name,
            reason: e.to_string(),
        })
    }

    /// One call: sent by `once` as often as the retry policy allows, cancellable, counted in
    /// flight, recorded in the history and given to the hooks (in its span when asked).
    async fn exchange<T, F, Fut>(
        &self,
        method: &Method,
        path: &str,
        tries: Tries,
        once: F,
    ) -> Result<T>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Answer<T>>>,
    {
        let started = (Instant::now(), SystemTime::now());
        let name = request_name(method, path);
        if self.is_closed() {
            return Err(Error::Cancelled(format!("{name}: the client is closed")));
        }
        let _in_flight = InFlight::enter(&self.life);
        let span = self.shared.tracing.then(|| {
            tracing::info_span!(
                "trigr.request",
                method = %method,
                endpoint = %normalize_endpoint(method.as_str(), path),
                status = tracing::field::Empty,
                attempts = tracing::field::Empty,
                request_id = tracing::field::Empty,
            )
        });
        let attempts = AtomicU32::new(0);
        let retried = self.retried(tries, &attempts, once);
        let closed = format!("{name} was ended: the client was closed");
        let closable = unless_cancelled(Some(&self.life.closing), closed, retried);
        let cancelled = format!("{name} was cancelled");
        let work = unless_cancelled(self.call.cancellation.as_ref(), cancelled, closable);
        let result = match &span {
            Some(span) => work.instrument(span.clone()).await,
            None => work.await,
        };
        let sends = attempts.load(Ordering::SeqCst);
        let record = self.record(method, path, &result, sends, started);
        if let Some(span) = &span {
            span.record("status", record.status.unwrap_or(0));
            span.record("attempts", record.attempts);
            span.record("request_id", record.request_id.as_deref().unwrap_or(""));
        }
        self.report(&result, record);
        result.map(|a| a.value)
    }

    /// Sends with `once` until it succeeds or the policy says stop; counts the sends. A
    /// per-call timeout ([`RequestOptions::timeout`]) bounds the whole call: each send gets
    /// what is left of it, and no retry starts whose wait would pass it.
    async fn retried<T, F, Fut>(
        &self,
        tries: Tries,
        sends: &AtomicU32,
        once: F,
    ) -> Result<Answer<T>>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<Answer<T>>>,
    {
        let policy = self.policy();
        let answered_only = matches!(tries, Tries::Answered);
        let deadline = self
            .call
            .timeout
            .and_then(|limit| tokio::time::Instant::now().checked_add(limit));
        loop {
            let sent = sends.fetch_add(1, Ordering::SeqCst) + 1;
            let answer = match deadline {
                None => once().await,
                Some(deadline) => tokio::time::timeout_at(deadline, once())
                    .await
                    .unwrap_or_else(|_| Err(self.no_answer())),
            };
            let error = match answer {
                Ok(answer) => return Ok(answer),
                Err(e) => e,
            };
            let wait = match tries {
                Tries::Once => None,
                Tries::Transient | Tries::Answered => {
                    policy.retry_after(&error, sent, answered_only)
                }
            };
            let Some(wait) = wait else {
                return Err(error);
            };
            let past_deadline = deadline.is_some_and(|deadline| {
                tokio::time::Instant::now()
                    .checked_add(wait)
                    .is_none_or(|at| at >= deadline)
            });
            if past_deadline {
                return Err(error);
            }
            tracing::debug!("{error}; trying again in {wait:?}");
            (self.shared.sleeper)(wait).await;
        }
    }

    /// The record of a finished call.
    fn record<T>(
        &self,
        method: &Method,
        path: &str,
        result: &Result<Answer<T>>,
        attempts: u32,
        (started, started_at): (Instant, SystemTime),
    ) -> RequestRecord {
        let (status, request_id) = match result {
            Ok(a) => (Some(a.status), a.request_id.clone()),
            Err(Error::Api {
                status, request_id, ..
            }) => (Some(*status), request_id.as_deref().map(str::to_string)),
            Err(Error::VersionMismatch(_)) => (Some(409), None),
            Err(_) => (None, None),
        };
        RequestRecord {
            method: method.to_string(),
            path: clip(path.split('?').next().unwrap_or(path)),
            endpoint: clip(&normalize_endpoint(method.as_str(), path)),
            status,
            success: result.is_ok(),
            duration: started.elapsed(),
            attempts,
            request_id,
            started_at,
        }
    }

    /// Keeps the record and gives it to the hooks.
    fn report<T>(&self, result: &Result<Answer<T>>, record: RequestRecord) {
        for hook in &self.shared.on_request {
            hook(&record);
        }
        if let Err(e) = result {
            for hook in &self.shared.on_error {
                hook(e, &record);
            }
        }
        self.shared.history.push(record);
    }

    /// A request to `path` (path and query) with the key, the API version, the call's headers,
    /// `extra`, and what the interceptors add.
    fn request(
        &self,
        method: Method,
        path: &str,
        extra: &[(&str, String)],
    ) -> reqwest::RequestBuilder {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, self.auth.clone());
        headers.insert(
            "x-trigger-api-version",
            HeaderValue::from_static(API_VERSION),
        );
        if let Some(agent) = &self.shared.user_agent {
            headers.insert(USER_AGENT, agent.clone());
        }
        for (name, value) in &self.call.headers {
            headers.insert(name.clone(), value.clone());
        }
        for (name, value) in extra {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                headers.insert(name, value);
            }
        }
        for interceptor in &self.shared.interceptors {
            interceptor(OutgoingRequest {
                method: &method,
                path,
                headers: &mut headers,
            });
        }
        self.http
            .request(method, format!("{}{path}", self.base))
            .timeout(self.timeout())
            .headers(headers)
    }

    /// Shows an answer's head to the response interceptors, before its body is read.
    fn answered(&self, method: &Method, path: &str, response: &reqwest::Response) {
        for interceptor in &self.shared.response_interceptors {
            interceptor(IncomingResponse {
                method,
                path,
                status: response.status().as_u16(),
                headers: response.headers(),
            });
        }
    }

    async fn send_once(
        &self,
        method: &Method,
        path: &str,
        body: Option<&Value>,
        headers: &[(&str, String)],
    ) -> Result<Answer<Value>> {
        let name = request_name(method, path);
        let mut request = self.request(method.clone(), path, headers);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request.send().await.map_err(|e| self.unreachable(&e))?;
        self.answered(method, path, &response);
        let status = response.status().as_u16();
        let request_id = request_id_of(response.headers());
        let head = response.headers().clone();
        let text = response.text().await.map_err(|e| self.unreachable(&e))?;
        if !(200..300).contains(&status) {
            return Err(api_error(name, status, &head, &text));
        }
        let value = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|e| Error::BadAnswer {
                request: name,
                reason: format!("the body is not JSON ({e})"),
            })?
        };
        Ok(Answer {
            value,
            status,
            request_id,
        })
    }

    /// Sends a request with a text body and extra headers, once; the JSON answer of a success.
    pub(crate) async fn send_text(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: String,
        headers: &[(&str, String)],
    ) -> Result<Value> {
        let (method_ref, body_ref) = (&method, &body);
        let once = || async move {
            let name = request_name(method_ref, path);
            let response = self
                .request(method_ref.clone(), path, headers)
                .header(reqwest::header::CONTENT_TYPE, content_type)
                .body(body_ref.clone())
                .send()
                .await
                .map_err(|e| self.unreachable(&e))?;
            self.answered(method_ref, path, &response);
            let status = response.status().as_u16();
            let request_id = request_id_of(response.headers());
            let head = response.headers().clone();
            let text = response.text().await.map_err(|e| self.unreachable(&e))?;
            if !(200..300).contains(&status) {
                return Err(api_error(name, status, &head, &text));
            }
            Ok(Answer {
                value: serde_json::from_str(&text).unwrap_or(Value::Null),
                status,
                request_id,
            })
        };
        self.exchange(&method, path, Tries::Once, once).await
    }

    /// Opens a `GET` whose body the caller reads as it comes (server-sent events); fails on
    /// a non-success answer. The whole request, body included, is cut after the request
    /// timeout.
    pub(crate) async fn open_stream(
        &self,
        path: &str,
        headers: &[(&str, String)],
    ) -> Result<reqwest::Response> {
        self.open_stream_with(path, headers, None).await
    }

    /// Opens `GET path` as an event stream resuming after `last_event_id`, with no time limit
    /// on the body.
    pub(crate) async fn open_events(
        &self,
        path: &str,
        last_event_id: Option<i64>,
    ) -> Result<EventStream> {
        self.open_events_with(path, last_event_id, &[], STREAM_TIMEOUT)
            .await
    }

    /// [`Http::open_events`] with extra headers and a time limit on the whole answer.
    pub(crate) async fn open_events_with(
        &self,
        path: &str,
        last_event_id: Option<i64>,
        extra: &[(&str, String)],
        timeout: Duration,
    ) -> Result<EventStream> {
        let mut headers: Vec<(&str, String)> = last_event_id
            .map(|id| ("last-event-id", id.to_string()))
            .into_iter()
            .collect();
        headers.extend(extra.iter().cloned());
        let response = self.open_stream_with(path, &headers, Some(timeout)).await?;
        Ok(EventStream {
            http: self.clone(),
            response,
            parser: SseParser::default(),
            done: false,
        })
    }

    /// `HEAD path`: the answer's headers (retried like a read).
    pub(crate) async fn head(&self, path: &str) -> Result<HeaderMap> {
        let once = || async move {
            let response = self
                .request(Method::HEAD, path, &[])
                .send()
                .await
                .map_err(|e| self.unreachable(&e))?;
            self.answered(&Method::HEAD, path, &response);
            let status = response.status().as_u16();
            let request_id = request_id_of(response.headers());
            let head = response.headers().clone();
            if !(200..300).contains(&status) {
                return Err(api_error(
                    request_name(&Method::HEAD, path),
                    status,
                    &head,
                    "",
                ));
            }
            Ok(Answer {
                value: head,
                status,
                request_id,
            })
        };
        self.exchange(&Method::HEAD, path, Tries::Transient, once)
            .await
    }

    /// [`Http::open_stream`], with another time limit than the request timeout.
    async fn open_stream_with(
        &self,
        path: &str,
        headers: &[(&str, String)],
        timeout: Option<Duration>,
    ) -> Result<reqwest::Response> {
        let once = || async move {
            let name = request_name(&Method::GET, path);
            let mut request = self
                .request(Method::GET, path, headers)
                .header(reqwest::header::ACCEPT, "text/event-stream");
            if let Some(timeout) = timeout {
                request = request.timeout(timeout);
            }
            let response = request.send().await.map_err(|e| self.unreachable(&e))?;
            self.answered(&Method::GET, path, &response);
            let status = response.status().as_u16();
            let request_id = request_id_of(response.headers());
            if !(200..300).contains(&status) {
                let head = response.headers().clone();
                let text = response.text().await.unwrap_or_default();
                return Err(api_error(name, status, &head, &text));
            }
            Ok(Answer {
                value: response,
                status,
                request_id,
            })
        };
        self.exchange(&Method::GET, path, Tries::Once, once).await
    }

    /// The error of a request that got no answer: [`Error::NoAnswer`] when the connection was
    /// made but the request timeout passed, else [`Error::Unreachable`] with a short reason.
    pub(crate) fn unreachable(&self, err: &reqwest::Error) -> Error {
        if err.is_timeout() && !err.is_connect() {
            return self.no_answer();
        }
        let base = self.base.clone();
        let reason = if err.is_timeout() {
            format!("no connection within {} seconds", CONNECT_TIMEOUT.as_secs())
        } else {
            transport_reason(err)
        };
        Error::Unreachable { base, reason }
    }
}

/// The `x-request-id` of an answer.
fn request_id_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// An `x-ratelimit-reset` at or above this is a Unix time in milliseconds.
const RESET_UNIX_MS: u64 = 100_000_000_000;
/// An `x-ratelimit-reset` at or above this (and below [`RESET_UNIX_MS`]) is a Unix time in
/// seconds (2001 or later); below it, a number of seconds from now.
const RESET_UNIX_SECS: u64 = 1_000_000_000;

/// How long an answer asks the client to wait: `Retry-After` in seconds (a number too large
/// to hold is the longest wait, which no retry policy sits through) or as an HTTP date, else
/// `x-ratelimit-reset` as the reset time in Unix milliseconds, in Unix seconds, or, below
/// [`RESET_UNIX_SECS`], as seconds from now. A time already past is no wait.
fn retry_after_of(headers: &HeaderMap) -> Option<Duration> {
    let text = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    let now = SystemTime::now();
    if let Some(value) = text("retry-after") {
        if let Some(seconds) = saturating_seconds(value) {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
            return Some(until(now, SystemTime::from(at)));
        }
    }
    let reset = saturating_seconds(text("x-ratelimit-reset")?)?;
    if reset < RESET_UNIX_SECS {
        return Some(Duration::from_secs(reset));
    }
    let at = if reset >= RESET_UNIX_MS {
        Duration::from_millis(reset)
    } else {
        Duration::from_secs(reset)
    };
    // A time too far off to be a point in time is the longest wait.
    let at = SystemTime::UNIX_EPOCH
        .checked_add(at)
        .map_or(Duration::MAX, |at| until(now, at));
    Some(at)
}

/// A whole number of digits (at most 100 of them), as `u64::MAX` when too large to hold.
fn saturating_seconds(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 100 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(value.parse::<u64>().unwrap_or(u64::MAX))
}

fn until(now: SystemTime, at: SystemTime) -> Duration {
    at.duration_since(now).unwrap_or(Duration::ZERO)
}

/// The field a validation error body names: `field`, `param`, or the path of the first
/// `issues` entry (`["options", "ttl"]` as `options.ttl`).
fn field_of(body: &Value) -> Option<String> {
    for key in ["field", "param"] {
        if let Some(field) = body[key].as_str().filter(|f| !f.is_empty()) {
            return Some(field.to_string());
        }
    }
    let path = body["issues"][0]["path"].as_array()?;
    let parts: Vec<String> = path
        .iter()
        .map(|p| match p {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// Describes why a request could not be completed, from the innermost I/O error if any.
fn transport_reason(err: &(dyn std::error::Error + 'static)) -> String {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    let mut last = err.to_string();
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            return io_reason(io);
        }
        last = e.to_string();
        current = e.source();
    }
    last
}

fn io_reason(err: &std::io::Error) -> String {
    use std::io::ErrorKind as K;
    let known = match err.kind() {
        K::ConnectionRefused => "connection refused",
        K::ConnectionReset => "connection reset",
        K::ConnectionAborted => "connection aborted",
        K::TimedOut => "timed out",
        K::AddrNotAvailable => "address not available",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    let text = err.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_string(),
        None => text,
    }
}

fn request_name(method: &Method, path: &str) -> String {
    format!("{method} {}", path.split('?').next().unwrap_or(path))
}

/// The error of a non-success answer: `{"error": "…", "code"?: "…"}` (or
/// `{"error": {"message": "…"}}`) or the raw text, with the answer's request id, the field
/// it names and the wait it asks for.
fn api_error(request: String, status: u16, headers: &HeaderMap, text: &str) -> Error {
    let body: Value = serde_json::from_str(text).unwrap_or(Value::Null);
    let message = error_message(status, &body, text);
    if status == 409 {
        if let Some(expected) = body["expectedVersion"].as_str() {
            return Error::VersionMismatch(VersionMismatchError {
                run_id: body["runId"].as_str().map(str::to_string),
                expected_version: expected.to_string(),
                actual_version: body["actualVersion"].as_str().map(str::to_string),
            });
        }
    }
    Error::Api {
        request,
        status,
        code: body["code"].as_str().map(str::to_string),
        message,
        request_id: request_id_of(headers).map(String::into_boxed_str),
        kind: ApiErrorKind::of(status, field_of(&body), retry_after_of(headers)),
        no_retry: refuses_retry(headers),
    }
}

/// Whether the answer says `x-should-retry: false`.
fn refuses_retry(headers: &HeaderMap) -> bool {
    headers
        .get("x-should-retry")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("false"))
}

/// The sentence of an error answer: the body's `error` (or `error.message`), else the body
/// text when it is short and not a page of HTML, else the standard reason of the status.
fn error_message(status: u16, body: &Value, text: &str) -> String {
    let error = &body["error"];
    let sentence = error.as_str().or_else(|| error["message"].as_str());
    if let Some(sentence) = sentence.map(str::trim).filter(|s| !s.is_empty()) {
        return sentence.to_string();
    }
    let text = text.trim();
    if !text.is_empty() && text.len() <= 300 && !text.starts_with('<') {
        return text.to_string();
    }
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("no reason given")
        .to_string()
}

/// What is wrong with the server address or the secret key given to a
/// [`Client`](crate::Client). [`Client::new`](crate::Client::new) reports it as
/// [`Error::Config`] with this text; [`check_settings`] gives it as a value.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SettingsError {
    /// The API URL is empty.
    EmptyUrl,
    /// The API URL is not a URL.
    InvalidUrl {
        /// The URL as given, trimmed.
        url: String,
        /// Why it does not parse.
        reason: String,
    },
    /// The API URL is not an `http://` or `https://` address with a host.
    NotHttp {
        /// The URL as given, trimmed.
        url: String,
    },
    /// The API URL has a query (`?`) or a fragment (`#`): it must be the server's address only.
    QueryOrFragment {
        /// The URL as given, trimmed.
        url: String,
    },
    /// No secret key (empty or blank).
    NoKey,
    /// The secret key has characters an HTTP header cannot carry.
    UnsendableKey,
}

impl std::fmt::Display for SettingsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SettingsError::EmptyUrl => write!(
                f,
                "the API URL is empty; use an address like {DEFAULT_API_URL}"
            ),
            SettingsError::InvalidUrl { url, reason } => write!(
                f,
                "the API URL '{url}' is not valid ({reason}); use an address like {DEFAULT_API_URL}"
            ),
            SettingsError::NotHttp { url } => {
                write!(f, "the API URL '{url}' is not an http:// or https:// address")
            }
            SettingsError::QueryOrFragment { url } => write!(
                f,
                "the API URL '{url}' must not contain '?' or '#'; use the server's address only, like {DEFAULT_API_URL}"
            ),
            SettingsError::NoKey => f.write_str(
                "no secret key given: set TRIGGER_SECRET_KEY to a secret key of the server's environment (tr_dev_…)",
            ),
            SettingsError::UnsendableKey => {
                f.write_str("the secret key contains characters that cannot be sent")
            }
        }
    }
}

impl std::error::Error for SettingsError {}

/// Checks a server address and a secret key the way [`Client::new`](crate::Client::new) does,
/// without building a client: the address first, then the key. Gives the address as the client
/// would use it (trimmed, without trailing `/`).
pub fn check_settings(api_url: &str, secret_key: &str) -> Result<String, SettingsError> {
    let base = base_url(api_url)?;
    auth_header(secret_key)?;
    Ok(base)
}

fn base_url(raw: &str) -> Result<String, SettingsError> {
    let trimmed = raw.trim().trim_end_matches('/');
    if trimmed.is_empty() {
        return Err(SettingsError::EmptyUrl);
    }
    let url = reqwest::Url::parse(trimmed).map_err(|e| SettingsError::InvalidUrl {
        url: trimmed.to_string(),
        reason: e.to_string(),
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(SettingsError::NotHttp {
            url: trimmed.to_string(),
        });
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(SettingsError::QueryOrFragment {
            url: trimmed.to_string(),
        });
    }
    Ok(trimmed.to_string())
}

fn auth_header(key: &str) -> Result<HeaderValue, SettingsError> {
    let key = key.trim();
    if key.is_empty() {
        return Err(SettingsError::NoKey);
    }
    let mut value = HeaderValue::from_str(&format!("Bearer {key}"))
        .map_err(|_| SettingsError::UnsendableKey)?;
    value.set_sensitive(true);
    Ok(value)
}

/// One server-sent event: a block of `id:`, `event:` and `data:` lines ended by a blank line.
///
/// A block with none of them (a `: keep-alive` comment) comes as an event without id, name or
/// data ([`ServerEvent::is_keep_alive`]), so a reader can tell the connection is alive.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ServerEvent {
    /// The `id:` when it is a number (trigr numbers the events of an environment).
    pub id: Option<i64>,
    /// The `event:` name, e.g. `status`; empty when the block has none.
    pub name: String,
    /// The `data:` lines, joined with `\n`.
    pub data: String,
}

impl ServerEvent {
    /// A block without id, name or data: a keep-alive comment.
    pub fn is_keep_alive(&self) -> bool {
        self.id.is_none() && self.name.is_empty() && self.data.is_empty()
    }

    fn parse(block: &str) -> ServerEvent {
        let mut event = ServerEvent::default();
        let mut data: Vec<&str> = Vec::new();
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("id:") {
                event.id = v.trim().parse().ok();
            } else if let Some(v) = line.strip_prefix("event:") {
                event.name = v.trim().to_string();
            } else if let Some(v) = line.strip_prefix("data:") {
                data.push(v.strip_prefix(' ').unwrap_or(v));
            }
        }
        event.data = data.join("\n");
        event
    }
}

/// Splits a server-sent event body into events as its bytes arrive.
#[derive(Debug, Default)]
pub(crate) struct SseParser {
    buf: Vec<u8>,
}

impl SseParser {
    /// Adds bytes of the body.
    pub(crate) fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Forgets an incomplete event (the connection it came on is gone).
    pub(crate) fn clear(&mut self) {
        self.buf.clear();
    }

    /// Takes the next complete event off the front of the buffer.
    pub(crate) fn next_event(&mut self) -> Option<ServerEvent> {
        let end = self.buf.windows(2).position(|w| w == b"\n\n")?;
        let block: Vec<u8> = self.buf.drain(..end + 2).collect();
        Some(ServerEvent::parse(&String::from_utf8_lossy(&block)))
    }
}

/// A server-sent event body being read: [`Client::open_events`](crate::Client::open_events).
///
/// It does not reconnect: when the body ends or breaks, open a new one (sending the last id
/// seen). The body has no time limit; a reader that wants to notice a dead connection waits
/// for each event with a timeout (the trigr server sends a keep-alive every 15 seconds).
#[derive(Debug)]
pub struct EventStream {
    http: Http,
    response: reqwest::Response,
    parser: SseParser,
    done: bool,
}

impl EventStream {
    /// The next event, keep-alives included; `None` once the server ended the body (or the
    /// client was closed, [`Client::close`](crate::Client::close)), an
    /// [`Error::Unreachable`] or [`Error::NoAnswer`] when the connection broke.
    ///
    /// Cancel-safe: dropping the future (e.g. on a timeout) loses no event.
    pub async fn next_event(&mut self) -> Option<Result<ServerEvent>> {
        loop {
            if let Some(event) = self.parser.next_event() {
                return Some(Ok(event));
            }
            if self.done {
                return None;
            }
            let chunk = tokio::select! {
                chunk = self.response.chunk() => chunk,
                () = self.http.stopped() => Ok(None),
            };
            match chunk {
                Ok(Some(bytes)) => self.parser.push(&bytes),
                Ok(None) => self.done = true,
                Err(e) => {
                    self.done = true;
                    return Some(Err(self.http.unreachable(&e)));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_urls_are_checked_and_trimmed() {
        let http = Http::new("http://127.0.0.1:3030/", "tr_dev_x").expect("client");
        assert_eq!(http.base(), "http://127.0.0.1:3030");
        assert!(Http::new("localhost:3030", "k").is_err());
        assert!(Http::new("ftp://x", "k").is_err());
        assert!(Http::new("http://x", " ").is_err());
        assert_eq!(
            check_settings(" https://x.example/api// ", "k"),
            Ok("https://x.example/api".to_string())
        );
    }

    #[test]
    fn settings_problems_are_told_apart() {
        let url = |raw: &str| check_settings(raw, "tr_dev_k").err();
        assert_eq!(url(""), Some(SettingsError::EmptyUrl));
        assert_eq!(url(" / "), Some(SettingsError::EmptyUrl));
        assert!(matches!(
            url("not a url"),
            Some(SettingsError::InvalidUrl { url, .. }) if url == "not a url"
        ));
        assert!(matches!(
            url("localhost:3030"),
            Some(SettingsError::NotHttp { .. })
        ));
        assert!(matches!(
            url("ftp://x"),
            Some(SettingsError::NotHttp { .. })
        ));
        assert!(matches!(
            url("http://x/?a=1"),
            Some(SettingsError::QueryOrFragment { .. })
        ));
        assert!(matches!(
            url("http://x#top"),
            Some(SettingsError::QueryOrFragment { .. })
        ));
        let key = |key: &str| check_settings("http://x", key).err();
        assert_eq!(key(""), Some(SettingsError::NoKey));
        assert_eq!(key("  "), Some(SettingsError::NoKey));
        assert_eq!(key("tr_dev\nx"), Some(SettingsError::UnsendableKey));
        assert_eq!(key("tr_dev_abc"), None);
        // The address is checked first.
        assert_eq!(check_settings("", "").err(), Some(SettingsError::EmptyUrl));
        let err = Http::new("http://x", "").err().map(|e| e.to_string());
        assert_eq!(err, Some(SettingsError::NoKey.to_string()));
    }

    fn header(request: &reqwest::Request, name: &str) -> Option<String> {
        let value = request.headers().get(name)?;
        value.to_str().ok().map(str::to_string)
    }

    #[test]
    fn requests_carry_the_key_the_api_version_and_a_json_body() {
        let http = Http::configured(
            "http://127.0.0.1:3030/",
            "tr_dev_k",
            Some("tool/1"),
            Duration::from_secs(5),
        )
        .expect("client");
        assert_eq!(http.request_timeout, Duration::from_secs(5));
        let request = http
            .json_request(
                Method::POST,
                "/api/x?a=1",
                Some(&serde_json::json!({"a": 1})),
            )
            .build()
            .expect("request");
        assert_eq!(request.method(), Method::POST);
        assert_eq!(request.url().as_str(), "http://127.0.0.1:3030/api/x?a=1");
        assert_eq!(
            header(&request, "authorization").as_deref(),
            Some("Bearer tr_dev_k")
        );
        assert_eq!(
            header(&request, "x-trigger-api-version").as_deref(),
            Some(API_VERSION)
        );
        assert_eq!(
            header(&request, "content-type").as_deref(),
            Some("application/json")
        );
        let body = request.body().and_then(reqwest::Body::as_bytes);
        assert_eq!(body, Some(&br#"{"a":1}"#[..]));

        let request = http
            .json_request(Method::POST, "/api/y", None)
            .build()
            .expect("request");
        assert!(request.body().is_none());
        assert_eq!(header(&request, "content-type"), None);
    }

    /// A server that takes the connection, reads the request head and never answers: its
    /// address, and the head with the connection (kept open until the test takes it).
    async fn silent_server() -> (
        String,
        tokio::task::JoinHandle<(String, tokio::net::TcpStream)>,
    ) {
        use tokio::io::AsyncReadExt;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let head = tokio::spawn(async move {
            let (mut conn, _) = listener.accept().await.expect("accept");
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                let n = conn.read(&mut buf).await.expect("read");
                if n == 0 {
                    break;
                }
                head.extend_from_slice(&buf[..n]);
            }
            (String::from_utf8_lossy(&head).to_lowercase(), conn)
        });
        (url, head)
    }

    #[tokio::test]
    async fn a_server_that_does_not_answer_in_time_is_no_answer() {
        let (url, head) = silent_server().await;
        let http = Http::configured(&url, "tr_dev_k", Some("tool/1"), Duration::from_secs(1))
            .expect("client");
        let err = http.send(Method::GET, "/x", None, Tries::Once).await.err();
        assert!(
            matches!(&err, Some(Error::NoAnswer { base, seconds: 1 }) if *base == url),
            "{err:?}"
        );
        let (head, _conn) = head.await.expect("the request head");
        assert!(head.starts_with("get /x http/1.1\r\n"), "{head}");
        assert!(head.contains("\r\nuser-agent: tool/1\r\n"), "{head}");
        assert!(
            head.contains("\r\nauthorization: bearer tr_dev_k\r\n"),
            "{head}"
        );
    }

    #[tokio::test]
    async fn a_closed_port_is_unreachable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        drop(listener);
        let http = Http::new(&url, "tr_dev_k").expect("client");
        let err = http.send(Method::GET, "/x", None, Tries::Once).await.err();
        assert_eq!(
            err.map(|e| e.to_string()),
            Some(format!(
                "the server at {url} could not be reached: connection refused"
            ))
        );
    }

    /// A server that answers its n-th connection with `answers[n]` (a whole HTTP answer, or
    /// `""` to close the connection without one); the count of connections it took.
    async fn scripted_server(
        answers: Vec<&'static str>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>) {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let count = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let taken = count.clone();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let n = taken.fetch_add(1, Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = conn.read(&mut buf).await;
                let answer = answers.get(n).copied().unwrap_or("");
                let _ = conn.write_all(answer.as_bytes()).await;
                let _ = conn.shutdown().await;
            }
        });
        (url, count)
    }

    const UNAVAILABLE: &str = "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\ncontent-length: 15\r\nconnection: close\r\n\r\n{\"error\":\"busy\"}";
    const OK: &str =
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";

    #[tokio::test]
    async fn answered_tries_repeat_answers_but_not_a_lost_connection() {
        use std::sync::atomic::Ordering;
        let (url, count) = scripted_server(vec![UNAVAILABLE, OK]).await;
        let http = Http::new(&url, "tr_dev_k").expect("client");
        let answer = http.send(Method::POST, "/x", None, Tries::Answered).await;
        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(count.load(Ordering::SeqCst), 2, "a 503 is sent again");

        let (url, count) = scripted_server(vec!["", OK]).await;
        let http = Http::new(&url, "tr_dev_k").expect("client");
        let err = http
            .send(Method::POST, "/x", None, Tries::Answered)
            .await
            .err();
        assert!(matches!(err, Some(Error::Unreachable { .. })), "{err:?}");
        assert_eq!(count.load(Ordering::SeqCst), 1, "no answer: not sent again");

        let (url, count) = scripted_server(vec!["", OK]).await;
        let http = Http::new(&url, "tr_dev_k").expect("client");
        let answer = http.send(Method::POST, "/x", None, Tries::Transient).await;
        assert!(answer.is_ok(), "{answer:?}");
        assert_eq!(count.load(Ordering::SeqCst), 2, "transient tries do");
    }

    #[test]
    fn event_blocks_are_split_and_keep_alives_kept() {
        let mut parser = SseParser::default();
        parser.push(b": keep-alive\n\nid: 7\nevent: status\ndata: {\"status\":\"QUEUED\"}\n\nid: 8\nevent: me");
        let keep_alive = parser.next_event().expect("the comment block");
        assert!(keep_alive.is_keep_alive());
        assert_eq!(
            parser.next_event(),
            Some(ServerEvent {
                id: Some(7),
                name: "status".into(),
                data: "{\"status\":\"QUEUED\"}".into(),
            })
        );
        assert_eq!(
            parser.next_event(),
            None,
            "an incomplete event waits for more"
        );
        parser.push("ta\ndata: a\ndata:b \u{e9}\n".as_bytes());
        assert_eq!(parser.next_event(), None);
        parser.push(b"\n");
        let event = parser.next_event().expect("the second event");
        assert_eq!(event.id, Some(8));
        assert_eq!(event.name, "meta");
        assert_eq!(event.data, "a\nb \u{e9}");
        assert!(!event.is_keep_alive());
    }

    #[test]
    fn a_character_split_between_chunks_is_kept() {
        let mut parser = SseParser::default();
        let bytes = "event: x\ndata: \u{e9}\n\n".as_bytes();
        let split = bytes.len() - 3; // inside the two bytes of the é
        parser.push(&bytes[..split]);
        assert_eq!(parser.next_event(), None);
        parser.push(&bytes[split..]);
        assert_eq!(
            parser.next_event().map(|e| e.data).as_deref(),
            Some("\u{e9}")
        );
    }

    #[test]
    fn transport_errors_are_described_briefly() {
        let refused = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
        assert_eq!(transport_reason(&refused), "connection refused");
        let other = std::io::Error::other("failed to lookup address information");
        assert_eq!(
            transport_reason(&other),
            "failed to lookup address information"
        );
    }

    #[test]
    fn error_answers_give_their_kind_field_wait_and_request_id() {
        let mut headers = HeaderMap::new();
        headers.insert("x-request-id", HeaderValue::from_static("req_1"));
        headers.insert("retry-after", HeaderValue::from_static("3"));
        let e = api_error("GET /x".into(), 429, &headers, "{}");
        assert_eq!(e.request_id(), Some("req_1"));
        assert_eq!(e.retry_after(), Some(Duration::from_secs(3)));
        let e = api_error("GET /x".into(), 503, &headers, "{}");
        assert_eq!(
            e.kind(),
            Some(ApiErrorKind::Server {
                retry_after: Some(Duration::from_secs(3))
            })
        );
        // An HTTP date in the past is no wait; x-ratelimit-reset in ms or s.
        let date = |v: &'static str| {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from_static(v));
            retry_after_of(&h)
        };
        assert_eq!(date("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        assert_eq!(date("soon"), None);
        let reset = |v: String| {
            let mut h = HeaderMap::new();
            h.insert("x-ratelimit-reset", HeaderValue::from_str(&v).unwrap());
            retry_after_of(&h)
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        let ms = reset((now.as_millis() + 10_000).to_string()).unwrap();
        assert!(
            ms > Duration::from_secs(8) && ms <= Duration::from_secs(10),
            "{ms:?}"
        );
        let secs = reset((now.as_secs() + 10).to_string()).unwrap();
        assert!(
            secs > Duration::from_secs(8) && secs <= Duration::from_secs(10),
            "{secs:?}"
        );
        assert_eq!(reset("x".into()), None);
        // A small reset is seconds from now, not a time in 1970.
        assert_eq!(reset("30".into()), Some(Duration::from_secs(30)));
        assert_eq!(reset("0".into()), Some(Duration::ZERO));
        // A reset far away is a long wait, which the retry policy refuses to sit through.
        let far = reset(u64::MAX.to_string()).expect("a wait");
        assert!(far > Duration::from_secs(3600), "{far:?}");
        let far = reset("9".repeat(40)).expect("a wait");
        assert!(far > Duration::from_secs(3600), "{far:?}");
        // A Retry-After too large to hold saturates rather than vanishing.
        let huge = |v: String| {
            let mut h = HeaderMap::new();
            h.insert("retry-after", HeaderValue::from_str(&v).unwrap());
            retry_after_of(&h)
        };
        assert_eq!(huge("9".repeat(40)), Some(Duration::from_secs(u64::MAX)));
        assert_eq!(huge("-1".into()), None);
        let policy = crate::client::RetryConfig::default();
        let e = api_error(
            "GET /x".into(),
            503,
            &{
                let mut h = HeaderMap::new();
                h.insert(
                    "retry-after",
                    HeaderValue::from_str(&"9".repeat(40)).unwrap(),
                );
                h
            },
            "{}",
        );
        assert_eq!(
            policy.retry_after(&e, 1, false),
            None,
            "too long to wait: give up"
        );
        // The field a body names.
        let field = |body: &str| {
            api_error("POST /x".into(), 400, &HeaderMap::new(), body)
                .field()
                .map(str::to_string)
        };
        assert_eq!(
            field(r#"{"error":"bad","field":"ttl"}"#).as_deref(),
            Some("ttl")
        );
        assert_eq!(
            field(r#"{"error":"bad","param":"tags"}"#).as_deref(),
            Some("tags")
        );
        assert_eq!(
            field(r#"{"error":"bad","issues":[{"path":["options",0,"ttl"]}]}"#).as_deref(),
            Some("options.0.ttl")
        );
        assert_eq!(field(r#"{"error":"bad"}"#), None);
    }

    #[test]
    fn error_bodies_give_message_and_code() {
        let e = api_error(
            "POST /h".into(),
            409,
            &HeaderMap::new(),
            r#"{"error":"lease gone","code":"lease_lost","status":"CANCELED"}"#,
        );
        assert!(e.is_lease_lost());
        assert_eq!(e.to_string(), "POST /h failed with 409: lease gone");
        let e = api_error("GET /x".into(), 404, &HeaderMap::new(), "");
        assert_eq!(e.to_string(), "GET /x failed with 404: Not Found");
        let e = api_error(
            "GET /x".into(),
            500,
            &HeaderMap::new(),
            r#"{"error":{"message":" Disk full. "}}"#,
        );
        assert_eq!(e.to_string(), "GET /x failed with 500: Disk full.");
        let e = api_error("GET /x".into(), 422, &HeaderMap::new(), r#"{"error":" "}"#);
        assert_eq!(e.to_string(), r#"GET /x failed with 422: {"error":" "}"#);
        let e = api_error("GET /x".into(), 502, &HeaderMap::new(), " upstream down\n");
        assert_eq!(e.to_string(), "GET /x failed with 502: upstream down");
        let e = api_error("GET /x".into(), 503, &HeaderMap::new(), "<html>…</html>");
        assert_eq!(e.to_string(), "GET /x failed with 503: Service Unavailable");
        let e = api_error("GET /x".into(), 500, &HeaderMap::new(), &"x".repeat(301));
        assert_eq!(
            e.to_string(),
            "GET /x failed with 500: Internal Server Error"
        );
    }

    #[test]
    fn components_are_encoded() {
        assert_eq!(encode("a/b c"), "a%2Fb%20c");
        assert_eq!(encode("task-1_x.y~"), "task-1_x.y~");
    }
}
