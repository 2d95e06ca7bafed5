//! [`TracedHttp`]: the HTTP client a task gets from its context (`ctx.http()`). It is a thin
//! layer over [`reqwest::Client`]: each request is an `http` span of the attempt (method, URL
//! without its query or credentials, status code or error) and carries a W3C `traceparent`
//! header naming that span, so the called service joins the run's trace.
//!
//! Requests are not journaled: a retried or resumed attempt makes them again. Put a call that
//! must happen once in a [`step`](crate::Context::step).

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Response, Url};
use serde::Serialize;
use serde_json::json;
use trigr_types::trace;

use crate::attempt::Attempt;
use crate::context::Context;
use crate::spans::{now_ns, Finished};

/// The `reqwest` client every task's requests go through (one connection pool per process).
fn shared_client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(reqwest::Client::new)
}

impl Context {
    /// An HTTP client whose requests are spans of this run's trace.
    ///
    /// ```no_run
    /// # async fn demo(ctx: trigr_sdk::Context) -> Result<(), trigr_sdk::TaskError> {
    /// let response = ctx
    ///     .http()
    ///     .post("https://api.example.com/charges")
    ///     .json(&serde_json::json!({"amount": 100}))
    ///     .send()
    ///     .await
    ///     .map_err(|e| trigr_sdk::TaskError::msg(e.to_string()))?;
    /// # Ok(()) }
    /// ```
    pub fn http(&self) -> TracedHttp {
        TracedHttp {
            attempt: self.attempt.clone(),
        }
    }
}

/// The HTTP client of a task attempt ([`Context::http`]).
#[derive(Clone)]
pub struct TracedHttp {
    attempt: Arc<Attempt>,
}

impl TracedHttp {
    /// A request of any method.
    pub fn request(&self, method: Method, url: &str) -> TracedRequest {
        TracedRequest {
            attempt: self.attempt.clone(),
            builder: shared_client().request(method, url),
        }
    }

    /// A `GET` request.
    pub fn get(&self, url: &str) -> TracedRequest {
        self.request(Method::GET, url)
    }

    /// A `POST` request.
    pub fn post(&self, url: &str) -> TracedRequest {
        self.request(Method::POST, url)
    }

    /// A `PUT` request.
    pub fn put(&self, url: &str) -> TracedRequest {
        self.request(Method::PUT, url)
    }

    /// A `PATCH` request.
    pub fn patch(&self, url: &str) -> TracedRequest {
        self.request(Method::PATCH, url)
    }

    /// A `DELETE` request.
    pub fn delete(&self, url: &str) -> TracedRequest {
        self.request(Method::DELETE, url)
    }
}

/// A request being built; [`send`](TracedRequest::send) records its span.
pub struct TracedRequest {
    attempt: Arc<Attempt>,
    builder: reqwest::RequestBuilder,
}

impl TracedRequest {
    /// Adds a header.
    pub fn header(self, name: impl AsRef<str>, value: impl AsRef<str>) -> TracedRequest {
        self.with(|b| b.header(name.as_ref(), value.as_ref()))
    }

    /// Sends `value` as a JSON body.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> TracedRequest {
        self.with(|b| b.json(value))
    }

    /// Sends `body` as it is.
    pub fn body(self, body: impl Into<reqwest::Body>) -> TracedRequest {
        self.with(|b| b.body(body))
    }

    /// Adds an `Authorization: Bearer` header.
    pub fn bearer_auth(self, token: impl std::fmt::Display) -> TracedRequest {
        self.with(|b| b.bearer_auth(token))
    }

    /// Gives up on the request after `timeout`.
    pub fn timeout(self, timeout: Duration) -> TracedRequest {
        self.with(|b| b.timeout(timeout))
    }

    /// Anything else [`reqwest::RequestBuilder`] can do.
    pub fn with(
        self,
        f: impl FnOnce(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> TracedRequest {
        TracedRequest {
            attempt: self.attempt,
            builder: f(self.builder),
        }
    }

    /// Sends the request with a `traceparent` header and records its `http` span: status
    /// `error` for a failure to send and for a 4xx or 5xx answer.
    pub async fn send(self) -> Result<Response, reqwest::Error> {
        let mut request = self.builder.build()?;
        let span_id = trace::new_span_id();
        if let Some(header) = self.attempt.spans.traceparent(&span_id) {
            if let Ok(value) = HeaderValue::from_str(&header) {
                let name = HeaderName::from_static("traceparent");
                request.headers_mut().insert(name, value);
            }
        }
        let method = request.method().clone();
        let url = span_url(request.url());
        let started = now_ns();
        let answer = shared_client().execute(request).await;
        let mut attributes = json!({"http.request.method": method.as_str(), "url.full": url});
        let outcome = match &answer {
            Ok(r) => {
                attributes["http.response.status_code"] = r.status().as_u16().into();
                let failed = r.status().is_client_error() || r.status().is_server_error();
                if failed {
                    Err(format!("HTTP {}", r.status()))
                } else {
                    Ok(())
                }
            }
            Err(e) => Err(failure(e)),
        };
        let name = format!("{method} {url}");
        self.attempt.spans.record_as(
            span_id,
            Finished {
                name: &name,
                kind: "http",
                start_ns: started,
                outcome,
                attributes,
            },
        );
        answer
    }
}

/// What went wrong with a request, without its URL (the error's own text names it in full).
fn failure(e: &reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "the request timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "the request failed"
    };
    let mut text = what.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

/// The URL as a span shows it: without user name, password, query or fragment, which may
/// hold secrets.
fn span_url(url: &Url) -> String {
    let mut shown = url.clone();
    let _ = shown.set_username("");
    let _ = shown.set_password(None);
    shown.set_query(None);
    shown.set_fragment(None);
    shown.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_span_url_keeps_no_credentials_query_or_fragment() {
        let url = Url::parse("https://bob:hunter2@api.example.com:8443/v1/charges?key=sk_1#top")
            .expect("url");
        assert_eq!(span_url(&url), "https://api.example.com:8443/v1/charges");
    }
}
